package httpserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/admin"
	"github.com/posthorn/posthorn/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var mailHost = addr.MustParseDomain("mail.example.net")

// newTestStore opens a store with the local domains example.com and
// bücher.example.
func newTestStore(t *testing.T) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, d := range []string{"example.com", "bücher.example"} {
		if err := st.AddDomain(context.Background(), store.Domain{Name: addr.MustParseDomain(d), SubaddressSep: "+"}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func newTestHandler(t *testing.T, mod func(*Options)) (http.Handler, Options) {
	t.Helper()
	o := Options{Store: newTestStore(t), Hostname: mailHost, MTASTSMode: "enforce", MTASTSMaxAge: 7 * 24 * time.Hour}
	if mod != nil {
		mod(&o)
	}
	return New(o), o
}

// req describes one test request.
type req struct {
	method, target, host string
	remote               string // default 198.51.100.7:40000
	tls                  bool
	header               http.Header
	body                 string
}

func do(h http.Handler, q req) *httptest.ResponseRecorder {
	if q.method == "" {
		q.method = http.MethodGet
	}
	r := httptest.NewRequest(q.method, q.target, strings.NewReader(q.body))
	r.Host = q.host
	r.RemoteAddr = q.remote
	if r.RemoteAddr == "" {
		r.RemoteAddr = "198.51.100.7:40000"
	}
	if q.tls {
		r.TLS = &tls.ConnectionState{ServerName: q.host}
	} else {
		r.TLS = nil
	}
	for k, v := range q.header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n got %s\nwant %s", name, got, want)
	}
}

func TestHealthz(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	for _, secure := range []bool{false, true} {
		w := do(h, req{target: "/healthz", host: "mail.example.net", tls: secure})
		if w.Code != 200 || w.Body.String() != "ok\n" {
			t.Errorf("tls=%v: %d %q", secure, w.Code, w.Body)
		}
	}
}

func TestMTASTSPolicy(t *testing.T) {
	for _, tc := range []struct {
		mode   string
		maxAge time.Duration
	}{{"enforce", 7 * 24 * time.Hour}, {"testing", 24 * time.Hour}, {"none", time.Hour}} {
		t.Run(tc.mode, func(t *testing.T) {
			h, o := newTestHandler(t, func(o *Options) { o.MTASTSMode, o.MTASTSMaxAge = tc.mode, tc.maxAge })
			want := admin.MTASTSPolicy(tc.mode, mailHost, tc.maxAge)
			w := do(h, req{target: "/.well-known/mta-sts.txt", host: "MTA-STS.Example.COM:443", tls: true})
			if w.Code != 200 || w.Body.String() != want {
				t.Fatalf("got %d %q, want %q", w.Code, w.Body, want)
			}
			if ct := w.Header().Get("Content-Type"); ct != "text/plain" {
				t.Errorf("Content-Type %q", ct)
			}
			if !strings.Contains(want, "mode: "+tc.mode+"\r\n") || !strings.Contains(want, "mx: mail.example.net\r\n") {
				t.Errorf("policy %q", want)
			}
			// The id "posthorn domain records" publishes is that of the served text.
			a := &admin.Admin{Store: o.Store, Hostname: mailHost, MTASTSMode: tc.mode, MTASTSMaxAge: tc.maxAge}
			recs, err := a.DomainRecords(context.Background(), admin.DomainRequest{Domain: "example.com"})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, r := range recs {
				if r.Name == "_mta-sts.example.com." {
					found = true
					if r.Value != `"v=STSv1; id=`+admin.MTASTSID(w.Body.String())+`"` {
						t.Errorf("published %s does not match the served policy's id %s", r.Value, admin.MTASTSID(w.Body.String()))
					}
				}
			}
			if !found {
				t.Error("no _mta-sts record")
			}
		})
	}
}

func TestMTASTSRouting(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	for _, tc := range []struct {
		name     string
		q        req
		code     int
		location string
	}{
		{"IDN domain", req{target: "/.well-known/mta-sts.txt", host: "mta-sts.xn--bcher-kva.example", tls: true}, 200, ""},
		{"trailing dot", req{target: "/.well-known/mta-sts.txt", host: "mta-sts.example.com.", tls: true}, 200, ""},
		{"unknown domain", req{target: "/.well-known/mta-sts.txt", host: "mta-sts.example.org", tls: true}, 404, ""},
		{"not mta-sts host", req{target: "/.well-known/mta-sts.txt", host: "example.com", tls: true}, 404, ""},
		{"bad host", req{target: "/.well-known/mta-sts.txt", host: "mta-sts.exa mple", tls: true}, 404, ""},
		{"plain HTTP redirects", req{target: "/.well-known/mta-sts.txt", host: "mta-sts.example.com"}, 308, "https://mta-sts.example.com/.well-known/mta-sts.txt"},
		{"plain HTTP bad host", req{target: "/.well-known/mta-sts.txt", host: "mta-sts.<x>"}, 403, ""},
		{"POST", req{method: "POST", target: "/.well-known/mta-sts.txt", host: "mta-sts.example.com", tls: true}, 405, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := do(h, tc.q)
			if w.Code != tc.code || w.Header().Get("Location") != tc.location {
				t.Errorf("got %d Location %q, want %d %q", w.Code, w.Header().Get("Location"), tc.code, tc.location)
			}
		})
	}
}

