package spf

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	bspf "blitiri.com.ar/go/spf"
)

// maxExplanation bounds the explanation we pass on (it ends up in an SMTP
// reply and in headers).
const maxExplanation = 512

// explain returns the explanation of a fail (RFC 7208 §6.2): the exp=
// modifier of the record whose mechanism failed. blitiri does not say which
// record that was, and exp= from an include target must not be used while
// a redirect target's must (RFC 7208 §6.2), so explain walks the redirect
// chain from domain: at each record with a redirect= it replays the
// evaluation from the recorded answers (no new DNS queries) with that
// redirect removed; if the result is still fail, a mechanism of that record
// decided, else the redirect did and the walk continues at its target.
func explain(ctx context.Context, ad *adapter, a Args, ip netip.Addr, helo, sender, domain string) string {
	cur := domain
	for range 10 { // RFC 7208 §4.6.4 bounds the chain anyway
		ans, ok := ad.recorded(cur)
		if !ok || ans.err != nil {
			return ""
		}
		txts, _ := ans.v.([]string)
		record, ok := spfRecord(txts)
		if !ok {
			return ""
		}
		var kept []string
		redirect, exp := "", ""
		for _, term := range strings.Split(record, " ") {
			switch low := lowerASCII(term); {
			case strings.HasPrefix(low, "redirect="):
				redirect = term[len("redirect="):]
				continue
			case strings.HasPrefix(low, "exp="):
				exp = term[len("exp="):]
			}
			kept = append(kept, term)
		}
		env := macroEnv{ip: ip, sender: sender, domain: cur, helo: helo, receiver: receiver(a), now: a.Now}
		if redirect != "" {
			rp := ad.replayer(cur, []string{strings.Join(kept, " ")})
			res, _ := bspf.CheckHostWithSender(net.IP(ip.AsSlice()), helo, sender, bspf.WithResolver(rp), bspf.WithContext(ctx))
			if res != bspf.Fail {
				target, err := expand(redirect, env, false)
				if err != nil {
					return ""
				}
				cur = target
				continue
			}
		}
		if exp == "" {
			return ""
		}
		return explanation(ctx, ad, exp, env)
	}
	return ""
}

// spfRecord picks the one SPF record among TXT records (RFC 7208 §4.5).
func spfRecord(txts []string) (string, bool) {
	var found []string
	for _, t := range txts {
		low := lowerASCII(t)
		if low == "v=spf1" || strings.HasPrefix(low, "v=spf1 ") {
			found = append(found, t)
		}
	}
	if len(found) != 1 {
		return "", false
	}
	return found[0], true
}

// explanation fetches and expands the exp= text (RFC 7208 §6.2): any
// problem means no explanation.
func explanation(ctx context.Context, ad *adapter, spec string, env macroEnv) string {
	name, err := expand(spec, env, false)
	if err != nil || name == "" {
		return ""
	}
	txts, err := ad.LookupTXT(ctx, name)
	if err != nil || len(txts) != 1 {
		return ""
	}
	text, err := expand(txts[0], env, true)
	if err != nil || len(text) > maxExplanation {
		return ""
	}
	for i := 0; i < len(text); i++ {
		if text[i] < ' ' || text[i] > '~' { // RFC 7208 §6.2: US-ASCII only
			return ""
		}
	}
	return text
}

// macroEnv holds the values of the macro letters (RFC 7208 §7.3).
type macroEnv struct {
	ip       netip.Addr
	sender   string
	domain   string
	helo     string
	receiver string
	now      func() time.Time
}

var errMacro = errors.New("spf: invalid macro")

// expand expands a macro-string (RFC 7208 §7.1); explain allows the
// letters c, r and t and spaces, as in explain-string.
func expand(s string, env macroEnv, explain bool) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			if (c < 0x21 || c > 0x7e) && !(explain && c == ' ') {
				return "", errMacro
			}
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return "", errMacro
		}
		i++
		switch s[i] {
		case '%':
			b.WriteByte('%')
		case '_':
			b.WriteByte(' ')
		case '-':
			b.WriteString("%20")
		case '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", errMacro
			}
			v, err := macro(s[i+1:i+end], env, explain)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i += end
		default:
			return "", errMacro
		}
	}
	return b.String(), nil
}

// macro expands the inside of one %{...}: letter, transformers, delimiters.
func macro(m string, env macroEnv, explain bool) (string, error) {
	if m == "" {
		return "", errMacro
	}
	letter := m[0]
	upper := 'A' <= letter && letter <= 'Z'
	v, ok := letterValue(letter|0x20, env, explain)
	if !ok {
		return "", errMacro
	}
	rest := m[1:]
	j := 0
	for j < len(rest) && '0' <= rest[j] && rest[j] <= '9' {
		j++
	}
	digits := 0
	if j > 0 {
		n, err := strconv.Atoi(rest[:j])
		if err != nil || n == 0 { // RFC 7208 §7.1: zero is not allowed
			return "", errMacro
		}
		digits = n
	}
	rest = rest[j:]
	reverse := false
	if rest != "" && (rest[0] == 'r' || rest[0] == 'R') {
		reverse, rest = true, rest[1:]
	}
	delims := rest
	if strings.Trim(delims, ".-+,/_=") != "" {
		return "", errMacro
	}
	if delims == "" {
		delims = "."
	}
	parts := strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune(delims, r) })
	if reverse {
		slices.Reverse(parts)
	}
	if digits > 0 && digits < len(parts) {
		parts = parts[len(parts)-digits:]
	}
	v = strings.Join(parts, ".")
	if upper {
		v = escapeUnreserved(v)
	}
	return v, nil
}

func letterValue(l byte, env macroEnv, explain bool) (string, bool) {
	switch l {
	case 's':
		return env.sender, true
	case 'l':
		lp, _, _ := strings.Cut(env.sender, "@")
		return lp, true
	case 'o':
		_, d, _ := strings.Cut(env.sender, "@")
		return d, true
	case 'd':
		return env.domain, true
	case 'i':
		return dottedIP(env.ip), true
	case 'p':
		return "unknown", true // RFC 7208 §7.3 allows it; we do not validate PTR here
	case 'v':
		if env.ip.Is4() {
			return "in-addr", true
		}
		return "ip6", true
	case 'h':
		return env.helo, true
	case 'c':
		return env.ip.String(), explain
	case 'r':
		return env.receiver, explain
	case 't':
		now := time.Now
		if env.now != nil {
			now = env.now
		}
		return strconv.FormatInt(now().Unix(), 10), explain
	}
	return "", false
}

// dottedIP is the %{i} form: dotted quad, or dotted nibbles for IPv6.
func dottedIP(ip netip.Addr) string {
	if ip.Is4() {
		return ip.String()
	}
	var b strings.Builder
	for i, x := range ip.As16() {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(strconv.FormatUint(uint64(x>>4), 16))
		b.WriteByte('.')
		b.WriteString(strconv.FormatUint(uint64(x&0xf), 16))
	}
	return b.String()
}

// escapeUnreserved URL-escapes all but the unreserved characters of
// RFC 3986 §2.3, as upper-case macro letters ask (RFC 7208 §7.3).
func escapeUnreserved(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c)>>4, 16)+strconv.FormatUint(uint64(c)&0xf, 16)))
	}
	return b.String()
}
