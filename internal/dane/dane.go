// Package dane implements DANE for SMTP (RFC 7672) on the sending side:
// TLSA records are used only when they come from DNSSEC-validated answers,
// and a peer's certificate chain is checked against them (usages DANE-TA(2)
// and DANE-EE(3); PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP,
// RFC 7672 §3.1.3).
package dane

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/dns"
)

// Errors, wrapped with %w.
var (
	// ErrNoMatch: no usable TLSA record matched the peer's certificates.
	ErrNoMatch = errors.New("dane: no TLSA record matches the certificate")
	// ErrInsecure: the TLSA answer (or the MX answer) was not DNSSEC
	// authentic, so DANE does not apply.
	ErrInsecure = errors.New("dane: not DNSSEC authentic")
)

// Usages, selectors and matching types (RFC 6698 §7.2-§7.4).
const (
	UsagePKIXTA = 0
	UsagePKIXEE = 1
	UsageDANETA = 2
	UsageDANEEE = 3

	SelectorCert = 0
	SelectorSPKI = 1

	MatchFull   = 0
	MatchSHA256 = 1
	MatchSHA512 = 2
)

// Records is the outcome of a TLSA lookup for one MX host.
type Records struct {
	// Usable holds the records with usage 2 or 3 and known selector and
	// matching type.
	Usable []dns.TLSA
	// Present: authentic TLSA records exist (perhaps none usable). When
	// Present and Usable is empty, RFC 7672 §2.2 says to use mandatory
	// (unauthenticated) TLS.
	Present bool
}

// Lookup returns the TLSA records of host at port (_PORT._tcp.HOST).
// mxAuthentic says whether the MX answer naming host (and the host's
// address lookup) was authentic: DANE applies only then (RFC 7672 §2.2.1).
// A non-authentic or missing TLSA answer returns a zero Records and a nil
// error; a DNS failure for an authentic zone returns the error wrapped, for
// the caller to treat as temporary (RFC 7672 §2.1.1).
func Lookup(ctx context.Context, r dns.Resolver, host string, port int, mxAuthentic bool) (Records, error) {
	if !mxAuthentic {
		return Records{}, nil
	}
	host = strings.TrimSuffix(host, ".")
	recs, res, err := r.LookupTLSA(ctx, port, "tcp", host)
	if dns.IsNotFound(err) {
		return Records{}, nil
	}
	if err != nil {
		return Records{}, fmt.Errorf("dane: TLSA _%d._tcp.%s: %w", port, host, err)
	}
	if !res.Authentic {
		return Records{}, nil
	}
	out := Records{Present: len(recs) > 0}
	for _, t := range recs {
		if Usable(t) {
			out.Usable = append(out.Usable, t)
		}
	}
	return out, nil
}

// Usable reports whether t can authenticate an SMTP server: usage 2 or 3,
// selector 0 or 1, matching type 0, 1 or 2 with the right data length.
func Usable(t dns.TLSA) bool {
	if t.Usage != UsageDANETA && t.Usage != UsageDANEEE || t.Selector > SelectorSPKI {
		return false
	}
	switch t.MatchingType {
	case MatchFull:
		return len(t.Data) > 0
	case MatchSHA256:
		return len(t.Data) == sha256.Size
	case MatchSHA512:
		return len(t.Data) == sha512.Size
	}
	return false
}

// Matches reports whether certificate c matches t's selector, matching
// type and data (usage is not considered).
func Matches(t dns.TLSA, c *x509.Certificate) bool {
	var data []byte
	switch t.Selector {
	case SelectorCert:
		data = c.Raw
	case SelectorSPKI:
		data = c.RawSubjectPublicKeyInfo
	default:
		return false
	}
	switch t.MatchingType {
	case MatchFull:
	case MatchSHA256:
		h := sha256.Sum256(data)
		data = h[:]
	case MatchSHA512:
		h := sha512.Sum512(data)
		data = h[:]
	default:
		return false
	}
	return bytes.Equal(data, t.Data)
}

// Verify checks the peer's chain (leaf first, as presented) against the
// usable records. names are the reference identifiers for DANE-TA (the MX
// host name, and the next-hop domain; RFC 7672 §3.2.2); DANE-EE ignores
// names and validity dates (RFC 7672 §3.1.1). now is the time for DANE-TA
// validity checks.
func Verify(records []dns.TLSA, chain []*x509.Certificate, names []string, now time.Time) error {
	if len(chain) == 0 {
		return fmt.Errorf("%w: no certificate presented", ErrNoMatch)
	}
	var lastErr error
	for _, t := range records {
		if !Usable(t) {
			continue
		}
		switch t.Usage {
		case UsageDANEEE:
			if Matches(t, chain[0]) {
				return nil
			}
		case UsageDANETA:
			err := verifyTA(t, chain, names, now)
			if err == nil {
				return nil
			}
			lastErr = err
		}
	}
	if lastErr != nil {
		return fmt.Errorf("%w: %w", ErrNoMatch, lastErr)
	}
	return ErrNoMatch
}

// verifyTA implements DANE-TA(2): a certificate of the presented chain
// (other than the leaf, unless it is alone) matches t and is the trust
// anchor of a chain to the leaf, whose names must include one of names
// (RFC 7672 §3.1.2, §3.2.2).
func verifyTA(t dns.TLSA, chain []*x509.Certificate, names []string, now time.Time) error {
	for i, ta := range chain {
		if i == 0 && len(chain) > 1 || !Matches(t, ta) {
			continue
		}
		roots := x509.NewCertPool()
		roots.AddCert(ta)
		inter := x509.NewCertPool()
		for _, c := range chain[1:i] {
			inter.AddCert(c)
		}
		var err error
		for _, name := range names {
			opts := x509.VerifyOptions{
				Roots: roots, Intermediates: inter, CurrentTime: now,
				DNSName:   strings.TrimSuffix(name, "."),
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
			}
			if _, err = chain[0].Verify(opts); err == nil {
				return nil
			}
		}
		if err != nil {
			return err
		}
	}
	return errors.New("no trust anchor of the chain matches the DANE-TA record")
}

// VerifyPeerCertificate returns a function for tls.Config's
// VerifyPeerCertificate (with InsecureSkipVerify set, since DANE replaces
// PKIX verification) that runs Verify on the raw chain.
func VerifyPeerCertificate(records []dns.TLSA, names []string, now func() time.Time) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		chain := make([]*x509.Certificate, 0, len(raw))
		for _, b := range raw {
			c, err := x509.ParseCertificate(b)
			if err != nil {
				return fmt.Errorf("dane: bad certificate from server: %w", err)
			}
			chain = append(chain, c)
		}
		t := time.Now()
		if now != nil {
			t = now()
		}
		return Verify(records, chain, names, t)
	}
}
