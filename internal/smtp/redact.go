package smtp

import (
	"net/netip"
	"regexp"
	"strings"
)

// Redact removes from reply text s what a remote client must not learn
// about this server: socket addresses (IP:port, as in "read udp
// 127.0.0.1:51716->127.0.0.53:53"), loopback, private and link-local IP
// addresses, and absolute file paths. It is the last step before a reply
// built from an error is sent; the full text belongs in the log. Public
// addresses without a port (the client's own, an SPF mechanism) stay.
func Redact(s string) string {
	if !strings.ContainsAny(s, ":./") {
		return s
	}
	s = reSocket.ReplaceAllString(s, "[address]")
	s = reIP.ReplaceAllStringFunc(s, func(m string) string {
		a, err := netip.ParseAddr(strings.Trim(m, "[]"))
		if err != nil || strings.Trim(m, "[]:") == "" { // "::" in prose
			return m
		}
		a = a.Unmap()
		if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsUnspecified() {
			return "[address]"
		}
		return m
	})
	return rePath.ReplaceAllString(s, "${1}[path]")
}

var (
	// An IPv4 or bracketed IPv6 address with a port.
	reSocket = regexp.MustCompile(`\b\d{1,3}(?:\.\d{1,3}){3}:\d+\b|\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.%A-Za-z]*\]:\d+\b`)
	// Candidate IP addresses, checked with netip.
	reIP = regexp.MustCompile(`\b\d{1,3}(?:\.\d{1,3}){3}\b|\[?[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%[A-Za-z0-9]+)?\]?`)
	// An absolute path of two or more elements after a space, quote or
	// bracket: "open /var/lib/posthorn/x", not "text/plain" or a URL.
	rePath = regexp.MustCompile(`(^|[\s("'=])(?:/[^\s/"'):;,]+){2,}/?`)
)
