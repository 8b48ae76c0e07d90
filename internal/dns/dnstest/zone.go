// Package dnstest holds DNS fakes for tests: Resolver, an in-memory
// dns.Resolver built from a Zone, with failure injection and a query log so
// lookup limits can be asserted; and Server, a real DNS server on loopback
// (UDP and TCP, built on github.com/miekg/dns) serving the same Zone, for
// end-to-end tests and external tools. The testdns command runs Server as a
// helper process.
package dnstest

import (
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"

	mdns "github.com/miekg/dns"

	"github.com/posthorn/posthorn/internal/dns"
)

// Zone maps owner names to their records. Names are absolute, with or
// without the trailing dot, compared ASCII case-insensitively; they may hold
// any octets (a space, say), as SPF macros can produce. A name exists when it
// has records or when a name below it does (an empty non-terminal,
// RFC 8020); any other name is NXDOMAIN.
type Zone map[string]Records

// Records are the records of one name. Addresses are strings ("192.0.2.1")
// so tables stay readable; Validate reports bad ones.
type Records struct {
	A, AAAA []string
	MX      []MX
	// TXT holds one string per record; Server splits a record over 255
	// octets into several character-strings, as a zone file would.
	TXT   []string
	PTR   []string
	CNAME string
	TLSA  []dns.TLSA
	// ServFail makes every query for the name fail: SERVFAIL from Server,
	// dns.ErrTemporary from Resolver.
	ServFail bool
	// Authentic marks this name's answers as DNSSEC-validated (the AD bit).
	Authentic bool
}

// MX is one MX record.
type MX struct {
	Pref uint16
	Host string
}

// empty reports whether r holds no records (failure flags aside).
func (r Records) empty() bool {
	return len(r.A)+len(r.AAAA)+len(r.MX)+len(r.TXT)+len(r.PTR)+len(r.TLSA) == 0 && r.CNAME == ""
}

