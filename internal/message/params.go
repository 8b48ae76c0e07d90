package message

import (
	"slices"
	"strconv"
	"strings"
)

// ParseMediaType parses a Content-Type field body (RFC 2045 §5.1): it
// returns the lower-case type and subtype and the parameters (see
// ParseParams). ok is false when the type/subtype is not valid; the caller
// then applies the RFC 2045 §5.2 default.
func ParseMediaType(s string) (typ, sub string, params map[string]string, ok bool) {
	s = skipCFWS(s)
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	typ, s = s[:i], skipCFWS(s[i:])
	if typ == "" || !strings.HasPrefix(s, "/") {
		return "", "", nil, false
	}
	s = skipCFWS(s[1:])
	i = 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	sub, s = s[:i], s[i:]
	if sub == "" {
		return "", "", nil, false
	}
	return strings.ToLower(typ), strings.ToLower(sub), ParseParams(s), true
}

// ParseDisposition parses a Content-Disposition field body (RFC 2183 §2):
// the lower-case disposition type and its parameters.
func ParseDisposition(s string) (typ string, params map[string]string) {
	s = skipCFWS(s)
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	return strings.ToLower(s[:i]), ParseParams(s[i:])
}

// ParseParams parses the parameter list that follows a media type or
// disposition type: *(";" attribute "=" value) (RFC 2045 §5.1). Keys are
// lower-cased; the first of duplicate keys wins; at most MaxParams are kept.
// RFC 2231 extended and continued parameters (name*=, name*0*=, name*1=…)
// are joined and decoded from their charset, and take precedence over a
// plain parameter of the same name. RFC 2047 encoded-words in plain values
// are decoded too (RFC 2047 §5 forbids them, but clients use them for file
// names), except in boundary and charset. Parsing is lenient: missing
// semicolons, unquoted values with spaces and comments are tolerated. It
// returns nil when there are no parameters.
func ParseParams(s string) map[string]string {
	var plain []param
	var ext []param
	for n := 0; n < 4*MaxParams; n++ {
		s = skipCFWS(s)
		for strings.HasPrefix(s, ";") {
			s = skipCFWS(s[1:])
		}
		if s == "" {
			break
		}
		var p param
		var ok bool
		p, s, ok = nextParam(s)
		if !ok {
			continue
		}
		if p.section >= 0 {
			ext = append(ext, p)
		} else {
			plain = append(plain, p)
		}
	}
	if len(plain) == 0 && len(ext) == 0 {
		return nil
	}
	m := make(map[string]string, len(plain))
	joinExtended(m, ext)
	for _, p := range plain {
		if len(m) >= MaxParams {
			break
		}
		if _, dup := m[p.name]; dup {
			continue
		}
		v := p.value
		if p.name != "boundary" && p.name != "charset" {
			v = DecodeWords(v)
		}
		m[p.name] = v
	}
	return m
}

// param is one parsed parameter; section is -1 for a plain parameter and
// the RFC 2231 section number (0 for "name*") otherwise.
type param struct {
	name     string
	value    string
	section  int
	extended bool // RFC 2231 "*" after the name: value is charset'lang'%XX encoded
}

