// Package guard is posthorn's in-process defence against connection floods
// and password guessing, shared by the SMTP and IMAP servers. It replaces
// fail2ban: nothing parses logs, and blocks take effect at once.
//
// # Policy
//
// The defaults below are the fields of [Options]; the names in parentheses
// are the settings that change them.
//
// Addresses. An IPv4 address counts on its own; IPv6 addresses are counted
// per /64 (IPv6Prefix), because one host or customer usually has a whole
// /64 to itself and could otherwise rotate addresses for free.
//
// Connections. At most 1000 connections at once in total (MaxConns) and 32
// from one address (MaxConnsPerIP). A connection over a limit is answered
// with "421 4.7.0" (IMAP: "* BYE [LIMIT]") and closed. These limits are
// per pool: each kind of listener can have a pool of its own (NewPool,
// Pools), so that one service's clients (say 500 idle IMAP sessions) do
// not take the places of another's (the MX, which must keep accepting
// mail). Connections from an address that is blocked
// (below) are refused the same way right at connect, before any command,
// unless some account logged in successfully from that address recently.
//
// Failed logins from one address. The first 3 failed logins (FreeFailures)
// cost nothing. After that every further attempt from the address is
// answered only after a delay: 1s, 2s, 4s, 8s, then 15s for each further
// one (FirstDelay, MaxDelay). After 10 failed logins (BlockAfter) within 15
// minutes (Window) the address is blocked for 1 hour (BlockFor): its login
// attempts and connections are refused without checking any password. The
// failure count is kept for one window, counted from the first failure;
// when the window is over the address starts afresh. Every block is logged
// once as a warning with the reason ("10 failed logins in 15m0s") and up to
// 5 of the account names that were tried.
//
// Failed logins for one account. Password spraying comes from many
// addresses, each staying under the per-address limits. After 30 failed
// logins for one account (AccountBlockAfter) within the window, from any
// addresses, the account is protected for 1 hour (AccountBlockFor): logins
// to it are refused from every address except those it logged in from
// before (below). This is logged once as a warning, with up to 5 of the
// addresses that failed.
//
// Known addresses. A successful login is remembered for 7 days
// (RememberLogin) as the pair of address and account (account names are
// compared case-insensitively). A remembered pair is always allowed to try that account: it is never delayed, not refused
// while the account is protected, and not refused while its address is
// blocked, so an attacker elsewhere (or behind the same NAT) cannot lock
// the owner out. A successful login also clears the failure count of its
// address; it does not lift a block that is already in place.
//
// Loopback. Addresses 127.0.0.0/8 and ::1 (used by "posthorn localserve",
// tests and local tools) are never delayed, blocked or refused by account
// protection, and have no per-address connection limit; their failures are
// still counted and logged.
//
// Memory. Every table is bounded: 100,000 addresses with failures and as
// many blocked ones (MaxIPs), 100,000 accounts with failures and as many
// protected ones (MaxAccounts), 100,000 remembered logins (MaxLogins). When
// a table is full the entry updated longest ago is dropped; entries also
// expire when their time is up. A flood from millions of addresses thus
// costs a bounded amount of memory (with the defaults, under about 100 MB
// even with long account names; a few MB in normal operation), at the
// price of forgetting the oldest entries. Blocks are kept apart from
// failure counts, so a flood of failures does not push blocks out. The administrator can lift blocks with [Guard.Unblock] and
// [Guard.UnblockAccount].
//
// # Use
//
// A server calls [Guard.Connect] for every accepted connection (and the
// returned release when it closes) and [Guard.Blocked] before greeting on
// ports that offer authentication. Before checking a password it calls
// [Guard.CheckAuth]: if the decision is not allowed it fails the attempt
// without checking; otherwise it waits Decision.Delay (honouring its
// context), checks the password, and reports the outcome with
// [Guard.AuthFailed] or [Guard.AuthSucceeded].
package guard

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Defaults for the zero fields of Options.
const (
	DefaultMaxConns          = 1000
	DefaultMaxConnsPerIP     = 32
	DefaultIPv6Prefix        = 64
	DefaultFreeFailures      = 3
	DefaultFirstDelay        = time.Second
	DefaultMaxDelay          = 15 * time.Second
	DefaultBlockAfter        = 10
	DefaultWindow            = 15 * time.Minute
	DefaultBlockFor          = time.Hour
	DefaultAccountBlockAfter = 30
	DefaultAccountBlockFor   = time.Hour
	DefaultRememberLogin     = 7 * 24 * time.Hour
	DefaultMaxEntries        = 100_000
)

const (
	// maxSample is how many account names (per address) or addresses
	// (per account) are kept for the log line of a block.
	maxSample = 5
	// maxAccountLen bounds the account names kept as keys; longer names
	// are truncated (RFC 5321 §4.5.3.1.3 bounds a path to 256 octets).
	maxAccountLen = 256
	// maxSampleLen bounds each account name kept for a log line.
	maxSampleLen = 64
)

