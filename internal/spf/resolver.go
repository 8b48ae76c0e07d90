package spf

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/posthorn/posthorn/internal/dns"
)

// adapter presents a dns.Resolver as the resolver blitiri.com.ar/go/spf
// wants (shaped like *net.Resolver). blitiri tells failures apart only by
// *net.DNSError's IsNotFound and Temporary(), and counts void lookups
// (RFC 7208 §4.6.4) from them, so errors are mapped back to that type:
//
//   - ErrNotFound, ErrNoData → IsNotFound (a void lookup, no match);
//   - ErrTemporary → IsTemporary (temperror, RFC 7208 §5);
//   - ErrPermanent → IsNotFound too: it means a name that cannot exist
//     (a label over 63 octets, an empty label), which SPF macros build from
//     the sender's local part; treating it as temperror would let any
//     sender turn a check into a temperror.
//
// Names longer than 253 octets lose their left-most labels first
// (RFC 7208 §4.8). The adapter also records every answer, for the
// explanation replay (explain.go), and counts queries.
type adapter struct {
	r  dns.Resolver
	v6 bool // client is IPv6: address lookups ask for A and AAAA

	mu      sync.Mutex
	queries int
	memo    map[string]answer // every answer, by type and name
	// replay, when set, answers from memo only (explain.go), with TXT
	// answers for a name overridden by override.
	replay   bool
	override map[string][]string
}

type answer struct {
	v   any
	err error
}

func newAdapter(r dns.Resolver, ip netip.Addr) *adapter {
	return &adapter{r: r, v6: ip.Is6(), memo: map[string]answer{}}
}

// replayer returns an adapter answering from a's memo, with name's TXT
// records replaced by txt.
func (a *adapter) replayer(name string, txt []string) *adapter {
	a.mu.Lock()
	defer a.mu.Unlock()
	memo := make(map[string]answer, len(a.memo))
	for k, v := range a.memo {
		memo[k] = v
	}
	return &adapter{v6: a.v6, memo: memo, replay: true, override: map[string][]string{lowerASCII(trimName(name)): txt}}
}

// trimName applies RFC 7208 §4.8: "if the expanded domain-spec is longer
// than 253 characters, the left side is truncated to fit, by removing
// successive labels".
func trimName(name string) string {
	name = strings.TrimSuffix(name, ".")
	for len(name) > 253 {
		_, rest, ok := strings.Cut(name, ".")
		if !ok {
			return name
		}
		name = rest
	}
	return name
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// do runs one lookup, or replays it.
func (a *adapter) do(typ, name string, lookup func() (any, error)) (any, error) {
	k := typ + " " + lowerASCII(name)
	a.mu.Lock()
	if a.replay {
		defer a.mu.Unlock()
		if txt, ok := a.override[lowerASCII(name)]; ok && typ == "TXT" {
			return txt, nil
		}
		if ans, ok := a.memo[k]; ok {
			return ans.v, ans.err
		}
		return nil, dns.ErrTemporary // not asked in the real evaluation
	}
	a.queries++
	a.mu.Unlock()
	v, err := lookup()
	a.mu.Lock()
	a.memo[k] = answer{v, err}
	a.mu.Unlock()
	return v, err
}

// netErr maps our errors to what blitiri understands.
func netErr(err error, name string) error {
	if err == nil {
		return nil
	}
	de := &net.DNSError{Err: err.Error(), Name: name}
	switch {
	case errors.Is(err, dns.ErrNotFound), errors.Is(err, dns.ErrNoData), errors.Is(err, dns.ErrPermanent):
		de.IsNotFound = true
	default:
		de.IsTemporary = true
	}
	return de
}

func (a *adapter) LookupTXT(ctx context.Context, name string) ([]string, error) {
	name = trimName(name)
	v, err := a.do("TXT", name, func() (any, error) {
		txts, _, err := a.r.LookupTXT(ctx, name)
		return txts, err
	})
	txts, _ := v.([]string)
	return txts, netErr(err, name)
}

func (a *adapter) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	name = trimName(name)
	v, err := a.do("MX", name, func() (any, error) {
		mxs, _, err := a.r.LookupMX(ctx, name)
		return mxs, err
	})
	mxs, _ := v.([]*net.MX)
	return mxs, netErr(err, name)
}

// LookupIPAddr asks for the address type of the connection (RFC 7208 §5.3,
// §5.4): A for an IPv4 client; A and AAAA for an IPv6 client, since
// "exists" always asks for A (§5.7) and blitiri uses this one method for
// both.
func (a *adapter) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	host = trimName(host)
	network := "ip4"
	if a.v6 {
		network = "ip"
	}
	v, err := a.do(network, host, func() (any, error) {
		ips, _, err := a.r.LookupIP(ctx, network, host)
		return ips, err
	})
	ips, _ := v.([]netip.Addr)
	out := make([]net.IPAddr, 0, len(ips))
	for _, ip := range ips {
		out = append(out, net.IPAddr{IP: net.IP(ip.AsSlice())})
	}
	return out, netErr(err, host)
}

func (a *adapter) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "invalid address", Name: addr, IsNotFound: true}
	}
	v, err := a.do("PTR", ip.String(), func() (any, error) {
		names, _, err := a.r.LookupAddr(ctx, ip)
		return names, err
	})
	names, _ := v.([]string)
	return names, netErr(err, addr)
}

// recorded returns the TXT answer seen for name during the evaluation.
func (a *adapter) recorded(name string) (answer, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ans, ok := a.memo["TXT "+lowerASCII(trimName(name))]
	return ans, ok
}
