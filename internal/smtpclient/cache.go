package smtpclient

import (
	"sync"
	"time"
)

// connCache keeps idle connections for reuse, one per destination
// (RFC 5321 §3.3 allows several transactions per session). An entry is
// closed after Timeouts.Idle unused.
type connCache struct {
	mu sync.Mutex
	m  map[string]*cacheEntry
}

type cacheEntry struct {
	cn    *conn
	timer *time.Timer
}

// take removes and returns the cached connection for key, if any.
func (cc *connCache) take(key string) *conn {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e := cc.m[key]
	if e == nil {
		return nil
	}
	delete(cc.m, key)
	if !e.timer.Stop() {
		return nil // the idle timer is closing it
	}
	return e.cn
}

// put caches cn under key, closing it if the cache is disabled or full or
// key already has a connection.
func (cc *connCache) put(key string, cn *conn, c *Client) {
	max := c.MaxCached
	if max == 0 {
		max = 8
	}
	cc.mu.Lock()
	if max < 0 || len(cc.m) >= max || cc.m[key] != nil {
		cc.mu.Unlock()
		cn.close()
		return
	}
	if cc.m == nil {
		cc.m = map[string]*cacheEntry{}
	}
	e := &cacheEntry{cn: cn}
	e.timer = time.AfterFunc(c.timeouts().Idle, func() {
		cc.mu.Lock()
		if cc.m[key] == e {
			delete(cc.m, key)
		}
		cc.mu.Unlock()
		cn.close()
	})
	cc.m[key] = e
	cc.mu.Unlock()
}

// Close closes every cached connection (at shutdown).
func (c *Client) Close() {
	cc := &c.cache
	cc.mu.Lock()
	entries := cc.m
	cc.m = nil
	cc.mu.Unlock()
	for _, e := range entries {
		if e.timer.Stop() {
			e.cn.close()
		}
	}
}
