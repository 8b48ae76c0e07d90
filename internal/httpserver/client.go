package httpserver

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// client is what the handlers know of the requester: its address, whether
// the request came over TLS, and the host name it asked for, from the
// connection or, for a trusted reverse proxy, from its X-Forwarded-*
// headers.
type client struct {
	ip     netip.Addr
	secure bool
	host   string // lower case, without port
	// viaTrustedProxy is set when the connection came from a trusted proxy.
	viaTrustedProxy bool
}

type clientKey struct{}

func clientOf(r *http.Request) client {
	c, _ := r.Context().Value(clientKey{}).(client)
	return c
}

// withClient works out the client of each request before next sees it.
func (h *handler) withClient(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := client{secure: r.TLS != nil, host: r.Host}
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			c.ip = ap.Addr().Unmap()
		}
		if inPrefixes(c.ip, h.opt.TrustedProxies) {
			c.viaTrustedProxy = true
			c = forwarded(c, r.Header, h.opt.TrustedProxies)
		}
		c.host = strings.TrimSuffix(stripPort(strings.ToLower(c.host)), ".")
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientKey{}, c)))
	})
}

// forwarded applies the X-Forwarded-* headers of a trusted proxy. The
// client address is the last one in X-Forwarded-For that is not itself a
// trusted proxy: addresses to its left were written by the client and may
// be anything.
func forwarded(c client, hd http.Header, proxies []netip.Prefix) client {
	if v := hd.Values("X-Forwarded-Proto"); len(v) > 0 {
		c.secure = strings.EqualFold(strings.TrimSpace(lastItem(v)), "https")
	}
	if v := hd.Values("X-Forwarded-Host"); len(v) > 0 {
		c.host = strings.TrimSpace(lastItem(v))
	}
	var hops []string
	for _, v := range hd.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			c.ip = netip.Addr{} // unknown: not loopback, in no network
			break
		}
		c.ip = ip.Unmap()
		if !inPrefixes(c.ip, proxies) {
			break
		}
	}
	return c
}

// lastItem is the last comma-separated item of the last header line: the
// one the nearest proxy wrote.
func lastItem(lines []string) string {
	v := lines[len(lines)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return v
}

// stripPort removes a :port from a Host value ("[::1]:443" → "::1").
func stripPort(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}

func inPrefixes(ip netip.Addr, ps []netip.Prefix) bool {
	if !ip.IsValid() {
		return false
	}
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
