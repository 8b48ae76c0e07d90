package accounts

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

// countingStore counts Domain lookups (one per uncached Resolve).
type countingStore struct {
	store.Store
	domains atomic.Int64
	fail    error
}

func (s *countingStore) Domain(ctx context.Context, name addr.Domain) (store.Domain, error) {
	s.domains.Add(1)
	if s.fail != nil {
		return store.Domain{}, s.fail
	}
	return s.Store.Domain(ctx, name)
}

func cacheFixture(t *testing.T) (*Cache, *countingStore, store.Store, *time.Time, map[string]store.Account) {
	svc, accs := fixture(t)
	cs := &countingStore{Store: svc.Store}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &Cache{Service: &Service{Store: cs}, Now: func() time.Time { return now }}
	return c, cs, Watch(svc.Store, c), &now, accs
}

func TestCacheAnswersFromMemory(t *testing.T) {
	c, cs, _, now, _ := cacheFixture(t)
	ctx := context.Background()
	for _, a := range []string{"alice@example.com", "ALICE@example.com", "nobody@example.com", "x@remote.example"} {
		for range 3 {
			c.Resolve(ctx, addr.MustParseAddress(a))
		}
	}
	if n := cs.domains.Load(); n != 3 { // alice and ALICE share a key
		t.Errorf("%d store lookups, want 3", n)
	}
	res, err := c.Resolve(ctx, addr.MustParseAddress("alice@example.com"))
	if err != nil || len(res.Accounts) != 1 {
		t.Fatalf("cached answer %+v, %v", res, err)
	}
	res.Accounts[0].QuotaBytes = 99 // must not change the cached answer
	if _, err := c.Resolve(ctx, addr.MustParseAddress("nobody@example.com")); !errors.Is(err, ErrUnknownRecipient) {
		t.Errorf("cached error %v", err)
	}
	*now = now.Add(DefaultCacheTTL)
	res, _ = c.Resolve(ctx, addr.MustParseAddress("alice@example.com"))
	if n := cs.domains.Load(); n != 4 || res.Accounts[0].QuotaBytes == 99 {
		t.Errorf("after the TTL: %d lookups (want 4), quota %d", n, res.Accounts[0].QuotaBytes)
	}
}

// TestCacheWatch: changes through the watched store take effect at once.
func TestCacheWatch(t *testing.T) {
	c, _, st, _, accs := cacheFixture(t)
	ctx := context.Background()
	bob := addr.MustParseAddress("bob@example.com")
	if _, err := c.Resolve(ctx, bob); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteAccount(ctx, accs["bob@example.com"].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resolve(ctx, bob); !errors.Is(err, ErrUnknownRecipient) {
		t.Fatalf("deleted account resolves: %v", err)
	}
	if err := st.AddAlias(ctx, store.Alias{Localpart: "bob", Domain: bob.Domain, Targets: []addr.Address{addr.MustParseAddress("alice@example.com")}}); err != nil {
		t.Fatal(err)
	}
	if res, err := c.Resolve(ctx, bob); err != nil || len(res.Accounts) != 1 || res.Accounts[0].Address.Localpart != "alice" {
		t.Fatalf("new alias: %+v, %v", res, err)
	}
	if err := st.DeleteAlias(ctx, "bob", bob.Domain); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resolve(ctx, bob); !errors.Is(err, ErrUnknownRecipient) {
		t.Fatalf("deleted alias resolves: %v", err)
	}
	new := addr.MustParseAddress("x@new.example")
	if _, err := c.Resolve(ctx, new); !errors.Is(err, ErrNotLocal) {
		t.Fatalf("new.example: %v", err)
	}
	if err := st.AddDomain(ctx, store.Domain{Name: new.Domain}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resolve(ctx, new); !errors.Is(err, ErrUnknownRecipient) {
		t.Fatalf("added domain: %v", err)
	}
}

func TestCacheKeepsNoStoreErrors(t *testing.T) {
	c, cs, _, _, _ := cacheFixture(t)
	cs.fail = errors.New("disk on fire")
	a := addr.MustParseAddress("alice@example.com")
	if _, err := c.Resolve(context.Background(), a); err == nil {
		t.Fatal("no error")
	}
	cs.fail = nil
	if _, err := c.Resolve(context.Background(), a); err != nil {
		t.Fatalf("store error was cached: %v", err)
	}
}

func TestCacheBounded(t *testing.T) {
	c, _, _, _, _ := cacheFixture(t)
	c.MaxEntries = 2
	for _, a := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		c.Resolve(context.Background(), addr.MustParseAddress(a))
	}
	if n := len(c.m); n > 2 {
		t.Errorf("%d entries", n)
	}
}