// nextParam parses attribute=value at the start of s.
func nextParam(s string) (p param, rest string, ok bool) {
	i := 0
	for i < len(s) && s[i] != '=' && s[i] != ';' && !isWSP(s[i]) && s[i] != '"' {
		i++
	}
	name := strings.ToLower(s[:i])
	s = skipCFWS(s[i:])
	if !strings.HasPrefix(s, "=") || name == "" {
		// Not attribute=value: skip to the next semicolon.
		if j := strings.IndexByte(s, ';'); j >= 0 {
			return p, s[j:], false
		}
		return p, "", false
	}
	s = skipCFWS(s[1:])
	var v string
	if strings.HasPrefix(s, `"`) {
		v, s = quotedString(s)
	} else {
		j := strings.IndexByte(s, ';')
		if j < 0 {
			j = len(s)
		}
		v, s = s[:j], s[j:]
		if k := strings.Index(v, " ("); k >= 0 {
			v = v[:k] // a trailing comment
		}
		v = strings.TrimRight(v, " \t\r\n")
	}
	p = param{name: name, value: v, section: -1}
	// RFC 2231 §3, §4: name*, name*N, name*N*.
	if k := strings.IndexByte(name, '*'); k > 0 {
		p.name = name[:k]
		tail := name[k+1:]
		if p.extended = strings.HasSuffix(tail, "*"); p.extended {
			tail = tail[:len(tail)-1]
		}
		switch n, err := strconv.Atoi(tail); {
		case tail == "":
			p.section = 0
			p.extended = true
		case err == nil && n >= 0 && n < 1000 && (tail == "0" || tail[0] != '0'):
			p.section = n
		default:
			return p, s, false
		}
	}
	return p, s, true
}

// joinExtended assembles RFC 2231 parameters: sections in order of their
// number (RFC 2231 §3), the first section's charset'language' prefix and
// %XX escapes in extended sections (RFC 2231 §4), and the whole value
// converted from the charset.
func joinExtended(m map[string]string, ext []param) {
	slices.SortStableFunc(ext, func(a, b param) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return a.section - b.section
	})
	for i := 0; i < len(ext); {
		j := i
		for j < len(ext) && ext[j].name == ext[i].name {
			j++
		}
		if len(m) < MaxParams {
			m[ext[i].name] = joinSections(ext[i:j])
		}
		i = j
	}
}

func joinSections(secs []param) string {
	var charset string
	var b []byte
	next := 0
	for _, p := range secs { // sorted by section
		if p.section < next {
			continue // a duplicate section: the first wins
		}
		if p.section > next {
			break // a gap: RFC 2231 §3 says to stop
		}
		next++
		v := p.value
		if p.extended {
			if p.section == 0 {
				if a := strings.IndexByte(v, '\''); a >= 0 {
					if l := strings.IndexByte(v[a+1:], '\''); l >= 0 {
						charset, v = v[:a], v[a+1+l+1:]
					}
				}
			}
			b = append(b, percentDecode(v)...)
		} else {
			b = append(b, v...)
		}
	}
	if charset == "" {
		return string(b)
	}
	s, err := DecodeCharset(charset, b)
	if err != nil {
		return string(b)
	}
	return s
}

func percentDecode(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return b
}

// quotedString parses the quoted-string (RFC 5322 §3.2.4) at the start of s,
// returning its unescaped content and the rest of s. An unterminated string
// runs to the end.
func quotedString(s string) (v, rest string) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:]
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '\r', '\n':
			// Folding inside the quotes.
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}

// skipCFWS skips white space and comments (RFC 5322 §3.2.2).
func skipCFWS(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if !strings.HasPrefix(s, "(") {
			return s
		}
		s = skipComment(s)
	}
}

// skipComment skips the (possibly nested) comment at the start of s.
func skipComment(s string) string {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return s[i+1:]
			}
		}
	}
	return ""
}

// isTokenChar reports whether c may appear in an RFC 2045 §5.1 token.
func isTokenChar(c byte) bool {
	return c > ' ' && c < 0x7f && strings.IndexByte(`()<>@,;:\"/[]?=`, c) < 0
}

// parseLanguage parses a Content-Language field body (RFC 3282 §2): a comma
// separated list of language tags.
func parseLanguage(s string) []string {
	var tags []string
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(skipCFWS(t))
		if i := strings.IndexAny(t, " \t("); i >= 0 {
			t = t[:i]
		}
		if t != "" {
			tags = append(tags, t)
		}
	}
	return tags
}

// tokenValue returns the first token of a field body such as
// Content-Transfer-Encoding, lower-cased, skipping comments.
func tokenValue(s string) string {
	s = skipCFWS(s)
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	return strings.ToLower(s[:i])
}
