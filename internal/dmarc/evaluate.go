package dmarc

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dkim"
	"github.com/posthorn/posthorn/internal/dns"
)

// Result is the DMARC result (RFC 7489 §11.2, RFC 8601).
type Result string

// Results.
const (
	ResultPass      Result = "pass"
	ResultFail      Result = "fail"
	ResultNone      Result = "none"      // no policy published: DMARC does not apply
	ResultTempError Result = "temperror" // DNS failed; retrying may give an answer
	ResultPermError Result = "permerror" // invalid record, or no single From domain
)

// SPFResult is an SPF result word of RFC 7208 §2.6 ("pass", "fail",
// "softfail", "neutral", "none", "temperror", "permerror").
type SPFResult string

// Input is what a DMARC evaluation needs about one message.
type Input struct {
	// From holds the domain of every address in the RFC5322.From field.
	// DMARC needs exactly one domain: none, or several different ones, is
	// a permerror (RFC 7489 §6.6.1; DMARCbis §5.3.1 lets receivers stop).
	// Several addresses of one domain are evaluated as that domain.
	From []addr.Domain
	// SPF is the SPF result for SPFDomain: the RFC5321.MailFrom domain, or
	// the HELO name when MAIL FROM was null (RFC 7489 §3.1.2).
	SPF       SPFResult
	SPFDomain addr.Domain
	// DKIM holds the results of every DKIM signature.
	DKIM []dkim.Result
	// SourceIP and EnvelopeFrom (the MAIL FROM domain, zero for a null
	// sender) are only copied into the Record for aggregate reports.
	SourceIP     netip.Addr
	EnvelopeFrom addr.Domain
}

// Verdict is the outcome of a DMARC evaluation.
type Verdict struct {
	Result Result
	// Disposition is what the domain owner asks to do with this message:
	// none unless Result is fail and the policy is not in test mode.
	Disposition Disposition
	// Requested is the policy that applies to the From domain (p=, sp= or
	// np=), also when Testing keeps Disposition at none.
	Requested Disposition
	// Testing is set when the record asks not to apply its policy (t=y, or
	// pct=0; DMARCbis Appendix A.6).
	Testing bool
	// Domain is the From domain; PolicyDomain where the record was found.
	Domain, PolicyDomain addr.Domain
	// Policy is the record applied; nil when none was found.
	Policy *Policy
	// SPFAligned and DKIMAligned: an aligned identifier passed.
	SPFAligned, DKIMAligned bool
	// Reason explains the verdict in plain words.
	Reason string
	// Record is what aggregate reports need about this message.
	Record Record
}

// Record is one message's row in a DMARC aggregate report
// (RFC 7489 Appendix C, "record").
type Record struct {
	SourceIP     netip.Addr
	HeaderFrom   addr.Domain
	EnvelopeFrom addr.Domain
	// Evaluated policy: disposition applied and whether DKIM and SPF
	// produced an aligned pass.
	Disposition             Disposition
	DKIMAligned, SPFAligned bool
	// Raw authentication results.
	DKIM []DKIMAuth
	SPF  SPFAuth
	// Published is the policy as published at PolicyDomain; zero when none.
	Published Published
}

// DKIMAuth is one DKIM result in a report.
type DKIMAuth struct {
	Domain   addr.Domain
	Selector string
	Result   dkim.Status
}

// SPFAuth is the SPF result in a report.
type SPFAuth struct {
	Domain addr.Domain
	Result SPFResult
}

// Published is the policy_published section of a report.
type Published struct {
	Domain       addr.Domain
	ADKIM, ASPF  Alignment
	P, SP, NP    Disposition
	Percent      int
	Testing      bool
	FailureOpts  string
	AggregateURI []string
}

// Evaluator evaluates DMARC over a dns.Resolver.
type Evaluator struct {
	Resolver dns.Resolver
	// MaxLookups bounds the DMARC lookups per message; 0 means DefaultMaxLookups.
	MaxLookups int
}

