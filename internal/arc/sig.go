package arc

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dkim"
)

// Signature algorithms (RFC 6376 §3.3, RFC 8463 §3); rsa-sha1 is refused
// (RFC 8301 §3.1).
const (
	algRSA     = "rsa-sha256"
	algEd25519 = "ed25519-sha256"
)

// sig holds the tags an AMS and an AS share.
type sig struct {
	Alg      string
	Domain   addr.Domain
	Selector string
	B        []byte
}

// parseSig checks and extracts a=, b=, d= and s= of an AMS or AS.
func parseSig(tags dkim.TagList, required ...string) (sig, error) {
	for _, t := range append([]string{"a", "b", "d", "s"}, required...) {
		if _, ok := tags.Get(t); !ok {
			return sig{}, fmt.Errorf("no %s= tag", t)
		}
	}
	var s sig
	a, _ := tags.Get("a")
	switch s.Alg = strings.ToLower(dkim.StripWSP(a)); s.Alg {
	case algRSA, algEd25519:
	case "rsa-sha1":
		return sig{}, fmt.Errorf("rsa-sha1 is too weak and not accepted (RFC 8301 §3.1)")
	default:
		return sig{}, fmt.Errorf("unsupported algorithm a=%.40q", s.Alg)
	}
	b, _ := tags.Get("b")
	var err error
	if s.B, err = base64.StdEncoding.DecodeString(dkim.StripWSP(b)); err != nil || len(s.B) == 0 {
		return sig{}, fmt.Errorf("b= is not a base64 signature")
	}
	d, _ := tags.Get("d")
	if s.Domain, err = addr.ParseDomain(dkim.StripWSP(d)); err != nil {
		return sig{}, fmt.Errorf("d=%.80q is not a domain name", d)
	}
	sel, _ := tags.Get("s")
	s.Selector = strings.ToLower(dkim.StripWSP(sel))
	if _, err := addr.ParseDomain(s.Selector + ".x"); err != nil || strings.Contains(s.Selector, "_domainkey") {
		return sig{}, fmt.Errorf("s=%.80q is not a selector", sel)
	}
	return s, nil
}

// check verifies the signature over digest with the key published for s.
func (s sig) check(ks *keys, digest []byte) error {
	key, err := ks.get(s.Domain, s.Selector)
	if err != nil {
		return err
	}
	if !key.Allows("sha256") {
		return fmt.Errorf("the key at %s._domainkey.%s does not allow sha256 for email (h=, s=)", s.Selector, s.Domain.ASCII)
	}
	switch pub := key.Key.(type) {
	case *rsa.PublicKey:
		if s.Alg != algRSA {
			return fmt.Errorf("a=%s does not match the RSA key", s.Alg)
		}
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, s.B) != nil {
			return errSignature
		}
	case ed25519.PublicKey:
		if s.Alg != algEd25519 {
			return fmt.Errorf("a=%s does not match the Ed25519 key", s.Alg)
		}
		// RFC 8463 §3: Ed25519 signs the SHA-256 hash.
		if !ed25519.Verify(pub, digest, s.B) {
			return errSignature
		}
	}
	return nil
}

var errSignature = fmt.Errorf("signature mismatch")

// ams is a parsed ARC-Message-Signature.
type ams struct {
	sig
	Header    func(string) string // header canonicalization
	Body      string              // "relaxed" or "simple"
	BodyHash  []byte
	Names     []string
	ExpiresAt int64 // x=; 0 when absent
}

