package main

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/config"
	"github.com/posthorn/posthorn/internal/guard"
	"github.com/posthorn/posthorn/internal/httpserver"
	"github.com/posthorn/posthorn/internal/store"
	"github.com/posthorn/posthorn/internal/tlsmgr"
)

// httpParams are what startHTTP needs besides the listeners.
type httpParams struct {
	cfg     config.Config
	host    addr.Domain
	st      store.Store
	log     *slog.Logger
	metrics *httpserver.Metrics
	// tlsConfig serves the HTTPS listeners (the TLS manager's); nil: none.
	tlsConfig *tls.Config
	// challenge, if set, wraps the plain HTTP handler (ACME HTTP-01).
	challenge func(http.Handler) http.Handler
}

// certStatus adapts the TLS manager to httpserver.CertStatus for the
// certificate expiry metric: newMetrics(st, g, certStatus{mgr}).
type certStatus struct{ m *tlsmgr.Manager }

func (c certStatus) Certificates() []httpserver.CertInfo {
	if c.m == nil {
		return nil
	}
	var out []httpserver.CertInfo
	for _, s := range c.m.Status().Certificates {
		if !s.NotAfter.IsZero() {
			out = append(out, httpserver.CertInfo{Names: s.Names, NotAfter: s.NotAfter})
		}
	}
	return out
}

// newMetrics builds the private metrics registry fed by the servers.
func newMetrics(st store.Store, g *guard.Guard, certs httpserver.CertStatus) *httpserver.Metrics {
	return httpserver.NewMetrics(httpserver.MetricsOptions{Queue: st, Guard: g, Certs: certs})
}

// startHTTP serves the web face on the HTTP and HTTPS listeners and
// returns their addresses by service name.
func startHTTP(p httpParams, plain, secure []net.Listener, run *running, errc chan<- error) (map[string][]string, error) {
	tlsConfig := p.tlsConfig
	if tlsConfig == nil && len(secure) > 0 {
		return nil, errors.New("listen.https needs tls.cert_file and tls.key_file, or acme.enabled")
	}
	h := httpserver.New(httpserver.Options{
		Store:           p.st,
		Hostname:        p.host,
		MTASTSMode:      p.cfg.MTASTS.Mode,
		MTASTSMaxAge:    p.cfg.MTASTS.MaxAge,
		Metrics:         p.metrics,
		MetricsNetworks: prefixes(p.cfg.HTTP.MetricsNetworks),
		TrustedProxies:  prefixes(p.cfg.HTTP.TrustedProxies),
		Logger:          p.log.With("svc", "http"),
	})
	newServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      time.Minute,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelWarn),
		}
	}
	plainHandler := h
	if p.challenge != nil {
		plainHandler = p.challenge(h)
	}
	web := newServer(plainHandler)
	for _, l := range plain {
		go func() { errc <- web.Serve(l) }()
	}
	run.add("http", web.Shutdown)
	listening := map[string][]string{"http": addrs(plain)}
	if len(secure) > 0 {
		webTLS := newServer(h)
		webTLS.TLSConfig = tlsConfig.Clone()
		webTLS.TLSConfig.MinVersion = max(webTLS.TLSConfig.MinVersion, tls.VersionTLS12)
		for _, l := range secure {
			go func() { errc <- webTLS.ServeTLS(l, "", "") }()
		}
		run.add("https", webTLS.Shutdown)
		listening["https"] = addrs(secure)
	}
	return listening, nil
}
