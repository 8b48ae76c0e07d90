package mtasts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/posthorn/posthorn/internal/dns"
)

// MaxPolicySize is the largest policy body accepted (RFC 8461 §3.3 suggests
// 64 KiB).
const MaxPolicySize = 64 << 10

// FetchTimeout bounds one policy fetch when the context has no earlier
// deadline (RFC 8461 §3.3: "a reasonable timeout").
const FetchTimeout = 60 * time.Second

// LookupRecord returns the MTA-STS record of domain from TXT
// "_mta-sts.DOMAIN". Records not starting with "v=STSv1" are ignored;
// several STSv1 records are an error (RFC 8461 §3.1). A missing record
// wraps ErrNoRecord; DNS failures wrap the dns sentinels.
func LookupRecord(ctx context.Context, r dns.Resolver, domain string) (*Record, error) {
	txts, _, err := r.LookupTXT(ctx, "_mta-sts."+strings.TrimSuffix(domain, "."))
	if dns.IsNotFound(err) {
		return nil, fmt.Errorf("%w: %s", ErrNoRecord, domain)
	}
	if err != nil {
		return nil, fmt.Errorf("mtasts: %s: %w", domain, err)
	}
	var rec *Record
	for _, t := range txts {
		if !strings.HasPrefix(t, "v=STSv1") {
			continue
		}
		if rec != nil {
			return nil, fmt.Errorf("%w: several STSv1 records at _mta-sts.%s", ErrSyntax, domain)
		}
		if rec, err = ParseRecord(t); err != nil {
			return nil, err
		}
	}
	if rec == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoRecord, domain)
	}
	return rec, nil
}

// Fetcher fetches policy files over HTTPS with certificate verification,
// no redirects (RFC 8461 §3.3) and a size limit.
type Fetcher struct {
	// Client does the requests; nil means one with the system roots. Its
	// redirect policy is overridden to refuse redirects. Tests set a
	// client trusting their httptest server and a Transport dialing it.
	Client *http.Client
}

// Fetch fetches and parses https://mta-sts.DOMAIN/.well-known/mta-sts.txt.
func (f *Fetcher) Fetch(ctx context.Context, domain string) (*Policy, error) {
	domain = strings.TrimSuffix(domain, ".")
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, FetchTimeout)
		defer cancel()
	}
	url := "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFetch, domain, err)
	}
	c := http.Client{Timeout: FetchTimeout}
	if f != nil && f.Client != nil {
		c = *f.Client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error {
		return errors.New("redirects are not allowed (RFC 8461 §3.3)")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFetch, url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s: HTTP status %s", ErrFetch, url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "text/plain" {
			return nil, fmt.Errorf("%w: %s: content type %q, want text/plain", ErrFetch, url, ct)
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicySize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFetch, url, err)
	}
	if len(body) > MaxPolicySize {
		return nil, fmt.Errorf("%w: %s: policy larger than %d bytes", ErrFetch, url, MaxPolicySize)
	}
	p, err := ParsePolicy(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return p, nil
}

// Cached is a policy as kept by a Cache.
type Cached struct {
	Policy  *Policy
	ID      string    // the record id the policy was fetched under
	Fetched time.Time // when it was fetched; it expires at Fetched+MaxAge
}

// Cache stores policies per domain. MemoryCache is the in-process one; the
// queue may persist policies in the store behind this interface.
type Cache interface {
	Get(ctx context.Context, domain string) (Cached, bool)
	Put(ctx context.Context, domain string, c Cached)
	Delete(ctx context.Context, domain string)
}

// MemoryCache is a Cache in memory, safe for concurrent use. The zero
// value is ready.
type MemoryCache struct {
	mu sync.Mutex
	m  map[string]Cached
}

var _ Cache = (*MemoryCache)(nil)

// Get implements Cache.
func (m *MemoryCache) Get(_ context.Context, domain string) (Cached, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.m[strings.ToLower(domain)]
	return c, ok
}

// Put implements Cache.
func (m *MemoryCache) Put(_ context.Context, domain string, c Cached) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]Cached{}
	}
	m.m[strings.ToLower(domain)] = c
}

// Delete implements Cache.
func (m *MemoryCache) Delete(_ context.Context, domain string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, strings.ToLower(domain))
}

// Resolver finds the policy in force for a domain (RFC 8461 §5.1): the
// cached policy while it is fresh and the TXT id has not changed, else a
// fresh fetch; on a fetch failure a cached, unexpired policy is kept.
type Resolver struct {
	DNS     dns.Resolver
	Fetcher *Fetcher
	Cache   Cache            // nil: no caching
	Now     func() time.Time // nil: time.Now
}

// Lookup returns the policy for domain, or nil (and a nil error) when the
// domain has no MTA-STS record and nothing cached. A non-nil error means
// the policy could not be determined; a caller treats the domain as having
// no policy but may report the failure ("sts-policy-fetch-error" etc.).
func (r *Resolver) Lookup(ctx context.Context, domain string) (*Policy, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	var cached Cached
	var have bool
	if r.Cache != nil {
		cached, have = r.Cache.Get(ctx, domain)
		if have && !now().Before(cached.Fetched.Add(cached.Policy.MaxAge)) {
			r.Cache.Delete(ctx, domain)
			have = false
		}
	}
	rec, err := LookupRecord(ctx, r.DNS, domain)
	if err != nil {
		// RFC 8461 §5.1: a cached policy survives a missing or
		// failing record until it expires.
		if have {
			return cached.Policy, nil
		}
		if errors.Is(err, ErrNoRecord) {
			return nil, nil
		}
		return nil, err
	}
	if have && cached.ID == rec.ID {
		return cached.Policy, nil
	}
	p, err := r.Fetcher.Fetch(ctx, domain)
	if err != nil {
		if have {
			return cached.Policy, nil
		}
		return nil, err
	}
	if r.Cache != nil {
		r.Cache.Put(ctx, domain, Cached{Policy: p, ID: rec.ID, Fetched: now()})
	}
	return p, nil
}
