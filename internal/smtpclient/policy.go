package smtpclient

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dane"
	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/mtasts"
	"github.com/posthorn/posthorn/internal/tlsrpt"
)

// DomainPolicies is the per-domain part of the transport-security policy
// (Client.Policy): the locally required domains (queue.require_tls_domains)
// and the domains' MTA-STS policies. cmd/posthorn fills it from [queue].
type DomainPolicies struct {
	// Require lists the domains (ASCII, lower case) that need STARTTLS
	// with a certificate valid for the MX host name.
	Require map[string]bool
	// STS looks MTA-STS policies up; nil: MTA-STS off.
	STS *mtasts.Resolver
	// TLSRPT, when set, is told about failed policy fetches.
	TLSRPT *tlsrpt.Recorder
}

// Lookup is a PolicyFunc. A failed policy fetch is reported to TLS-RPT
// (RFC 8460 §4.3.2) and delivery goes on without the policy (RFC 8461
// §5.1); a cached policy still applies.
func (p *DomainPolicies) Lookup(ctx context.Context, d addr.Domain) (Policy, error) {
	pol := Policy{RequireVerifiedTLS: p.Require[strings.ToLower(d.ASCII)]}
	if p.STS == nil {
		return pol, nil
	}
	sts, err := p.STS.Lookup(ctx, d.ASCII)
	pol.MTASTS = sts
	if err != nil && p.TLSRPT != nil && !errors.Is(err, dns.ErrTemporary) {
		typ := tlsrpt.STSPolicyFetchError
		if errors.Is(err, mtasts.ErrSyntax) {
			typ = tlsrpt.STSPolicyInvalid
		}
		p.TLSRPT.Failure(tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: d.ASCII}, tlsrpt.Failure{ResultType: typ, AdditionalInfo: err.Error()})
	}
	return pol, err
}

// transportPolicy decides what the TLS of every connection of one attempt
// must satisfy, for every route alike: direct MX delivery (submitted and
// forwarded mail), a backup MX delivering to the primary, and a smarthost.
// It is the one place that combines
//
//   - the destination domains' MTA-STS policy and local requirement
//     (queue.require_tls_domains), from c.Policy;
//   - for a smarthost (relay non-nil): credentials, which are only ever
//     sent over verified TLS; and the destinations' requirements, which
//     become "verified TLS to the smarthost" (an MTA-STS policy lists the
//     domain's MX hosts, never a smarthost, so its host list cannot apply,
//     but its demand for verified TLS does);
//
// DANE is decided per host from its TLSA records (dane.Lookup in tryHost,
// for MX, backup and smarthost hosts alike) and takes precedence (mode).
func (c *Client) transportPolicy(ctx context.Context, domains []addr.Domain, relay *Relay) Policy {
	var p Policy
	if c.Policy != nil {
		for _, d := range domains {
			dp, err := c.Policy(ctx, d)
			if err != nil {
				c.logger().Warn("tls policy lookup failed; using opportunistic TLS", slog.String("domain", d.ASCII), slog.Any("err", err))
			}
			p.RequireVerifiedTLS = p.RequireVerifiedTLS || dp.RequireVerifiedTLS
			if dp.MTASTS != nil && (p.MTASTS == nil || dp.MTASTS.Enforced()) {
				p.MTASTS = dp.MTASTS
			}
		}
	}
	if relay != nil {
		if p.MTASTS.Enforced() || relay.Username != "" {
			p.RequireVerifiedTLS = true
		}
		p.MTASTS = nil
	}
	return p
}

// recipientDomains returns the distinct domains of m's recipients.
func recipientDomains(m Message) []addr.Domain {
	var out []addr.Domain
	for _, r := range m.Recipients {
		a, err := addr.ParseAddress(r.Address)
		if err != nil {
			continue
		}
		if !slices.ContainsFunc(out, func(d addr.Domain) bool { return strings.EqualFold(d.ASCII, a.Domain.ASCII) }) {
			out = append(out, a.Domain)
		}
	}
	return out
}

// tlsMode is what a host's TLS must satisfy.
type tlsMode struct {
	name     string // TLSInfo.Policy
	required bool   // no delivery without TLS
	sts      *mtasts.Policy
}

// mode is the policy of one host: DANE when it has usable TLSA records
// (RFC 8461 §2: DANE takes precedence over MTA-STS), else MTA-STS, else
// the local requirement, else opportunistic TLS.
func (c *Client) mode(t target, recs dane.Records) tlsMode {
	sts := t.policy.MTASTS
	if sts != nil && sts.Mode == mtasts.ModeNone {
		sts = nil
	}
	switch {
	case recs.Present:
		return tlsMode{name: "dane", required: true}
	case sts != nil:
		return tlsMode{name: "mta-sts", required: sts.Enforced() || t.policy.RequireVerifiedTLS, sts: sts}
	case t.policy.RequireVerifiedTLS:
		return tlsMode{name: "required", required: true}
	}
	return tlsMode{name: "opportunistic"}
}
