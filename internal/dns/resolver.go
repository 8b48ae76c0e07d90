package dns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/mjl-/adns"
)

// Options configure a Client made by New. The zero value uses the
// nameservers of /etc/resolv.conf and a cache of DefaultCacheSize entries.
type Options struct {
	// Servers are recursive resolvers as "ip:port", tried in turn; empty
	// means the nameservers of /etc/resolv.conf.
	Servers []string
	// TrustAD believes the AD bit from every server. Without it only
	// servers on a loopback address are believed, and with /etc/resolv.conf
	// also all of them when it says "options trust-ad" (as glibc and adns
	// do): the AD bit is worth what the path to the validating resolver is
	// worth, and only loopback is safe from a spoofer by default.
	TrustAD bool
	// Logger receives debug lines about failed lookups; nil discards them.
	Logger *slog.Logger
	// Now is the clock of the cache; time.Now when nil.
	Now func() time.Time
	// CacheSize bounds the number of cached answers: 0 means
	// DefaultCacheSize, a negative value disables the cache.
	CacheSize int
	// MinTTL and MaxTTL clamp the TTL of positive answers (defaults 0 and
	// 6 hours); NegativeMaxTTL caps the TTL of NXDOMAIN and no-data answers
	// (default 5 minutes, so a record just published shows up soon).
	MinTTL, MaxTTL, NegativeMaxTTL time.Duration
	// Timeout bounds each query to one server for names sent through
	// miekg/dns (see Client); adns uses resolv.conf's timeout. Default 5s.
	Timeout time.Duration
}

var _ Resolver = (*Client)(nil)

// DefaultCacheSize is the cache size when Options.CacheSize is zero.
const DefaultCacheSize = 10000

// Client is the Resolver of a running posthorn: a caching stub resolver
// built on github.com/mjl-/adns, which sets the AD bit in queries and
// reports it in the answer.
//
// Names that adns (like net.Resolver) refuses although DNS allows them —
// labels with spaces or other octets, as SPF macros produce from local
// parts, or all-numeric names — are sent with miekg/dns instead, octet for
// octet; their answers go through the same cache and error mapping.
//
// Errors wrap ErrNotFound (NXDOMAIN), ErrNoData, ErrTemporary (timeouts,
// SERVFAIL, REFUSED and other rcodes, network errors, a cancelled context)
// or ErrPermanent (a name that cannot be sent), with the name and type.
// Returned host names (MX, PTR, CNAME) are absolute, with the trailing dot.
type Client struct {
	adns    *adns.Resolver
	servers []server
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time
	cache   *cache
	minTTL  time.Duration
	maxTTL  time.Duration
	negMax  time.Duration
}

// New returns a Client. It fails on a server that is not "ip:port".
func New(opts Options) (*Client, error) {
	for _, s := range opts.Servers {
		if _, err := netip.ParseAddrPort(s); err != nil {
			return nil, fmt.Errorf("dns: server %q: want ip:port: %w", s, err)
		}
	}
	r := &Client{
		servers: servers(opts.Servers, opts.TrustAD, "/etc/resolv.conf"),
		timeout: opts.Timeout,
		log:     opts.Logger,
		now:     opts.Now,
		minTTL:  opts.MinTTL,
		maxTTL:  opts.MaxTTL,
		negMax:  opts.NegativeMaxTTL,
	}
	if r.timeout <= 0 {
		r.timeout = 5 * time.Second
	}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.maxTTL <= 0 {
		r.maxTTL = 6 * time.Hour
	}
	if r.negMax <= 0 {
		r.negMax = 5 * time.Minute
	}
	switch {
	case opts.CacheSize == 0:
		r.cache = newCache(DefaultCacheSize)
	case opts.CacheSize > 0:
		r.cache = newCache(opts.CacheSize)
	}
	// StrictErrors: a SERVFAIL for AAAA fails an "ip" lookup instead of
	// returning the A records alone, so SPF sees a temperror, not a miss.
	r.adns = &adns.Resolver{PreferGo: true, StrictErrors: true, Dial: r.dial}
	return r, nil
}

// absolute returns name with one trailing dot, or an ErrPermanent error
// for an empty or overlong name (RFC 1035 §2.3.4).
func absolute(name, typ string) (string, error) {
	n := strings.TrimSuffix(name, ".") + "."
	if n == "." || len(n) > 254 {
		return "", fmt.Errorf("%w: %s %q: invalid name", ErrPermanent, typ, name)
	}
	for _, l := range strings.Split(n[:len(n)-1], ".") {
		if l == "" || len(l) > 63 {
			return "", fmt.Errorf("%w: %s %q: invalid name", ErrPermanent, typ, name)
		}
	}
	return n, nil
}