// parseAMS checks the tags of an AMS (RFC 8617 §4.1.2: the DKIM-Signature
// tags, with i= the instance and no v=).
func parseAMS(tags dkim.TagList, now time.Time) (*ams, error) {
	s, err := parseSig(tags, "bh", "h")
	if err != nil {
		return nil, err
	}
	m := &ams{sig: s, Header: dkim.SimpleHeader, Body: "simple"}
	if c, ok := tags.Get("c"); ok {
		hc, bc, _ := strings.Cut(strings.ToLower(dkim.StripWSP(c)), "/")
		switch hc {
		case "relaxed":
			m.Header = dkim.RelaxedHeader
		case "simple":
		default:
			return nil, fmt.Errorf("unknown header canonicalization c=%.40q", c)
		}
		switch bc {
		case "relaxed", "simple":
			m.Body = bc
		case "":
		default:
			return nil, fmt.Errorf("unknown body canonicalization c=%.40q", c)
		}
	}
	bh, _ := tags.Get("bh")
	if m.BodyHash, err = base64.StdEncoding.DecodeString(dkim.StripWSP(bh)); err != nil || len(m.BodyHash) != sha256.Size {
		return nil, fmt.Errorf("bh= is not a base64 SHA-256 hash")
	}
	h, _ := tags.Get("h")
	m.Names = dkim.SplitColon(strings.ToLower(h))
	if !slices.Contains(m.Names, "from") {
		return nil, fmt.Errorf("h= does not cover From (RFC 6376 §5.4)")
	}
	if slices.Contains(m.Names, "arc-seal") {
		return nil, fmt.Errorf("h= covers ARC-Seal, which an AMS must not sign (RFC 8617 §4.1.2)")
	}
	if l, ok := tags.Get("l"); ok {
		return nil, fmt.Errorf("signature covers only the first %.20s octets of the body (l=); posthorn does not accept l= (RFC 6376 §8.2)", dkim.StripWSP(l))
	}
	if x, ok := tags.Get("x"); ok {
		exp, err := strconv.ParseInt(dkim.StripWSP(x), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("malformed expiry x=")
		}
		if now.Unix() > exp {
			return nil, fmt.Errorf("signature expired at %s (x=)", time.Unix(exp, 0).UTC().Format(time.RFC3339))
		}
	}
	return m, nil
}

// digest returns the hash an AMS signs over h: the fields named in h=,
// then the AMS itself with b= emptied (RFC 6376 §3.7).
func (m *ams) digest(h *dkim.Header, self string) []byte {
	hh := sha256.New()
	hashFields(hh, h.Fields, m.Names, m.Header)
	io.WriteString(hh, strings.TrimSuffix(m.Header(emptyB(self)), "\r\n"))
	return hh.Sum(nil)
}

// hashFields writes the canonical form of the fields named in names, each
// instance picked from the bottom up (RFC 6376 §5.4.2).
func hashFields(w hash.Hash, fields []dkim.Field, names []string, canon func(string) string) {
	used := map[string]int{}
	for _, n := range names {
		skip := used[n]
		used[n]++
		for i := len(fields) - 1; i >= 0; i-- {
			if !strings.EqualFold(fields[i].Name, n) {
				continue
			}
			if skip == 0 {
				io.WriteString(w, canon(fields[i].Raw))
				break
			}
			skip--
		}
	}
}

// emptyB returns raw with the value of its b= tag removed, surrounding
// whitespace included (RFC 6376 §3.7).
func emptyB(raw string) string {
	name, value, ok := strings.Cut(raw, ":")
	if !ok {
		return raw
	}
	specs := strings.Split(value, ";")
	for i, spec := range specs {
		tn, _, ok := strings.Cut(spec, "=")
		if ok && trimFWS(tn) == "b" {
			specs[i] = spec[:len(tn)+1]
			// Keep the field's final line end, if b= was last.
			if i == len(specs)-1 && strings.HasSuffix(spec, "\n") {
				specs[i] += "\r\n"
			}
		}
	}
	return name + ":" + strings.Join(specs, ";")
}

// bodyHashes are the SHA-256 hashes of a body under both canonicalizations.
type bodyHashes struct {
	Relaxed, Simple []byte
}

func hashBody(r io.Reader) (bodyHashes, error) {
	rh, sh := sha256.New(), sha256.New()
	rc, sc := dkim.NewRelaxedBody(rh), dkim.NewSimpleBody(sh)
	if _, err := io.Copy(io.MultiWriter(rc, sc), r); err != nil {
		return bodyHashes{}, err
	}
	if err := rc.Close(); err != nil {
		return bodyHashes{}, err
	}
	if err := sc.Close(); err != nil {
		return bodyHashes{}, err
	}
	return bodyHashes{Relaxed: rh.Sum(nil), Simple: sh.Sum(nil)}, nil
}

func (b bodyHashes) get(canon string) []byte {
	if canon == "relaxed" {
		return b.Relaxed
	}
	return b.Simple
}