// Options are the limits of a Guard. A zero field means its default (the
// Default* constants); see the package comment for the policy as a whole.
type Options struct {
	// MaxConns limits concurrent connections in total. Negative: no limit.
	MaxConns int
	// MaxConnsPerIP limits concurrent connections from one address (IPv4)
	// or prefix (IPv6). Loopback is exempt. Negative: no limit.
	MaxConnsPerIP int
	// IPv6Prefix is the prefix length by which IPv6 addresses are counted
	// together for every limit (1–128).
	IPv6Prefix int

	// FreeFailures is how many failed logins from an address within Window
	// cost no delay: the attempt after that many failures is the first one
	// delayed. Negative: delay every attempt after a failure (as 1).
	FreeFailures int
	// FirstDelay is the delay after the free failures; it doubles with
	// every further failure up to MaxDelay. Negative MaxDelay: no delays.
	FirstDelay, MaxDelay time.Duration
	// BlockAfter failed logins from an address within Window block it for
	// BlockFor. Negative: never block addresses.
	BlockAfter int
	// Window is the time within which failures are counted, from the first
	// failure after the previous window ended.
	Window time.Duration
	// BlockFor is how long an address stays blocked.
	BlockFor time.Duration
	// AccountBlockAfter failed logins for one account within Window, from
	// any addresses, protect the account for AccountBlockFor: only
	// addresses it logged in from before may then try it. Negative: never.
	AccountBlockAfter int
	// AccountBlockFor is how long an account stays protected.
	AccountBlockFor time.Duration
	// RememberLogin is how long a successful login exempts its (address,
	// account) pair from delays and blocks, counted from the last success.
	RememberLogin time.Duration

	// MaxIPs bounds the addresses tracked with failures, and separately
	// the blocked ones. MaxAccounts does the same for accounts, MaxLogins
	// bounds the remembered successful logins.
	MaxIPs, MaxAccounts, MaxLogins int

	// Logger receives blocks and account protections (warnings). Nil: no
	// logging.
	Logger *slog.Logger
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defPos := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxConns, DefaultMaxConns)
	def(&o.MaxConnsPerIP, DefaultMaxConnsPerIP)
	if o.IPv6Prefix <= 0 || o.IPv6Prefix > 128 {
		o.IPv6Prefix = DefaultIPv6Prefix
	}
	def(&o.FreeFailures, DefaultFreeFailures)
	o.FreeFailures = max(o.FreeFailures, 1)
	defDur(&o.FirstDelay, DefaultFirstDelay)
	if o.MaxDelay == 0 {
		o.MaxDelay = DefaultMaxDelay
	}
	def(&o.BlockAfter, DefaultBlockAfter)
	defDur(&o.Window, DefaultWindow)
	defDur(&o.BlockFor, DefaultBlockFor)
	def(&o.AccountBlockAfter, DefaultAccountBlockAfter)
	defDur(&o.AccountBlockFor, DefaultAccountBlockFor)
	defDur(&o.RememberLogin, DefaultRememberLogin)
	defPos(&o.MaxIPs, DefaultMaxEntries)
	defPos(&o.MaxAccounts, DefaultMaxEntries)
	defPos(&o.MaxLogins, DefaultMaxEntries)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Guard tracks connections and login failures. It is safe for concurrent
// use; create it with New. It starts no goroutines: entries expire lazily
// as the Guard is used.
type Guard struct {
	opt Options

	pool  *Pool   // of Connect
	pools []*Pool // of NewPool; guarded by mu

	mu          sync.Mutex
	ipFails     *table[netip.Prefix, *failures]
	ipBlocks    *table[netip.Prefix, *block]
	acctFails   *table[string, *failures]
	acctBlocks  *table[string, *block]
	logins      *table[loginKey, time.Time] // last successful login
	loginsPerIP map[netip.Prefix]int        // entries of logins per address
}

// failures counts failed logins within one window. sample holds up to
// maxSample distinct accounts (for an address) or addresses (for an
// account) for the log line.
type failures struct {
	start  time.Time // of the window
	n      int
	sample []string
	more   bool // more distinct values than sample holds
	logged bool // loopback: threshold reached and logged
}

// block is a block of an address or a protection of an account.
type block struct {
	until  time.Time
	reason string
}

type loginKey struct {
	ip      netip.Prefix
	account string
}

