package dkim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dns"
)

// Status is the result of verifying one signature, with the meanings of
// RFC 8601 §2.7.1.
type Status string

// Statuses.
const (
	StatusPass      Status = "pass"
	StatusFail      Status = "fail"      // did not verify, or cryptography too weak (RFC 8301)
	StatusNeutral   Status = "neutral"   // not evaluated
	StatusPolicy    Status = "policy"    // verifiable, but not acceptable to posthorn (l=, limits)
	StatusTempError Status = "temperror" // key lookup failed temporarily
	StatusPermError Status = "permerror" // malformed signature or key, no key
)

// Result is the outcome of one DKIM-Signature field.
type Result struct {
	Status Status
	// Domain is the SDID (d=); zero when d= is missing or not a domain.
	Domain addr.Domain
	// Selector (s=), Identifier (i=, the AUID) and Algorithm (a=) as written.
	Selector, Identifier, Algorithm string
	// HeaderB is the prefix of b= that identifies this signature among the
	// message's signatures, for header.b in Authentication-Results (RFC 6008).
	HeaderB string
	// KeyBits is the size of the public key when it was fetched and parsed.
	KeyBits int
	// Explanation says why, in plain words.
	Explanation string
}

// DefaultMaxSignatures bounds the signatures verified per message, and so
// the DNS lookups (one per signature); RFC 6376 §6.1 lets verifiers limit
// their work. Further signatures get StatusPolicy without a lookup.
const DefaultMaxSignatures = 5

// Verifier verifies DKIM signatures over a dns.Resolver. The zero value is
// not usable: Resolver is required.
type Verifier struct {
	Resolver dns.Resolver
	// MaxSignatures bounds the signatures verified; 0 means DefaultMaxSignatures.
	MaxSignatures int
	// Now is the clock for x= (signature expiry); nil means time.Now.
	// go-msgauth checks x= against the real clock as well.
	Now func() time.Time
	// Sizes, if not nil, remembers parsed key sizes across messages.
	Sizes *KeySizes
}

// Verify checks every DKIM-Signature field of msg and returns one Result per
// field, top to bottom; no signatures, no results. The error is for I/O
// failures and unparseable messages only.
//
// Policy beyond go-msgauth's checks:
//   - rsa-sha1 fails (RFC 8301 §3.1), as do RSA keys under 1024 bits
//     (RFC 8301 §3.2); go-msgauth rejects both as permanent errors, we report
//     them as fail: the signature exists but proves nothing.
//   - A signature with l= gets StatusPolicy and never passes. RFC 6376 §8.2:
//     content appended after the l= octets is unsigned, and can replace what
//     the reader sees (a new MIME part, or HTML that hides the signed text).
//     Rather than judging whether l= happens to cover today's whole body,
//     posthorn does not accept l= at all (go-msgauth refuses it too); senders
//     that use l= still pass DMARC with SPF or another signature.
func (v *Verifier) Verify(ctx context.Context, msg io.Reader) ([]Result, error) {
	br := bufio.NewReaderSize(msg, readBufferSize)
	h, err := readHeader(br)
	if err != nil {
		return nil, err
	}
	return v.verify(ctx, h, br)
}

// VerifyHeader is Verify for a message whose header section h was already
// read by ReadHeader; body is the rest of the message, from the octet after
// h.Raw. Callers that run several checks on one message read its header
// once this way.
func (v *Verifier) VerifyHeader(ctx context.Context, h *Header, body io.Reader) ([]Result, error) {
	return v.verify(ctx, h, body)
}

