package spf

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/dns"
)

// Processing limits (RFC 7208 §4.6.4).
const (
	// maxTerms bounds the mechanisms and modifiers that query DNS (include,
	// a, mx, ptr, exists, redirect, and the PTR query of %{p}) in one check.
	maxTerms = 10
	// maxVoids bounds the terms whose lookup found nothing (NXDOMAIN or no
	// records), the RECOMMENDED default.
	maxVoids = 2
	// maxNames bounds the MX hosts an mx mechanism and the PTR names the
	// PTR process look up addresses for.
	maxNames = 10
)

// An outcome is the result of check_host() for one domain.
type outcome struct {
	result Result
	// exp is the exp= of the record whose mechanism decided, with that
	// record's domain: the explanation of a fail (RFC 7208 §6.2).
	exp *expRef
	// problem says what went wrong for temperror and permerror.
	problem string
}

type expRef struct {
	spec, domain string
}

func permError(format string, args ...any) outcome {
	return outcome{result: PermError, problem: fmt.Sprintf(format, args...)}
}

// errLimit stops an evaluation that went over a limit: permerror.
type errLimit string

func (e errLimit) Error() string { return string(e) }

// errTemp stops an evaluation on a temporary DNS failure: temperror. Its
// text names the query, not the transport (no server addresses: it may end
// up in an SMTP reply).
type errTemp string

func (e errTemp) Error() string { return string(e) }

// An evaluator runs check_host() (RFC 7208 §4) for one client address and
// sender, counting queries and terms across includes and redirects.
type evaluator struct {
	r        dns.Resolver
	ip       netip.Addr
	sender   string
	helo     string
	receiver string
	now      func() time.Time

	queries int // DNS queries made, for Verdict.Lookups
	terms   int // DNS-querying terms evaluated (§4.6.4)
	voids   int // void lookups (§4.6.4)

	ptrDone  bool
	ptrVoid  bool     // the PTR query found nothing
	ptrNames []string // validated names of ip (§5.5), in PTR order
}

// checkHost is check_host() for domain (RFC 7208 §4.4–§4.7).
func (e *evaluator) checkHost(ctx context.Context, domain string) outcome {
	txt, out, ok := e.fetchRecord(ctx, domain)
	if !ok {
		return out
	}
	rec, err := parseRecord(txt)
	if err != nil {
		return permError("record of %s, %v", domain, err)
	}
	for _, d := range rec.directives {
		if d.queries() {
			if err := e.countTerm(); err != nil {
				return permError("%v", err)
			}
		}
		m, sub := e.match(ctx, d, domain)
		if sub != nil {
			return *sub
		}
		if m {
			o := outcome{result: d.qualifier}
			if rec.exp != "" {
				o.exp = &expRef{rec.exp, domain}
			}
			return o
		}
	}
	if rec.redirect == "" {
		return outcome{result: Neutral} // RFC 7208 §4.7
	}
	// RFC 7208 §6.1: check_host() of the target; none is a permerror, and
	// the target's exp= replaces ours.
	if err := e.countTerm(); err != nil {
		return permError("%v", err)
	}
	target, err := e.target(ctx, rec.redirect, domain)
	if err != nil {
		return e.stop(err)
	}
	if target == "" {
		return permError("redirect=%s of %s is not a valid domain name (RFC 7208 §6.1)", rec.redirect, domain)
	}
	o := e.checkHost(ctx, target)
	if o.result == None {
		return permError("redirect=%s: %s (RFC 7208 §6.1)", target, o.problem)
	}
	return o
}