func TestForwardedHeaders(t *testing.T) {
	proxy := netip.MustParsePrefix("127.0.0.1/32")
	h, _ := newTestHandler(t, func(o *Options) {
		o.TrustedProxies = []netip.Prefix{proxy}
		o.Metrics = NewMetrics(MetricsOptions{})
	})
	fwd := http.Header{
		"X-Forwarded-Proto": {"https"},
		"X-Forwarded-Host":  {"mta-sts.example.com"},
		"X-Forwarded-For":   {"203.0.113.9"},
	}
	// From the trusted proxy: served as HTTPS for the forwarded host.
	w := do(h, req{target: "/.well-known/mta-sts.txt", host: "127.0.0.1:8080", remote: "127.0.0.1:5555", header: fwd})
	if w.Code != 200 {
		t.Errorf("trusted proxy: %d %q", w.Code, w.Body)
	}
	// The same headers from elsewhere are ignored: plain HTTP, redirected.
	w = do(h, req{target: "/.well-known/mta-sts.txt", host: "mta-sts.example.com", remote: "198.51.100.1:5555", header: fwd})
	if w.Code != 308 {
		t.Errorf("untrusted forwarder: %d", w.Code)
	}
	// The forwarded client address decides metrics access: a remote client
	// behind the loopback proxy is refused, a loopback one (or one a
	// further trusted proxy reports) allowed.
	for _, tc := range []struct {
		xff  string
		code int
	}{{"203.0.113.9", 403}, {"127.0.0.1", 200}, {"203.0.113.9, 127.0.0.1", 403}, {"garbage", 403}} {
		w = do(h, req{target: "/metrics", host: "localhost", remote: "127.0.0.1:5555", header: http.Header{"X-Forwarded-For": {tc.xff}}})
		if w.Code != tc.code {
			t.Errorf("X-Forwarded-For %q: %d, want %d", tc.xff, w.Code, tc.code)
		}
	}
}

func TestRedirectKeepsQuery(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	w := do(h, req{target: "/mail/config-v1.1.xml?emailaddress=a%40example.com", host: "autoconfig.example.com"})
	if w.Code != 308 || w.Header().Get("Location") != "https://autoconfig.example.com/mail/config-v1.1.xml?emailaddress=a%40example.com" {
		t.Errorf("%d %q", w.Code, w.Header().Get("Location"))
	}
	w = do(h, req{method: "POST", target: "/autodiscover/autodiscover.xml", host: "autodiscover.example.com", body: "<x/>"})
	if w.Code != 403 {
		t.Errorf("plain POST: %d", w.Code)
	}
}
