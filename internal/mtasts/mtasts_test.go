package mtasts

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

func TestParseRecord(t *testing.T) {
	tests := []struct {
		in, id string
	}{
		{"v=STSv1; id=20160831085700Z;", "20160831085700Z"},
		{"v=STSv1;id=abc", "abc"},
		{"v=STSv1; id=abc; ext=1", "abc"},
		{"v=STSv1 ; id=abc", "abc"},
		{"id=abc; v=STSv1", ""},
		{"v=STSv1;", ""},
		{"v=STSv1; id=", ""},
		{"v=STSv1; id=a-b", ""},
		{"v=STSv1; id=" + strings.Repeat("a", 33), ""},
		{"v=STSv1; id=a; id=b", ""},
		{"v=STSv2; id=a", ""},
		{"", ""},
	}
	for _, tt := range tests {
		r, err := ParseRecord(tt.in)
		switch {
		case tt.id == "" && err == nil:
			t.Errorf("%q: accepted: %+v", tt.in, r)
		case tt.id != "" && (err != nil || r.ID != tt.id):
			t.Errorf("%q: %+v, %v", tt.in, r, err)
		case err != nil && !errors.Is(err, ErrSyntax):
			t.Errorf("%q: %v not ErrSyntax", tt.in, err)
		}
	}
}

const goodPolicy = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n"

func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy([]byte(goodPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != ModeEnforce || p.MaxAge != 604800*time.Second || len(p.MX) != 3 || p.MX[1] != "*.example.net" {
		t.Errorf("%+v", p)
	}
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"LF line ends", "version: STSv1\nmode: testing\nmx: a.example\nmax_age: 1\n", true},
		{"no trailing newline", "version: STSv1\nmode: testing\nmx: a.example\nmax_age: 1", true},
		{"none without mx", "version: STSv1\nmode: none\nmax_age: 86400\n", true},
		{"extension", "version: STSv1\nmode: none\nmax_age: 1\nfoo: bar\n", true},
		{"max_age capped", "version: STSv1\nmode: none\nmax_age: 9999999999\n", true},
		{"no version", "mode: testing\nmx: a.example\nmax_age: 1\n", false},
		{"bad version", "version: STSv2\nmode: testing\nmx: a.example\nmax_age: 1\n", false},
		{"bad mode", "version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n", false},
		{"two modes", "version: STSv1\nmode: testing\nmode: enforce\nmx: a.example\nmax_age: 1\n", false},
		{"no mx in enforce", "version: STSv1\nmode: enforce\nmax_age: 1\n", false},
		{"no max_age", "version: STSv1\nmode: testing\nmx: a.example\n", false},
		{"negative max_age", "version: STSv1\nmode: testing\nmx: a.example\nmax_age: -1\n", false},
		{"long max_age", "version: STSv1\nmode: testing\nmx: a.example\nmax_age: 12345678901\n", false},
		{"bad mx", "version: STSv1\nmode: testing\nmx: a..example\nmax_age: 1\n", false},
		{"wildcard in middle", "version: STSv1\nmode: testing\nmx: a.*.example\nmax_age: 1\n", false},
		{"garbage line", "version: STSv1\nmode: testing\nmx: a.example\nmax_age: 1\nhello\n", false},
	}
	for _, tt := range tests {
		p, err := ParsePolicy([]byte(tt.in))
		if (err == nil) != tt.ok {
			t.Errorf("%s: %+v, %v", tt.name, p, err)
		}
	}
	p, _ = ParsePolicy([]byte("version: STSv1\nmode: none\nmax_age: 9999999999\n"))
	if p.MaxAge != MaxMaxAge {
		t.Errorf("max_age %v not capped", p.MaxAge)
	}
}

func TestMatchMX(t *testing.T) {
	p, _ := ParsePolicy([]byte(goodPolicy))
	for host, want := range map[string]bool{
		"mail.example.com":      true,
		"MAIL.Example.COM.":     true,
		"backupmx.example.com":  true,
		"mx1.example.net":       true,
		"example.net":           false,
		"a.b.example.net":       false,
		"mail.example.com.evil": false,
		"other.example.com":     false,
	} {
		if got := p.MatchMX(host); got != want {
			t.Errorf("MatchMX(%q) = %v", host, got)
		}
	}
}

func TestCheck(t *testing.T) {
	p, _ := ParsePolicy([]byte(goodPolicy))
	if err := p.Check("mail.example.com", true); err != nil {
		t.Error(err)
	}
	var ce *CheckError
	if err := p.Check("mail.example.com", false); !errors.As(err, &ce) || ce.Type != "certificate-host-mismatch" {
		t.Errorf("unverified: %v", err)
	}
	if err := p.Check("evil.example.org", true); !errors.As(err, &ce) || ce.Type != "validation-failure" {
		t.Errorf("unlisted: %v", err)
	}
	if !p.Enforced() {
		t.Error("not enforced")
	}
	none := &Policy{Mode: ModeNone}
	if none.Check("x", false) != nil || none.Enforced() {
		t.Error("mode none checks")
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(goodPolicy))
	f.Add([]byte("version: STSv1\nmode: none\nmax_age: 1\n"))
	f.Add([]byte("version: STSv1\nmode: testing\nmx: *.a.example\nmax_age: 99999999999\nx:y\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePolicy(b)
		if err != nil {
			return
		}
		if p.MaxAge < 0 || p.MaxAge > MaxMaxAge || p.Mode == "" {
			t.Fatalf("bad policy %+v", p)
		}
		for _, mx := range p.MX {
			p.MatchMX(mx)
		}
	})
}

