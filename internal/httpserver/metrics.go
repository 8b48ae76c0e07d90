package httpserver

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/posthorn/posthorn/internal/guard"
	"github.com/posthorn/posthorn/internal/imapserver"
	"github.com/posthorn/posthorn/internal/smtpserver"
	"github.com/posthorn/posthorn/internal/store"
)

// QueueSource lists the outbound queue; store.Store implements it.
type QueueSource interface {
	QueueEntries(ctx context.Context) ([]store.QueueEntry, error)
}

// CertStatus reports the certificates being served (the TLS manager).
type CertStatus interface {
	Certificates() []CertInfo
}

// CertInfo is one certificate: the names it covers and when it expires.
type CertInfo struct {
	Names    []string
	NotAfter time.Time
}

// GuardStats reports the connection and login guard; *guard.Guard
// implements it.
type GuardStats interface {
	Stats() guard.Stats
}

// MetricsOptions are the sources read at each scrape; nil ones are left
// out.
type MetricsOptions struct {
	Queue QueueSource
	Certs CertStatus
	Guard GuardStats
	Now   func() time.Time // nil: time.Now
}

// Metrics is posthorn's Prometheus registry, private to it (the global
// one is not used): event counters fed by the servers through their
// Observer interfaces, gauges read from MetricsOptions at each scrape, and
// the Go runtime and process collectors.
type Metrics struct {
	reg       *prometheus.Registry
	conns     *prometheus.CounterVec
	accepted  *prometheus.CounterVec
	rejected  *prometheus.CounterVec
	delivered *prometheus.CounterVec
	authFails *prometheus.CounterVec
}

var (
	_ smtpserver.Observer = (*Metrics)(nil)
	_ imapserver.Observer = (*Metrics)(nil)
)

// NewMetrics returns a registry with every posthorn metric.
func NewMetrics(o MetricsOptions) *Metrics {
	if o.Now == nil {
		o.Now = time.Now
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "posthorn", Name: name, Help: help}, labels)
	}
	m := &Metrics{
		reg:       prometheus.NewRegistry(),
		conns:     counter("connections_total", "Connections accepted, by service (smtp, submission, submissions, lmtp, imap, imaps).", "service"),
		accepted:  counter("messages_accepted_total", "Messages accepted (250 after the data), by service.", "service"),
		rejected:  counter("messages_rejected_total", "Connections, senders, recipients and messages refused, by service and reason.", "service", "reason"),
		delivered: counter("messages_delivered_total", "Recipients delivered: local (to a mailbox) or remote (by the queue).", "via"),
		authFails: counter("auth_failures_total", "Failed logins, by service.", "service"),
	}
	m.reg.MustRegister(m.conns, m.accepted, m.rejected, m.delivered, m.authFails,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&gauges{o: o})
	return m
}

// Connection counts a connection (smtpserver and imapserver Observer).
func (m *Metrics) Connection(service string) { m.conns.WithLabelValues(service).Inc() }

// AuthFailed counts a failed login.
func (m *Metrics) AuthFailed(service string) { m.authFails.WithLabelValues(service).Inc() }

// MessageAccepted counts an accepted message and its local deliveries.
func (m *Metrics) MessageAccepted(service string, delivered int) {
	m.accepted.WithLabelValues(service).Inc()
	m.Delivered("local", delivered)
}

// MessageRejected counts a refusal.
func (m *Metrics) MessageRejected(service, reason string) {
	m.rejected.WithLabelValues(service, reason).Inc()
}

// Delivered counts n recipients delivered via "local" or "remote" (the
// outbound queue reports the latter).
func (m *Metrics) Delivered(via string, n int) {
	if n > 0 {
		m.delivered.WithLabelValues(via).Add(float64(n))
	}
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// gauges reads the queue, certificates and guard at each scrape.
type gauges struct {
	o MetricsOptions
}

var (
	descQueueSize  = prometheus.NewDesc("posthorn_queue_entries", "Entries (message, destination domain) in the outbound queue.", nil, nil)
	descQueueAge   = prometheus.NewDesc("posthorn_queue_oldest_age_seconds", "Age of the oldest queue entry; 0 when the queue is empty.", nil, nil)
	descQueueErr   = prometheus.NewDesc("posthorn_queue_scrape_error", "1 if the queue could not be read for this scrape.", nil, nil)
	descCertExpiry = prometheus.NewDesc("posthorn_certificate_expiry_seconds", "Seconds until the certificate serving this name expires (negative: expired).", []string{"name"}, nil)
	descGuardConns = prometheus.NewDesc("posthorn_guard_open_connections", "Open SMTP and IMAP connections counted by the guard.", nil, nil)
	descGuardIPs   = prometheus.NewDesc("posthorn_guard_blocked_addresses", "Addresses (IPv6: prefixes) blocked after failed logins.", nil, nil)
	descGuardAccts = prometheus.NewDesc("posthorn_guard_protected_accounts", "Accounts refusing logins from new addresses after password spraying.", nil, nil)
	gaugeDescs     = []*prometheus.Desc{descQueueSize, descQueueAge, descQueueErr, descCertExpiry, descGuardConns, descGuardIPs, descGuardAccts}
)

func (g *gauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range gaugeDescs {
		ch <- d
	}
}

func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	now := g.o.Now()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if g.o.Queue != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		entries, err := g.o.Queue.QueueEntries(ctx)
		cancel()
		if err != nil {
			gauge(descQueueErr, 1)
		} else {
			gauge(descQueueErr, 0)
			var oldest time.Time
			for _, e := range entries {
				if oldest.IsZero() || e.Created.Before(oldest) {
					oldest = e.Created
				}
			}
			age := 0.0
			if !oldest.IsZero() {
				age = now.Sub(oldest).Seconds()
			}
			gauge(descQueueSize, float64(len(entries)))
			gauge(descQueueAge, age)
		}
	}
	if g.o.Certs != nil {
		seen := map[string]bool{}
		for _, c := range g.o.Certs.Certificates() {
			for _, n := range c.Names {
				if !seen[n] {
					seen[n] = true
					gauge(descCertExpiry, c.NotAfter.Sub(now).Seconds(), n)
				}
			}
		}
	}
	if g.o.Guard != nil {
		s := g.o.Guard.Stats()
		gauge(descGuardConns, float64(s.Connections))
		gauge(descGuardIPs, float64(s.BlockedIPs))
		gauge(descGuardAccts, float64(s.ProtectedAccounts))
	}
}

// metrics serves /metrics to loopback and MetricsNetworks, 403 otherwise.
// A request that reached a loopback listener through a proxy that is not
// in trusted_proxies (it carries forwarding headers) is refused too: the
// real client is unknown.
func (h *handler) metrics(w http.ResponseWriter, r *http.Request) {
	if h.opt.Metrics == nil {
		http.NotFound(w, r)
		return
	}
	c := clientOf(r)
	proxied := !c.viaTrustedProxy && (r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "")
	allowed := c.ip.IsLoopback() || inPrefixes(c.ip, h.opt.MetricsNetworks)
	if !allowed || proxied {
		http.Error(w, "metrics are not served to this address", http.StatusForbidden)
		return
	}
	h.opt.Metrics.Handler().ServeHTTP(w, r)
}
