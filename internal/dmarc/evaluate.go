package dmarc

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
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
	// From holds the domain of every address in the RFC5322.From field
	// (the author domains). Each distinct domain is evaluated and the
	// strictest verdict is returned (RFC 7489 §6.6.1: a receiver that
	// accepts several author domains "MUST evaluate each domain and apply
	// the most strict policy"; RFC 9989 keeps the rule). No domain, an
	// empty one, or more than MaxAuthorDomains distinct ones give
	// permerror: the caller must refuse such a message rather than
	// deliver it, or an attacker could add an address to skip a policy.
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
	// Notes are fallbacks taken on the way to a failing verdict (an
	// organisational domain from the public suffix list after a failed
	// lookup), with the DNS errors: for the operator's log, not for the
	// sender, as the errors name our resolvers.
	Notes []string
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

// MaxAuthorDomains bounds the distinct From domains one message may name;
// each costs a full evaluation.
const MaxAuthorDomains = 5

// Evaluator evaluates DMARC over a dns.Resolver.
type Evaluator struct {
	Resolver dns.Resolver
	// MaxLookups bounds the DMARC lookups per message; 0 means DefaultMaxLookups.
	MaxLookups int
}

// Evaluate applies DMARC to one message (RFC 7489 §6.6, DMARCbis §5.3.2).
// With several author domains, each is evaluated on its own (with its own
// lookup budget) and the strictest verdict is returned, its reason naming
// the others.
//
// On pct: posthorn follows DMARCbis, which drops pct= (Appendix A.6):
// policies apply to every failing message. Only pct=0, which had come to
// mean "testing", is read as t=y; no random sampling is done, so a verdict
// is reproducible.
func (e *Evaluator) Evaluate(ctx context.Context, in Input) (v Verdict) {
	domains, err := AuthorDomains(in.From)
	if err != nil {
		v = Verdict{Result: ResultPermError, Disposition: DispositionNone, Reason: err.Error()}
		v.Record = record(in, v)
		return v
	}
	if len(domains) == 1 {
		return e.evaluate(ctx, in, domains[0])
	}
	verdicts := make([]Verdict, len(domains))
	worst := 0
	for i, d := range domains {
		verdicts[i] = e.evaluate(ctx, in, d)
		if strictness(verdicts[i]) > strictness(verdicts[worst]) {
			worst = i
		}
	}
	v = verdicts[worst]
	names := make([]string, len(domains))
	var others []string
	for i, d := range domains {
		names[i] = d.String()
		if i != worst {
			others = append(others, fmt.Sprintf("%s: %s", d, verdicts[i].Result))
		}
	}
	v.Reason = fmt.Sprintf("the From field names %d domains (%s), each evaluated, the strictest result applies (RFC 7489 section 6.6.1): %s; other author domains: %s",
		len(domains), strings.Join(names, ", "), v.Reason, strings.Join(others, ", "))
	return v
}

// strictness orders verdicts for several author domains: a failure whose
// policy asks for reject, then one that may hide such a policy
// (temperror), quarantine, failures without effect, invalid records,
// passes, and no policy.
func strictness(v Verdict) int {
	switch v.Result {
	case ResultFail:
		switch v.Disposition {
		case DispositionReject:
			return 7
		case DispositionQuarantine:
			return 5
		}
		return 4
	case ResultTempError:
		if v.Policy != nil && v.Policy.asksNothing() {
			return 3
		}
		return 6
	case ResultPermError:
		return 2
	case ResultPass:
		return 1
	}
	return 0
}

// asksNothing reports whether no tag of p asks for more than none.
func (p *Policy) asksNothing() bool {
	if p.Testing {
		return true
	}
	for _, d := range []Disposition{p.P, p.SP, p.NP} {
		if d != "" && d != DispositionNone {
			return false
		}
	}
	return true
}

// evaluate applies DMARC for one author domain.
func (e *Evaluator) evaluate(ctx context.Context, in Input, from addr.Domain) (v Verdict) {
	v = Verdict{Result: ResultNone, Disposition: DispositionNone, Domain: from}
	defer func() { v.Record = record(in, v) }()
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
	v.Notes = w.notes
	return v
}

// AuthorDomains returns the distinct author domains of ds, in order, or
// why DMARC cannot be evaluated: no domain, an empty one, or more than
// MaxAuthorDomains (RFC 7489 §6.6.1).
func AuthorDomains(ds []addr.Domain) ([]addr.Domain, error) {
	if len(ds) == 0 {
		return nil, errors.New("the message has no From domain, so DMARC cannot be evaluated")
	}
	var out []addr.Domain
	for _, d := range ds {
		if d.IsZero() {
			return nil, errors.New("a From address has no valid domain, so DMARC cannot be evaluated")
		}
		if !slices.ContainsFunc(out, func(o addr.Domain) bool { return o.ASCII == d.ASCII }) {
			out = append(out, d)
		}
	}
	if len(out) > MaxAuthorDomains {
		return nil, fmt.Errorf("the From field names %d domains; DMARC evaluates at most %d", len(out), MaxAuthorDomains)
	}
	return out, nil
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
