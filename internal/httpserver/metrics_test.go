package httpserver

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posthorn/posthorn/internal/guard"
	"github.com/posthorn/posthorn/internal/smtpserver"
	"github.com/posthorn/posthorn/internal/store"
)

type fakeQueue struct {
	entries []store.QueueEntry
	err     error
}

func (q fakeQueue) QueueEntries(context.Context) ([]store.QueueEntry, error) { return q.entries, q.err }

type fakeCerts []CertInfo

func (c fakeCerts) Certificates() []CertInfo { return c }

type fakeGuard guard.Stats

func (g fakeGuard) Stats() guard.Stats { return guard.Stats(g) }

func TestMetrics(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	m := NewMetrics(MetricsOptions{
		Queue: fakeQueue{entries: []store.QueueEntry{{Created: now.Add(-90 * time.Second)}, {Created: now.Add(-30 * time.Second)}}},
		Certs: fakeCerts{{Names: []string{"mail.example.net", "mta-sts.example.com"}, NotAfter: now.Add(48 * time.Hour)}},
		Guard: fakeGuard{Connections: 3, BlockedIPs: 1},
		Now:   func() time.Time { return now },
	})
	// Simulated events, as the servers report them.
	m.Connection("smtp")
	m.Connection("smtp")
	m.Connection("imaps")
	m.MessageAccepted("smtp", 2)
	m.MessageRejected("smtp", smtpserver.ReasonRecipient)
	m.MessageRejected("submission", smtpserver.ReasonPolicy)
	m.AuthFailed("imap")
	m.AuthFailed("submission")
	m.AuthFailed("submission")
	m.Delivered("remote", 1)

	h, _ := newTestHandler(t, func(o *Options) { o.Metrics = m })
	w := do(h, req{target: "/metrics", host: "localhost", remote: "127.0.0.1:9999"})
	if w.Code != 200 {
		t.Fatalf("%d %q", w.Code, w.Body)
	}
	body := w.Body.String()
	for _, want := range []string{
		`posthorn_connections_total{service="smtp"} 2`,
		`posthorn_connections_total{service="imaps"} 1`,
		`posthorn_messages_accepted_total{service="smtp"} 1`,
		`posthorn_messages_rejected_total{reason="recipient",service="smtp"} 1`,
		`posthorn_messages_rejected_total{reason="policy",service="submission"} 1`,
		`posthorn_messages_delivered_total{via="local"} 2`,
		`posthorn_messages_delivered_total{via="remote"} 1`,
		`posthorn_auth_failures_total{service="imap"} 1`,
		`posthorn_auth_failures_total{service="submission"} 2`,
		"posthorn_queue_entries 2\n",
		"posthorn_queue_oldest_age_seconds 90\n",
		`posthorn_certificate_expiry_seconds{name="mail.example.net"} 172800`,
		`posthorn_certificate_expiry_seconds{name="mta-sts.example.com"} 172800`,
		"posthorn_guard_open_connections 3\n",
		"posthorn_guard_blocked_addresses 1\n",
		"go_goroutines ",
		"process_", // process collector (Linux)
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q", want)
		}
	}
	if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		t.Errorf("Content-Type %q", w.Header().Get("Content-Type"))
	}

	// A failing queue is reported, not fatal.
	m2 := NewMetrics(MetricsOptions{Queue: fakeQueue{err: errors.New("down")}})
	h2, _ := newTestHandler(t, func(o *Options) { o.Metrics = m2 })
	if w := do(h2, req{target: "/metrics", host: "localhost", remote: "[::1]:9999"}); w.Code != 200 || !strings.Contains(w.Body.String(), "posthorn_queue_scrape_error 1") {
		t.Errorf("queue error: %d %q", w.Code, w.Body)
	}
}

func TestMetricsAccess(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) {
		o.Metrics = NewMetrics(MetricsOptions{})
		o.MetricsNetworks = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	for _, tc := range []struct {
		remote string
		header http.Header
		code   int
	}{
		{"127.0.0.1:1", nil, 200},
		{"[::1]:1", nil, 200},
		{"[::ffff:127.0.0.1]:1", nil, 200},
		{"10.1.2.3:1", nil, 200},
		{"192.0.2.1:1", nil, 403},
		{"[2001:db8::1]:1", nil, 403},
		// Through a proxy not in trusted_proxies: the client is unknown.
		{"127.0.0.1:1", http.Header{"X-Forwarded-For": {"127.0.0.1"}}, 403},
		{"127.0.0.1:1", http.Header{"Forwarded": {"for=192.0.2.1"}}, 403},
	} {
		if w := do(h, req{target: "/metrics", host: "localhost", remote: tc.remote, header: tc.header}); w.Code != tc.code {
			t.Errorf("%s %v: %d, want %d", tc.remote, tc.header, w.Code, tc.code)
		}
	}
	// No registry: no endpoint.
	h, _ = newTestHandler(t, nil)
	if w := do(h, req{target: "/metrics", host: "localhost", remote: "127.0.0.1:1"}); w.Code != 404 {
		t.Errorf("without metrics: %d", w.Code)
	}
}

// The private registry is not the global one: nothing of posthorn's leaks
// into prometheus.DefaultGatherer, and two registries do not collide.
func TestMetricsPrivateRegistry(t *testing.T) {
	a, b := NewMetrics(MetricsOptions{}), NewMetrics(MetricsOptions{})
	a.Connection("smtp")
	b.Connection("imap")
	if _, err := a.reg.Gather(); err != nil {
		t.Fatal(err)
	}
	global, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range global {
		if strings.HasPrefix(f.GetName(), "posthorn_") {
			t.Errorf("%s is in the global registry", f.GetName())
		}
	}
}