// fetchRecord returns the SPF record of domain (RFC 7208 §4.4, §4.5); when
// there is none, ok is false and out is none, temperror or permerror.
func (e *evaluator) fetchRecord(ctx context.Context, domain string) (txt string, out outcome, ok bool) {
	e.queries++
	txts, _, err := e.r.LookupTXT(ctx, domain)
	switch {
	case errors.Is(err, dns.ErrTemporary):
		return "", outcome{result: TempError, problem: fmt.Sprintf("TXT lookup of %s: temporary DNS failure", domain)}, false
	case err != nil && !dns.IsNotFound(err) && !errors.Is(err, dns.ErrPermanent):
		return "", outcome{result: TempError, problem: fmt.Sprintf("TXT lookup of %s failed", domain)}, false
	}
	var found []string
	for _, t := range txts {
		if isRecord(t) {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return "", outcome{result: None, problem: domain + " publishes no SPF record"}, false
	case 1:
		return found[0], outcome{}, true
	}
	return "", permError("%s publishes %d SPF records, one at most is allowed (RFC 7208 §4.5)", domain, len(found)), false
}

func (e *evaluator) countTerm() error {
	e.terms++
	if e.terms > maxTerms {
		return errLimit(fmt.Sprintf("more than %d DNS-querying mechanisms and modifiers (include, a, mx, ptr, exists, redirect) (RFC 7208 §4.6.4)", maxTerms))
	}
	return nil
}

// void counts a lookup that found nothing.
func (e *evaluator) void() error {
	e.voids++
	if e.voids > maxVoids {
		return errLimit(fmt.Sprintf("more than %d lookups found nothing (RFC 7208 §4.6.4)", maxVoids))
	}
	return nil
}

// stop turns an error of a lookup or an expansion into the outcome.
func (e *evaluator) stop(err error) outcome {
	var tmp errTemp
	if errors.As(err, &tmp) {
		return outcome{result: TempError, problem: err.Error()}
	}
	return permError("%v", err)
}

// match evaluates one mechanism (RFC 7208 §5); a non-nil outcome ends
// check_host() with it (an include's error, a limit, a DNS failure).
func (e *evaluator) match(ctx context.Context, d directive, domain string) (bool, *outcome) {
	if err := ctx.Err(); err != nil {
		return false, &outcome{result: TempError, problem: "the check ran out of time"}
	}
	name := domain
	if d.domain != "" {
		t, err := e.target(ctx, d.domain, domain)
		if err != nil {
			o := e.stop(err)
			return false, &o
		}
		if t == "" && d.mechanism == "include" {
			// check_host() of a malformed name is none (RFC 7208 §4.3),
			// which include turns into permerror (§5.2).
			o := permError("include:%s of %s is not a valid domain name (RFC 7208 §5.2)", d.domain, domain)
			return false, &o
		}
		if t == "" {
			return false, nil // RFC 7208 §4.8: a name that cannot exist matches nothing
		}
		name = t
	}
	var m bool
	var err error
	switch d.mechanism {
	case "all":
		return true, nil
	case "ip4", "ip6":
		return d.prefix.Contains(e.ip), nil
	case "include":
		return e.include(ctx, name)
	case "a":
		m, err = e.matchA(ctx, name, d)
	case "mx":
		m, err = e.matchMX(ctx, name, d)
	case "ptr":
		m, err = e.matchPTR(ctx, name)
	case "exists":
		m, err = e.exists(ctx, name)
	}
	if err != nil {
		o := e.stop(err)
		return false, &o
	}
	return m, nil
}

// include: RFC 7208 §5.2's table.
func (e *evaluator) include(ctx context.Context, target string) (bool, *outcome) {
	o := e.checkHost(ctx, target)
	switch o.result {
	case Pass:
		return true, nil
	case Fail, SoftFail, Neutral:
		return false, nil
	case None:
		p := permError("include:%s: %s (RFC 7208 §5.2)", target, o.problem)
		return false, &p
	}
	o.exp = nil
	return false, &o
}

// lookupIP returns the addresses of name of the client's family (A for
// IPv4, AAAA for IPv6, RFC 7208 §5.3) or, with v4, A records (§5.7). A
// name without them (NXDOMAIN, no data, or a name DNS cannot hold) gives
// none and no error; a temporary failure is an errTemp.
func (e *evaluator) lookupIP(ctx context.Context, name string, v4 bool) (ips []netip.Addr, err error) {
	network := "ip6"
	if v4 || e.ip.Is4() {
		network = "ip4"
	}
	e.queries++
	ips, _, err = e.r.LookupIP(ctx, network, name)
	if err != nil && (dns.IsNotFound(err) || errors.Is(err, dns.ErrPermanent)) {
		return nil, nil
	}
	if err != nil {
		return nil, errTemp(fmt.Sprintf("address lookup of %s: temporary DNS failure", name))
	}
	return ips, nil
}

func (e *evaluator) inNetwork(ips []netip.Addr, d directive) bool {
	bits := d.cidr4
	if e.ip.Is6() {
		bits = d.cidr6
	}
	for _, ip := range ips {
		ip = ip.Unmap()
		if ip.Is4() != e.ip.Is4() {
			continue
		}
		if p, err := ip.Prefix(bits); err == nil && p.Contains(e.ip) {
			return true
		}
	}
	return false
}

// matchA: RFC 7208 §5.3.
func (e *evaluator) matchA(ctx context.Context, name string, d directive) (bool, error) {
	ips, err := e.lookupIP(ctx, name, false)
	if err != nil {
		return false, err
	}
	if len(ips) == 0 {
		return false, e.void()
	}
	return e.inNetwork(ips, d), nil
}

// matchMX: RFC 7208 §5.4; more than 10 MX records is a permerror (§4.6.4).
func (e *evaluator) matchMX(ctx context.Context, name string, d directive) (bool, error) {
	e.queries++
	mxs, _, err := e.r.LookupMX(ctx, name)
	switch {
	case err != nil && (dns.IsNotFound(err) || errors.Is(err, dns.ErrPermanent)):
		return false, e.void()
	case err != nil:
		return false, errTemp(fmt.Sprintf("MX lookup of %s: temporary DNS failure", name))
	case len(mxs) == 0:
		return false, e.void()
	case len(mxs) > maxNames:
		return false, errLimit(fmt.Sprintf("mx:%s has %d MX records, more than %d (RFC 7208 §4.6.4)", name, len(mxs), maxNames))
	}
	for _, mx := range mxs {
		host := strings.TrimSuffix(mx.Host, ".")
		if host == "" { // a null MX (RFC 7505) has no addresses
			continue
		}
		ips, err := e.lookupIP(ctx, host, false)
		if err != nil {
			return false, err
		}
		if e.inNetwork(ips, d) {
			return true, nil
		}
	}
	return false, nil
}

// exists: RFC 7208 §5.7; the lookup is for A records whatever the client.
func (e *evaluator) exists(ctx context.Context, name string) (bool, error) {
	ips, err := e.lookupIP(ctx, name, true)
	if err != nil {
		return false, err
	}
	if len(ips) == 0 {
		return false, e.void()
	}
	return true, nil
}

// matchPTR: RFC 7208 §5.5, a validated name equal to or under target.
func (e *evaluator) matchPTR(ctx context.Context, target string) (bool, error) {
	e.validate(ctx)
	if e.ptrVoid {
		return false, e.void()
	}
	for _, n := range e.ptrNames {
		if under(n, target) {
			return true, nil
		}
	}
	return false, nil
}

// under reports whether name is domain or a subdomain of it.
func under(name, domain string) bool {
	name, domain = strings.ToLower(strings.TrimSuffix(name, ".")), strings.ToLower(strings.TrimSuffix(domain, "."))
	return name == domain || strings.HasSuffix(name, "."+domain)
}

// validate runs the PTR process once (RFC 7208 §5.5): the PTR names of ip,
// the first 10 of them looked up, kept when one of their addresses is ip.
// Any DNS error skips a name; an error of the PTR query means no names.
func (e *evaluator) validate(ctx context.Context) {
	if e.ptrDone {
		return
	}
	e.ptrDone = true
	e.queries++
	names, _, err := e.r.LookupAddr(ctx, e.ip)
	if err != nil || len(names) == 0 {
		e.ptrVoid = err == nil || dns.IsNotFound(err)
		return
	}
	for _, n := range names[:min(len(names), maxNames)] {
		ips, err := e.lookupIP(ctx, strings.TrimSuffix(n, "."), false)
		if err != nil {
			continue
		}
		for _, ip := range ips {
			if ip.Unmap() == e.ip {
				e.ptrNames = append(e.ptrNames, strings.TrimSuffix(n, "."))
				break
			}
		}
	}
}

// validatedName is %{p} (RFC 7208 §7.3): a validated name of ip, one
// equal to or under domain when there is one, else "unknown".
func (e *evaluator) validatedName(domain string) string {
	for _, n := range e.ptrNames {
		if under(n, domain) {
			return n
		}
	}
	if len(e.ptrNames) > 0 {
		return e.ptrNames[0]
	}
	return "unknown"
}

func (e *evaluator) env(domain string) macroEnv {
	return macroEnv{ip: e.ip, sender: e.sender, domain: domain, helo: e.helo, receiver: e.receiver, now: e.now,
		validated: func() string { return e.validatedName(domain) }}
}

// target expands a domain-spec into the name to look up (RFC 7208 §4.8,
// §7.3): without the trailing dot, cut from the left to 253 octets. An
// empty name means one that cannot exist (an empty label or one over 63
// octets, RFC 1035 §2.3.4). The PTR query of %{p} counts as a term
// (RFC 7208 §4.6.4).
func (e *evaluator) target(ctx context.Context, spec, domain string) (string, error) {
	if usesP(spec) && !e.ptrDone {
		if err := e.countTerm(); err != nil {
			return "", err
		}
		e.validate(ctx)
	}
	name, err := expand(spec, e.env(domain), false)
	if err != nil {
		return "", err
	}
	return domainName(name), nil
}

// domainName applies RFC 7208 §7.3 to an expanded domain-spec: the trailing
// dot goes, labels go from the left until it fits in 253 octets; "" when a
// label is empty or longer than 63 octets.
func domainName(name string) string {
	name = strings.TrimSuffix(name, ".")
	for len(name) > 253 {
		_, rest, ok := strings.Cut(name, ".")
		if !ok {
			return ""
		}
		name = rest
	}
	for l := range strings.SplitSeq(name, ".") {
		if l == "" || len(l) > 63 {
			return ""
		}
	}
	return name
}

// usesP reports whether a macro-string has a %{p} macro.
func usesP(s string) bool {
	toks, _ := parseMacros(s, true)
	for _, t := range toks {
		if t.macro|0x20 == 'p' {
			return true
		}
	}
	return false
}
