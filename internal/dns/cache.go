package dns

import (
	"container/list"
	"sync"
	"time"
)

// Cache policy (documented on Options): answers are kept for their TTL,
// clamped to [MinTTL, MaxTTL]; NXDOMAIN and no-data answers for the SOA's
// negative TTL (RFC 2308 §5: min(SOA TTL, MINIMUM)), capped at
// NegativeMaxTTL, and not at all without an SOA; temporary failures and
// permanent errors are never cached. At most CacheSize entries are kept,
// the least recently used dropped first.

type cacheKey struct {
	typ  string // "TXT", "MX", "ip4", "ip6", "ip", "PTR", "CNAME", "TLSA"
	name string // lower case, absolute, trailing dot
}

type cacheEntry struct {
	key     cacheKey
	value   any // the records, owned by the cache: copied on the way out
	result  Result
	err     error // nil, or wrapping ErrNotFound / ErrNoData
	expires time.Time
}

type cache struct {
	mu    sync.Mutex
	max   int
	lru   *list.List // front: most recently used; elements are *cacheEntry
	items map[cacheKey]*list.Element
}

func newCache(size int) *cache {
	return &cache{max: size, lru: list.New(), items: map[cacheKey]*list.Element{}}
}

func (c *cache) get(k cacheKey, now time.Time) (*cacheEntry, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.lru.Remove(el)
		delete(c.items, k)
		return nil, false
	}
	c.lru.MoveToFront(el)
	return e, true
}

func (c *cache) put(e *cacheEntry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[e.key]; ok {
		el.Value = e
		c.lru.MoveToFront(el)
		return
	}
	c.items[e.key] = c.lru.PushFront(e)
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.items, old.Value.(*cacheEntry).key)
	}
}
