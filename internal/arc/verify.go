package arc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/dkim"
	"github.com/posthorn/posthorn/internal/dns"
)

// Verifier validates ARC chains over a dns.Resolver. Resolver is required.
type Verifier struct {
	Resolver dns.Resolver
	// MaxLookups bounds the distinct key records fetched per message;
	// 0 means DefaultMaxLookups. A chain needing more fails.
	MaxLookups int
	// Now is the clock for an AMS's x= (expiry); nil means time.Now.
	Now func() time.Time
}

// readBufferSize is the buffer messages are read through. Small, since
// it is allocated per message; dkim.ReadHeader gathers longer lines
// itself.
const readBufferSize = 4 << 10

// Verify validates the chain of msg (RFC 8617 §5.2). The error is for I/O
// failures and over-long header sections only; every problem with the chain
// is a Result with Chain fail and a Reason.
//
// Steps, in the RFC's order: no sets is none; more than 50 sets, or a latest
// seal with cv=fail, is fail; the structure must be sets 1..N with exactly
// one AAR, AMS and AS each and cv= none for i=1, pass after; the latest AMS
// must verify (as a DKIM signature: relaxed or simple canonicalization,
// rsa-sha256 or ed25519-sha256, RFC 8301 key sizes, no l=); every AS must
// verify, from N down to 1. Then OldestPass is computed from the older AMSs.
func (v *Verifier) Verify(ctx context.Context, msg io.Reader) (Result, error) {
	br := bufio.NewReaderSize(msg, readBufferSize)
	h, err := dkim.ReadHeader(br)
	if err != nil {
		return Result{}, err
	}
	return v.VerifyHeader(ctx, h, br)
}

// VerifyHeader is Verify for a message whose header section h was already
// read by dkim.ReadHeader; body is the rest of the message, from the octet
// after h.Raw. It is read only when the message has ARC sets.
func (v *Verifier) VerifyHeader(ctx context.Context, h *dkim.Header, body io.Reader) (Result, error) {
	fields, n, fail := parseFields(h)
	if fail != nil {
		return fail.result(n), nil
	}
	if len(fields) == 0 {
		return Result{Chain: StatusNone, Reason: "the message has no ARC sets"}, nil
	}
	c, fail := group(fields)
	if fail != nil {
		return fail.result(n), nil
	}
	bh, err := hashBody(body)
	if err != nil {
		return Result{}, err
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	maxLookups := v.MaxLookups
	if maxLookups <= 0 {
		maxLookups = DefaultMaxLookups
	}
	vs := &validation{h: h, c: c, body: bh, now: now(),
		keys: &keys{ctx: ctx, res: v.Resolver, max: maxLookups, cache: map[string]keyAnswer{}}}
	res := Result{Instances: c.N, Sets: c.describe()}
	if fail := vs.run(); fail != nil {
		f := fail.result(c.N)
		f.Sets = res.Sets
		return f, nil
	}
	res.Chain = StatusPass
	res.OldestPass = vs.oldestPass()
	res.Reason = fmt.Sprintf("ARC chain of %d set(s) verified; latest sealer %s", c.N, res.Sets[c.N-1].SealDomain.ASCII)
	return res, nil
}

// validation is the state of one Verify after the structural checks.
type validation struct {
	h    *dkim.Header
	c    *chain
	body bodyHashes
	now  time.Time
	keys *keys
}

// run verifies the latest AMS (§5.2 step 4) and every AS (step 8).
func (vs *validation) run() *failure {
	n := vs.c.N
	if err := vs.checkAMS(n); err != nil {
		return vs.sigFailure(n, kindAMS, err)
	}
	digests := vs.sealDigests()
	for i := n; i >= 1; i-- {
		if err := vs.checkAS(i, digests[i-1]); err != nil {
			return vs.sigFailure(i, kindAS, err)
		}
	}
	return nil
}

// sigFailure describes a failed signature of instance i.
func (vs *validation) sigFailure(i int, k kind, err error) *failure {
	s := vs.c.Sets[i-1]
	f := s.AMS
	if k == kindAS {
		f = s.AS
	}
	d, _ := domainSelector(f.Tags)
	by := ""
	if !d.IsZero() {
		by = " by " + d.ASCII
	}
	fl := failf(i, "%s i=%d%s: %v", k, i, by, err)
	var kf *keyFailure
	if errors.As(err, &kf) {
		fl.Temporary = kf.temporary
	}
	return fl
}

// checkAMS verifies the AMS of instance i over the message.
func (vs *validation) checkAMS(i int) error {
	f := vs.c.Sets[i-1].AMS
	m, err := parseAMS(f.Tags, vs.now)
	if err != nil {
		return err
	}
	if !bytes.Equal(m.BodyHash, vs.body.get(m.Body)) {
		return fmt.Errorf("the body was changed after signing (body hash mismatch)")
	}
	err = m.check(vs.keys, m.digest(vs.h, f.Raw))
	if err == errSignature {
		return fmt.Errorf("the signed header fields were changed after signing, or the key does not match (signature mismatch)")
	}
	return err
}

// sealDigests returns, for each instance i, the hash its AS signs: the
// sets 1..i in increasing order, each as AAR, AMS, AS, relaxed, with the
// last AS's b= emptied and no final CRLF (RFC 8617 §5.1.1). The running
// hash is cloned so the work is linear in the chain's size.
func (vs *validation) sealDigests() [][]byte {
	out := make([][]byte, vs.c.N)
	run := sha256.New().(hash.Cloner)
	for i, s := range vs.c.Sets {
		io.WriteString(run, dkim.RelaxedHeader(s.AAR.Raw))
		io.WriteString(run, dkim.RelaxedHeader(s.AMS.Raw))
		// sha256 always clones; were it not to, out[i] stays nil and the
		// seal fails to verify.
		if fork, err := run.Clone(); err == nil {
			io.WriteString(fork, strings.TrimSuffix(dkim.RelaxedHeader(emptyB(s.AS.Raw)), "\r\n"))
			out[i] = fork.Sum(nil)
		}
		io.WriteString(run, dkim.RelaxedHeader(s.AS.Raw))
	}
	return out
}

// checkAS verifies the AS of instance i against its digest.
func (vs *validation) checkAS(i int, digest []byte) error {
	tags := vs.c.Sets[i-1].AS.Tags
	if _, ok := tags.Get("h"); ok {
		return fmt.Errorf("h= is not allowed in an ARC-Seal (RFC 8617 §4.1.3)")
	}
	s, err := parseSig(tags, "cv")
	if err != nil {
		return err
	}
	if err := s.check(vs.keys, digest); err == errSignature {
		return fmt.Errorf("the ARC sets were changed after sealing, or the key does not match (seal mismatch)")
	} else if err != nil {
		return err
	}
	return nil
}

// oldestPass verifies the older AMSs from N-1 down (RFC 8617 §5.2 steps
// 5-7): the first that fails makes the one above it the oldest passing.
// A signature that cannot be checked (lookup limit, DNS) counts as failed.
func (vs *validation) oldestPass() int {
	for i := vs.c.N - 1; i >= 1; i-- {
		if vs.checkAMS(i) != nil {
			return i + 1
		}
	}
	return 0
}
