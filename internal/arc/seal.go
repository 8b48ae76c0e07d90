package arc

import (
	"bufio"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/dkim"
)

// Sealer adds posthorn's ARC set to messages it forwards (RFC 8617 §5.1).
type Sealer struct {
	// Signer is the sealing domain (d=), selector (s=) and key: Ed25519,
	// or RSA of at least 1024 bits (RFC 8301 §3.2). Seal with the RSA key:
	// posthorn verifies ed25519-sha256 seals, but other verifiers (dkimpy
	// among them) accept only rsa-sha256 in ARC.
	Signer dkim.Signer
	// Now is the clock for t=; nil means time.Now.
	Now func() time.Time
	// Headers are the names of the header fields the AMS signs (h=), in
	// order; nil: those a DKIM signature by posthorn covers
	// (dkim.SignedNames) and the DKIM-Signature fields. They must include
	// From and no ARC field or Authentication-Results (RFC 8617 §4.1.2).
	Headers []string
}

// Seal reads msg and returns the ARC set to prepend to it for instance
// N+1, as three CRLF-terminated fields in the order to prepend them:
// ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results.
//
// authResults is the value of posthorn's Authentication-Results field for
// msg ("authserv-id; spf=pass ...; dkim=..."); it becomes the AAR, with the
// chain's "arc=" result appended when it has none. chain is Verify's Result
// for the same message; its status becomes cv=.
//
// The AMS covers the header fields a DKIM signature by posthorn covers
// (dkim.SignedNames) and the DKIM-Signature fields present (RFC 8617
// §4.1.2 asks for them), relaxed/relaxed, with t= and without x=. The AS
// covers every earlier set and the new one (§5.1.1); when the chain failed
// it is sealed with cv=fail over the new set alone (§5.1.2), and a chain
// whose latest seal already says cv=fail is not sealed at all
// (ErrTerminated, §5.1 step 1): it is sealed as failed once, then never.
func (s *Sealer) Seal(msg io.Reader, authResults string, chain Result) (string, error) {
	if err := checkSigner(s.Signer); err != nil {
		return "", err
	}
	if err := checkHeaders(s.Headers); err != nil {
		return "", err
	}
	br := bufio.NewReaderSize(msg, readBufferSize)
	h, err := dkim.ReadHeader(br)
	if err != nil {
		return "", err
	}
	if h.Count("From") == 0 {
		return "", errors.New("arc: message has no From field")
	}
	fields, n, _ := parseFields(h)
	cv, err := sealStatus(fields, n, chain)
	if err != nil {
		return "", err
	}
	aar, err := newAAR(n+1, authResults, cv)
	if err != nil {
		return "", err
	}
	bh, err := hashBody(br)
	if err != nil {
		return "", err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	t := strconv.FormatInt(now().Unix(), 10)
	ms, err := s.signAMS(h, n+1, t, bh.Relaxed)
	if err != nil {
		return "", err
	}
	var prior []set
	if cv == StatusPass {
		c, fail := group(fields)
		if fail != nil {
			return "", fmt.Errorf("%w: it passed, but the message's chain fails: %s", ErrChainMismatch, fail.Reason)
		}
		prior = c.Sets
	}
	as, err := s.signAS(prior, aar, ms, n+1, cv, t)
	if err != nil {
		return "", err
	}
	return as + ms + aar, nil
}

// sealStatus checks chain against the message's ARC fields and returns
// the cv= to seal with.
func sealStatus(fields []*arcField, n int, chain Result) (Status, error) {
	if chain.Terminated {
		return "", ErrTerminated
	}
	for _, f := range fields {
		if cv, _ := f.Tags.Get("cv"); f.Kind == kindAS && f.Instance == n && strings.EqualFold(trimFWS(cv), "fail") {
			return "", ErrTerminated
		}
	}
	if chain.Instances != n {
		return "", fmt.Errorf("%w: it has %d sets, the message %d", ErrChainMismatch, chain.Instances, n)
	}
	if n >= MaxInstances {
		return "", ErrTooManyInstances
	}
	switch {
	case n == 0 && (chain.Chain == StatusNone || chain.Chain == ""):
		return StatusNone, nil
	case n > 0 && (chain.Chain == StatusPass || chain.Chain == StatusFail):
		return chain.Chain, nil
	}
	return "", fmt.Errorf("%w: chain %q with %d sets", ErrChainMismatch, chain.Chain, n)
}

// newAAR returns the ARC-Authentication-Results field (RFC 8617 §4.1.1).
func newAAR(i int, authResults string, cv Status) (string, error) {
	ar := unfold(authResults)
	if name, rest, ok := strings.Cut(ar, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "Authentication-Results") {
		ar = strings.TrimSpace(rest)
	}
	id, results := splitPayload(ar)
	if id == "" || strings.ContainsAny(id, "()=") {
		return "", fmt.Errorf("arc: Authentication-Results %.60q has no authserv-id", authResults)
	}
	hasARC := false
	for _, m := range ParseResults(results) {
		hasARC = hasARC || m.Method == "arc"
	}
	if !hasARC {
		ar = strings.TrimSuffix(ar, ";") + "; arc=" + string(cv)
	}
	parts := strings.Split(ar, "; ")
	return fieldAAR + ": i=" + strconv.Itoa(i) + "; " + strings.Join(parts, ";\r\n\t") + "\r\n", nil
}

// signAMS returns the ARC-Message-Signature field (RFC 8617 §4.1.2).
// The tags are in the order dkimpy writes them (i a c d s t h bh b), h=
// separated by " : ": the ARC test suite's signing vectors were made so,
// and an AMS differing only in order or spacing has a different b=.
func (s *Sealer) signAMS(h *dkim.Header, i int, t string, bh []byte) (string, error) {
	names := s.Headers
	if names == nil {
		names = dkim.SignedNames(h)
		for range h.Count("DKIM-Signature") {
			names = append(names, "dkim-signature")
		}
	}
	tags := []dkim.Tag{
		{Name: "i", Value: strconv.Itoa(i)}, {Name: "a", Value: algorithm(s.Signer)},
		{Name: "c", Value: "relaxed/relaxed"}, {Name: "d", Value: s.Signer.Domain.ASCII},
		{Name: "s", Value: s.Signer.Selector}, {Name: "t", Value: t},
		{Name: "h", Value: strings.Join(names, " : ")},
		{Name: "bh", Value: base64.StdEncoding.EncodeToString(bh)},
	}
	hh := sha256.New()
	hashFields(hh, h.Fields, names, dkim.RelaxedHeader)
	return s.sign(fieldAMS, tags, hh)
}

// signAS returns the ARC-Seal field (RFC 8617 §4.1.3) over the prior sets
// and the new AAR and AMS (§5.1.1); tags in dkimpy's order (i cv a d s t b).
func (s *Sealer) signAS(prior []set, aar, ams string, i int, cv Status, t string) (string, error) {
	tags := []dkim.Tag{
		{Name: "i", Value: strconv.Itoa(i)}, {Name: "cv", Value: string(cv)},
		{Name: "a", Value: algorithm(s.Signer)}, {Name: "d", Value: s.Signer.Domain.ASCII},
		{Name: "s", Value: s.Signer.Selector}, {Name: "t", Value: t},
	}
	hh := sha256.New()
	for _, p := range prior {
		for _, f := range []*arcField{p.AAR, p.AMS, p.AS} {
			io.WriteString(hh, dkim.RelaxedHeader(f.Raw))
		}
	}
	io.WriteString(hh, dkim.RelaxedHeader(aar))
	io.WriteString(hh, dkim.RelaxedHeader(ams))
	return s.sign(fieldAS, tags, hh)
}

// sign completes hh with the field name: tags; b= (RFC 6376 §3.7: the
// field itself with an empty b=, without its final CRLF), signs it, and
// returns the field with b= filled in, folded by foldField.
func (s *Sealer) sign(name string, tags []dkim.Tag, hh hash.Hash) (string, error) {
	value := func(b string) string {
		var v strings.Builder
		for _, t := range tags {
			v.WriteString(t.Name + "=" + t.Value + "; ")
		}
		v.WriteString("b=" + b + "\r\n")
		return name + ": " + foldField(v.String(), len(name))
	}
	io.WriteString(hh, strings.TrimSuffix(dkim.RelaxedHeader(value("")), "\r\n"))
	opts := crypto.Hash(0) // Ed25519 signs the SHA-256 digest itself (RFC 8463 §3)
	if _, ok := s.Signer.Key.(*rsa.PrivateKey); ok {
		opts = crypto.SHA256
	}
	sig, err := s.Signer.Key.Sign(rand.Reader, hh.Sum(nil), opts)
	if err != nil {
		return "", fmt.Errorf("arc: sealing for %s: %w", s.Signer.Domain.ASCII, err)
	}
	return value(base64.StdEncoding.EncodeToString(sig)), nil
}

// foldField folds a field value v that ends in CRLF, for a field name of
// nameLen octets, into lines of at most 72 octets: each line is cut at its
// last space, which becomes the fold, or, when it has none, after 72
// octets (inside b=). The first line leaves room for the name and ": ";
// continuation lines start with one space. The line end counts toward the
// last line's length. These are dkimpy's rules, so that a set sealed by
// posthorn is byte for byte the one dkimpy makes from the same input.
func foldField(v string, nameLen int) string {
	limit := 72 - nameLen
	if len(v) <= limit || strings.LastIndex(v, "\r\n") == len(v)-2 && len(v) <= limit+2 {
		return v
	}
	var b strings.Builder
	for len(v) > limit {
		cut, next := limit, limit
		if sp := strings.LastIndexByte(v[:limit], ' '); sp >= 0 {
			cut, next = sp, sp+1
		}
		b.WriteString(v[:cut])
		v = v[next:]
		if v == "\r\n" {
			break // no line of white space alone
		}
		b.WriteString("\r\n ")
		limit = 71
	}
	b.WriteString(v)
	return b.String()
}

// checkSigner applies dkim.Sign's checks to a sealing key, and that the
// selector survives ARC's own tag parsing.
func checkSigner(s dkim.Signer) error {
	if err := s.Check(); err != nil {
		return fmt.Errorf("arc: %w", err)
	}
	if _, err := parseSig(dkim.TagList{{Name: "a", Value: algRSA}, {Name: "b", Value: "AA=="},
		{Name: "d", Value: s.Domain.ASCII}, {Name: "s", Value: s.Selector}}); err != nil {
		return fmt.Errorf("arc: invalid selector %q", s.Selector)
	}
	return nil
}

// checkHeaders checks a Sealer's Headers (RFC 8617 §4.1.2, RFC 6376
// §5.4): field names, From among them, no ARC field and no
// Authentication-Results.
func checkHeaders(names []string) error {
	if names == nil {
		return nil
	}
	from := false
	for _, n := range names {
		l := strings.ToLower(n)
		switch {
		case n == "" || strings.ContainsFunc(n, func(r rune) bool { return r <= ' ' || r == ':' || r >= 0x7f }):
			return fmt.Errorf("arc: %q is not a header field name", n)
		case strings.HasPrefix(l, "arc-") || l == "authentication-results":
			return fmt.Errorf("arc: the ARC-Message-Signature must not sign %s (RFC 8617 section 4.1.2)", n)
		}
		from = from || l == "from"
	}
	if !from {
		return errors.New("arc: the signed header fields must include From (RFC 6376 section 5.4)")
	}
	return nil
}

func algorithm(s dkim.Signer) string {
	if _, ok := s.Key.(ed25519.PrivateKey); ok {
		return algEd25519
	}
	return algRSA
}
