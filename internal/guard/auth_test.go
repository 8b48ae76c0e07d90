package guard

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// clock is a fake clock for Options.Now.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time          { return c.t }
func (c *clock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func newGuard(t *testing.T, opt Options) (*Guard, *clock) {
	t.Helper()
	c := newClock()
	opt.Now = c.Now
	return New(opt), c
}

// step is one action of a sequence, checking what it expects.
type step struct {
	name string
	do   func(t *testing.T, g *Guard, c *clock)
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// fail records n failures from addr for account.
func fail(addr, account string, n int) step {
	return step{fmt.Sprintf("fail %s %s ×%d", addr, account, n), func(t *testing.T, g *Guard, c *clock) {
		for range n {
			g.AuthFailed(ip(addr), account)
		}
	}}
}

// failFrom records one failure for account from each of n addresses
// made by format with 0..n-1.
func failFrom(format string, n int, account string) step {
	return step{fmt.Sprintf("fail %s ×%d %s", format, n, account), func(t *testing.T, g *Guard, c *clock) {
		for i := range n {
			g.AuthFailed(ip(fmt.Sprintf(format, i)), account)
		}
	}}
}

func succeed(addr, account string) step {
	return step{"succeed " + addr + " " + account, func(t *testing.T, g *Guard, c *clock) {
		g.AuthSucceeded(ip(addr), account)
	}}
}

func wait(d time.Duration) step {
	return step{"wait " + d.String(), func(t *testing.T, g *Guard, c *clock) { c.Advance(d) }}
}

// allowed expects CheckAuth to allow with the given delay.
func allowed(addr, account string, delay time.Duration) step {
	return step{fmt.Sprintf("allowed %s %s after %v", addr, account, delay), func(t *testing.T, g *Guard, c *clock) {
		d := g.CheckAuth(ip(addr), account)
		if !d.Allowed || d.Delay != delay {
			t.Errorf("CheckAuth = %+v, want allowed after %v", d, delay)
		}
		if d.Delay > 0 && d.Reason == "" {
			t.Errorf("delay without reason")
		}
	}}
}

// refused expects CheckAuth to refuse with a reason containing want.
func refused(addr, account, want string) step {
	return step{fmt.Sprintf("refused %s %s", addr, account), func(t *testing.T, g *Guard, c *clock) {
		d := g.CheckAuth(ip(addr), account)
		if d.Allowed || d.Delay != 0 || !strings.Contains(d.Reason, want) {
			t.Errorf("CheckAuth = %+v, want refused with %q", d, want)
		}
	}}
}

// blocked expects Blocked(addr) to be want.
func blocked(addr string, want bool) step {
	return step{fmt.Sprintf("blocked %s = %v", addr, want), func(t *testing.T, g *Guard, c *clock) {
		got, reason := g.Blocked(ip(addr))
		if got != want || (got && reason == "") || (!got && reason != "") {
			t.Errorf("Blocked = %v, %q; want %v", got, reason, want)
		}
	}}
}

func unblock(addr string, want bool) step {
	return step{"unblock " + addr, func(t *testing.T, g *Guard, c *clock) {
		if got := g.Unblock(ip(addr)); got != want {
			t.Errorf("Unblock = %v, want %v", got, want)
		}
	}}
}

const (
	a1     = "192.0.2.1"
	a2     = "192.0.2.2"
	reason = "10 failed logins in 15m0s"
)

func TestAuthSequences(t *testing.T) {
	tests := []struct {
		name  string
		opt   Options
		steps []step
	}{
		{"delays, block, expiry", Options{}, []step{
			allowed(a1, "alice", 0),
			fail(a1, "alice", 2), allowed(a1, "alice", 0), allowed(a1, "bob", 0),
			fail(a1, "alice", 1), allowed(a1, "alice", time.Second), allowed(a1, "other", time.Second),
			fail(a1, "alice", 1), allowed(a1, "alice", 2*time.Second),
			fail(a1, "alice", 1), allowed(a1, "alice", 4*time.Second),
			fail(a1, "alice", 1), allowed(a1, "alice", 8*time.Second),
			fail(a1, "alice", 1), allowed(a1, "alice", 15*time.Second),
			fail(a1, "alice", 2), allowed(a1, "alice", 15*time.Second), blocked(a1, false),
			fail(a1, "alice", 1), refused(a1, "alice", reason), refused(a1, "bob", reason), blocked(a1, true),
			allowed(a2, "alice", 0), blocked(a2, false),
			wait(59 * time.Minute), refused(a1, "alice", reason), blocked(a1, true),
			wait(time.Minute), allowed(a1, "alice", 0), blocked(a1, false),
			fail(a1, "alice", 1), allowed(a1, "alice", 0),
		}},
		{"window ends", Options{}, []step{
			fail(a1, "alice", 9), allowed(a1, "alice", 15*time.Second),
			wait(14 * time.Minute), allowed(a1, "alice", 15*time.Second),
			wait(time.Minute), allowed(a1, "alice", 0),
			fail(a1, "alice", 2), allowed(a1, "alice", 0),
			fail(a1, "alice", 7), allowed(a1, "alice", 15*time.Second), blocked(a1, false),
		}},
		{"success clears failures", Options{}, []step{
			fail(a1, "alice", 9), succeed(a1, "alice"),
			allowed(a1, "bob", 0), allowed(a1, "alice", 0),
			fail(a1, "bob", 9), allowed(a1, "bob", 15*time.Second), blocked(a1, false),
		}},
		{"remembered login exempt from its address's block", Options{}, []step{
			succeed(a1, "alice"), wait(24 * time.Hour),
			fail(a1, "mallory", 10), refused(a1, "mallory", reason), refused(a1, "bob", reason),
			allowed(a1, "alice", 0), allowed(a1, "ALICE", 0),
			// Connections are not refused: alice must be able to connect.
			blocked(a1, false),
			fail(a1, "alice", 3), allowed(a1, "alice", 0), refused(a1, "bob", reason),
		}},
		{"remembered login across the block", Options{}, []step{
			fail(a1, "x", 10), succeed(a1, "alice"), refused(a1, "x", reason),
			wait(2 * time.Hour), allowed(a1, "x", 0),
			fail(a1, "x", 10), allowed(a1, "alice", 0), refused(a1, "x", reason),
		}},
		{"remembered login expires", Options{}, []step{
			succeed(a1, "alice"), wait(7*24*time.Hour - time.Second),
			fail(a1, "x", 10), allowed(a1, "alice", 0), blocked(a1, false),
			wait(time.Second), refused(a1, "alice", reason), blocked(a1, true),
		}},
		{"success refreshes memory", Options{}, []step{
			succeed(a1, "alice"), wait(6 * 24 * time.Hour), succeed(a1, "alice"), wait(6 * 24 * time.Hour),
			fail(a1, "x", 10), allowed(a1, "alice", 0),
		}},
		{"password spraying", Options{}, []step{
			succeed("198.51.100.7", "bob"),
			failFrom("203.0.113.%d", 29, "bob"), allowed("203.0.113.200", "bob", 0),
			failFrom("2001:db8:%x::1", 1, "Bob"),
			refused("203.0.113.200", "bob", "30 failed logins in 15m0s"),
			refused("203.0.113.1", "bob", "account"),
			allowed("198.51.100.7", "bob", 0), allowed("203.0.113.200", "carol", 0),
			blocked("203.0.113.1", false),
			wait(59 * time.Minute), refused("203.0.113.200", "bob", "account"),
			wait(time.Minute), allowed("203.0.113.200", "bob", 0),
		}},
		{"remembered failures are not spraying", Options{AccountBlockAfter: 5}, []step{
			succeed(a1, "bob"), fail(a1, "bob", 9), allowed(a2, "bob", 0),
		}},
		{"spraying window", Options{}, []step{
			failFrom("203.0.113.%d", 29, "bob"), wait(15 * time.Minute),
			failFrom("198.51.100.%d", 29, "bob"), allowed(a1, "bob", 0),
		}},
		{"IPv6 per /64", Options{}, []step{
			failFrom("2001:db8:1:2::%x", 10, "alice"),
			blocked("2001:db8:1:2:ffff:ffff:ffff:ffff", true),
			refused("2001:db8:1:2::abcd", "alice", "2001:db8:1:2::/64"),
			blocked("2001:db8:1:3::1", false), allowed("2001:db8:1:3::1", "alice", 0),
		}},
		{"IPv6 prefix option", Options{IPv6Prefix: 48}, []step{
			failFrom("2001:db8:1:%x::1", 10, "alice"), blocked("2001:db8:1:ffff::1", true),
		}},
		{"IPv4-mapped counts as IPv4", Options{}, []step{
			fail("::ffff:192.0.2.1", "alice", 10), blocked(a1, true), refused(a1, "x", "192.0.2.1 is blocked"),
		}},
		{"IPv4 per address", Options{}, []step{
			failFrom("192.0.2.%d", 10, "alice"), blocked(a1, false), allowed(a1, "x", 0),
		}},
		{"loopback never blocked", Options{}, []step{
			fail("127.0.0.1", "alice", 100), allowed("127.0.0.1", "alice", 0), blocked("127.0.0.1", false),
			fail("::1", "alice", 100), allowed("::1", "alice", 0), blocked("::1", false),
			fail("127.1.2.3", "bob", 100), allowed("127.1.2.3", "bob", 0),
			// The failures still count for the accounts.
			refused(a1, "alice", "account"),
		}},
		{"unblock", Options{}, []step{
			fail(a1, "x", 10), unblock(a1, true), allowed(a1, "x", 0), blocked(a1, false),
			unblock(a1, false),
			fail(a1, "x", 10), wait(time.Hour), unblock(a1, false),
		}},
		{"blocking disabled", Options{BlockAfter: -1, AccountBlockAfter: -1}, []step{
			failFrom("192.0.2.%d", 50, "bob"), fail(a1, "x", 100), allowed(a1, "x", 15*time.Second),
			allowed(a2, "bob", 0), blocked(a1, false),
		}},
		{"delays disabled", Options{MaxDelay: -1}, []step{
			fail(a1, "x", 9), allowed(a1, "x", 0), fail(a1, "x", 1), refused(a1, "x", reason),
		}},
		{"no free failures", Options{FreeFailures: -1}, []step{
			allowed(a1, "x", 0), fail(a1, "x", 1), allowed(a1, "x", time.Second),
			fail(a1, "x", 1), allowed(a1, "x", 2*time.Second),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, c := newGuard(t, tt.opt)
			for i, s := range tt.steps {
				n := t.Failed()
				s.do(t, g, c)
				if !n && t.Failed() {
					t.Logf("at step %d: %s", i, s.name)
				}
			}
		})
	}
}

func TestDelaySchedule(t *testing.T) {
	g := New(Options{})
	want := []time.Duration{0, 0, 0, 1, 2, 4, 8, 15, 15, 15, 15, 15}
	for n, w := range want {
		if got := g.delay(n); got != w*time.Second {
			t.Errorf("delay(%d) = %v, want %v", n, got, w*time.Second)
		}
	}
	if got := g.delay(1000); got != 15*time.Second {
		t.Errorf("delay(1000) = %v", got)
	}
}

func TestLogOnce(t *testing.T) {
	var buf bytes.Buffer
	g, _ := newGuard(t, Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	for i := range 14 {
		g.AuthFailed(ip(a1), fmt.Sprintf("user%d", i%7))
	}
	for i := range 40 {
		g.AuthFailed(ip(fmt.Sprintf("198.51.100.%d", i)), "victim")
	}
	for range 25 {
		g.AuthFailed(ip("127.0.0.1"), "dev")
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	count := func(s string) (n int, line string) {
		for _, l := range lines {
			if strings.Contains(l, s) {
				n++
				line = l
			}
		}
		return n, line
	}
	n, line := count("address blocked")
	if n != 1 {
		t.Fatalf("%d block lines, want 1:\n%s", n, buf.String())
	}
	for _, w := range []string{"ip=192.0.2.1", `reason="10 failed logins in 15m0s"`,
		"accounts=\"[user0 user1 user2 user3 user4]\"", "more_accounts=true", "until=", "level=WARN"} {
		if !strings.Contains(line, w) {
			t.Errorf("block line lacks %s: %s", w, line)
		}
	}
	n, line = count("password spraying")
	if n != 1 {
		t.Fatalf("%d account lines, want 1:\n%s", n, buf.String())
	}
	for _, w := range []string{"account=victim", `reason="30 failed logins in 15m0s"`, "198.51.100.0", "more_addresses=true"} {
		if !strings.Contains(line, w) {
			t.Errorf("account line lacks %s: %s", w, line)
		}
	}
	if n, line = count("loopback address not blocked"); n != 1 || !strings.Contains(line, "ip=127.0.0.1") {
		t.Errorf("%d loopback lines, want 1:\n%s", n, buf.String())
	}
}

func TestUnblockAccount(t *testing.T) {
	g, _ := newGuard(t, Options{AccountBlockAfter: 3})
	for i := range 3 {
		g.AuthFailed(ip(fmt.Sprintf("192.0.2.%d", 10+i)), "bob")
	}
	if d := g.CheckAuth(ip(a1), "bob"); d.Allowed {
		t.Fatalf("CheckAuth = %+v, want refused", d)
	}
	if s := g.Stats(); s.ProtectedAccounts != 1 {
		t.Errorf("Stats = %+v", s)
	}
	if !g.UnblockAccount("BOB") {
		t.Error("UnblockAccount = false")
	}
	if d := g.CheckAuth(ip(a1), "bob"); !d.Allowed {
		t.Errorf("after unblock CheckAuth = %+v", d)
	}
	if g.UnblockAccount("bob") {
		t.Error("second UnblockAccount = true")
	}
}

func TestStatsExpiry(t *testing.T) {
	g, c := newGuard(t, Options{})
	g.AuthSucceeded(ip(a2), "alice")
	g.AuthFailed(ip("2001:db8::1"), "x")
	for range 10 {
		g.AuthFailed(ip(a1), "bob")
	}
	want := Stats{BlockedIPs: 1, TrackedIPs: 1, TrackedAccounts: 2, RememberedLogins: 1}
	if s := g.Stats(); s != want {
		t.Errorf("Stats = %+v, want %+v", s, want)
	}
	c.Advance(15 * time.Minute)
	want = Stats{BlockedIPs: 1, RememberedLogins: 1}
	if s := g.Stats(); s != want {
		t.Errorf("after 15m Stats = %+v, want %+v", s, want)
	}
	c.Advance(7 * 24 * time.Hour)
	if s := g.Stats(); s != (Stats{}) {
		t.Errorf("after a week Stats = %+v, want zero", s)
	}
	if len(g.loginsPerIP) != 0 {
		t.Errorf("loginsPerIP = %v", g.loginsPerIP)
	}
}
