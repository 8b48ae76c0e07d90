package dnstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/posthorn/posthorn/internal/dns"
)

// Query is one lookup seen by Resolver.
type Query struct {
	Type string // "TXT", "MX", "A", "AAAA", "PTR", "CNAME", "TLSA"
	Name string // as asked, without the trailing dot
}

// Resolver is an in-memory dns.Resolver answering from a Zone. CNAMEs are
// followed (up to 8). The zero value answers NXDOMAIN to everything. It is
// safe for concurrent use; change the zone only through Set.
type Resolver struct {
	// Authentic marks every answer as DNSSEC-validated; Records.Authentic
	// does so per name.
	Authentic bool

	mu      sync.Mutex
	zone    map[string]Records
	log     []Query
	counts  map[string]int
	errs    map[string]error
	present map[string]bool // names with records, and their ancestors
}

var _ dns.Resolver = (*Resolver)(nil)

// NewResolver returns a Resolver answering from z. It panics if z is
// malformed (Zone.Validate): it is for tests.
func NewResolver(z Zone) *Resolver {
	r := &Resolver{}
	r.Set(z)
	return r
}

// Set replaces the zone; the query log is kept.
func (r *Resolver) Set(z Zone) {
	if err := z.Validate(); err != nil {
		panic(err)
	}
	zone := z.normalize()
	present := map[string]bool{}
	for name, rec := range zone {
		if rec.empty() && !rec.ServFail {
			continue
		}
		for n := name; n != ""; {
			present[n] = true
			_, rest, ok := strings.Cut(n, ".")
			if !ok {
				break
			}
			n = rest
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.zone, r.present = zone, present
}

// Fail makes every lookup of name return err (wrapped), whatever its type:
// for a dns.ErrPermanent, a context error, or a temporary failure that only
// some tests want. A nil err removes the injection.
func (r *Resolver) Fail(name string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.errs == nil {
		r.errs = map[string]error{}
	}
	if err == nil {
		delete(r.errs, key(name))
	} else {
		r.errs[key(name)] = err
	}
}

// Queries returns how many lookups (of any type) asked for name.
func (r *Resolver) Queries(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[key(name)]
}

// Log returns the lookups made so far, in order.
func (r *Resolver) Log() []Query {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Query(nil), r.log...)
}

// Total returns the number of lookups made so far.
func (r *Resolver) Total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.log)
}

// Reset forgets the query log.
func (r *Resolver) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log, r.counts = nil, nil
}

// lookup records the query and returns the records of name after following
// CNAMEs, the result flag and an error wrapping a dns sentinel.
func (r *Resolver) lookup(ctx context.Context, typ, name string, has func(Records) bool) (Records, dns.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := key(name)
	r.log = append(r.log, Query{Type: typ, Name: k})
	if r.counts == nil {
		r.counts = map[string]int{}
	}
	r.counts[k]++
	if err := ctx.Err(); err != nil {
		return Records{}, dns.Result{}, fmt.Errorf("%w: %s %s: %w", dns.ErrTemporary, k, typ, err)
	}
	auth := true
	for range 8 {
		if err := r.errs[k]; err != nil {
			return Records{}, dns.Result{}, fmt.Errorf("dnstest: %s %s: %w", k, typ, err)
		}
		rec, ok := r.zone[k]
		auth = auth && (r.Authentic || rec.Authentic)
		res := dns.Result{Authentic: auth}
		switch {
		case ok && rec.ServFail:
			return Records{}, dns.Result{}, fmt.Errorf("%w: %s %s: SERVFAIL", dns.ErrTemporary, k, typ)
		case ok && has(rec):
			return rec, res, nil
		case ok && rec.CNAME != "" && typ != "CNAME":
			k = key(rec.CNAME)
			continue
		case !r.present[k]:
			return Records{}, res, fmt.Errorf("%w: %s %s", dns.ErrNotFound, k, typ)
		}
		return Records{}, res, fmt.Errorf("%w: %s %s", dns.ErrNoData, k, typ)
	}
	return Records{}, dns.Result{}, fmt.Errorf("%w: %s %s: CNAME chain too long", dns.ErrPermanent, name, typ)
}