func (v *Verifier) verify(ctx context.Context, h *header, body io.Reader) ([]Result, error) {
	var sigs []field
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, "DKIM-Signature") {
			sigs = append(sigs, f)
		}
	}
	if len(sigs) == 0 {
		return nil, nil
	}
	max := v.MaxSignatures
	if max <= 0 {
		max = DefaultMaxSignatures
	}

	keys := newKeyCache(ctx, v.Resolver, v.Sizes)
	head := h.Raw
	if !h.Separated {
		// Copy before appending: h may be shared with other checks.
		head = head[:len(head):len(head)]
		// go-msgauth needs the empty line; the body is empty either way.
		if len(head) > 0 && head[len(head)-1] != '\n' {
			head = append(head, "\r\n"...)
		}
		head = append(head, "\r\n"...)
	}
	verifs, err := msgauth.VerifyWithOptions(io.MultiReader(bytes.NewReader(head), body), &msgauth.VerifyOptions{
		LookupTXT:        keys.lookup,
		MaxVerifications: max,
	})
	if err != nil && !errors.Is(err, msgauth.ErrTooManySignatures) {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	results := make([]Result, len(sigs))
	tags := make([]tagList, len(sigs))
	for i, sig := range sigs {
		_, value, _ := strings.Cut(sig.Raw, ":")
		t, err := parseTags(value)
		if err == nil {
			tags[i] = t
		}
		var vf *msgauth.Verification
		if i < len(verifs) {
			vf = verifs[i]
		}
		results[i] = judge(t, err, vf, keys, now)
	}
	setHeaderB(results, tags)
	return results, nil
}

// judge turns go-msgauth's verification of a signature with tags (parsed
// with error err; vf nil when it was beyond the limit) into a Result,
// applying posthorn's own checks first.
func judge(tags tagList, err error, vf *msgauth.Verification, keys *keyCache, now func() time.Time) Result {
	if err != nil {
		return Result{Status: StatusPermError, Explanation: "malformed signature: " + strings.TrimPrefix(err.Error(), "dkim: ")}
	}
	r := Result{}
	r.Selector, _ = tags.Get("s")
	r.Selector = stripWSP(r.Selector)
	r.Identifier, _ = tags.Get("i")
	r.Identifier = stripWSP(r.Identifier)
	r.Algorithm, _ = tags.Get("a")
	r.Algorithm = strings.ToLower(stripWSP(r.Algorithm))
	d, _ := tags.Get("d")
	if r.Domain, err = addr.ParseDomain(stripWSP(d)); err != nil {
		r.Status, r.Explanation = StatusPermError, fmt.Sprintf("signing domain d=%q is not a domain name", d)
		return r
	}
	if pre, ok := precheck(tags, r, now); ok {
		return pre
	}
	if vf == nil {
		r.Status = StatusPolicy
		r.Explanation = "not evaluated: the message has more signatures than posthorn verifies"
		return r
	}
	r.Status, r.Explanation = classify(vf.Err, r)
	if r.Status == StatusTempError {
		return r
	}
	name := r.Selector + "._domainkey." + r.Domain.ASCII
	f, ok := keys.facts(name)
	if !ok {
		return r
	}
	if f.ok {
		r.KeyBits = f.bits
	}
	keyAlg, _, _ := strings.Cut(r.Algorithm, "-")
	switch {
	case f.err != nil:
		r.Status = StatusPermError
		r.Explanation = fmt.Sprintf("key record at %s is malformed: %s", name, msgText(f.err))
	case f.ok && f.typ != keyAlg:
		// RFC 6376 §3.6.1 k=, §6.1.2: the key must be of the
		// signature's algorithm; go-msgauth says so too.
		r.Status = StatusPermError
		r.Explanation = fmt.Sprintf("inappropriate key algorithm: the signature uses a=%s but the key at %s is k=%s", r.Algorithm, name, f.typ)
	case f.typ == "rsa" && f.ok && f.bits < 1024 && (r.Status == StatusPermError || r.Status == StatusPass):
		r.Status = StatusFail
		r.Explanation = fmt.Sprintf("RSA key of %d bits is too short; at least 1024 are required (RFC 8301 §3.2)", f.bits)
	case f.strict && r.Status == StatusPass && !sameDomain(r.Identifier, r.Domain):
		// RFC 6376 §3.6.1 t=s: "the "i=" domain MUST NOT be a
		// subdomain of "d="". go-msgauth does not check it.
		r.Status = StatusPermError
		r.Explanation = fmt.Sprintf("the key at %s has t=s (strict), so the i= domain must be %s itself, not a subdomain: i=%s", name, r.Domain.ASCII, r.Identifier)
	}
	return r
}

