package mtasts

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

// TestFileCacheSurvivesRestart: a policy fetched before a restart is in
// force after it, even when the fetch then fails.
func TestFileCacheSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mta-sts-cache.json")
	f, hits := policyServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(goodPolicy)) })
	res := dnstest.NewResolver(dnstest.Zone{"_mta-sts.example.test": {TXT: []string{"v=STSv1; id=1"}}})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	fc, err := OpenFileCache(path)
	if err != nil {
		t.Fatal(err)
	}
	fc.OnError = func(err error) { t.Error(err) }
	r := &Resolver{DNS: res, Fetcher: f, Cache: fc, Now: clock}
	ctx := context.Background()
	if p, err := r.Lookup(ctx, "Example.TEST"); err != nil || p == nil {
		t.Fatalf("%+v %v", p, err)
	}

	fc2, err := OpenFileCache(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := fc2.Domains(); len(d) != 1 || d[0] != "example.test" {
		t.Fatalf("domains after reopening: %v", d)
	}
	// The record now fails: the saved policy is used.
	res.Set(dnstest.Zone{"_mta-sts.example.test": {ServFail: true}})
	r2 := &Resolver{DNS: res, Fetcher: f, Cache: fc2, Now: clock}
	p, err := r2.Lookup(ctx, "example.test")
	if err != nil || p == nil || p.Mode != ModeEnforce || !p.MatchMX("mail.example.com") {
		t.Fatalf("after restart: %+v %v", p, err)
	}
	if hits.Load() != 1 {
		t.Errorf("%d fetches, want 1", hits.Load())
	}

	// Refresh: only policies older than the age are fetched again, and
	// the fetch time moves on.
	res.Set(dnstest.Zone{"_mta-sts.example.test": {TXT: []string{"v=STSv1; id=1"}}})
	if got := r2.Refresh(ctx, fc2.Domains(), 24*time.Hour); len(got) != 0 {
		t.Errorf("fresh policy refreshed: %v", got)
	}
	now = now.Add(25 * time.Hour)
	if got := r2.Refresh(ctx, fc2.Domains(), 24*time.Hour); len(got) != 1 {
		t.Errorf("stale policy not refreshed: %v", got)
	}
	if c, _ := fc2.Get(ctx, "example.test"); !c.Fetched.Equal(now) || hits.Load() != 2 {
		t.Errorf("fetched %v, hits %d", c.Fetched, hits.Load())
	}
}