// LookupTXT implements dns.Resolver.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, dns.Result, error) {
	rec, res, err := r.lookup(ctx, "TXT", name, func(r Records) bool { return len(r.TXT) > 0 })
	if err != nil {
		return nil, res, err
	}
	return append([]string(nil), rec.TXT...), res, nil
}

// LookupMX implements dns.Resolver; hosts get a trailing dot.
func (r *Resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, dns.Result, error) {
	rec, res, err := r.lookup(ctx, "MX", name, func(r Records) bool { return len(r.MX) > 0 })
	if err != nil {
		return nil, res, err
	}
	var mxs []*net.MX
	for _, mx := range rec.MX {
		mxs = append(mxs, &net.MX{Host: fqdn(mx.Host), Pref: mx.Pref})
	}
	return mxs, res, nil
}

// LookupIP implements dns.Resolver. For "ip" the A and AAAA lookups are
// logged as two queries.
func (r *Resolver) LookupIP(ctx context.Context, network, host string) ([]netip.Addr, dns.Result, error) {
	var types []string
	switch network {
	case "ip4":
		types = []string{"A"}
	case "ip6":
		types = []string{"AAAA"}
	case "ip":
		types = []string{"A", "AAAA"}
	default:
		return nil, dns.Result{}, fmt.Errorf("%w: network %q", dns.ErrPermanent, network)
	}
	var ips []netip.Addr
	auth := true
	var firstErr error
	for _, typ := range types {
		rec, res, err := r.lookup(ctx, typ, host, func(r Records) bool {
			if typ == "A" {
				return len(r.A) > 0
			}
			return len(r.AAAA) > 0
		})
		auth = auth && res.Authentic
		if err != nil {
			if firstErr == nil || !dns.IsNotFound(err) {
				firstErr = err
			}
			continue
		}
		list := rec.A
		if typ == "AAAA" {
			list = rec.AAAA
		}
		for _, s := range list {
			ips = append(ips, netip.MustParseAddr(s))
		}
	}
	if firstErr != nil && (len(ips) == 0 || !dns.IsNotFound(firstErr)) {
		return nil, dns.Result{}, firstErr
	}
	return ips, dns.Result{Authentic: auth}, nil
}

// LookupAddr implements dns.Resolver; names get a trailing dot.
func (r *Resolver) LookupAddr(ctx context.Context, ip netip.Addr) ([]string, dns.Result, error) {
	rec, res, err := r.lookup(ctx, "PTR", ReverseName(ip), func(r Records) bool { return len(r.PTR) > 0 })
	if err != nil {
		return nil, res, err
	}
	var names []string
	for _, n := range rec.PTR {
		names = append(names, fqdn(n))
	}
	return names, res, nil
}

// LookupCNAME implements dns.Resolver like net.Resolver: it returns the
// canonical name after following CNAMEs, or name itself if it has none but
// exists.
func (r *Resolver) LookupCNAME(ctx context.Context, name string) (string, dns.Result, error) {
	cur := name
	var res dns.Result
	for range 8 {
		rec, res1, err := r.lookup(ctx, "CNAME", cur, func(r Records) bool { return r.CNAME != "" })
		if err != nil {
			if cur != name && dns.IsNotFound(err) || errors.Is(err, dns.ErrNoData) {
				return fqdn(cur), res1, nil
			}
			return "", res1, err
		}
		res = res1
		cur = rec.CNAME
	}
	return "", res, fmt.Errorf("%w: %s CNAME: chain too long", dns.ErrPermanent, name)
}

// LookupTLSA implements dns.Resolver.
func (r *Resolver) LookupTLSA(ctx context.Context, port int, proto, host string) ([]dns.TLSA, dns.Result, error) {
	name := "_" + strconv.Itoa(port) + "._" + proto + "." + host
	rec, res, err := r.lookup(ctx, "TLSA", name, func(r Records) bool { return len(r.TLSA) > 0 })
	if err != nil {
		return nil, res, err
	}
	out := make([]dns.TLSA, len(rec.TLSA))
	for i, t := range rec.TLSA {
		t.Data = append([]byte(nil), t.Data...)
		out[i] = t
	}
	return out, res, nil
}

func fqdn(s string) string {
	if strings.HasSuffix(s, ".") {
		return s
	}
	return s + "."
}
