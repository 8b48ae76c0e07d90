package dmarc

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/posthorn/posthorn/internal/dns"
)

// MaxLabels is N of the DNS tree walk (DMARCbis §4.10): a walk queries at
// most MaxLabels names, jumping from a longer name straight to MaxLabels-1
// labels. DMARCbis §5.1.7 asks receivers to walk at least eight levels.
const MaxLabels = 8

// DefaultMaxLookups bounds the DMARC TXT lookups of one evaluation: the
// From domain's walk (at most MaxLabels) plus the walks for alignment of
// the SPF and DKIM domains, which share most names. When it runs out, the
// organisational domain of an identifier falls back to the public suffix
// list.
const DefaultMaxLookups = 24

// errBudget is returned when the lookup budget is spent.
var errBudget = errors.New("dmarc: DNS lookup budget exhausted")

// found is a valid DMARC record found during a walk.
type found struct {
	domain string
	policy *Policy
}

// lookup is the outcome of querying _dmarc.domain.
type lookup struct {
	policy  *Policy // the single valid DMARC record, if any
	invalid error   // a single DMARC record that is not valid
	err     error   // temporary DNS failure or budget exhausted
}

// walker performs DNS tree walks for one evaluation, remembering answers
// so that the walks for the From domain and the identifiers share lookups.
type walker struct {
	ctx     context.Context
	res     dns.Resolver
	budget  int
	answers map[string]lookup
	orgs    map[string]string // organisational domains found
	notes   []string          // fallbacks taken, for the reason
}

func newWalker(ctx context.Context, res dns.Resolver, budget int) *walker {
	if budget <= 0 {
		budget = DefaultMaxLookups
	}
	return &walker{ctx: ctx, res: res, budget: budget, answers: map[string]lookup{}, orgs: map[string]string{}}
}

// lookup queries _dmarc.domain once. Records not starting with v=DMARC1 are
// discarded; several DMARC records count as none (DMARCbis §4.10 step 2).
// NXDOMAIN, no data and permanent DNS errors mean no record.
func (w *walker) lookup(domain string) lookup {
	if l, ok := w.answers[domain]; ok {
		return l
	}
	if w.budget <= 0 {
		return lookup{err: errBudget}
	}
	w.budget--
	var l lookup
	txts, _, err := w.res.LookupTXT(w.ctx, "_dmarc."+domain)
	switch {
	case err == nil:
		var policies []*Policy
		var invalid []error
		for _, txt := range txts {
			p, err := ParsePolicy(txt)
			switch {
			case err == nil:
				policies = append(policies, p)
			case !errors.Is(err, ErrNotDMARC):
				invalid = append(invalid, err)
			}
		}
		switch {
		case len(policies)+len(invalid) > 1:
			l.invalid = fmt.Errorf("%w: _dmarc.%s has %d DMARC records", ErrSyntax, domain, len(policies)+len(invalid))
		case len(policies) == 1:
			l.policy = policies[0]
		case len(invalid) == 1:
			l.invalid = invalid[0]
		}
	case dns.IsNotFound(err), errors.Is(err, dns.ErrPermanent):
	default:
		l.err = fmt.Errorf("DNS lookup of _dmarc.%s failed: %w", domain, err)
	}
	w.answers[domain] = l
	return l
}

// walk performs the DNS tree walk from start (DMARCbis §4.10) and returns
// the valid records found, longest name first. It stops at a record with
// psd=n, or psd=y above start.
func (w *walker) walk(start string) ([]found, error) {
	var out []found
	target := start
	for first := true; target != ""; first = false {
		l := w.lookup(target)
		if l.err != nil {
			return out, l.err
		}
		if l.policy != nil {
			out = append(out, found{target, l.policy})
			if psd := l.policy.PSD; psd == "n" || !first && psd == "y" {
				break
			}
		}
		target = parentTarget(target)
	}
	return out, nil
}

// parentTarget is the next name of a walk: one label less, or straight to
// MaxLabels-1 labels from a longer name (DMARCbis §4.10 step 5).
func parentTarget(d string) string {
	labels := strings.Split(d, ".")
	if len(labels) >= MaxLabels {
		return strings.Join(labels[len(labels)-(MaxLabels-1):], ".")
	}
	_, rest, _ := strings.Cut(d, ".")
	return rest
}

// orgFromWalk selects the organisational domain of start from the records
// its walk found (DMARCbis §4.10.2): the first record with psd=n; else one
// label below a psd=y record above start; else the record with the fewest
// labels; else start itself.
func orgFromWalk(start string, recs []found) string {
	for _, f := range recs {
		switch {
		case f.policy.PSD == "n":
			return f.domain
		case f.policy.PSD == "y" && f.domain != start:
			return oneBelow(start, f.domain)
		}
	}
	if len(recs) > 0 {
		return recs[len(recs)-1].domain
	}
	return start
}

// oneBelow returns the suffix of d with one label more than parent.
func oneBelow(d, parent string) string {
	labels := strings.Split(d, ".")
	n := strings.Count(parent, ".") + 2
	return strings.Join(labels[len(labels)-n:], ".")
}

// orgDomain returns the organisational domain of d by the tree walk, or by
// the public suffix list when the walk cannot finish (a temporary DNS
// failure, or the lookup budget spent).
func (w *walker) orgDomain(d string) string {
	if org, ok := w.orgs[d]; ok {
		return org
	}
	recs, err := w.walk(d)
	org := orgFromWalk(d, recs)
	if err != nil {
		var perr error
		if org, perr = publicsuffix.EffectiveTLDPlusOne(d); perr != nil {
			org = d
		}
		w.notes = append(w.notes, fmt.Sprintf("organisational domain of %s taken from the public suffix list (%s) because %v", d, org, err))
	}
	w.orgs[d] = org
	return org
}

// aligned reports whether identifier id is aligned with the From domain in
// mode (RFC 7489 §3.1, DMARCbis §4.10.2): identical (strict), or sharing
// the organisational domain (relaxed). Since a domain's organisational
// domain is itself or one of its parents, id can only be relaxed-aligned
// when it is at or under from's; only then is id's own walk needed.
func (w *walker) aligned(mode Alignment, id, from string) bool {
	if id == "" {
		return false
	}
	if id == from {
		return true
	}
	if mode == Strict {
		return false
	}
	org := w.orgDomain(from)
	if id != org && !strings.HasSuffix(id, "."+org) {
		return false
	}
	return w.orgDomain(id) == org
}