// lookup runs one query through the cache: run performs it (with adns or
// miekg/dns) under a context carrying a capture of the responses.
func (r *Client) lookup(ctx context.Context, k cacheKey, run func(context.Context) (any, error)) (any, Result, error) {
	if e, ok := r.cache.get(k, r.now()); ok {
		return e.value, e.result, e.err
	}
	c := &capture{servers: r.servers}
	v, err := run(context.WithValue(ctx, captureKey{}, c))
	resps := c.last()
	err = classify(ctx, k, err, resps)
	res := Result{Authentic: authentic(resps)}
	if err != nil && !IsNotFound(err) {
		r.log.Debug("dns lookup failed", "type", k.typ, "name", k.name, "err", err)
		return nil, Result{}, err
	}
	if ttl, ok := r.ttl(err, resps); ok {
		r.cache.put(&cacheEntry{key: k, value: v, result: res, err: err, expires: r.now().Add(ttl)})
	}
	return v, res, err
}

// classify maps a lookup error onto the sentinels.
func classify(ctx context.Context, k cacheKey, err error, resps map[uint16]response) error {
	if err == nil {
		return nil
	}
	for _, s := range []error{ErrNotFound, ErrNoData, ErrTemporary, ErrPermanent} {
		if errors.Is(err, s) {
			return err
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrTemporary, k.typ, k.name, ctx.Err())
	}
	var de *adns.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		for _, r := range resps {
			if r.rcode == mdns.RcodeNameError {
				return fmt.Errorf("%w: %s %s", ErrNotFound, k.typ, k.name)
			}
		}
		return fmt.Errorf("%w: %s %s", ErrNoData, k.typ, k.name)
	}
	// Timeouts, SERVFAIL, REFUSED, network errors: RFC 7208 §5 and
	// RFC 7489 §6.6.3 treat every rcode but 0 and 3 as temporary. adns
	// names the resolv.conf server in its message, not the one we dialled.
	msg := err.Error()
	if de != nil {
		msg = de.Err
		for _, r := range resps {
			msg += " (rcode " + mdns.RcodeToString[r.rcode] + " from " + r.server.addr + ")"
		}
	}
	return fmt.Errorf("%w: %s %s: %s", ErrTemporary, k.typ, k.name, msg)
}

// authentic reports whether every response had the AD bit from a trusted server.
func authentic(resps map[uint16]response) bool {
	if len(resps) == 0 {
		return false
	}
	for _, r := range resps {
		if !r.ad || !r.server.trusted || (r.rcode != mdns.RcodeSuccess && r.rcode != mdns.RcodeNameError) {
			return false
		}
	}
	return true
}

// ttl returns how long to cache a result (see cache.go for the policy).
func (r *Client) ttl(err error, resps map[uint16]response) (time.Duration, bool) {
	if len(resps) == 0 {
		return 0, false // answered from /etc/hosts, or nothing seen
	}
	if err != nil { // ErrNotFound or ErrNoData
		neg := ^uint32(0)
		for _, rs := range resps {
			if rs.answers > 0 {
				continue
			}
			if !rs.hasSOA {
				return 0, false // RFC 2308 §5: no SOA, no negative caching
			}
			neg = min(neg, rs.negTTL)
		}
		d := min(time.Duration(neg)*time.Second, r.negMax)
		return d, d > 0
	}
	low := ^uint32(0)
	for _, rs := range resps {
		if rs.answers > 0 {
			low = min(low, rs.ttl)
		}
	}
	d := min(max(time.Duration(low)*time.Second, r.minTTL), r.maxTTL)
	return d, d > 0
}

// LookupTXT implements the Resolver interface. The character-strings of
// each record are concatenated (RFC 7208 §3.3, RFC 6376 §3.6.2.2).
func (r *Client) LookupTXT(ctx context.Context, name string) ([]string, Result, error) {
	n, err := absolute(name, "TXT")
	if err != nil {
		return nil, Result{}, err
	}
	v, res, err := r.lookup(ctx, cacheKey{"TXT", lower(n)}, func(ctx context.Context) (any, error) {
		if !isDomainName(n) {
			return r.oddLookup(ctx, n, mdns.TypeTXT)
		}
		txts, _, err := r.adns.LookupTXT(ctx, n)
		return txts, err
	})
	if err != nil {
		return nil, res, err
	}
	return append([]string(nil), v.([]string)...), res, nil
}

// LookupMX implements the Resolver interface. MX records whose host is not
// a valid host name are dropped (adns does so); if none is left the answer
// is ErrPermanent.
func (r *Client) LookupMX(ctx context.Context, name string) ([]*net.MX, Result, error) {
	n, err := absolute(name, "MX")
	if err != nil {
		return nil, Result{}, err
	}
	v, res, err := r.lookup(ctx, cacheKey{"MX", lower(n)}, func(ctx context.Context) (any, error) {
		if !isDomainName(n) {
			return r.oddLookup(ctx, n, mdns.TypeMX)
		}
		mxs, _, err := r.adns.LookupMX(ctx, n)
		if err != nil && len(mxs) > 0 && !isLookupFailure(err) {
			err = nil // some records were malformed; keep the others
		}
		return mxs, err
	})
	if err != nil {
		return nil, res, err
	}
	var out []*net.MX
	for _, mx := range v.([]*net.MX) {
		out = append(out, &net.MX{Host: mx.Host, Pref: mx.Pref})
	}
	return out, res, nil
}

