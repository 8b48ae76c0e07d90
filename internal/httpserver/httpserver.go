// Package httpserver is posthorn's web face. For now it serves /healthz;
// the certificates issue adds MTA-STS policies, client autoconfiguration
// and metrics, and later issues the admin interface.
package httpserver

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/posthorn/posthorn/internal/store"
)

// Options are the dependencies of the handler.
type Options struct {
	Store  store.Store
	Logger *slog.Logger // nil: discard
}

// New returns the HTTP handler.
func New(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", o.healthz)
	return mux
}

// healthz answers 200 "ok" when the store answers a query within 5 seconds,
// 503 with the reason otherwise.
func (o Options) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if _, err := o.Store.Domains(ctx); err != nil {
		o.Logger.Error("health check failed", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "store unavailable")
		return
	}
	fmt.Fprintln(w, "ok")
}
