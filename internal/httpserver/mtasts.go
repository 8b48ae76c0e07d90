package httpserver

import (
	"errors"
	"net/http"
	"strings"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/admin"
	"github.com/posthorn/posthorn/internal/store"
)

// mtaSTS serves the policy of DOMAIN at
// https://mta-sts.DOMAIN/.well-known/mta-sts.txt (RFC 8461 §3.3): the
// text of admin.MTASTSPolicy, so it always matches the id that
// "posthorn domain records" publishes. Other hosts get 404.
func (h *handler) mtaSTS(w http.ResponseWriter, r *http.Request) {
	c := clientOf(r)
	name, ok := strings.CutPrefix(c.host, "mta-sts.")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if _, ok := h.domain(w, r, name); !ok {
		return
	}
	policy := admin.MTASTSPolicy(h.opt.MTASTSMode, h.opt.Hostname, h.opt.MTASTSMaxAge)
	// RFC 8461 §3.3: media type "text/plain"; senders must not follow
	// redirects and the policy must not be cached longer than max_age, so
	// no cache headers are set.
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte(policy))
}

// domain parses name and checks that it is a local domain, answering 404
// (or 503 when the store fails) if not.
func (h *handler) domain(w http.ResponseWriter, r *http.Request, name string) (addr.Domain, bool) {
	d, err := addr.ParseDomain(name)
	if err != nil {
		http.Error(w, "not a domain name", http.StatusNotFound)
		return addr.Domain{}, false
	}
	if _, err := h.opt.Store.Domain(r.Context(), d); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			http.Error(w, d.ASCII+" is not a domain of this server", http.StatusNotFound)
		} else {
			h.opt.Logger.Error("looking up domain", "domain", d.ASCII, "err", err)
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		}
		return addr.Domain{}, false
	}
	return d, true
}
