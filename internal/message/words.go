package message

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
)

// ErrUnknownCharset is returned by DecodeCharset for a charset it does not
// know.
var ErrUnknownCharset = errors.New("message: unknown charset")

// DecodeCharset converts b from charset to UTF-8. Bytes that are invalid in
// the charset become U+FFFD. An empty charset, us-ascii and utf-8 are taken
// as UTF-8 (8-bit bytes in "us-ascii" text are usually UTF-8). Other names
// are looked up as WHATWG labels, then IANA names, so aliases such as
// latin1, cp1252, gb2312 or ks_c_5601-1987 work. An unknown charset gives
// an error wrapping ErrUnknownCharset.
func DecodeCharset(charset string, b []byte) (string, error) {
	enc, ok := lookupCharset(charset)
	if !ok {
		return "", fmt.Errorf("%w %q", ErrUnknownCharset, charset)
	}
	if enc == nil {
		return validUTF8(b), nil
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		// x/text decoders replace invalid input; an error here means a
		// transformer failure, so fall back to the bytes as UTF-8.
		return validUTF8(b), nil
	}
	return validUTF8(out), nil
}

// lookupCharset returns the decoder for charset: nil for UTF-8 (and its
// subsets); ok is false when the charset is unknown.
func lookupCharset(charset string) (enc encoding.Encoding, ok bool) {
	cs := strings.ToLower(strings.TrimSpace(charset))
	switch cs {
	case "", "utf-8", "utf8", "us-ascii", "ascii", "ansi_x3.4-1968":
		return nil, true
	}
	if e, err := htmlindex.Get(cs); err == nil {
		if e == encoding.Replacement {
			return nil, false // WHATWG's stand-in for unsupported charsets
		}
		if e == encoding.Nop {
			return nil, true
		}
		return e, true
	}
	if e, err := ianaindex.MIME.Encoding(cs); err == nil && e != nil {
		return e, true
	}
	return nil, false
}

func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// DecodeWords decodes the RFC 2047 encoded-words in s (a header field body
// already unfolded) to UTF-8. Both the B and Q encodings and any charset
// DecodeCharset knows are accepted; an RFC 2231 language suffix on the
// charset is ignored. White space between two adjacent encoded-words is
// dropped (RFC 2047 §6.2), and the bytes of adjacent words in the same
// charset are joined before conversion so that a character split across
// words survives. Malformed words and words in unknown charsets are left as
// they are. Encoded-words are recognized anywhere, not only between white
// space, because real mail needs it.
func DecodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	var out strings.Builder
	var pend []byte // decoded bytes of the current run of words
	var pendCS string
	flush := func() {
		if len(pend) > 0 {
			d, _ := DecodeCharset(pendCS, pend) // the charset was checked
			out.WriteString(d)
		}
		pend, pendCS = pend[:0], ""
	}
	text := 0 // start of the literal text not yet written
	for i := 0; i < len(s); {
		k := strings.Index(s[i:], "=?")
		if k < 0 {
			break
		}
		k += i
		cs, dec, end, ok := decodeWord(s, k)
		if !ok {
			i = k + 1
			continue
		}
		// RFC 2047 §6.2: white space between encoded-words is ignored.
		gap := s[text:k]
		if text == 0 || strings.Trim(gap, " \t\r\n") != "" {
			flush()
			out.WriteString(gap)
		}
		if !strings.EqualFold(cs, pendCS) {
			flush()
		}
		pendCS = cs
		pend = append(pend, dec...)
		text, i = end, end
	}
	flush()
	out.WriteString(s[text:])
	return out.String()
}

// decodeWord decodes the encoded-word "=?charset?encoding?text?=" (RFC 2047
// §2) at s[k:]. It returns the charset, the decoded bytes and the offset
// just past the word.
func decodeWord(s string, k int) (cs string, dec []byte, end int, ok bool) {
	rest := s[k+2:]
	q := strings.IndexByte(rest, '?')
	if q <= 0 || q+3 > len(rest) || rest[q+2] != '?' {
		return "", nil, 0, false
	}
	cs, enc, text := rest[:q], rest[q+1], rest[q+3:]
	// encoded-text has no "?" (RFC 2047 §2), so the first one must start
	// "?=". Stopping there keeps decoding linear on hostile input.
	n := strings.IndexByte(text, '?')
	if n < 0 || n+1 >= len(text) || text[n+1] != '=' {
		return "", nil, 0, false
	}
	text = text[:n]
	if strings.ContainsAny(cs, " \t\r\n\"()<>@,;:/[]=") || strings.ContainsAny(text, " \t\r\n") {
		return "", nil, 0, false
	}
	// RFC 2231 §5: charset*language.
	if i := strings.IndexByte(cs, '*'); i >= 0 {
		cs = cs[:i]
	}
	if _, known := lookupCharset(cs); !known || cs == "" {
		return "", nil, 0, false
	}
	switch enc {
	case 'B', 'b': // RFC 2047 §4.1
		dec, ok = decodeBase64(text)
	case 'Q', 'q': // RFC 2047 §4.2
		dec, ok = decodeQ(text), true
	}
	return cs, dec, k + 2 + q + 3 + n + 2, ok
}

func decodeBase64(s string) ([]byte, bool) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, true
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	return b, err == nil
}

// decodeQ decodes RFC 2047 §4.2 "Q" text; a malformed "=" stays literal.
func decodeQ(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '_':
			b = append(b, ' ')
		case c == '=' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return b
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}