// sameDomain reports whether the domain of AUID i (i=, "@d" when absent)
// is d.
func sameDomain(i string, d addr.Domain) bool {
	if i == "" {
		return true
	}
	at := strings.LastIndexByte(i, '@')
	id, err := addr.ParseDomain(i[at+1:])
	return err == nil && id.ASCII == d.ASCII
}

// precheck applies the checks that need no key: algorithm, l= and x=.
func precheck(tags tagList, r Result, now func() time.Time) (Result, bool) {
	switch r.Algorithm {
	case "rsa-sha256", "ed25519-sha256":
	case "rsa-sha1":
		r.Status, r.Explanation = StatusFail, "rsa-sha1 is too weak and not accepted (RFC 8301 §3.1)"
		return r, true
	default:
		r.Status, r.Explanation = StatusPermError, fmt.Sprintf("unsupported algorithm %q", r.Algorithm)
		return r, true
	}
	if l, ok := tags.Get("l"); ok {
		r.Status = StatusPolicy
		r.Explanation = fmt.Sprintf("signature covers only the first %s octets of the body (l=); content appended after them would pass unnoticed, so posthorn does not accept l= (RFC 6376 §8.2)", stripWSP(l))
		return r, true
	}
	if x, ok := tags.Get("x"); ok {
		exp, err := strconv.ParseInt(stripWSP(x), 10, 64)
		if err != nil {
			r.Status, r.Explanation = StatusPermError, "malformed expiry x="
			return r, true
		}
		if now().Unix() > exp {
			r.Status = StatusPermError
			r.Explanation = "signature expired at " + time.Unix(exp, 0).UTC().Format(time.RFC3339) + " (x=)"
			return r, true
		}
	}
	return r, false
}

// classify maps go-msgauth's error for a signature to a status and a
// plain-words explanation.
func classify(err error, r Result) (Status, string) {
	key := r.Selector + "._domainkey." + r.Domain.ASCII
	switch {
	case err == nil:
		return StatusPass, "signature by " + r.Domain.ASCII + " verified"
	case msgauth.IsTempFail(err):
		return StatusTempError, "key " + key + " could not be fetched: " + msgText(err)
	case msgauth.IsPermFail(err):
		t := msgText(err)
		switch {
		case strings.HasPrefix(t, "no key for signature"):
			return StatusPermError, "no key record at " + key
		case t == "key revoked":
			return StatusPermError, "key " + key + " is revoked (empty p=)"
		}
		return StatusPermError, t
	}
	switch t := msgText(err); {
	case strings.HasPrefix(t, "body hash did not verify"):
		return StatusFail, "the body was changed after signing (body hash mismatch)"
	case strings.HasPrefix(t, "signature did not verify"):
		return StatusFail, "the signed header fields were changed after signing, or the key does not match (signature mismatch)"
	default:
		return StatusFail, t
	}
}

func msgText(err error) string { return strings.TrimPrefix(err.Error(), "dkim: ") }

// setHeaderB fills HeaderB with the shortest prefix of each b= value, at
// least 8 characters, that no other signature shares (RFC 6008 §4).
// tags holds each signature's tags, nil when they did not parse.
func setHeaderB(results []Result, tags []tagList) {
	bs := make([]string, len(tags))
	for i, t := range tags {
		b, _ := t.Get("b")
		bs[i] = stripWSP(b)
	}
	for i, b := range bs {
		n := min(8, len(b))
		for ; n < len(b); n++ {
			unique := true
			for j, o := range bs {
				if j != i && strings.HasPrefix(o, b[:n]) {
					unique = false
					break
				}
			}
			if unique {
				break
			}
		}
		results[i].HeaderB = b[:n]
	}
}
