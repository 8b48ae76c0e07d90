// Package spf evaluates the Sender Policy Framework (RFC 7208) for the
// MAIL FROM and HELO identities of an SMTP session, over a dns.Resolver,
// and formats the result for the Received-SPF (RFC 7208 §9.1) and
// Authentication-Results (RFC 8601) headers.
//
// The evaluator is check_host() as RFC 7208 §4 writes it: a record is
// parsed whole against the grammar of §12 before anything is evaluated, so
// a syntax error anywhere is a permerror (§4.6); mechanisms are evaluated
// left to right with the limits of §4.6.4 (10 DNS-querying terms per check,
// 2 void lookups, 10 MX or PTR names per term); macros expand as §7 says,
// %{p} included; a fail carries the domain's explanation (exp=, §6.2). It
// passes 202 of the 203 cases of the RFC 7208 test suite (rfc7208_test.go
// says which one it does not, and why). Reasons are said in plain words and
// never quote a DNS server's address.
package spf

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dns"
)

// Result is an SPF result (RFC 7208 §2.6); its value is the word used in
// Received-SPF and Authentication-Results.
type Result string

// The results of RFC 7208 §2.6.
const (
	None      Result = "none"
	Neutral   Result = "neutral"
	Pass      Result = "pass"
	Fail      Result = "fail"
	SoftFail  Result = "softfail"
	TempError Result = "temperror"
	PermError Result = "permerror"
)

// Identity is the identity an SPF check authorizes (RFC 7208 §2.3, §2.4).
type Identity string

// Identities.
const (
	MailFrom Identity = "mailfrom"
	HELO     Identity = "helo"
)

// ErrInvalidIP: Args.IP is not a valid address.
var ErrInvalidIP = errors.New("spf: invalid client IP")

// Args are the inputs of a check.
type Args struct {
	// IP is the SMTP client's address; an IPv4-mapped IPv6 address counts
	// as IPv4.
	IP netip.Addr
	// HELO is the name the client gave in HELO/EHLO, as given.
	HELO string
	// MailFrom is the MAIL FROM address; the zero Address is the null
	// sender, checked as postmaster@HELO (RFC 7208 §2.4).
	MailFrom addr.Address
	// MailFromText is the MAIL FROM as given, for a caller that could not
	// parse it into MailFrom (the CLI, the RFC 7208 test suite); it is used
	// only when MailFrom is zero. RFC 7208 §4.3 decides what it means: a
	// domain that is malformed or single-label gives None, an empty local
	// part is "postmaster".
	MailFromText string
	// LocalHostname is our host name: the receiver in Received-SPF and the
	// %{r} macro of explanations ("unknown" when empty).
	LocalHostname string
	// Now is the time of the %{t} macro; time.Now when nil.
	Now func() time.Time
}

// Verdict is the outcome of a check.
type Verdict struct {
	Result   Result
	Identity Identity
	// Domain is the domain checked (ASCII form): the MAIL FROM domain or
	// the HELO name. Empty when there was nothing to check.
	Domain string
	// Sender is the <sender> of check_host(): the MAIL FROM address, or
	// postmaster@HELO for the null sender or the HELO identity.
	Sender string
	// Explanation is the domain's own text (exp=, RFC 7208 §6.2) for a
	// fail, sanitized to printable ASCII; empty when it has none.
	Explanation string
	// Reason says in plain words why: for the log line, the Received-SPF
	// comment, and the SMTP reply when there is no Explanation.
	Reason string
	// Problem is set for temperror and permerror: the error underneath.
	Problem string
	// Lookups is the number of DNS queries the check made.
	Lookups int

	// What the headers need.
	IP       netip.Addr
	HELOName string
	Receiver string
}

