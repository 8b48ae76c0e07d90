// Package dns is posthorn's view of the DNS: a Resolver interface whose
// answers say whether they were DNSSEC-validated ("authentic") and whose
// errors distinguish a name that does not exist, a name without records of
// the asked type, and a temporary failure. Every package that queries DNS
// takes a Resolver; dnstest holds fakes.
package dns

import (
	"context"
	"errors"
	"net"
	"net/netip"
)

// Result describes how an answer was obtained.
type Result struct {
	// Authentic is true when a trusted, validating resolver set the AD bit
	// (RFC 4035 §3.2.3) on the answer.
	Authentic bool
}

// Errors. Lookups wrap one of them with %w, so callers test with errors.Is.
var (
	// ErrNotFound: the name does not exist (NXDOMAIN, RFC 8020).
	ErrNotFound = errors.New("dns: name does not exist")
	// ErrNoData: the name exists but has no records of the type asked.
	ErrNoData = errors.New("dns: no records of that type")
	// ErrTemporary: timeout, SERVFAIL, network trouble; retrying may help.
	ErrTemporary = errors.New("dns: temporary failure")
	// ErrPermanent: a malformed answer or name; retrying will not help.
	ErrPermanent = errors.New("dns: permanent failure")
)

// IsNotFound reports whether err means "no such record": NXDOMAIN or no data.
func IsNotFound(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrNoData)
}

// Resolver answers DNS queries. Names are absolute domain names, with or
// without the trailing dot; they may contain any octets that are legal in
// DNS (SPF macros produce names with spaces), which net.Resolver refuses.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, Result, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, Result, error)
	// LookupIP returns the addresses of host; network is "ip", "ip4" or "ip6".
	LookupIP(ctx context.Context, network, host string) ([]netip.Addr, Result, error)
	// LookupAddr returns the PTR names of ip.
	LookupAddr(ctx context.Context, ip netip.Addr) ([]string, Result, error)
	LookupCNAME(ctx context.Context, name string) (string, Result, error)
	// LookupTLSA returns the TLSA records of _port._proto.host (RFC 6698).
	LookupTLSA(ctx context.Context, port int, proto, host string) ([]TLSA, Result, error)
}

// TLSA is one TLSA record (RFC 6698 §2.1).
type TLSA struct {
	Usage, Selector, MatchingType uint8
	Data                          []byte
}
