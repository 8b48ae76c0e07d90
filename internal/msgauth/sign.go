package msgauth

import (
	"bufio"
	"context"
	"crypto"
	"fmt"
	"sync"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/dkim"
	"github.com/posthorn/posthorn/internal/message"
	"github.com/posthorn/posthorn/internal/store"
)

// KeyStore holds the DKIM keys of local domains; store.Store implements it.
type KeyStore interface {
	DKIMKeys(ctx context.Context, domain addr.Domain) ([]store.DKIMKey, error)
}

// Signer DKIM-signs mail whose From domain is local, with every active key
// of that domain (Ed25519 and RSA, RFC 8463 §3 recommends both while
// verifiers catch up). Keys are read from the store at every message, so
// a rotation takes effect at once; parsed keys are cached.
type Signer struct {
	Keys KeyStore
	Now  func() time.Time // nil: time.Now

	mu     sync.Mutex
	parsed map[string]crypto.Signer // by PEM text
}

// Sign returns the DKIM-Signature fields to prepend to msg, each ending in
// CRLF; none when no From domain has active keys.
func (s *Signer) Sign(ctx context.Context, msg delivery.Message) ([]byte, error) {
	h, err := message.ReadHeader(bufio.NewReader(delivery.Reader(msg)))
	if err != nil {
		return nil, fmt.Errorf("msgauth: reading header: %w", err)
	}
	signers, err := s.signers(ctx, FromDomains(h))
	if err != nil || len(signers) == 0 {
		return nil, err
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	fields, err := dkim.Sign(delivery.Reader(msg), now, signers...)
	if err != nil {
		return nil, fmt.Errorf("msgauth: DKIM signing: %w", err)
	}
	return []byte(fields), nil
}

// signers returns a dkim.Signer for each active key of each distinct
// domain, Ed25519 keys first.
func (s *Signer) signers(ctx context.Context, domains []addr.Domain) ([]dkim.Signer, error) {
	var out []dkim.Signer
	seen := map[string]bool{}
	for _, d := range domains {
		if d.IsZero() || seen[d.ASCII] {
			continue
		}
		seen[d.ASCII] = true
		keys, err := s.Keys.DKIMKeys(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("msgauth: DKIM keys of %s: %w", d, err)
		}
		for _, alg := range []string{dkim.AlgEd25519, dkim.AlgRSA} {
			for _, k := range keys {
				if k.State != "active" || k.Algorithm != alg {
					continue
				}
				key, err := s.parse(k.PrivateKey)
				if err != nil {
					return nil, fmt.Errorf("msgauth: DKIM key %s of %s: %w", k.Selector, d, err)
				}
				out = append(out, dkim.Signer{Domain: d, Selector: k.Selector, Key: key})
			}
		}
	}
	return out, nil
}

func (s *Signer) parse(pem []byte) (crypto.Signer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.parsed[string(pem)]; ok {
		return k, nil
	}
	k, err := dkim.ParseKey(pem)
	if err != nil {
		return nil, err
	}
	if s.parsed == nil {
		s.parsed = map[string]crypto.Signer{}
	}
	s.parsed[string(pem)] = k
	return k, nil
}
