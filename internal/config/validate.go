package config

import (
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
)

// reportFunc records a problem with the key at path.
type reportFunc func(path []string, format string, args ...any)

// check reports every invalid value of c.
func check(c Config, o Options, report reportFunc) {
	checkTags(nil, reflect.ValueOf(c), report)
	if c.Hostname != "" {
		if _, err := addr.ParseDomain(c.Hostname); err != nil {
			report([]string{"hostname"}, "%q is not a valid domain name", c.Hostname)
		}
	}
	checkListen(c.Listen, report)
	for _, s := range c.DNS.Servers {
		checkServer([]string{"dns", "servers"}, s, report)
	}
	checkTLS(c, o, report)
	checkACME(c, report)
	checkSMTP(c.SMTP, report)
	checkIMAP(c.IMAP, report)
	checkAuth(c.Auth, c.DKIM, report)
	checkQueue(c.Queue, c.Relay, report)
	checkHTTP(c.HTTP, c.MTASTS, report)
}

// checkHTTP checks the web face's networks and the MTA-STS policy.
func checkHTTP(h HTTP, m MTASTS, report reportFunc) {
	for _, n := range []struct {
		key  string
		nets []string
	}{{"metrics_networks", h.MetricsNetworks}, {"trusted_proxies", h.TrustedProxies}} {
		for _, v := range n.nets {
			if _, err := ParsePrefix(v); err != nil {
				report([]string{"http", n.key}, "%q is not a network (CIDR) or IP address", v)
			}
		}
	}
	// RFC 8461 §3.2: max_age is at most 31557600 seconds.
	if m.MaxAge < time.Hour || m.MaxAge > 8760*time.Hour {
		report([]string{"mtasts", "max_age"}, "must be from 1h to 8760h")
	}
}

// checkAuth checks the message-authentication and DKIM settings.
func checkAuth(a Auth, d DKIM, report reportFunc) {
	if a.AuthServID != "" && strings.ContainsAny(a.AuthServID, " \t\r\n;()\"\\") {
		report([]string{"auth", "authserv_id"}, "%q must not contain white space, quotes, parentheses or \";\"", a.AuthServID)
	}
	for _, s := range a.TrustedARCSealers {
		if _, err := addr.ParseDomain(s); err != nil {
			report([]string{"auth", "trusted_arc_sealers"}, "%q is not a valid domain name", s)
		}
	}
	if a.CheckTimeout < time.Second || a.CheckTimeout > 5*time.Minute {
		report([]string{"auth", "check_timeout"}, "must be from 1s to 5m")
	}
	if d.RotationCheckInterval < time.Minute {
		report([]string{"dkim", "rotation_check_interval"}, "must be at least 1m")
	}
	if d.KeepRetired < 0 {
		report([]string{"dkim", "keep_retired"}, "must not be negative")
	}
}

// isLoopback reports whether host is a loopback IP address or "localhost".
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// checkSMTP checks the SMTP limits and trusted networks.
func checkSMTP(s SMTP, report reportFunc) {
	for _, lim := range []struct {
		key      string
		val, min int
	}{
		{"max_message_size", s.MaxMessageSize, 1024},
		{"max_line_length", s.MaxLineLength, 1000}, // RFC 5321 §4.5.3.1.6
		{"max_recipients", s.MaxRecipients, 1},
		{"max_connections", s.MaxConnections, 1},
		{"max_connections_per_ip", s.MaxConnectionsPerIP, 1},
		{"max_submission_connections", s.MaxSubmissionConns, 1},
		{"max_commands_before_mail", s.MaxCommandsBeforeMail, 1},
		{"max_errors", s.MaxErrors, 1},
	} {
		if lim.val < lim.min {
			report([]string{"smtp", lim.key}, "must be at least %d", lim.min)
		}
	}
	for _, d := range []struct {
		key string
		val time.Duration
	}{{"command_timeout", s.CommandTimeout}, {"data_timeout", s.DataTimeout}} {
		if d.val < time.Second {
			report([]string{"smtp", d.key}, "must be at least 1s")
		}
	}
	if s.GreetDelay < 0 || s.GreetDelay > time.Minute {
		report([]string{"smtp", "greet_delay"}, "must be from 0s to 1m")
	}
	for _, n := range []struct {
		key  string
		nets []string
	}{{"trusted_proxies", s.TrustedProxies}, {"xclient_networks", s.XCLIENTNetworks}} {
		for _, v := range n.nets {
			if _, err := ParsePrefix(v); err != nil {
				report([]string{"smtp", n.key}, "%q is not a network (CIDR) or IP address", v)
			}
		}
	}
}

// checkIMAP checks the IMAP connection limits.
func checkIMAP(m IMAP, report reportFunc) {
	for _, lim := range []struct {
		key string
		val int
	}{
		{"max_connections", m.MaxConnections},
		{"max_connections_per_ip", m.MaxConnectionsPerIP},
		{"max_connections_per_account", m.MaxConnectionsPerAccount},
	} {
		if lim.val < 1 {
			report([]string{"imap", lim.key}, "must be at least 1")
		}
	}
}

// ParsePrefix parses a network in CIDR form or a single IP address (a /32
// or /128).
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// checkTags checks the required and enum tags of the section v and the
// sections in it.
func checkTags(path []string, v reflect.Value, report reportFunc) {
	for _, f := range fields(v.Type()) {
		p := append(slices.Clip(path), f.name)
		fv := v.Field(f.index)
		switch {
		case isSection(f.typ):
			checkTags(p, fv, report)
		case f.required && fv.IsZero():
			report(p, "required")
		case f.enum != nil && !slices.Contains(f.enum, fv.String()):
			report(p, "%q is not one of %s", fv.String(), strings.Join(f.enum, ", "))
		}
	}
}

