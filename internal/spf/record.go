package spf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// A record is a parsed SPF record (RFC 7208 §4.6.1, §12): its mechanisms in
// order and its two known modifiers. Unknown modifiers are checked and
// dropped (RFC 7208 §6).
type record struct {
	directives []directive
	redirect   string // domain-spec of redirect=, "" when absent
	exp        string // domain-spec of exp=, "" when absent
}

// A directive is a qualifier and a mechanism (RFC 7208 §4.6.2, §5).
type directive struct {
	qualifier Result // Pass, Fail, SoftFail or Neutral
	mechanism string // "all", "include", "a", "mx", "ptr", "ip4", "ip6" or "exists"
	// domain is the domain-spec of include, a, mx, ptr and exists; "" for
	// the current domain (a, mx, ptr without one).
	domain string
	// prefix is the network of ip4 and ip6.
	prefix netip.Prefix
	// cidr4 and cidr6 are the dual-cidr-length of a and mx (32 and 128
	// when not given).
	cidr4, cidr6 int
}

// queries reports whether the mechanism counts toward the limit of 10
// DNS-querying terms (RFC 7208 §4.6.4).
func (d directive) queries() bool {
	switch d.mechanism {
	case "include", "a", "mx", "ptr", "exists":
		return true
	}
	return false
}

// A syntaxError is a record that does not follow the grammar of RFC 7208
// §12: check_host() gives permerror (RFC 7208 §4.6).
type syntaxError struct {
	term string // the offending term, "" for the record as a whole
	msg  string
}

func (e *syntaxError) Error() string {
	if e.term == "" {
		return e.msg
	}
	return fmt.Sprintf("term %q: %s", e.term, e.msg)
}

// isRecord reports whether a TXT record is an SPF record: "v=spf1" in any
// case, then a space or the end (RFC 7208 §4.5).
func isRecord(txt string) bool {
	return len(txt) >= 6 && strings.EqualFold(txt[:6], "v=spf1") && (len(txt) == 6 || txt[6] == ' ')
}

// parseRecord parses a whole SPF record before anything is evaluated, so a
// syntax error anywhere is a permerror (RFC 7208 §4.6). Terms are separated
// by one or more spaces, and only by spaces (RFC 7208 §4.6.1).
func parseRecord(txt string) (*record, error) {
	if !isRecord(txt) {
		return nil, &syntaxError{msg: "does not start with v=spf1"}
	}
	rec := &record{}
	seen := map[string]bool{}
	for _, term := range strings.Split(txt[6:], " ") {
		if term == "" {
			continue
		}
		if name, value, ok := modifier(term); ok {
			low := strings.ToLower(name)
			if low == "redirect" || low == "exp" {
				// RFC 7208 §6: each at most once.
				if seen[low] {
					return nil, &syntaxError{term, low + "= appears twice (RFC 7208 §6)"}
				}
				seen[low] = true
				if err := checkDomainSpec(value, false); err != nil {
					return nil, &syntaxError{term, err.Error()}
				}
				if low == "redirect" {
					rec.redirect = value
				} else {
					rec.exp = value
				}
				continue
			}
			// unknown-modifier = name "=" macro-string (RFC 7208 §6):
			// ignored, but its macros must be well formed.
			if _, err := parseMacros(value, true); err != nil {
				return nil, &syntaxError{term, err.Error()}
			}
			continue
		}
		d, err := parseDirective(term)
		if err != nil {
			return nil, &syntaxError{term, err.Error()}
		}
		rec.directives = append(rec.directives, d)
	}
	return rec, nil
}

// modifier splits a modifier term: a name (ALPHA *( ALPHA / DIGIT / "-" /
// "_" / "." )) immediately followed by "=" (RFC 7208 §4.6.1, §12).
func modifier(term string) (name, value string, ok bool) {
	if term == "" || !isAlpha(term[0]) {
		return "", "", false
	}
	i := 1
	for i < len(term) && (isAlpha(term[i]) || isDigit(term[i]) || term[i] == '-' || term[i] == '_' || term[i] == '.') {
		i++
	}
	if i == len(term) || term[i] != '=' {
		return "", "", false
	}
	return term[:i], term[i+1:], true
}