func FuzzParseRecord(f *testing.F) {
	f.Add("v=STSv1; id=20160831085700Z;")
	f.Add("v=STSv1;id=a;x=y;;")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecord(s)
		if err == nil && !validID(r.ID) {
			t.Fatalf("bad id %q", r.ID)
		}
	})
}

// policyServer serves body on an httptest TLS server; the returned
// Fetcher's client trusts it and dials it for any host.
func policyServer(t *testing.T, h http.HandlerFunc) (*Fetcher, *atomic.Int32) {
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Host != "mta-sts.example.test" || r.URL.Path != "/.well-known/mta-sts.txt" {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	c := srv.Client()
	tr := c.Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	// httptest's certificate is for example.com; accept it for our name.
	tr.TLSClientConfig.ServerName = "example.com"
	return &Fetcher{Client: &http.Client{Transport: tr}}, &hits
}

func TestFetch(t *testing.T) {
	body := goodPolicy
	f, _ := policyServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(body))
	})
	p, err := f.Fetch(context.Background(), "example.test.")
	if err != nil || p.Mode != ModeEnforce {
		t.Fatalf("%+v %v", p, err)
	}
	body = strings.Repeat("x", MaxPolicySize+1)
	if _, err := f.Fetch(context.Background(), "example.test"); !errors.Is(err, ErrFetch) {
		t.Errorf("oversized: %v", err)
	}
}

func TestFetchRefusals(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://mta-sts.example.test/.well-known/mta-sts.txt?x", http.StatusFound)
		},
		"404": func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
		"html": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(goodPolicy))
		},
	} {
		f, _ := policyServer(t, h)
		if _, err := f.Fetch(context.Background(), "example.test"); !errors.Is(err, ErrFetch) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Untrusted certificate.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(goodPolicy)) }))
	defer srv.Close()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}}
	f := &Fetcher{Client: &http.Client{Transport: tr}}
	if _, err := f.Fetch(context.Background(), "example.test"); !errors.Is(err, ErrFetch) {
		t.Errorf("untrusted: %v", err)
	}
}

func TestResolverCache(t *testing.T) {
	f, hits := policyServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(goodPolicy)) })
	z := dnstest.Zone{"_mta-sts.example.test": {TXT: []string{"v=STSv1; id=1"}}}
	res := dnstest.NewResolver(z)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &Resolver{DNS: res, Fetcher: f, Cache: &MemoryCache{}, Now: func() time.Time { return now }}
	ctx := context.Background()
	for range 2 {
		if p, err := r.Lookup(ctx, "example.test"); err != nil || p == nil || p.Mode != ModeEnforce {
			t.Fatalf("%+v %v", p, err)
		}
	}
	if hits.Load() != 1 {
		t.Errorf("%d fetches, want 1 (cached)", hits.Load())
	}
	// New id: refetch.
	res.Set(dnstest.Zone{"_mta-sts.example.test": {TXT: []string{"v=STSv1; id=2"}}})
	r.Lookup(ctx, "example.test")
	if hits.Load() != 2 {
		t.Errorf("%d fetches after id change", hits.Load())
	}
	// Record gone: cached policy kept until max_age.
	res.Set(dnstest.Zone{})
	if p, _ := r.Lookup(ctx, "example.test"); p == nil {
		t.Error("cached policy dropped when the record vanished")
	}
	now = now.Add(8 * 24 * time.Hour)
	if p, err := r.Lookup(ctx, "example.test"); p != nil || err != nil {
		t.Errorf("expired policy: %+v %v", p, err)
	}
	// DNS failure without cache: error.
	res.Set(dnstest.Zone{"_mta-sts.example.test": {ServFail: true}})
	if _, err := r.Lookup(ctx, "example.test"); !errors.Is(err, dns.ErrTemporary) {
		t.Errorf("servfail: %v", err)
	}
}

func TestLookupRecord(t *testing.T) {
	res := dnstest.NewResolver(dnstest.Zone{
		"_mta-sts.a.test": {TXT: []string{"other", "v=STSv1; id=x"}},
		"_mta-sts.b.test": {TXT: []string{"v=STSv1; id=x", "v=STSv1; id=y"}},
	})
	if r, err := LookupRecord(context.Background(), res, "a.test"); err != nil || r.ID != "x" {
		t.Errorf("a: %+v %v", r, err)
	}
	if _, err := LookupRecord(context.Background(), res, "b.test"); !errors.Is(err, ErrSyntax) {
		t.Errorf("b: %v", err)
	}
	if _, err := LookupRecord(context.Background(), res, "c.test"); !errors.Is(err, ErrNoRecord) {
		t.Errorf("c: %v", err)
	}
}
