package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	mdns "github.com/miekg/dns"
)

// errShortQuery: adns wrote less than a DNS header.
var errShortQuery = errors.New("dns: short query")

// isDomainName reports whether adns accepts s as a name to query: letters,
// digits, '-' and '_' in labels of 1–63 octets, not all-numeric
// (the rule of Go's net package, which adns copies). Other names legal in
// DNS go through oddLookup.
func isDomainName(s string) bool {
	if s == "." {
		return true
	}
	l := len(s)
	if l == 0 || l > 254 || l == 254 && s[l-1] != '.' {
		return false
	}
	last := byte('.')
	nonNumeric := false
	partlen := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		default:
			return false
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_':
			nonNumeric = true
			partlen++
		case '0' <= c && c <= '9':
			partlen++
		case c == '-':
			if last == '.' {
				return false
			}
			partlen++
			nonNumeric = true
		case c == '.':
			if last == '.' || last == '-' {
				return false
			}
			if partlen > 63 || partlen == 0 {
				return false
			}
			partlen = 0
		}
		last = c
	}
	if last == '-' || partlen > 63 {
		return false
	}
	return nonNumeric
}

// exchange sends one query for the raw name n (absolute; labels may hold
// any octet but '.') with miekg/dns, over UDP with EDNS0 and over TCP when
// truncated (RFC 7766 §5), trying each server twice in turn. It returns a
// NOERROR or NXDOMAIN response.
func (r *Client) exchange(ctx context.Context, c *capture, n string, qtype uint16) (*mdns.Msg, error) {
	m := new(mdns.Msg)
	m.SetQuestion(escapeName(n), qtype)
	m.AuthenticatedData = true // RFC 6840 §5.7
	m.SetEdns0(1232, false)
	var lastErr error
	for i := range 2 * len(c.servers) {
		s := c.servers[i%len(c.servers)]
		cl := &mdns.Client{Net: "udp", Timeout: r.timeout, UDPSize: 1232}
		resp, _, err := cl.ExchangeContext(ctx, m, s.addr)
		if err == nil && resp.Truncated {
			cl.Net = "tcp"
			resp, _, err = cl.ExchangeContext(ctx, m, s.addr)
		}
		if err != nil {
			lastErr = err
			if ctx.Err() != nil {
				break
			}
			continue
		}
		c.add(parseResponse(resp, s))
		if resp.Rcode == mdns.RcodeSuccess || resp.Rcode == mdns.RcodeNameError {
			return resp, nil
		}
		lastErr = fmt.Errorf("rcode %s from %s", mdns.RcodeToString[resp.Rcode], s.addr)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%w: %s %q: %w", ErrTemporary, mdns.TypeToString[qtype], n, ctx.Err())
	}
	return nil, fmt.Errorf("%w: %s %q: %v", ErrTemporary, mdns.TypeToString[qtype], n, lastErr)
}

// answers returns the records of type qtype for the raw name n in resp,
// following the CNAME chain in the answer section, or an error wrapping
// ErrNotFound or ErrNoData.
func answers(resp *mdns.Msg, n string, qtype uint16) ([]mdns.RR, error) {
	owner := lower(n)
	var out []mdns.RR
	for range 8 {
		next := ""
		for _, rr := range resp.Answer {
			if lower(unescape(rr.Header().Name)) != owner {
				continue
			}
			if rr.Header().Rrtype == qtype {
				out = append(out, rr)
			} else if cn, ok := rr.(*mdns.CNAME); ok {
				next = lower(unescape(cn.Target))
			}
		}
		if len(out) > 0 || next == "" {
			break
		}
		owner = next
	}
	if len(out) > 0 {
		return out, nil
	}
	if resp.Rcode == mdns.RcodeNameError {
		return nil, fmt.Errorf("%w: %s %q", ErrNotFound, mdns.TypeToString[qtype], n)
	}
	return nil, fmt.Errorf("%w: %s %q", ErrNoData, mdns.TypeToString[qtype], n)
}

// oddLookup looks up TXT or MX records of a name adns refuses.
func (r *Client) oddLookup(ctx context.Context, n string, qtype uint16) (any, error) {
	c, _ := ctx.Value(captureKey{}).(*capture)
	resp, err := r.exchange(ctx, c, n, qtype)
	if err != nil {
		return nil, err
	}
	rrs, err := answers(resp, n, qtype)
	if err != nil {
		return nil, err
	}
	switch qtype {
	case mdns.TypeTXT:
		var txts []string
		for _, rr := range rrs {
			var b strings.Builder
			for _, s := range rr.(*mdns.TXT).Txt {
				b.WriteString(unescape(s))
			}
			txts = append(txts, b.String())
		}
		return txts, nil
	case mdns.TypeMX:
		var mxs []*net.MX
		for _, rr := range rrs {
			mx := rr.(*mdns.MX)
			if host := unescape(mx.Mx); isDomainName(host) {
				mxs = append(mxs, &net.MX{Host: host, Pref: mx.Preference})
			}
		}
		if len(mxs) == 0 {
			return nil, fmt.Errorf("%w: MX %q: no valid host names", ErrPermanent, n)
		}
		return mxs, nil
	}
	return nil, fmt.Errorf("%w: type %d", ErrPermanent, qtype)
}

// oddLookupIP looks up A and/or AAAA records of a name adns refuses.
func (r *Client) oddLookupIP(ctx context.Context, n string, qtypes []uint16) (any, error) {
	c, _ := ctx.Value(captureKey{}).(*capture)
	var ips []netip.Addr
	var notFound error
	for _, qt := range qtypes {
		resp, err := r.exchange(ctx, c, n, qt)
		if err != nil {
			return nil, err
		}
		rrs, err := answers(resp, n, qt)
		if err != nil {
			notFound = err
			continue
		}
		for _, rr := range rrs {
			var ip net.IP
			switch rr := rr.(type) {
			case *mdns.A:
				ip = rr.A
			case *mdns.AAAA:
				ip = rr.AAAA
			}
			if a, ok := netip.AddrFromSlice(ip); ok {
				ips = append(ips, a.Unmap())
			}
		}
	}
	if len(ips) == 0 {
		return nil, notFound
	}
	return ips, nil
}

// escapeName returns the master-file form of a raw absolute name: labels
// split at dots, other special and non-printable octets escaped
// (RFC 4343 §2.1), as miekg/dns packs it back octet for octet.
func escapeName(n string) string {
	n = strings.TrimSuffix(n, ".")
	var b strings.Builder
	for _, l := range strings.Split(n, ".") {
		for i := 0; i < len(l); i++ {
			c := l[i]
			switch {
			case c == '\\' || c == '"' || c == '(' || c == ')' || c == ';' || c == '@' || c == '$':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c <= ' ' || c >= 0x7f:
				fmt.Fprintf(&b, "\\%03d", c)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('.')
	}
	return b.String()
}

// unescape turns miekg/dns's escaped names and TXT strings (`\032`, `\.`,
// `\"`) into raw octets.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			if v := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0'); v <= 255 {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i+1])
		i++
	}
	return b.String()
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