// parseDirective parses [ qualifier ] mechanism (RFC 7208 §4.6.2, §5).
func parseDirective(term string) (directive, error) {
	d := directive{qualifier: Pass, cidr4: 32, cidr6: 128}
	switch term[0] {
	case '+':
		term = term[1:]
	case '-':
		d.qualifier, term = Fail, term[1:]
	case '~':
		d.qualifier, term = SoftFail, term[1:]
	case '?':
		d.qualifier, term = Neutral, term[1:]
	}
	i := 0
	for i < len(term) && (isAlpha(term[i]) || isDigit(term[i])) {
		i++
	}
	name, rest := strings.ToLower(term[:i]), term[i:]
	d.mechanism = name
	switch name {
	case "all":
		if rest != "" {
			return d, fmt.Errorf("all takes no argument (RFC 7208 §5.1)")
		}
	case "include", "exists":
		spec, ok := strings.CutPrefix(rest, ":")
		if !ok {
			return d, fmt.Errorf("%s needs :domain (RFC 7208 §5.2, §5.7)", name)
		}
		if err := checkDomainSpec(spec, false); err != nil {
			return d, err
		}
		d.domain = spec
	case "ptr":
		if rest != "" {
			spec, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return d, fmt.Errorf("ptr takes only :domain (RFC 7208 §5.5)")
			}
			if err := checkDomainSpec(spec, false); err != nil {
				return d, err
			}
			d.domain = spec
		}
	case "a", "mx":
		spec, cidr := splitDualCIDR(rest)
		var err error
		if d.cidr4, d.cidr6, err = parseDualCIDR(cidr); err != nil {
			return d, err
		}
		if spec != "" {
			spec, ok := strings.CutPrefix(spec, ":")
			if !ok {
				return d, fmt.Errorf("%s takes :domain and /cidr (RFC 7208 §5.3, §5.4)", name)
			}
			if err := checkDomainSpec(spec, false); err != nil {
				return d, err
			}
			d.domain = spec
		}
	case "ip4", "ip6":
		network, ok := strings.CutPrefix(rest, ":")
		if !ok {
			return d, fmt.Errorf("%s needs :network (RFC 7208 §5.6)", name)
		}
		p, err := parseNetwork(name, network)
		if err != nil {
			return d, err
		}
		d.prefix = p
	default:
		return d, fmt.Errorf("not a mechanism or modifier (RFC 7208 §4.6.1, §5)")
	}
	return d, nil
}

// splitDualCIDR splits the arguments of a or mx into the domain part and a
// trailing dual-cidr-length: [ "/" digits ] [ "//" digits ].
func splitDualCIDR(s string) (spec, cidr string) {
	end := len(s)
	if i := strings.LastIndex(s, "//"); i >= 0 && allDigits(s[i+2:]) {
		end = i
	}
	if i := strings.LastIndexByte(s[:end], '/'); i >= 0 && allDigits(s[i+1:end]) {
		end = i
	}
	return s[:end], s[end:]
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// parseDualCIDR parses dual-cidr-length (RFC 7208 §5.6).
func parseDualCIDR(s string) (cidr4, cidr6 int, err error) {
	cidr4, cidr6 = 32, 128
	v6 := ""
	if i := strings.Index(s, "//"); i >= 0 {
		s, v6 = s[:i], s[i+2:]
		if cidr6, err = cidrLength(v6, 128); err != nil {
			return 0, 0, err
		}
	}
	if s != "" {
		if cidr4, err = cidrLength(s[1:], 32); err != nil {
			return 0, 0, err
		}
	}
	return cidr4, cidr6, nil
}

// cidrLength parses a prefix length: "0" or digits without a leading zero,
// at most max (RFC 7208 §5.6).
func cidrLength(s string, max int) (int, error) {
	if !allDigits(s) || len(s) > 3 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("bad CIDR length /%s (RFC 7208 §5.6)", s)
	}
	n, _ := strconv.Atoi(s)
	if n > max {
		return 0, fmt.Errorf("CIDR length /%d is over %d (RFC 7208 §5.6)", n, max)
	}
	return n, nil
}

// parseNetwork parses ip4-network [ ip4-cidr-length ] or ip6-network
// [ ip6-cidr-length ] (RFC 7208 §5.6).
func parseNetwork(mech, s string) (netip.Prefix, error) {
	addrText, length, hasLength := strings.Cut(s, "/")
	ip, err := netip.ParseAddr(addrText)
	max := 32
	if mech == "ip6" {
		max = 128
	}
	switch {
	case err != nil || ip.Zone() != "":
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address (RFC 7208 §5.6)", addrText)
	case mech == "ip4" && !ip.Is4():
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 address (RFC 7208 §5.6)", addrText)
	case mech == "ip6" && !ip.Is6():
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv6 address (RFC 7208 §5.6)", addrText)
	}
	bits := max
	if hasLength {
		if bits, err = cidrLength(length, max); err != nil {
			return netip.Prefix{}, err
		}
	}
	return netip.PrefixFrom(ip, bits).Masked(), nil
}

// checkDomainSpec checks domain-spec = macro-string domain-end, where
// domain-end = ( "." toplabel [ "." ] ) / macro-expand (RFC 7208 §7.1). An
// empty domain-spec is an error (RFC 7208 §5.2–§5.7, §6.1, §6.2).
func checkDomainSpec(spec string, explain bool) error {
	if spec == "" {
		return fmt.Errorf("empty domain (RFC 7208 §7.1)")
	}
	toks, err := parseMacros(spec, explain)
	if err != nil {
		return err
	}
	last := toks[len(toks)-1]
	if last.macro != 0 {
		return nil
	}
	lit := strings.TrimSuffix(last.literal, ".")
	dot := strings.LastIndexByte(lit, '.')
	if dot < 0 || !isTopLabel(lit[dot+1:]) {
		return fmt.Errorf("%q does not end in a macro or a top-level label (RFC 7208 §7.1)", spec)
	}
	return nil
}

// isTopLabel: toplabel = ( *alphanum ALPHA *alphanum ) /
// ( 1*alphanum "-" *( alphanum / "-" ) alphanum ) (RFC 7208 §7.1).
func isTopLabel(l string) bool {
	if l == "" {
		return false
	}
	alpha, dash := false, false
	for i := 0; i < len(l); i++ {
		switch c := l[i]; {
		case isAlpha(c):
			alpha = true
		case isDigit(c):
		case c == '-':
			dash = true
		default:
			return false
		}
	}
	if dash {
		return l[0] != '-' && l[len(l)-1] != '-'
	}
	return alpha
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