// key is the lookup key of a name: ASCII lower case, no trailing dot.
func key(name string) string {
	name = strings.TrimSuffix(name, ".")
	b := []byte(name)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// normalize returns z with its keys normalized, merging duplicates.
func (z Zone) normalize() map[string]Records {
	m := make(map[string]Records, len(z))
	for name, r := range z {
		k := key(name)
		old := m[k]
		old.A = append(old.A, r.A...)
		old.AAAA = append(old.AAAA, r.AAAA...)
		old.MX = append(old.MX, r.MX...)
		old.TXT = append(old.TXT, r.TXT...)
		old.PTR = append(old.PTR, r.PTR...)
		old.TLSA = append(old.TLSA, r.TLSA...)
		if r.CNAME != "" {
			old.CNAME = r.CNAME
		}
		old.ServFail = old.ServFail || r.ServFail
		old.Authentic = old.Authentic || r.Authentic
		m[k] = old
	}
	return m
}

// Validate reports the first malformed address in z.
func (z Zone) Validate() error {
	names := make([]string, 0, len(z))
	for n := range z {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := z[n]
		for _, a := range r.A {
			if ip, err := netip.ParseAddr(a); err != nil || !ip.Is4() {
				return fmt.Errorf("dnstest: %s: bad A %q", n, a)
			}
		}
		for _, a := range r.AAAA {
			if ip, err := netip.ParseAddr(a); err != nil || !ip.Is6() || ip.Is4In6() {
				return fmt.Errorf("dnstest: %s: bad AAAA %q", n, a)
			}
		}
		if r.CNAME != "" && len(r.A)+len(r.AAAA)+len(r.MX)+len(r.TXT)+len(r.PTR)+len(r.TLSA) > 0 {
			return fmt.Errorf("dnstest: %s: CNAME and other data (RFC 1034 §3.6.2)", n)
		}
	}
	return nil
}

// ReverseName returns the PTR owner name of ip (in-addr.arpa or ip6.arpa),
// without the trailing dot, for building zones: Zone{ReverseName(ip): {PTR: ...}}.
func ReverseName(ip netip.Addr) string {
	n, _ := mdns.ReverseAddr(ip.Unmap().String())
	return strings.TrimSuffix(n, ".")
}

// ParseZone reads a zone in RFC 1035 master-file syntax (A, AAAA, MX, TXT,
// PTR, CNAME, TLSA; other types are rejected). Relative names are relative
// to origin ("." when empty). Owner names use the master-file escapes
// (`a\032b.example.` is "a b.example"). Several character-strings of one TXT
// record are concatenated.
func ParseZone(r io.Reader, origin string) (Zone, error) {
	if origin == "" {
		origin = "."
	}
	zp := mdns.NewZoneParser(r, mdns.Fqdn(origin), "")
	zp.SetDefaultTTL(300)
	z := Zone{}
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		name := unescape(rr.Header().Name)
		rec := z[name]
		switch rr := rr.(type) {
		case *mdns.A:
			rec.A = append(rec.A, rr.A.String())
		case *mdns.AAAA:
			rec.AAAA = append(rec.AAAA, rr.AAAA.String())
		case *mdns.MX:
			rec.MX = append(rec.MX, MX{Pref: rr.Preference, Host: unescape(rr.Mx)})
		case *mdns.TXT:
			var b strings.Builder
			for _, s := range rr.Txt {
				b.WriteString(unescape(s))
			}
			rec.TXT = append(rec.TXT, b.String())
		case *mdns.PTR:
			rec.PTR = append(rec.PTR, unescape(rr.Ptr))
		case *mdns.CNAME:
			rec.CNAME = unescape(rr.Target)
		case *mdns.TLSA:
			data, err := decodeHex(rr.Certificate)
			if err != nil {
				return nil, fmt.Errorf("dnstest: %s: TLSA: %w", rr.Hdr.Name, err)
			}
			rec.TLSA = append(rec.TLSA, dns.TLSA{Usage: rr.Usage, Selector: rr.Selector, MatchingType: rr.MatchingType, Data: data})
		case *mdns.SOA, *mdns.NS:
			continue // Server synthesizes its own.
		default:
			return nil, fmt.Errorf("dnstest: %s: unsupported type %s", rr.Header().Name, mdns.TypeToString[rr.Header().Rrtype])
		}
		z[name] = rec
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("dnstest: %w", err)
	}
	return z, z.Validate()
}

// MustParseZone is ParseZone on a string for test tables; it panics on error.
func MustParseZone(text string) Zone {
	z, err := ParseZone(strings.NewReader(text), ".")
	if err != nil {
		panic(err)
	}
	return z
}

func decodeHex(s string) ([]byte, error) {
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("odd hex length")
	}
	b := make([]byte, len(s)/2)
	for i := range b {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("bad hex %q", s)
		}
		b[i] = hi<<4 | lo
	}
	return b, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// unescape turns master-file presentation (`\032`, `\.`, `\"`) into raw
// octets, as miekg/dns hands names and TXT strings to us.
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
			v := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
			if v <= 255 {
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

// escapeLabel writes one raw label in presentation form: dots, backslashes,
// quotes and non-printable octets escaped (RFC 4343 §2.1).
func escapeLabel(b *strings.Builder, l string) {
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' || c == ';' || c == '@' || c == '$':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c <= ' ' || c >= 0x7f:
			fmt.Fprintf(b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
}

// escapeName returns the presentation form of a raw absolute name whose
// labels are separated by dots, with the trailing dot.
func escapeName(name string) string {
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return "."
	}
	var b strings.Builder
	for _, l := range strings.Split(name, ".") {
		escapeLabel(&b, l)
		b.WriteByte('.')
	}
	return b.String()
}

// escapeText returns a TXT character-string in miekg/dns's escaped form.
func escapeText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c >= 0x7f:
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
