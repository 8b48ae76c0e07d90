package accounts

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

// DefaultCacheTTL is how long a Cache answer is used when no change was
// seen: the bound on how late a change made outside this process (another
// node of a cluster) takes effect.
const DefaultCacheTTL = time.Second

// DefaultCacheEntries bounds the addresses a Cache remembers; when full it
// starts afresh, so random recipients (a dictionary attack) cost memory
// only up to this.
const DefaultCacheEntries = 10000

// Cache answers Resolve from memory for recently seen addresses, so the
// MX does not ask the store twice per RCPT (domain, then account or
// alias). Changes made through a store returned by Watch empty it at
// once: a deleted account or domain is refused from the next RCPT on.
// Other changes take effect within TTL. The UsedBytes of cached accounts
// may be up to TTL old; the store checks the quota again when it delivers.
// It is safe for concurrent use.
type Cache struct {
	Service *Service
	// TTL is how long an answer is kept; DefaultCacheTTL when 0.
	TTL time.Duration
	// MaxEntries bounds the size; DefaultCacheEntries when 0.
	MaxEntries int
	Now        func() time.Time // nil: time.Now

	mu  sync.Mutex
	gen uint64 // incremented by Invalidate
	m   map[string]cacheEntry
}

type cacheEntry struct {
	res     Resolution
	err     error
	expires time.Time
}

// Resolve is Service.Resolve, from memory when possible. Answers and the
// "not local", "no such recipient" and alias-loop errors are cached;
// other errors (store failures) are not.
func (c *Cache) Resolve(ctx context.Context, rcpt addr.Address) (Resolution, error) {
	key := rcpt.Key()
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[key]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.res.clone(), e.err
	}
	res, err := c.Service.Resolve(ctx, rcpt)
	if err != nil && !cacheable(err) {
		return res, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		// The directory changed during the lookup: the answer may be stale.
		return res, err
	}
	if c.m == nil || len(c.m) >= c.maxEntries() {
		c.m = make(map[string]cacheEntry)
	}
	c.m[key] = cacheEntry{res: res.clone(), err: err, expires: now.Add(c.ttl())}
	return res, err
}

// Invalidate forgets every answer; lookups in progress are not cached.
func (c *Cache) Invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}

func cacheable(err error) bool {
	return errors.Is(err, ErrNotLocal) || errors.Is(err, ErrUnknownRecipient) || errors.Is(err, ErrAliasLoop)
}

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Cache) ttl() time.Duration {
	if c.TTL > 0 {
		return c.TTL
	}
	return DefaultCacheTTL
}

func (c *Cache) maxEntries() int {
	if c.MaxEntries > 0 {
		return c.MaxEntries
	}
	return DefaultCacheEntries
}

// clone copies the slices, so callers cannot change a cached answer.
func (r Resolution) clone() Resolution {
	r.Accounts = slices.Clone(r.Accounts)
	r.Remote = slices.Clone(r.Remote)
	return r
}

// Watch returns st with every directory change that affects Resolve
// (domains, accounts, quotas, the admin account, aliases) followed by c.Invalidate, whether
// or not it succeeded. Give it to everything in the process that changes
// the directory (the admin API).
func Watch(st store.Store, c *Cache) store.Store {
	return &watchedStore{Store: st, c: c}
}

type watchedStore struct {
	store.Store
	c *Cache
}

func (w *watchedStore) AddDomain(ctx context.Context, d store.Domain) error {
	defer w.c.Invalidate()
	return w.Store.AddDomain(ctx, d)
}

func (w *watchedStore) DeleteDomain(ctx context.Context, name addr.Domain) error {
	defer w.c.Invalidate()
	return w.Store.DeleteDomain(ctx, name)
}

func (w *watchedStore) AddAccount(ctx context.Context, a store.Account, cr store.Credentials) (store.Account, error) {
	defer w.c.Invalidate()
	return w.Store.AddAccount(ctx, a, cr)
}

func (w *watchedStore) SetQuota(ctx context.Context, accountID int64, quotaBytes int64) error {
	defer w.c.Invalidate()
	return w.Store.SetQuota(ctx, accountID, quotaBytes)
}

func (w *watchedStore) DeleteAccount(ctx context.Context, accountID int64) error {
	defer w.c.Invalidate()
	return w.Store.DeleteAccount(ctx, accountID)
}

func (w *watchedStore) SetAdminAccount(ctx context.Context, accountID int64) error {
	defer w.c.Invalidate()
	return w.Store.SetAdminAccount(ctx, accountID)
}

func (w *watchedStore) AddAlias(ctx context.Context, a store.Alias) error {
	defer w.c.Invalidate()
	return w.Store.AddAlias(ctx, a)
}

func (w *watchedStore) DeleteAlias(ctx context.Context, localpart addr.Localpart, domain addr.Domain) error {
	defer w.c.Invalidate()
	return w.Store.DeleteAlias(ctx, localpart, domain)
}