// New returns a Guard with the limits of opt.
func New(opt Options) *Guard {
	g := &Guard{opt: opt.withDefaults()}
	g.pool = &Pool{g: g, limits: PoolLimits{MaxConns: g.opt.MaxConns, MaxConnsPerIP: g.opt.MaxConnsPerIP},
		conns: map[netip.Prefix]int{}}
	g.ipFails = newTable[netip.Prefix, *failures](g.opt.MaxIPs)
	g.ipBlocks = newTable[netip.Prefix, *block](g.opt.MaxIPs)
	g.acctFails = newTable[string, *failures](g.opt.MaxAccounts)
	g.acctBlocks = newTable[string, *block](g.opt.MaxAccounts)
	g.logins = newTable[loginKey, time.Time](g.opt.MaxLogins)
	g.loginsPerIP = map[netip.Prefix]int{}
	g.logins.onRemove = func(k loginKey, _ time.Time) {
		if g.loginsPerIP[k.ip]--; g.loginsPerIP[k.ip] <= 0 {
			delete(g.loginsPerIP, k.ip)
		}
	}
	return g
}

// key is the unit an address is counted in: the address itself for IPv4
// (IPv4-mapped IPv6 included), its prefix for IPv6. The zero Addr (no IP,
// such as a Unix socket peer) is one key of its own.
func (g *Guard) key(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap().WithZone("")
	switch {
	case ip.Is4():
		return netip.PrefixFrom(ip, 32)
	case ip.Is6():
		p, _ := ip.Prefix(g.opt.IPv6Prefix)
		return p
	}
	return netip.Prefix{}
}

// keyString formats a key for logs and reasons: the bare address for IPv4.
func keyString(k netip.Prefix) string {
	switch {
	case !k.IsValid():
		return "(no address)"
	case k.Addr().Is4():
		return k.Addr().String()
	}
	return k.String()
}

func isLoopback(ip netip.Addr) bool { return ip.Unmap().IsLoopback() }

// accountKey normalises an account name for use as a key: lower case,
// bounded length.
func accountKey(account string) string {
	if len(account) > maxAccountLen {
		account = account[:maxAccountLen]
	}
	// A copy: the caller's string may share a larger buffer.
	return strings.Clone(strings.ToLower(account))
}

// expire sweeps expired entries off the front of every table; g.mu held.
func (g *Guard) expire(now time.Time) {
	failDead := func(f *failures) bool { return !now.Before(f.start.Add(g.opt.Window)) }
	blockDead := func(b *block) bool { return !now.Before(b.until) }
	g.ipFails.expire(failDead)
	g.ipBlocks.expire(blockDead)
	g.acctFails.expire(failDead)
	g.acctBlocks.expire(blockDead)
	g.logins.expire(func(t time.Time) bool { return !now.Before(t.Add(g.opt.RememberLogin)) })
}

// event is a log line collected under the lock and written after it.
type event struct {
	level slog.Level
	msg   string
	attrs []slog.Attr
}

func (g *Guard) emit(evs []event) {
	for _, e := range evs {
		g.opt.Logger.LogAttrs(context.Background(), e.level, e.msg, e.attrs...)
	}
}

// Stats is a snapshot of the Guard's tables, for metrics.
type Stats struct {
	Connections        int // open connections, of every pool
	BlockedIPs         int // addresses (IPv6: prefixes) currently blocked
	ProtectedAccounts  int // accounts currently refusing unknown addresses
	TrackedIPs         int // addresses with recent failures
	TrackedAccounts    int // accounts with recent failures
	RememberedLogins   int // remembered (address, account) pairs
	ConnectedAddresses int // addresses with open connections (per pool: one address in two pools counts twice)
}

// Stats returns the current counts. Counts of tracked failures may include
// a few entries whose window just ended; the others are exact.
func (g *Guard) Stats() Stats {
	now := g.opt.Now()
	g.mu.Lock()
	pools := append([]*Pool{g.pool}, g.pools...)
	g.expire(now)
	st := Stats{
		BlockedIPs:        g.ipBlocks.len(),
		ProtectedAccounts: g.acctBlocks.len(),
		TrackedIPs:        g.ipFails.len(),
		TrackedAccounts:   g.acctFails.len(),
		RememberedLogins:  g.logins.len(),
	}
	g.mu.Unlock()
	for _, p := range pools {
		c, a := p.stats()
		st.Connections += c
		st.ConnectedAddresses += a
	}
	return st
}

// Unblock lifts the block of ip (its /64 for IPv6) and clears its failure
// count. It reports whether the address was blocked.
func (g *Guard) Unblock(ip netip.Addr) bool {
	now := g.opt.Now()
	k := g.key(ip)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ipFails.del(k)
	b, ok := g.ipBlocks.get(k)
	g.ipBlocks.del(k)
	return ok && now.Before(b.until)
}

// UnblockAccount lifts the protection of account and clears its failure
// count. It reports whether the account was protected.
func (g *Guard) UnblockAccount(account string) bool {
	now := g.opt.Now()
	a := accountKey(account)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.acctFails.del(a)
	b, ok := g.acctBlocks.get(a)
	g.acctBlocks.del(a)
	return ok && now.Before(b.until)
}

// blockReason is the reason recorded for a block after n failures.
func (g *Guard) blockReason(n int) string {
	return fmt.Sprintf("%d failed logins in %v", n, g.opt.Window)
}