// Verify checks the identity that decides SPF for a message: MAIL FROM,
// or HELO for the null sender (RFC 7208 §2.4). The error is non-nil only
// for invalid arguments; DNS trouble is a TempError verdict.
func Verify(ctx context.Context, r dns.Resolver, a Args) (Verdict, error) {
	if a.MailFrom.IsZero() && a.MailFromText == "" {
		return VerifyHELO(ctx, r, a)
	}
	ip, err := clientIP(a.IP)
	if err != nil {
		return Verdict{}, err
	}
	local, domain := string(a.MailFrom.Localpart), a.MailFrom.Domain.ASCII
	if a.MailFrom.IsZero() {
		local, domain = splitSender(strings.TrimSuffix(strings.TrimPrefix(a.MailFromText, "<"), ">"))
	}
	if local == "" {
		local = "postmaster" // RFC 7208 §4.3
	}
	return check(ctx, r, a, ip, MailFrom, domain, local+"@"+domain), nil
}

// splitSender splits a MAIL FROM given as text at its last "@"; without
// one, the whole text is the domain.
func splitSender(s string) (local, domain string) {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", s
	}
	return s[:at], s[at+1:]
}

// VerifyHELO checks the HELO identity (RFC 7208 §2.3), for
// Authentication-Results' smtp.helo even when MAIL FROM is not null. A
// HELO that is an address literal or not a multi-label domain name gives
// None.
func VerifyHELO(ctx context.Context, r dns.Resolver, a Args) (Verdict, error) {
	ip, err := clientIP(a.IP)
	if err != nil {
		return Verdict{}, err
	}
	v := Verdict{Result: None, Identity: HELO, IP: ip, HELOName: a.HELO, Receiver: receiver(a)}
	d, err := addr.ParseDomain(a.HELO)
	if err != nil || !strings.Contains(d.ASCII, ".") {
		v.Reason = fmt.Sprintf("HELO %q is not a domain name to check (RFC 7208 §2.3)", a.HELO)
		return v, nil
	}
	return check(ctx, r, a, ip, HELO, d.ASCII, "postmaster@"+d.ASCII), nil
}

func clientIP(ip netip.Addr) (netip.Addr, error) {
	if !ip.IsValid() {
		return ip, ErrInvalidIP
	}
	return ip.Unmap(), nil
}

func receiver(a Args) string {
	if a.LocalHostname == "" {
		return "unknown"
	}
	return a.LocalHostname
}

// check runs check_host() (RFC 7208 §4) for one identity.
func check(ctx context.Context, r dns.Resolver, a Args, ip netip.Addr, id Identity, domain, sender string) Verdict {
	v := Verdict{Identity: id, Domain: domain, Sender: sender, IP: ip, HELOName: a.HELO, Receiver: receiver(a)}
	// RFC 7208 §4.3: a malformed or single-label domain gives none.
	d, err := addr.ParseDomain(domain)
	if err != nil || !strings.Contains(d.ASCII, ".") {
		v.Result, v.Reason = None, fmt.Sprintf("%q is not a domain name SPF can check (RFC 7208 §4.3)", domain)
		return v
	}
	e := &evaluator{r: r, ip: ip, sender: sender, helo: a.HELO, receiver: v.Receiver, now: a.Now}
	out := e.checkHost(ctx, d.ASCII)
	v.Result = out.result
	if v.Result == TempError || v.Result == PermError {
		v.Problem = out.problem
	}
	if v.Result == Fail && out.exp != nil {
		v.Explanation = e.explain(ctx, *out.exp)
	}
	v.Lookups = e.queries
	v.Reason = reason(v)
	return v
}

// reason phrases a verdict the way RFC 7208 §9.1's examples do.
func reason(v Verdict) string {
	who := "domain of " + v.Sender
	if v.Identity == HELO {
		who = "HELO " + v.Domain
	}
	switch v.Result {
	case Pass:
		return fmt.Sprintf("%s designates %s as permitted sender", who, v.IP)
	case Fail:
		return fmt.Sprintf("%s does not designate %s as permitted sender", who, v.IP)
	case SoftFail:
		return fmt.Sprintf("%s does not designate %s as permitted sender (softfail: transitioning)", who, v.IP)
	case Neutral:
		return fmt.Sprintf("%s makes no assertion about %s", who, v.IP)
	case None:
		return fmt.Sprintf("%s publishes no SPF record", v.Domain)
	case TempError:
		return fmt.Sprintf("temporary DNS error checking %s: %s", v.Domain, v.Problem)
	}
	return fmt.Sprintf("SPF policy of %s is unusable: %s", v.Domain, v.Problem)
}
