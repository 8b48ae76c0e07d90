package guard

import (
	"fmt"
	"net/netip"
	"sync"
)

// Limit names the limit a LimitError is about.
type Limit int

// Limits of Connect.
const (
	LimitTotal Limit = iota + 1 // Options.MaxConns, or a Pool's MaxConns
	LimitPerIP                  // Options.MaxConnsPerIP, or a Pool's MaxConnsPerIP
)

// LimitError is returned by Connect when a connection limit is reached.
// Servers answer it with "421 4.7.0" and close the connection; Reason is
// safe to show to the client.
type LimitError struct {
	Limit  Limit
	Reason string // such as "too many connections from 192.0.2.1 (32)"
}

func (e *LimitError) Error() string { return "guard: " + e.Reason }

// PoolLimits are the connection limits of one Pool. A zero field means the
// Guard's Options value; negative: no limit.
type PoolLimits struct {
	MaxConns, MaxConnsPerIP int
}

// Pool counts the open connections of one kind of listener against limits
// of its own, so that a flood of one kind (500 idle IMAP sessions) does not
// take the places of another (the MX, which must keep accepting mail). A
// Guard has a pool of its own, used by [Guard.Connect]; [Guard.NewPool]
// makes more, and [Pools] hands each service its pool. Addresses are
// counted as by the Guard (IPv6 per prefix, loopback exempt from the
// per-address limit).
type Pool struct {
	g      *Guard
	name   string // the service, for reasons ("IMAP connections"); "" for the Guard's own
	limits PoolLimits

	mu    sync.Mutex
	total int
	conns map[netip.Prefix]int // > 0
}

// NewPool returns a new pool of connections counted apart from the
// Guard's own and from every other pool. name names it in the reasons of
// its refusals, e.g. "IMAP".
func (g *Guard) NewPool(name string, l PoolLimits) *Pool {
	if l.MaxConns == 0 {
		l.MaxConns = g.opt.MaxConns
	}
	if l.MaxConnsPerIP == 0 {
		l.MaxConnsPerIP = g.opt.MaxConnsPerIP
	}
	p := &Pool{g: g, name: name, limits: l, conns: map[netip.Prefix]int{}}
	g.mu.Lock()
	g.pools = append(g.pools, p)
	g.mu.Unlock()
	return p
}

// Connect counts a new connection from ip in the Guard's own pool; see
// [Pool.Connect].
//
// Connect does not refuse blocked addresses: servers that offer
// authentication ask Blocked as well.
func (g *Guard) Connect(ip netip.Addr) (release func(), err error) {
	return g.pool.Connect(ip)
}

// Connect counts a new connection from ip. It fails with a *LimitError if
// the pool's total limit or its limit for ip (its /64 for IPv6) is
// reached; loopback addresses only count toward the total. On success the
// caller must call release when the connection ends; calling it again is
// harmless.
func (p *Pool) Connect(ip netip.Addr) (release func(), err error) {
	k := p.g.key(ip)
	perIP := !isLoopback(ip) && p.limits.MaxConnsPerIP > 0
	what := "connections"
	if p.name != "" {
		what = p.name + " connections"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.limits.MaxConns > 0 && p.total >= p.limits.MaxConns {
		return nil, &LimitError{Limit: LimitTotal,
			Reason: fmt.Sprintf("too many %s (%d)", what, p.limits.MaxConns)}
	}
	if perIP && p.conns[k] >= p.limits.MaxConnsPerIP {
		return nil, &LimitError{Limit: LimitPerIP,
			Reason: fmt.Sprintf("too many %s from %s (%d)", what, keyString(k), p.limits.MaxConnsPerIP)}
	}
	p.total++
	p.conns[k]++
	released := false
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if released {
			return
		}
		released = true
		p.total--
		if p.conns[k]--; p.conns[k] <= 0 {
			delete(p.conns, k)
		}
	}, nil
}

// stats returns the open connections and the addresses they come from.
func (p *Pool) stats() (conns, addrs int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total, len(p.conns)
}

// Pools is a Guard as servers with several kinds of listeners see it: the
// connections of each service (the listener kinds "smtp", "submission",
// "imap"…) count in the pool ByService gives it, or the Guard's own pool
// if none; logins are limited by the one Guard for all. It implements the
// ConnectService method the SMTP and IMAP servers prefer to Connect.
type Pools struct {
	*Guard
	ByService map[string]*Pool
}

// ConnectService counts a new connection from ip to service in its pool;
// see [Pool.Connect].
func (p Pools) ConnectService(ip netip.Addr, service string) (release func(), err error) {
	if pool := p.ByService[service]; pool != nil {
		return pool.Connect(ip)
	}
	return p.Guard.Connect(ip)
}
