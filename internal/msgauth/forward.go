package msgauth

import (
	"context"
	"fmt"
	"strings"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/arc"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/dkim"
)

// forwardingDomain returns the domain of the first recipient that a
// local alias forwards to other servers.
func forwardingDomain(env *delivery.Envelope) (addr.Domain, bool) {
	for _, r := range env.Recipients {
		if r.Forwarded && len(r.Remote) > 0 {
			return r.Address.Domain, true
		}
	}
	return addr.Domain{}, false
}

// Seal returns the ARC set (RFC 8617) for a copy of msg that an alias of
// domain forwards, sealed with the domain's active RSA DKIM key (other
// verifiers accept only rsa-sha256 in ARC). authResults is the value of
// our Authentication-Results field for msg; chain its ARC result. None
// when the domain has no active RSA key.
func (s *Signer) Seal(ctx context.Context, domain addr.Domain, msg delivery.Message, authResults string, chain arc.Result) ([]byte, error) {
	signers, err := s.signers(ctx, []addr.Domain{domain})
	if err != nil {
		return nil, err
	}
	for _, sg := range signers {
		k, err := s.keyAlgorithm(ctx, domain, sg.Selector)
		if err != nil || k != dkim.AlgRSA {
			continue
		}
		sealer := &arc.Sealer{Signer: sg, Now: s.Now}
		set, err := sealer.Seal(delivery.Reader(msg), authResults, chain)
		if err != nil {
			return nil, fmt.Errorf("msgauth: ARC sealing: %w", err)
		}
		return []byte(set), nil
	}
	return nil, nil
}

// keyAlgorithm returns the algorithm of domain's key selector.
func (s *Signer) keyAlgorithm(ctx context.Context, domain addr.Domain, selector string) (string, error) {
	keys, err := s.Keys.DKIMKeys(ctx, domain)
	if err != nil {
		return "", err
	}
	for _, k := range keys {
		if k.Selector == selector {
			return k.Algorithm, nil
		}
	}
	return "", fmt.Errorf("msgauth: no key %s for %s", selector, domain)
}

// authResultsValue is the value of an Authentication-Results field, unfolded.
func authResultsValue(field string) string {
	_, v, _ := strings.Cut(field, ":")
	return strings.TrimSpace(strings.ReplaceAll(v, "\r\n", ""))
}
