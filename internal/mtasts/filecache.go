package mtasts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// FileCache is a Cache kept in memory and saved to one JSON file after
// each change, so policies survive a restart (RFC 8461 §5.1: a policy is
// honoured until it expires, also across restarts; otherwise an attacker
// blocking the fetch right after a restart downgrades it). Safe for
// concurrent use.
//
// On-disk layout: a JSON object mapping lower-case domain names to
// {"Policy": {"Mode", "MX", "MaxAge" (nanoseconds)}, "ID", "Fetched"
// (RFC 3339)}; the file is replaced atomically (a temporary file, then a
// rename).
type FileCache struct {
	// OnError is told of a failed save; nil: ignored (the memory copy
	// still works).
	OnError func(error)

	mem  MemoryCache
	path string
	mu   sync.Mutex // serialises saves
}

var _ Cache = (*FileCache)(nil)

// OpenFileCache loads the cache at path; a missing file is an empty cache.
func OpenFileCache(path string) (*FileCache, error) {
	fc := &FileCache{path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fc, nil
	} else if err != nil {
		return nil, err
	}
	var m map[string]Cached
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("mtasts: %s: %w", path, err)
	}
	for d, c := range m {
		if c.Policy != nil {
			fc.mem.Put(context.Background(), d, c)
		}
	}
	return fc, nil
}

// Get implements Cache.
func (f *FileCache) Get(ctx context.Context, domain string) (Cached, bool) {
	return f.mem.Get(ctx, domain)
}

// Put implements Cache.
func (f *FileCache) Put(ctx context.Context, domain string, c Cached) {
	f.mem.Put(ctx, domain, c)
	f.saved(f.save())
}

// Delete implements Cache.
func (f *FileCache) Delete(ctx context.Context, domain string) {
	f.mem.Delete(ctx, domain)
	f.saved(f.save())
}

// Domains returns the cached domains, sorted.
func (f *FileCache) Domains() []string {
	f.mem.mu.Lock()
	defer f.mem.mu.Unlock()
	out := make([]string, 0, len(f.mem.m))
	for d := range f.mem.m {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

func (f *FileCache) saved(err error) {
	if err != nil && f.OnError != nil {
		f.OnError(fmt.Errorf("mtasts: saving %s: %w", f.path, err))
	}
}

// save writes the cache to its file.
func (f *FileCache) save() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mem.mu.Lock()
	b, err := json.MarshalIndent(f.mem.m, "", "  ")
	f.mem.mu.Unlock()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), ".mta-sts-cache-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), f.path)
}

// Refresh fetches the policy of every cached domain whose policy is older
// than age (RFC 8461 §5.1: senders should refresh cached policies before
// they expire, so a policy stays in force while the domain publishes it).
// The policy is fetched again even when the record id is unchanged; a
// failed fetch keeps the cached one. It returns the domains refreshed.
func (r *Resolver) Refresh(ctx context.Context, domains []string, age time.Duration) []string {
	if r.Cache == nil {
		return nil
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	var done []string
	for _, d := range domains {
		d = strings.ToLower(d)
		c, ok := r.Cache.Get(ctx, d)
		if !ok || now().Sub(c.Fetched) < age {
			continue
		}
		rec, err := LookupRecord(ctx, r.DNS, d)
		if err != nil {
			continue // the policy stays until it expires
		}
		p, err := r.Fetcher.Fetch(ctx, d)
		if err != nil {
			continue
		}
		r.Cache.Put(ctx, d, Cached{Policy: p, ID: rec.ID, Fetched: now()})
		done = append(done, d)
	}
	return done
}