// Evaluate applies DMARC to one message (RFC 7489 §6.6, DMARCbis §5.3.2).
//
// On pct: posthorn follows DMARCbis, which drops pct= (Appendix A.6):
// policies apply to every failing message. Only pct=0, which had come to
// mean "testing", is read as t=y; no random sampling is done, so a verdict
// is reproducible.
func (e *Evaluator) Evaluate(ctx context.Context, in Input) (v Verdict) {
	v = Verdict{Result: ResultNone, Disposition: DispositionNone}
	defer func() { v.Record = record(in, v) }()
	from, err := singleDomain(in.From)
	if err != nil {
		v.Result, v.Reason = ResultPermError, err.Error()
		return v
	}
	v.Domain = from
	w := newWalker(ctx, e.Resolver, e.MaxLookups)
	policy, policyDomain, err := w.discover(from.ASCII)
	switch {
	case errors.Is(err, ErrSyntax):
		v.Result = ResultPermError
		v.Reason = fmt.Sprintf("From domain %s: %v; no DMARC policy applied", from, err)
		return v
	case err != nil:
		v.Result = ResultTempError
		v.Reason = fmt.Sprintf("From domain %s: %v", from, err)
		return v
	case policy == nil:
		v.Reason = fmt.Sprintf("From domain %s publishes no DMARC policy", from)
		return v
	}
	v.Policy, v.Testing = policy, policy.Testing
	v.PolicyDomain, _ = addr.ParseDomain(policyDomain)
	a := e.align(w, in, from.ASCII, policy)
	v.SPFAligned, v.DKIMAligned = a.spf, a.dkim
	if a.spf || a.dkim {
		v.Result = ResultPass
		v.Reason = fmt.Sprintf("From domain %s: %s", from, strings.Join(a.passes, "; "))
		return v
	}
	requested, tagName, err := w.requested(from.ASCII, policyDomain, policy)
	if err != nil || a.temp {
		v.Result = ResultTempError
		why := a.explain()
		if err != nil {
			why = err.Error()
		}
		v.Reason = fmt.Sprintf("From domain %s: no aligned pass, but a temporary failure may have hidden one: %s", from, why)
		return v
	}
	v.Result, v.Requested = ResultFail, requested
	v.Disposition = requested
	v.Reason = fmt.Sprintf("From domain %s requires aligned SPF or DKIM (%s); %s", from, describePolicy(policyDomain, tagName, requested, policy), a.explain())
	if policy.Testing {
		v.Disposition = DispositionNone
		v.Reason += "; the policy is in test mode (t=y or pct=0), so it is not applied"
	}
	if len(w.notes) > 0 {
		v.Reason += "; " + strings.Join(w.notes, "; ")
	}
	return v
}

// singleDomain returns the one From domain (RFC 7489 §6.6.1).
func singleDomain(ds []addr.Domain) (addr.Domain, error) {
	if len(ds) == 0 {
		return addr.Domain{}, errors.New("the message has no From domain, so DMARC cannot be evaluated")
	}
	for _, d := range ds[1:] {
		if d.ASCII != ds[0].ASCII {
			return addr.Domain{}, fmt.Errorf("the From field names several domains (%s and %s); DMARC needs exactly one", ds[0], d)
		}
	}
	if ds[0].IsZero() {
		return addr.Domain{}, errors.New("the From domain is empty")
	}
	return ds[0], nil
}

// discover finds the policy record for from (DMARCbis §4.10.1): the record
// of from itself, else that of its organisational domain, else that of its
// public suffix domain.
func (w *walker) discover(from string) (*Policy, string, error) {
	l := w.lookup(from)
	switch {
	case l.err != nil:
		return nil, "", l.err
	case l.invalid != nil:
		return nil, from, l.invalid
	case l.policy != nil:
		return l.policy, from, nil
	}
	recs, err := w.walk(from)
	if err != nil {
		return nil, "", err
	}
	if len(recs) == 0 {
		// An invalid record above from blocks discovery as well.
		for t := parentTarget(from); t != ""; t = parentTarget(t) {
			if l := w.lookup(t); l.invalid != nil {
				return nil, t, l.invalid
			}
		}
		return nil, "", nil
	}
	org := orgFromWalk(from, recs)
	for _, f := range recs {
		if f.domain == org {
			return f.policy, f.domain, nil
		}
	}
	for _, f := range recs {
		if f.policy.PSD == "y" {
			return f.policy, f.domain, nil // the public suffix domain's policy
		}
	}
	return recs[0].policy, recs[0].domain, nil
}

// requested picks p=, sp= or np= (DMARCbis §4.10.1): p= when the record is
// the From domain's own; otherwise np= when the From domain does not exist
// (NXDOMAIN, RFC 8020) and np= is set, else sp= when set, else p=. It
// also returns the tag used, for the reason. The existence check is one MX
// query, made only when np= could apply.
func (w *walker) requested(from, policyDomain string, p *Policy) (Disposition, string, error) {
	if from == policyDomain {
		return p.P, "p", nil
	}
	if p.NP != "" {
		_, _, err := w.res.LookupMX(w.ctx, from)
		switch {
		case errors.Is(err, dns.ErrNotFound):
			return p.NP, "np", nil
		case err != nil && !errors.Is(err, dns.ErrNoData) && !errors.Is(err, dns.ErrPermanent):
			return "", "", fmt.Errorf("cannot tell whether %s exists: %w", from, err)
		}
	}
	if p.SP != "" {
		return p.SP, "sp", nil
	}
	return p.P, "p", nil
}

func describePolicy(domain, tag string, d Disposition, p *Policy) string {
	s := fmt.Sprintf("%s=%s at _dmarc.%s, adkim=%s aspf=%s", tag, d, domain, p.ADKIM, p.ASPF)
	if tag == "np" {
		s += ", and the From domain does not exist"
	}
	return s
}
