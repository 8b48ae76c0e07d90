package spf

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxExpansion bounds what one macro-string may expand to: far more than
// any domain name (253 octets, RFC 7208 §7.3) or explanation we pass on,
// small enough that a record full of %{s} cannot make us build megabytes.
const maxExpansion = 4096

// A token is one piece of a macro-string (RFC 7208 §7.1): a run of literal
// characters, or a macro-expand.
type token struct {
	literal string
	// macro is the macro letter as written (upper case asks for URL
	// escaping, RFC 7208 §7.3), or '%', '_' or '-' for "%%", "%_", "%-";
	// zero for a literal.
	macro   byte
	digits  int  // keep this many right-hand parts; 0 keeps all
	reverse bool // the "r" transformer
	delims  string
}

var errMacro = errors.New("spf: invalid macro")

func macroError(format string, args ...any) error {
	return fmt.Errorf("%w: %s (RFC 7208 §7.1)", errMacro, fmt.Sprintf(format, args...))
}

// parseMacros parses a macro-string, or with explain an explain-string,
// which also allows spaces and the letters c, r and t (RFC 7208 §7.1).
// Literal characters are visible ASCII except "%".
func parseMacros(s string, explain bool) ([]token, error) {
	var toks []token
	lit := 0 // start of the current literal run
	flush := func(end int) {
		if end > lit {
			toks = append(toks, token{literal: s[lit:end]})
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			if (c < 0x21 || c > 0x7e) && !(explain && c == ' ') {
				return nil, macroError("character %#x is not allowed", c)
			}
			continue
		}
		flush(i)
		if i+1 >= len(s) {
			return nil, macroError("%% at the end")
		}
		switch s[i+1] {
		case '%', '_', '-':
			toks = append(toks, token{macro: s[i+1]})
			i++
		case '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, macroError("%%{ without }")
			}
			t, err := parseMacro(s[i+2:i+end], explain)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i += end
		default:
			return nil, macroError("%% followed by %q", s[i+1])
		}
		lit = i + 1
	}
	flush(len(s))
	return toks, nil
}

// parseMacro parses the inside of %{...}: macro-letter transformers
// *delimiter, with transformers = *DIGIT [ "r" ].
func parseMacro(m string, explain bool) (token, error) {
	if m == "" {
		return token{}, macroError("empty %%{}")
	}
	t := token{macro: m[0]}
	switch m[0] | 0x20 {
	case 's', 'l', 'o', 'd', 'i', 'p', 'h', 'v':
	case 'c', 'r', 't':
		if !explain {
			return t, macroError("%%{%c} is allowed only in explanations", m[0])
		}
	default:
		return t, macroError("unknown macro letter %q", m[0])
	}
	rest := m[1:]
	j, n := 0, 0
	for j < len(rest) && isDigit(rest[j]) {
		n = min(n*10+int(rest[j]-'0'), 1000) // more than any name has parts
		j++
	}
	if j > 0 && n == 0 { // RFC 7208 §7.1: the number must be nonzero
		return t, macroError("%%{%s}: the number of parts must be 1 or more", m)
	}
	t.digits = n
	rest = rest[j:]
	if rest != "" && rest[0]|0x20 == 'r' {
		t.reverse, rest = true, rest[1:]
	}
	if strings.Trim(rest, ".-+,/_=") != "" {
		return t, macroError("%%{%s}: bad delimiter", m)
	}
	t.delims = rest
	return t, nil
}

// macroEnv holds the values of the macro letters (RFC 7208 §7.3).
type macroEnv struct {
	ip       netip.Addr
	sender   string
	domain   string // the current <domain>
	helo     string
	receiver string
	now      func() time.Time
	// validated returns the %{p} value; nil means "unknown".
	validated func() string
}

// expand expands a macro-string, or with explain an explain-string (RFC
// 7208 §7.3, §7.4). The result is at most maxExpansion octets.
func expand(s string, env macroEnv, explain bool) (string, error) {
	toks, err := parseMacros(s, explain)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, t := range toks {
		switch t.macro {
		case 0:
			b.WriteString(t.literal)
		case '%':
			b.WriteByte('%')
		case '_':
			b.WriteByte(' ')
		case '-':
			b.WriteString("%20")
		default:
			b.WriteString(t.value(env))
		}
		if b.Len() > maxExpansion {
			return "", fmt.Errorf("%w: expands to more than %d octets", errMacro, maxExpansion)
		}
	}
	return b.String(), nil
}

// value expands one %{...}: split on the delimiters, reverse, keep the
// right-hand parts, join with dots, URL-escape for an upper-case letter.
func (t token) value(env macroEnv) string {
	v := letterValue(t.macro|0x20, env)
	if t.digits > 0 || t.reverse || t.delims != "" {
		delims := t.delims
		if delims == "" {
			delims = "."
		}
		parts := splitAny(v, delims)
		if t.reverse {
			slices.Reverse(parts)
		}
		if t.digits > 0 && t.digits < len(parts) {
			parts = parts[len(parts)-t.digits:]
		}
		v = strings.Join(parts, ".")
	}
	if 'A' <= t.macro && t.macro <= 'Z' {
		v = escapeUnreserved(v)
	}
	return v
}

// splitAny splits s at every octet in delims, keeping empty parts.
func splitAny(s, delims string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(delims, s[i]) >= 0 {
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func letterValue(l byte, env macroEnv) string {
	switch l {
	case 's':
		return env.sender
	case 'l':
		at := strings.LastIndexByte(env.sender, '@')
		return env.sender[:max(at, 0)]
	case 'o':
		at := strings.LastIndexByte(env.sender, '@')
		return env.sender[at+1:]
	case 'd':
		return env.domain
	case 'i':
		return dottedIP(env.ip)
	case 'p':
		if env.validated == nil {
			return "unknown"
		}
		return env.validated()
	case 'v':
		if env.ip.Is4() {
			return "in-addr"
		}
		return "ip6"
	case 'h':
		return env.helo
	case 'c':
		return env.ip.String()
	case 'r':
		return env.receiver
	case 't':
		now := time.Now
		if env.now != nil {
			now = env.now
		}
		return strconv.FormatInt(now().Unix(), 10)
	}
	return ""
}

// dottedIP is the %{i} form: dotted quad, or dotted nibbles for IPv6 (RFC
// 7208 §7.3), in lower case as the example of RFC 7208 §7.4.
func dottedIP(ip netip.Addr) string {
	if ip.Is4() {
		return ip.String()
	}
	const hex = "0123456789abcdef"
	b := make([]byte, 0, 63)
	for i, x := range ip.As16() {
		if i > 0 {
			b = append(b, '.')
		}
		b = append(b, hex[x>>4], '.', hex[x&0xf])
	}
	return string(b)
}

// escapeUnreserved URL-escapes all but the unreserved characters of
// RFC 3986 §2.3, as upper-case macro letters ask (RFC 7208 §7.3).
func escapeUnreserved(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}
