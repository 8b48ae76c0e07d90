package dkim

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

	"github.com/posthorn/posthorn/internal/addr"
)

// Signer is one key to sign with: the SDID (d=), the selector (s=) under
// which the public key is published, and the private key (Ed25519 or RSA
// of at least 1024 bits; RFC 8301 §3.2).
type Signer struct {
	Domain   addr.Domain
	Selector string
	Key      crypto.Signer
}

// SignedHeaders are the header fields Sign covers when present (RFC 6376
// §5.4.1): the originator and recipient fields, the subject and identity
// fields, the MIME fields and the list fields (RFC 2369, RFC 2919, RFC 8058).
var SignedHeaders = []string{
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "MIME-Version",
	"Content-Type", "Content-Transfer-Encoding", "Reply-To", "In-Reply-To",
	"References", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post",
	"List-Post", "List-Help", "List-Subscribe", "List-Owner", "List-Archive",
}

// overSigned are listed in h= once more than they occur, so that an
// added instance breaks the signature (RFC 6376 §8.15).
var overSigned = map[string]bool{"from": true, "subject": true}

// Sign reads msg and returns the DKIM-Signature header fields to prepend to
// it, one per signer in the order given, each ending in CRLF. Signatures
// are relaxed/relaxed, sha256, carry t= from now and no x=. Every instance
// of the SignedHeaders present is signed; From and Subject are listed once
// more than present (RFC 6376 §8.15). The message must have a From field.
// Bare LF line ends are treated as CRLF: send the message with CRLF.
func Sign(msg io.Reader, now time.Time, signers ...Signer) (string, error) {
	if len(signers) == 0 {
		return "", errors.New("dkim: no signers")
	}
	for _, s := range signers {
		if err := s.Check(); err != nil {
			return "", err
		}
	}
	br := bufio.NewReaderSize(msg, readBufferSize)
	h, err := readHeader(br)
	if err != nil {
		return "", err
	}
	if h.count("From") == 0 {
		return "", errors.New("dkim: message has no From field")
	}
	bh, err := bodyHash(br)
	if err != nil {
		return "", err
	}
	names := signedNames(h)
	var out strings.Builder
	for _, s := range signers {
		sig, err := s.sign(h, names, bh, now)
		if err != nil {
			return "", err
		}
		out.WriteString(sig)
	}
	return out.String(), nil
}

// Check reports whether s can sign: a domain, a selector usable as a tag
// value, and an Ed25519 or RSA (≥ 1024 bits, RFC 8301 §3.2) key.
func (s Signer) Check() error {
	if s.Domain.IsZero() {
		return errors.New("dkim: signer without domain")
	}
	if s.Selector == "" || strings.ContainsAny(s.Selector, "; \t\r\n=") {
		return fmt.Errorf("dkim: invalid selector %q", s.Selector)
	}
	switch k := s.Key.(type) {
	case ed25519.PrivateKey:
	case *rsa.PrivateKey:
		if k.N.BitLen() < 1024 {
			return fmt.Errorf("dkim: RSA key of %d bits is too short (RFC 8301 §3.2)", k.N.BitLen())
		}
	case nil:
		return errors.New("dkim: signer without key")
	default:
		return fmt.Errorf("dkim: unsupported key type %T", s.Key)
	}
	return nil
}

// algorithm returns the a= value of the signer's key.
func (s Signer) algorithm() string {
	if _, ok := s.Key.(ed25519.PrivateKey); ok {
		return "ed25519-sha256"
	}
	return "rsa-sha256"
}

// bodyHash returns the base64 sha256 of the relaxed canonical body.
func bodyHash(r io.Reader) (string, error) {
	hh := sha256.New()
	c := &bodyCanon{w: hh, relaxed: true}
	if _, err := io.Copy(c, r); err != nil {
		return "", err
	}
	if err := c.Close(); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(hh.Sum(nil)), nil
}

// signedNames returns the h= list for header h: each SignedHeaders name as
// many times as it occurs, plus once for the over-signed names.
func signedNames(h *header) []string {
	var names []string
	for _, n := range SignedHeaders {
		c := h.count(n)
		if overSigned[strings.ToLower(n)] {
			c++
		}
		for range c {
			names = append(names, strings.ToLower(n))
		}
	}
	return names
}

// sign builds one DKIM-Signature field (RFC 6376 §5).
func (s Signer) sign(h *header, names []string, bh string, now time.Time) (string, error) {
	var b strings.Builder
	b.WriteString("DKIM-Signature: v=1; a=" + s.algorithm() + "; c=relaxed/relaxed;\r\n")
	b.WriteString("\td=" + s.Domain.ASCII + "; s=" + s.Selector + "; t=" + strconv.FormatInt(now.Unix(), 10) + ";\r\n")
	writeFolded(&b, "\th=", names, ":")
	b.WriteString(";\r\n\tbh=" + bh + ";\r\n\tb=")
	unsigned := b.String()

	hh := sha256.New()
	hashHeaders(hh, h, names)
	// The signature field itself, with an empty b= and no final CRLF
	// (RFC 6376 §3.7).
	io.WriteString(hh, strings.TrimSuffix(relaxedHeader(unsigned), "\r\n"))
	digest := hh.Sum(nil)

	opts := crypto.Hash(0) // Ed25519 signs the sha256 digest itself (RFC 8463 §3)
	if _, ok := s.Key.(*rsa.PrivateKey); ok {
		opts = crypto.SHA256
	}
	sig, err := s.Key.Sign(rand.Reader, digest, opts)
	if err != nil {
		return "", fmt.Errorf("dkim: signing for %s: %w", s.Domain.ASCII, err)
	}
	writeFolded(&b, "", chunks(base64.StdEncoding.EncodeToString(sig), 64), "")
	b.WriteString("\r\n")
	return b.String(), nil
}

// hashHeaders writes the relaxed canonical form of the fields named in
// names, each instance picked from the bottom up (RFC 6376 §5.4.2);
// names without a remaining instance contribute nothing.
func hashHeaders(w hash.Hash, h *header, names []string) {
	used := map[string]int{}
	for _, n := range names {
		key := strings.ToLower(n)
		skip := used[key]
		used[key]++
		for i := len(h.Fields) - 1; i >= 0; i-- {
			if !strings.EqualFold(h.Fields[i].Name, n) {
				continue
			}
			if skip == 0 {
				io.WriteString(w, relaxedHeader(h.Fields[i].Raw))
				break
			}
			skip--
		}
	}
}

// writeFolded writes prefix and items joined by sep, folding lines near
// 76 columns with CRLF HTAB between items.
func writeFolded(b *strings.Builder, prefix string, items []string, sep string) {
	col := 8 + len(strings.TrimPrefix(prefix, "\t"))
	b.WriteString(prefix)
	for i, it := range items {
		if i > 0 {
			b.WriteString(sep)
			col += len(sep)
			if col+len(it) > 76 {
				b.WriteString("\r\n\t")
				col = 8
			}
		}
		b.WriteString(it)
		col += len(it)
	}
}

// chunks splits s into pieces of at most n octets.
func chunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}