// LookupIP implements the Resolver interface; IPv4 addresses come unmapped.
func (r *Client) LookupIP(ctx context.Context, network, host string) ([]netip.Addr, Result, error) {
	var qtypes []uint16
	switch network {
	case "ip":
		qtypes = []uint16{mdns.TypeA, mdns.TypeAAAA}
	case "ip4":
		qtypes = []uint16{mdns.TypeA}
	case "ip6":
		qtypes = []uint16{mdns.TypeAAAA}
	default:
		return nil, Result{}, fmt.Errorf("%w: LookupIP: network %q", ErrPermanent, network)
	}
	n, err := absolute(host, network)
	if err != nil {
		return nil, Result{}, err
	}
	v, res, err := r.lookup(ctx, cacheKey{network, lower(n)}, func(ctx context.Context) (any, error) {
		if !isDomainName(n) {
			return r.oddLookupIP(ctx, n, qtypes)
		}
		ips, _, err := r.adns.LookupNetIP(ctx, network, n)
		for i := range ips {
			ips[i] = ips[i].Unmap()
		}
		return ips, err
	})
	if err != nil {
		return nil, res, err
	}
	return append([]netip.Addr(nil), v.([]netip.Addr)...), res, nil
}

// LookupAddr implements the Resolver interface. PTR names that are not
// valid host names are dropped; if none is left the answer is ErrPermanent.
func (r *Client) LookupAddr(ctx context.Context, ip netip.Addr) ([]string, Result, error) {
	if !ip.IsValid() {
		return nil, Result{}, fmt.Errorf("%w: PTR: invalid address", ErrPermanent)
	}
	ip = ip.Unmap()
	rev, _ := mdns.ReverseAddr(ip.String())
	v, res, err := r.lookup(ctx, cacheKey{"PTR", rev}, func(ctx context.Context) (any, error) {
		names, _, err := r.adns.LookupAddr(ctx, ip.String())
		if err != nil && len(names) > 0 && !isLookupFailure(err) {
			err = nil
		}
		return names, err
	})
	if err != nil {
		return nil, res, err
	}
	return append([]string(nil), v.([]string)...), res, nil
}

// LookupCNAME implements the Resolver interface: the canonical name of
// name after following CNAMEs (name itself when it has none).
func (r *Client) LookupCNAME(ctx context.Context, name string) (string, Result, error) {
	n, err := absolute(name, "CNAME")
	if err != nil {
		return "", Result{}, err
	}
	v, res, err := r.lookup(ctx, cacheKey{"CNAME", lower(n)}, func(ctx context.Context) (any, error) {
		if !isDomainName(n) {
			return nil, fmt.Errorf("%w: CNAME %q: not a host name", ErrPermanent, n)
		}
		cname, _, err := r.adns.LookupCNAME(ctx, n)
		return cname, err
	})
	if err != nil {
		return "", res, err
	}
	return v.(string), res, nil
}

// LookupTLSA implements the Resolver interface. Callers must check
// Result.Authentic before using the records (RFC 7672 §2.2).
func (r *Client) LookupTLSA(ctx context.Context, port int, proto, host string) ([]TLSA, Result, error) {
	n, err := absolute("_"+strconv.Itoa(port)+"._"+proto+"."+host, "TLSA")
	if err != nil {
		return nil, Result{}, err
	}
	v, res, err := r.lookup(ctx, cacheKey{"TLSA", lower(n)}, func(ctx context.Context) (any, error) {
		if !isDomainName(n) {
			return nil, fmt.Errorf("%w: TLSA %q: not a host name", ErrPermanent, n)
		}
		recs, _, err := r.adns.LookupTLSA(ctx, 0, "", n)
		out := make([]TLSA, len(recs))
		for i, t := range recs {
			out[i] = TLSA{Usage: uint8(t.Usage), Selector: uint8(t.Selector), MatchingType: uint8(t.MatchType), Data: t.CertAssoc}
		}
		return out, err
	})
	if err != nil {
		return nil, res, err
	}
	out := make([]TLSA, 0, len(v.([]TLSA)))
	for _, t := range v.([]TLSA) {
		t.Data = append([]byte(nil), t.Data...)
		out = append(out, t)
	}
	return out, res, nil
}

// isLookupFailure tells a failed lookup from adns's "some records were
// malformed" error, which comes with the valid records.
func isLookupFailure(err error) bool {
	var de *adns.DNSError
	return !errors.As(err, &de) || de.IsNotFound || de.Temporary() || !strings.Contains(de.Err, "invalid names")
}

// lower folds ASCII letters only: DNS names are octets (RFC 4343).
func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
