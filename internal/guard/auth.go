package guard

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"
)

// Decision is the answer of CheckAuth.
type Decision struct {
	// Allowed says whether the password may be checked at all. If not, the
	// attempt fails without checking (and without calling AuthFailed).
	Allowed bool
	// Delay is how long to wait before checking the password and answering
	// the client; zero for most attempts.
	Delay time.Duration
	// Reason explains a refusal or a delay in plain words, for the log; it
	// names the client's own address and may be shown to the client.
	Reason string
}

// CheckAuth says whether a login from ip to account may be attempted now,
// and after what delay. The account name is compared case-insensitively.
func (g *Guard) CheckAuth(ip netip.Addr, account string) Decision {
	now := g.opt.Now()
	k, a := g.key(ip), accountKey(account)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expire(now)
	if isLoopback(ip) || g.known(k, a, now) {
		return Decision{Allowed: true}
	}
	if b, ok := g.ipBlocks.get(k); ok && now.Before(b.until) {
		return Decision{Reason: fmt.Sprintf("%s is blocked until %s: %s",
			keyString(k), b.until.UTC().Format(time.RFC3339), b.reason)}
	}
	if b, ok := g.acctBlocks.get(a); ok && now.Before(b.until) {
		return Decision{Reason: fmt.Sprintf("account refuses new addresses until %s: %s",
			b.until.UTC().Format(time.RFC3339), b.reason)}
	}
	if f, ok := g.ipFails.get(k); ok && now.Before(f.start.Add(g.opt.Window)) {
		if d := g.delay(f.n); d > 0 {
			return Decision{Allowed: true, Delay: d,
				Reason: fmt.Sprintf("%d failed logins from %s since %s",
					f.n, keyString(k), f.start.UTC().Format(time.RFC3339))}
		}
	}
	return Decision{Allowed: true}
}

// delay is the delay of the next attempt after n failures in the window.
func (g *Guard) delay(n int) time.Duration {
	n -= g.opt.FreeFailures
	if n < 0 || g.opt.MaxDelay < 0 {
		return 0
	}
	d := g.opt.FirstDelay
	for ; n > 0 && d < g.opt.MaxDelay; n-- {
		d *= 2
	}
	return min(d, g.opt.MaxDelay)
}

// known reports whether account logged in from k within RememberLogin;
// g.mu held.
func (g *Guard) known(k netip.Prefix, account string, now time.Time) bool {
	t, ok := g.logins.get(loginKey{k, account})
	return ok && now.Before(t.Add(g.opt.RememberLogin))
}

// Blocked reports whether connections from ip should be refused at
// connect, and why. That is so while the address (its /64 for IPv6) is
// blocked for failed logins, unless some account logged in successfully
// from it within RememberLogin: such an address may still connect, and
// CheckAuth lets only the remembered accounts log in. Loopback addresses
// are never blocked.
func (g *Guard) Blocked(ip netip.Addr) (bool, string) {
	if isLoopback(ip) {
		return false, ""
	}
	now := g.opt.Now()
	k := g.key(ip)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expire(now)
	b, ok := g.ipBlocks.get(k)
	if !ok || !now.Before(b.until) || g.loginsPerIP[k] > 0 {
		return false, ""
	}
	return true, fmt.Sprintf("%s is blocked until %s: %s",
		keyString(k), b.until.UTC().Format(time.RFC3339), b.reason)
}

// AuthFailed records a failed login from ip to account. It may block the
// address or protect the account, and logs it when it does.
func (g *Guard) AuthFailed(ip netip.Addr, account string) {
	now := g.opt.Now()
	k, a := g.key(ip), accountKey(account)
	g.mu.Lock()
	g.expire(now)
	evs := g.ipFailed(k, a, isLoopback(ip), now)
	if !g.known(k, a, now) {
		// The owner mistyping on a known address is not spraying.
		evs = append(evs, g.accountFailed(k, a, now)...)
	}
	g.mu.Unlock()
	g.emit(evs)
}

// ipFailed counts a failure of address k, blocking it at the threshold;
// g.mu held.
func (g *Guard) ipFailed(k netip.Prefix, account string, loopback bool, now time.Time) []event {
	f := countFailure(g.ipFails, k, account, now, g.opt.Window)
	if g.opt.BlockAfter < 0 || f.n < g.opt.BlockAfter {
		return nil
	}
	attrs := []slog.Attr{
		slog.String("ip", keyString(k)),
		slog.String("reason", g.blockReason(f.n)),
		slog.Any("accounts", f.sample),
		slog.Bool("more_accounts", f.more),
	}
	if loopback {
		if f.logged {
			return nil
		}
		f.logged = true
		return []event{{slog.LevelInfo, "guard: loopback address not blocked", attrs}}
	}
	if b, ok := g.ipBlocks.get(k); ok && now.Before(b.until) {
		return nil // blocked already; a remembered login failed again
	}
	b := &block{until: now.Add(g.opt.BlockFor), reason: g.blockReason(f.n)}
	g.ipBlocks.put(k, b)
	g.ipFails.del(k)
	attrs = append(attrs, slog.Time("until", b.until))
	return []event{{slog.LevelWarn, "guard: address blocked", attrs}}
}

// accountFailed counts a failure for account from an unknown address,
// protecting the account at the threshold; g.mu held.
func (g *Guard) accountFailed(k netip.Prefix, account string, now time.Time) []event {
	f := countFailure(g.acctFails, account, keyString(k), now, g.opt.Window)
	if g.opt.AccountBlockAfter < 0 || f.n < g.opt.AccountBlockAfter {
		return nil
	}
	if b, ok := g.acctBlocks.get(account); ok && now.Before(b.until) {
		return nil // protected already; loopback keeps trying
	}
	b := &block{until: now.Add(g.opt.AccountBlockFor), reason: g.blockReason(f.n)}
	g.acctBlocks.put(account, b)
	g.acctFails.del(account)
	return []event{{slog.LevelWarn, "guard: account refuses new addresses (password spraying)", []slog.Attr{
		slog.String("account", account),
		slog.String("reason", b.reason),
		slog.Any("addresses", f.sample),
		slog.Bool("more_addresses", f.more),
		slog.Time("until", b.until),
	}}}
}

// countFailure adds a failure to the entry of k in t, starting a new
// window if the last one ended, and returns the entry.
func countFailure[K comparable](t *table[K, *failures], k K, sample string, now time.Time, window time.Duration) *failures {
	f, ok := t.get(k)
	if !ok || !now.Before(f.start.Add(window)) {
		f = &failures{start: now}
	}
	f.n++
	if len(sample) > maxSampleLen {
		sample = sample[:maxSampleLen]
	}
	if !slices.Contains(f.sample, sample) {
		if len(f.sample) < maxSample {
			f.sample = append(f.sample, sample)
		} else {
			f.more = true
		}
	}
	t.put(k, f)
	return f
}

// AuthSucceeded records a successful login from ip to account: the pair is
// remembered for RememberLogin, and the failure count of the address is
// cleared. A block of the address stays in place.
func (g *Guard) AuthSucceeded(ip netip.Addr, account string) {
	now := g.opt.Now()
	k, a := g.key(ip), accountKey(account)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expire(now)
	if g.logins.put(loginKey{k, a}, now) {
		g.loginsPerIP[k]++
	}
	g.ipFails.del(k)
}
