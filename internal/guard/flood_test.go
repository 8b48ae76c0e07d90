package guard

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// randomAddr returns a random IPv4 address or an address in a random
// IPv6 /64.
func randomAddr(r *rand.Rand) netip.Addr {
	if r.IntN(2) == 0 {
		var b [4]byte
		u := r.Uint32()
		b[0], b[1], b[2], b[3] = byte(u>>24)|1, byte(u>>16), byte(u>>8), byte(u)
		if b[0] == 127 {
			b[0] = 126
		}
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	u, v := r.Uint64(), r.Uint64()
	for i := range 8 {
		b[i] = byte(u >> (8 * i))
		b[8+i] = byte(v >> (8 * i))
	}
	b[0] = 0x20
	return netip.AddrFrom16(b)
}

// TestFloodBounded sends failures and logins from a million distinct
// random addresses (and accounts) and checks every table stays within its
// limit, and that blocks and remembered logins made before the flood of
// failures survive it.
func TestFloodBounded(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	const limit = 10_000
	g, c := newGuard(t, Options{MaxIPs: limit, MaxAccounts: limit, MaxLogins: limit, AccountBlockAfter: -1})
	g.AuthSucceeded(ip(a2), "alice")
	for range 10 {
		g.AuthFailed(ip(a1), "x")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		a := randomAddr(r)
		acct := "user"
		if i%4 == 0 {
			acct = strconv.Itoa(i)
		}
		g.AuthFailed(a, acct)
		if i%10 == 0 {
			g.AuthSucceeded(a, acct)
			g.AuthFailed(a, acct)
		}
		if i%1000 == 0 {
			c.Advance(time.Millisecond)
		}
	}
	s := g.Stats()
	t.Logf("after %d addresses: %+v", n, s)
	if s.TrackedIPs > limit || s.TrackedAccounts > limit || s.RememberedLogins > limit ||
		s.BlockedIPs > limit || s.ProtectedAccounts > limit {
		t.Errorf("Stats over limit %d: %+v", limit, s)
	}
	if s.TrackedIPs < limit/2 || s.RememberedLogins < limit/2 || s.TrackedAccounts < limit/2 {
		t.Errorf("tables not used: %+v", s)
	}
	if len(g.loginsPerIP) > limit || len(g.ipFails.order.Front().Value.(*item[netip.Prefix, *failures]).val.sample) > maxSample {
		t.Errorf("index over limit: %d", len(g.loginsPerIP))
	}
	if len(g.ipFails.m) != g.ipFails.order.Len() || len(g.logins.m) != g.logins.order.Len() {
		t.Error("table map and list disagree")
	}
	if b, _ := g.Blocked(ip(a1)); !b {
		t.Error("block lost in a flood of failures")
	}
	// The remembered login was evicted by newer ones: the oldest goes.
	if g.known(g.key(ip(a2)), "alice", c.Now()) {
		t.Error("oldest remembered login not evicted")
	}
}

func TestEviction(t *testing.T) {
	g, c := newGuard(t, Options{MaxIPs: 3, MaxAccounts: 2, MaxLogins: 2})
	// Failure counters: the oldest address is forgotten.
	for i := 1; i <= 4; i++ {
		for range 5 {
			g.AuthFailed(ip(fmt.Sprintf("192.0.2.%d", i)), fmt.Sprintf("u%d", i))
		}
		c.Advance(time.Second)
	}
	if d := g.CheckAuth(ip("192.0.2.1"), "u1"); d.Delay != 0 {
		t.Errorf("evicted address still delayed: %+v", d)
	}
	if d := g.CheckAuth(ip("192.0.2.4"), "u4"); d.Delay == 0 {
		t.Errorf("newest address not delayed: %+v", d)
	}
	if s := g.Stats(); s.TrackedIPs != 3 || s.TrackedAccounts != 2 {
		t.Errorf("Stats = %+v", s)
	}
	// An update makes an entry the newest again.
	g.AuthFailed(ip("192.0.2.2"), "u2")
	g.AuthFailed(ip("192.0.2.5"), "u5")
	if d := g.CheckAuth(ip("192.0.2.2"), "u2"); d.Delay == 0 {
		t.Errorf("refreshed address evicted: %+v", d)
	}
	// Blocks: the oldest block goes.
	for i := 1; i <= 4; i++ {
		for range 10 {
			g.AuthFailed(ip(fmt.Sprintf("198.51.100.%d", i)), "x")
		}
	}
	if s := g.Stats(); s.BlockedIPs != 3 {
		t.Errorf("Stats = %+v", s)
	}
	if b, _ := g.Blocked(ip("198.51.100.1")); b {
		t.Error("oldest block not evicted")
	}
	if b, _ := g.Blocked(ip("198.51.100.4")); !b {
		t.Error("newest block evicted")
	}
	// Remembered logins.
	g.AuthSucceeded(ip("203.0.113.1"), "a")
	g.AuthSucceeded(ip("203.0.113.1"), "b")
	g.AuthSucceeded(ip("203.0.113.1"), "a") // a newest
	g.AuthSucceeded(ip("203.0.113.2"), "c") // evicts b
	now := c.Now()
	k1 := g.key(ip("203.0.113.1"))
	if !g.known(k1, "a", now) || g.known(k1, "b", now) || !g.known(g.key(ip("203.0.113.2")), "c", now) {
		t.Error("wrong remembered login evicted")
	}
	if g.loginsPerIP[k1] != 1 || len(g.loginsPerIP) != 2 {
		t.Errorf("loginsPerIP = %v", g.loginsPerIP)
	}
}

func TestAccountKeyBounded(t *testing.T) {
	long := make([]byte, 10_000)
	for i := range long {
		long[i] = 'A'
	}
	if k := accountKey(string(long)); len(k) != maxAccountLen || k[0] != 'a' {
		t.Errorf("accountKey: len %d", len(k))
	}
}
