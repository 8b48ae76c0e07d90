package smtp

import (
	"errors"
	"strings"
)

// ErrBadParam is returned for malformed ESMTP parameters.
var ErrBadParam = errors.New("smtp: malformed parameter")

// Param is one esmtp-param (RFC 5321 §4.1.2): keyword[=value]. Keyword is
// upper-cased; Value is as sent (still xtext-encoded where the extension
// says so).
type Param struct {
	Keyword string
	Value   string
	HasVal  bool
}

// ParseParams parses space-separated esmtp-params (RFC 5321 §4.1.2):
// esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"); esmtp-value =
// 1*(%d33-60 / %d62-126 / UTF-8 non-ASCII).
func ParseParams(s string) ([]Param, error) {
	var ps []Param
	for _, f := range strings.Fields(s) {
		k, v, has := strings.Cut(f, "=")
		if !validKeyword(k) || has && !validValue(v) {
			return nil, ErrBadParam
		}
		ps = append(ps, Param{Keyword: strings.ToUpper(k), Value: v, HasVal: has})
	}
	return ps, nil
}

func validKeyword(k string) bool {
	if k == "" || !isAlnum(k[0]) {
		return false
	}
	for i := 1; i < len(k); i++ {
		if !isAlnum(k[i]) && k[i] != '-' {
			return false
		}
	}
	return true
}

func validValue(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 33 || c == '=' || c == 127 {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// DecodeXtext decodes xtext (RFC 3461 §4): "+" followed by two upper-case
// hex digits stands for that octet.
func DecodeXtext(s string) (string, error) {
	if !strings.Contains(s, "+") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '+' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) || !isUpperHex(s[i+1]) || !isUpperHex(s[i+2]) {
			return "", ErrBadParam
		}
		b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
		i += 2
	}
	return b.String(), nil
}

// EncodeXtext encodes s as xtext (RFC 3461 §4).
func EncodeXtext(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 || c == '+' || c == '=' {
			b.WriteByte('+')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isUpperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}
