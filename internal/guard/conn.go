package guard

import (
	"fmt"
	"net/netip"
)

// Limit names the limit a LimitError is about.
type Limit int

// Limits of Connect.
const (
	LimitTotal Limit = iota + 1 // Options.MaxConns
	LimitPerIP                  // Options.MaxConnsPerIP
)

// LimitError is returned by Connect when a connection limit is reached.
// Servers answer it with "421 4.7.0" and close the connection; Reason is
// safe to show to the client.
type LimitError struct {
	Limit  Limit
	Reason string // such as "too many connections from 192.0.2.1 (32)"
}

func (e *LimitError) Error() string { return "guard: " + e.Reason }

// Connect counts a new connection from ip. It fails with a *LimitError if
// the total limit or the limit for ip (its /64 for IPv6) is reached;
// loopback addresses only count toward the total. On success the caller
// must call release when the connection ends; calling it again is
// harmless.
//
// Connect does not refuse blocked addresses: servers that offer
// authentication ask Blocked as well.
func (g *Guard) Connect(ip netip.Addr) (release func(), err error) {
	k := g.key(ip)
	perIP := !isLoopback(ip) && g.opt.MaxConnsPerIP > 0
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.opt.MaxConns > 0 && g.total >= g.opt.MaxConns {
		return nil, &LimitError{Limit: LimitTotal,
			Reason: fmt.Sprintf("too many connections (%d)", g.opt.MaxConns)}
	}
	if perIP && g.conns[k] >= g.opt.MaxConnsPerIP {
		return nil, &LimitError{Limit: LimitPerIP,
			Reason: fmt.Sprintf("too many connections from %s (%d)", keyString(k), g.opt.MaxConnsPerIP)}
	}
	g.total++
	g.conns[k]++
	released := false
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if released {
			return
		}
		released = true
		g.total--
		if g.conns[k]--; g.conns[k] <= 0 {
			delete(g.conns, k)
		}
	}, nil
}