// checkListen checks that each listening address is host:port and is used
// by one service only.
func checkListen(l Listen, report reportFunc) {
	v := reflect.ValueOf(l)
	seen := map[string]string{} // address → key
	for _, f := range fields(v.Type()) {
		p := []string{"listen", f.name}
		for _, a := range v.Field(f.index).Interface().([]string) {
			if f.name == "lmtp" {
				if strings.HasPrefix(a, "/") {
					continue // a Unix socket
				}
				if host, _, err := net.SplitHostPort(a); err == nil && !isLoopback(host) {
					report(p, "%q: LMTP listens only on a Unix socket (/path) or loopback", a)
					continue
				}
			}
			host, port, err := net.SplitHostPort(a)
			switch {
			case err != nil:
				report(p, "%q is not host:port", a)
			case !validPort(port, 0):
				report(p, "%q: port must be a number from 0 to 65535", a)
			case strings.ContainsAny(host, " \t\r\n"):
				report(p, "%q: host contains white space", a)
			case seen[a] != "" && !strings.HasSuffix(a, ":0"):
				report(p, "%q is also in %s", a, seen[a])
			default:
				seen[a] = "listen." + f.name
			}
		}
	}
}

// checkServer checks the address of a DNS server: IP address and port.
func checkServer(path []string, a string, report reportFunc) {
	host, port, err := net.SplitHostPort(a)
	switch {
	case err != nil:
		report(path, "%q is not host:port", a)
	case !validPort(port, 1):
		report(path, "%q: port must be a number from 1 to 65535", a)
	default:
		if _, err := netip.ParseAddr(host); err != nil {
			report(path, "%q: host must be an IP address", a)
		}
	}
}

// validPort reports whether s is a decimal port number from min to 65535.
func validPort(s string, min int) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n >= min && n <= 65535
}

// checkTLS checks that cert_file and key_file are set together, and set at
// all when an implicit-TLS listener needs them.
func checkTLS(c Config, o Options, report reportFunc) {
	switch {
	case c.TLS.CertFile != "" && c.TLS.KeyFile == "":
		report([]string{"tls", "key_file"}, "required when cert_file is set")
	case c.TLS.CertFile == "" && c.TLS.KeyFile != "":
		report([]string{"tls", "cert_file"}, "required when key_file is set")
	case c.TLS.CertFile != "" && c.ACME.Enabled:
		report([]string{"tls", "cert_file"}, "must be empty while acme.enabled is true")
	case c.TLS.CertFile == "" && !o.ExternalCerts && !c.ACME.Enabled:
		if tl := c.Listen.implicitTLS(); len(tl) > 0 {
			report([]string{"tls", "cert_file"},
				"required while %s %s enabled: set cert_file and key_file, or acme.enabled, or disable them with []",
				strings.Join(tl, ", "), map[bool]string{true: "is", false: "are"}[len(tl) == 1])
		}
	}
}

// implicitTLS returns the keys of the enabled listeners that start with a
// TLS handshake and so cannot run without a certificate.
func (l Listen) implicitTLS() []string {
	var keys []string
	for _, k := range []struct {
		name  string
		addrs []string
	}{{"listen.submissions", l.Submissions}, {"listen.imaps", l.IMAPS}, {"listen.https", l.HTTPS}} {
		if len(k.addrs) > 0 {
			keys = append(keys, k.name)
		}
	}
	return keys
}

// checkACME checks the ACME settings.
func checkACME(c Config, report reportFunc) {
	a := c.ACME
	if c.TLS.ReloadInterval < 0 {
		report([]string{"tls", "reload_interval"}, "must not be negative")
	}
	if c.TLS.CheckInterval != 0 && c.TLS.CheckInterval < time.Second {
		report([]string{"tls", "check_interval"}, "must be at least 1s (or 0 for one hour)")
	}
	if c.TLS.AlarmTo != "" {
		if _, err := addr.ParseAddress(c.TLS.AlarmTo); err != nil {
			report([]string{"tls", "alarm_to"}, "%q is not a valid address", c.TLS.AlarmTo)
		}
	}
	if !a.Enabled {
		return
	}
	if a.DirectoryURL != "" && !strings.HasPrefix(a.DirectoryURL, "https://") {
		report([]string{"acme", "directory_url"}, "must be an https:// URL")
	}
	for _, n := range a.Names {
		if _, err := addr.ParseDomain(n); err != nil {
			report([]string{"acme", "names"}, "%q is not a valid domain name", n)
		}
	}
	if len(a.Challenges) == 0 {
		report([]string{"acme", "challenges"}, "needs at least one of tls-alpn-01 and http-01")
	}
	for _, ch := range a.Challenges {
		if ch != "tls-alpn-01" && ch != "http-01" {
			report([]string{"acme", "challenges"}, "%q is not one of tls-alpn-01, http-01", ch)
		}
	}
	for _, p := range []struct {
		key  string
		port int
	}{{"http_port", a.HTTPPort}, {"tls_port", a.TLSPort}} {
		if p.port < 0 || p.port > 65535 {
			report([]string{"acme", p.key}, "must be a port number")
		}
	}
	if a.RenewCheckInterval < time.Second {
		report([]string{"acme", "renew_check_interval"}, "must be at least 1s")
	}
}
