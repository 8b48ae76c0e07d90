// Package httpserver is posthorn's web face: the MTA-STS policy of every
// local domain (RFC 8461), client autoconfiguration (Thunderbird
// autoconfig, Outlook Autodiscover, an Apple configuration profile),
// Prometheus metrics and /healthz. Later issues add the admin interface.
//
// One handler serves both the HTTP and the HTTPS listeners. Requests are
// routed by path and by host name: mta-sts.DOMAIN serves only the policy,
// autoconfig.DOMAIN and DOMAIN the Thunderbird file, and so on. Everything
// but /healthz and /metrics is served only over HTTPS (directly, or through
// a trusted reverse proxy that says X-Forwarded-Proto: https); plain HTTP
// requests for them are redirected. docs/http.md describes the setup.
package httpserver

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

// Options are the dependencies of the handler.
type Options struct {
	Store store.Store
	// Hostname is the mail host: the MTA-STS mx and the server name in
	// client configurations.
	Hostname addr.Domain
	// MTASTSMode and MTASTSMaxAge shape the policy (admin.MTASTSPolicy);
	// give admin.Admin the same values so the published id matches.
	MTASTSMode   string
	MTASTSMaxAge time.Duration
	// Metrics is served at /metrics; nil: 404.
	Metrics *Metrics
	// MetricsNetworks may read /metrics besides loopback addresses.
	MetricsNetworks []netip.Prefix
	// TrustedProxies are the reverse proxies whose X-Forwarded-For,
	// X-Forwarded-Proto and X-Forwarded-Host headers are believed.
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger // nil: discard
}

// maxBody bounds request bodies (Autodiscover requests are under 1 KiB).
const maxBody = 16 << 10

// New returns the HTTP handler, for both the HTTP and HTTPS listeners.
func New(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{opt: o}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /metrics", h.metrics)
	mux.HandleFunc("GET /.well-known/mta-sts.txt", h.secure(h.mtaSTS))
	mux.HandleFunc("GET /mail/config-v1.1.xml", h.secure(h.autoconfig))
	mux.HandleFunc("GET /.well-known/autoconfig/mail/config-v1.1.xml", h.secure(h.autoconfig))
	mux.HandleFunc("/autodiscover/autodiscover.xml", h.secure(h.autodiscover))
	mux.HandleFunc("/Autodiscover/Autodiscover.xml", h.secure(h.autodiscover))
	mux.HandleFunc("GET /apple/posthorn.mobileconfig", h.secure(h.mobileconfig))
	return h.withClient(mux)
}

type handler struct {
	opt Options
}

// healthz answers 200 "ok" when the store answers a query within 5 seconds,
// 503 with the reason otherwise.
func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if _, err := h.opt.Store.Domains(ctx); err != nil {
		h.opt.Logger.Error("health check failed", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "store unavailable")
		return
	}
	fmt.Fprintln(w, "ok")
}

// secure serves f only over HTTPS; plain HTTP GET and HEAD requests are
// redirected to the same URL over HTTPS, others refused.
func (h *handler) secure(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := clientOf(r)
		if c.secure {
			f(w, r)
			return
		}
		host, err := addr.ParseDomain(c.host)
		if err != nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			http.Error(w, "use HTTPS", http.StatusForbidden)
			return
		}
		http.Redirect(w, r, "https://"+host.ASCII+r.URL.RequestURI(), http.StatusPermanentRedirect)
	}
}
