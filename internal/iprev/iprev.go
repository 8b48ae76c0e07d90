// Package iprev checks the forward-confirmed reverse DNS of an SMTP
// client (RFC 8601 §3): the client's address has PTR names, and one of
// them resolves back to the address.
package iprev

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/posthorn/posthorn/internal/dns"
)

// Result is an iprev result (RFC 8601 §2.7.3).
type Result string

// The iprev results.
const (
	// Pass: a PTR name resolves back to the address.
	Pass Result = "pass"
	// Fail: PTR names exist, but none resolves back to the address.
	Fail Result = "fail"
	// TempError: a lookup failed in a way that may go away.
	TempError Result = "temperror"
	// PermError: the address has no PTR records (NXDOMAIN or no data).
	PermError Result = "permerror"
)

// MaxNames bounds the PTR names whose addresses are looked up, as
// RFC 7208 §4.6.4 does for the SPF ptr mechanism: a reverse zone is the
// client's to fill.
const MaxNames = 10

// ErrInvalidIP: the address given is not valid.
var ErrInvalidIP = errors.New("iprev: invalid IP")

// Verdict is the outcome of a check.
type Verdict struct {
	Result Result
	IP     netip.Addr
	// Names are the PTR names of IP (at most MaxNames, trailing dot kept).
	Names []string
	// Confirmed are the names among Names that resolve back to IP.
	Confirmed []string
	// Reason says why, in plain words.
	Reason string
}

// Name returns the first confirmed name without its trailing dot, or "".
func (v Verdict) Name() string {
	if len(v.Confirmed) == 0 {
		return ""
	}
	return strings.TrimSuffix(v.Confirmed[0], ".")
}

// AuthResult returns what an Authentication-Results resinfo needs for
// method "iprev" (RFC 8601 §3): the result, the property policy.iprev with
// the address, and a comment naming the confirmed host.
func (v Verdict) AuthResult() (result, property, value, comment string) {
	return string(v.Result), "policy.iprev", v.IP.String(), v.Name()
}

// Verify checks ip. The error is non-nil only for an invalid ip.
func Verify(ctx context.Context, r dns.Resolver, ip netip.Addr) (Verdict, error) {
	if !ip.IsValid() {
		return Verdict{}, ErrInvalidIP
	}
	ip = ip.Unmap()
	v := Verdict{IP: ip}
	names, _, err := r.LookupAddr(ctx, ip)
	switch {
	case dns.IsNotFound(err):
		v.Result, v.Reason = PermError, fmt.Sprintf("%s has no PTR record", ip)
		return v, nil
	case err != nil:
		v.Result, v.Reason = TempError, fmt.Sprintf("PTR lookup of %s failed: %v", ip, err)
		return v, nil
	case len(names) == 0:
		v.Result, v.Reason = PermError, fmt.Sprintf("%s has no PTR record", ip)
		return v, nil
	}
	if len(names) > MaxNames {
		names = names[:MaxNames]
	}
	v.Names = names
	network := "ip4"
	if ip.Is6() {
		network = "ip6"
	}
	var tempErr error
	for _, name := range names {
		addrs, _, err := r.LookupIP(ctx, network, name)
		if err != nil {
			if !dns.IsNotFound(err) && !errors.Is(err, dns.ErrPermanent) && tempErr == nil {
				tempErr = err
			}
			continue
		}
		for _, a := range addrs {
			if a.Unmap() == ip {
				v.Confirmed = append(v.Confirmed, name)
				break
			}
		}
	}
	switch {
	case len(v.Confirmed) > 0:
		v.Result = Pass
		v.Reason = fmt.Sprintf("%s is %s, which resolves back to it", ip, v.Name())
	case tempErr != nil:
		v.Result = TempError
		v.Reason = fmt.Sprintf("forward lookup of a PTR name of %s failed: %v", ip, tempErr)
	default:
		v.Result = Fail
		v.Reason = fmt.Sprintf("no PTR name of %s (%s) resolves back to it", ip, strings.Join(trimDots(names), ", "))
	}
	return v, nil
}

func trimDots(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.TrimSuffix(n, ".")
	}
	return out
}
