package imapwire

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified UTF-7 for mailbox names (RFC 3501 §5.1.3): printable ASCII
// stands for itself except "&", written "&-"; other characters are UTF-16
// in modified base64 (with "," for "/") between "&" and "-".

var b64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding).Strict()

var errUTF7 = errors.New("imapwire: invalid modified UTF-7")

// EncodeUTF7 encodes a UTF-8 mailbox name in modified UTF-7.
func EncodeUTF7(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c <= 0x7e {
			if c == '&' {
				b.WriteString("&-")
			} else {
				b.WriteByte(c)
			}
			i++
			continue
		}
		j := i
		for j < len(s) && (s[j] < 0x20 || s[j] > 0x7e) {
			_, n := utf8.DecodeRuneInString(s[j:])
			j += n
		}
		var u []uint16
		for _, r := range s[i:j] {
			u = utf16.AppendRune(u, r)
		}
		raw := make([]byte, 0, 2*len(u))
		for _, x := range u {
			raw = append(raw, byte(x>>8), byte(x))
		}
		b.WriteByte('&')
		b.WriteString(b64.EncodeToString(raw))
		b.WriteByte('-')
		i = j
	}
	return b.String()
}

// isB64 reports whether c is in the modified base64 alphabet.
func isB64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == ','
}

// DecodeUTF7 decodes a modified UTF-7 mailbox name to UTF-8. It rejects
// bytes outside printable ASCII, unterminated or empty shifts, characters
// outside the base64 alphabet in a shift, and non-minimal encodings of
// printable ASCII. Control characters encoded in a shift are decoded:
// callers that refuse them check the result.
func DecodeUTF7(s string) (string, error) {
	if !strings.ContainsAny(s, "&") {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7e {
				return "", errUTF7
			}
		}
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", errUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", errUTF7
		}
		enc := s[i+1 : i+1+end]
		i += end + 2
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		// The decoder skips CR and LF: check the alphabet first, or
		// "INB&\n-OX" would be INBOX.
		for k := 0; k < len(enc); k++ {
			if !isB64(enc[k]) {
				return "", errUTF7
			}
		}
		raw, err := b64.DecodeString(enc)
		if err != nil || len(raw) == 0 || len(raw)%2 != 0 {
			return "", errUTF7
		}
		u := make([]uint16, len(raw)/2)
		for k := range u {
			u[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		for k := 0; k < len(u); k++ {
			r := rune(u[k])
			if utf16.IsSurrogate(r) {
				if k+1 >= len(u) {
					return "", errUTF7
				}
				r = utf16.DecodeRune(r, rune(u[k+1]))
				if r == utf8.RuneError {
					return "", errUTF7
				}
				k++
			} else if r >= 0x20 && r <= 0x7e {
				return "", errUTF7 // must have been written directly
			}
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}
