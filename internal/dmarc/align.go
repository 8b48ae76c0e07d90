package dmarc

import (
	"fmt"
	"strings"

	"github.com/posthorn/posthorn/internal/dkim"
)

// alignment is the identifier alignment of one message.
type alignment struct {
	spf, dkim bool     // an aligned identifier passed
	temp      bool     // an aligned identifier failed temporarily
	passes    []string // what passed aligned, in words
	spfWhy    string   // why SPF did not give an aligned pass
	dkimWhy   []string // why DKIM did not give an aligned pass
}

// align checks SPF and DKIM alignment (RFC 7489 §3.1, §4.2): an identifier
// counts only when its mechanism passed and it is aligned in the record's
// mode. Walks for relaxed alignment are done only for passing identifiers
// (and temporary failures, which decide between fail and temperror).
func (e *Evaluator) align(w *walker, in Input, from string, p *Policy) alignment {
	var a alignment
	spfDomain := in.SPFDomain.ASCII
	switch {
	case spfDomain == "":
		a.spfWhy = "no SPF result"
	case in.SPF == "pass" && w.aligned(p.ASPF, spfDomain, from):
		a.spf = true
		a.passes = append(a.passes, fmt.Sprintf("SPF passed for %s, aligned (%s)", spfDomain, modeName(p.ASPF)))
	case in.SPF == "pass":
		a.spfWhy = fmt.Sprintf("SPF passed for %s which is not aligned (%s)", spfDomain, modeName(p.ASPF))
	case in.SPF == "temperror" && w.aligned(p.ASPF, spfDomain, from):
		a.temp = true
		a.spfWhy = fmt.Sprintf("SPF for %s failed temporarily", spfDomain)
	case in.SPF == "" || in.SPF == "none":
		a.spfWhy = fmt.Sprintf("no SPF policy for %s", spfDomain)
	default:
		a.spfWhy = fmt.Sprintf("SPF result for %s is %s", spfDomain, in.SPF)
	}
	fromOrAligned := false
	for _, r := range in.DKIM {
		d := r.Domain.ASCII
		switch {
		case d == "":
			a.dkimWhy = append(a.dkimWhy, fmt.Sprintf("DKIM signature without a valid domain: %s", r.Explanation))
		case r.Status == dkim.StatusPass && w.aligned(p.ADKIM, d, from):
			a.dkim, fromOrAligned = true, true
			a.passes = append(a.passes, fmt.Sprintf("DKIM signature by %s passed, aligned (%s)", d, modeName(p.ADKIM)))
		case r.Status == dkim.StatusPass:
			a.dkimWhy = append(a.dkimWhy, fmt.Sprintf("DKIM passed for %s which is not aligned (%s)", d, modeName(p.ADKIM)))
		case r.Status == dkim.StatusTempError && w.aligned(p.ADKIM, d, from):
			a.temp, fromOrAligned = true, true
			a.dkimWhy = append(a.dkimWhy, fmt.Sprintf("DKIM signature by %s could not be checked: %s", d, r.Explanation))
		case w.aligned(p.ADKIM, d, from):
			fromOrAligned = true
			a.dkimWhy = append(a.dkimWhy, fmt.Sprintf("DKIM signature by %s is %s: %s", d, r.Status, r.Explanation))
		default:
			a.dkimWhy = append(a.dkimWhy, fmt.Sprintf("DKIM %s for %s which is not aligned", r.Status, d))
		}
	}
	if !fromOrAligned {
		a.dkimWhy = append(a.dkimWhy, "no DKIM signature from "+from)
	}
	return a
}

// explain says why there was no aligned pass.
func (a alignment) explain() string {
	return strings.Join(append([]string{a.spfWhy}, a.dkimWhy...), "; ")
}

func modeName(m Alignment) string {
	if m == Strict {
		return "strict"
	}
	return "relaxed"
}

// record builds the aggregate-report row of a verdict.
func record(in Input, v Verdict) Record {
	r := Record{
		SourceIP:     in.SourceIP,
		HeaderFrom:   v.Domain,
		EnvelopeFrom: in.EnvelopeFrom,
		Disposition:  v.Disposition,
		DKIMAligned:  v.DKIMAligned,
		SPFAligned:   v.SPFAligned,
		SPF:          SPFAuth{Domain: in.SPFDomain, Result: in.SPF},
	}
	for _, d := range in.DKIM {
		r.DKIM = append(r.DKIM, DKIMAuth{Domain: d.Domain, Selector: d.Selector, Result: d.Status})
	}
	if p := v.Policy; p != nil {
		r.Published = Published{
			Domain: v.PolicyDomain, ADKIM: p.ADKIM, ASPF: p.ASPF,
			P: p.P, SP: p.SP, NP: p.NP, Percent: p.Percent, Testing: p.Testing,
			FailureOpts: p.FO, AggregateURI: p.RUA,
		}
	}
	return r
}
