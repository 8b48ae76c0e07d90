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
func (s *Sealer) signAMS(h *dkim.Header, i int, t string, bh []byte) (string, error) {
	names := dkim.SignedNames(h)
	for range h.Count("DKIM-Signature") {
		names = append(names, "dkim-signature")
	}
	var b strings.Builder
	// "i=N;" first, right after the colon: dkimpy finds the AMS that way.
	fmt.Fprintf(&b, "%s: i=%d; a=%s; c=relaxed/relaxed;\r\n", fieldAMS, i, algorithm(s.Signer))
	fmt.Fprintf(&b, "\td=%s; s=%s; t=%s;\r\n", s.Signer.Domain.ASCII, s.Signer.Selector, t)
	dkim.WriteFolded(&b, "\th=", names, ":")
	b.WriteString(";\r\n\tbh=" + base64.StdEncoding.EncodeToString(bh) + ";\r\n\tb=")
	hh := sha256.New()
	hashFields(hh, h.Fields, names, dkim.RelaxedHeader)
	io.WriteString(hh, strings.TrimSuffix(dkim.RelaxedHeader(b.String()), "\r\n"))
	return s.finish(&b, hh.Sum(nil))
}

// signAS returns the ARC-Seal field (RFC 8617 §4.1.3) over the prior sets
// and the new AAR and AMS (§5.1.1).
func (s *Sealer) signAS(prior []set, aar, ams string, i int, cv Status, t string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: i=%d; a=%s; cv=%s;\r\n", fieldAS, i, algorithm(s.Signer), cv)
	fmt.Fprintf(&b, "\td=%s; s=%s; t=%s;\r\n\tb=", s.Signer.Domain.ASCII, s.Signer.Selector, t)
	hh := sha256.New()
	for _, p := range prior {
		for _, f := range []*arcField{p.AAR, p.AMS, p.AS} {
			io.WriteString(hh, dkim.RelaxedHeader(f.Raw))
		}
	}
	io.WriteString(hh, dkim.RelaxedHeader(aar))
	io.WriteString(hh, dkim.RelaxedHeader(ams))
	io.WriteString(hh, strings.TrimSuffix(dkim.RelaxedHeader(b.String()), "\r\n"))
	return s.finish(&b, hh.Sum(nil))
}

// finish signs digest and appends b= and the final CRLF to b.
func (s *Sealer) finish(b *strings.Builder, digest []byte) (string, error) {
	opts := crypto.Hash(0) // Ed25519 signs the SHA-256 digest itself (RFC 8463 §3)
	if _, ok := s.Signer.Key.(*rsa.PrivateKey); ok {
		opts = crypto.SHA256
	}
	sig, err := s.Signer.Key.Sign(rand.Reader, digest, opts)
	if err != nil {
		return "", fmt.Errorf("arc: sealing for %s: %w", s.Signer.Domain.ASCII, err)
	}
	dkim.WriteFolded(b, "", dkim.Chunks(base64.StdEncoding.EncodeToString(sig), 64), "")
	b.WriteString("\r\n")
	return b.String(), nil
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

func algorithm(s dkim.Signer) string {
	if _, ok := s.Key.(ed25519.PrivateKey); ok {
		return algEd25519
	}
	return algRSA
}
