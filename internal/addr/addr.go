// Package addr holds the typed mail values that cross package boundaries:
// Domain (ASCII and Unicode forms), Localpart and Address. Strings from the
// wire or the config are parsed once, at the edge, into these types.
package addr

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// Errors returned by the parsers.
var (
	ErrEmpty     = errors.New("addr: empty")
	ErrTooLong   = errors.New("addr: too long")
	ErrBadDomain = errors.New("addr: invalid domain")
	ErrBadLocal  = errors.New("addr: invalid localpart")
	ErrNoAt      = errors.New("addr: missing @")
)

// Limits from RFC 5321 §4.5.3.1.
const (
	MaxLocalpartLen = 64
	MaxDomainLen    = 255
)

// Domain is a DNS domain name in both its forms. ASCII is the lower-case
// A-label form used on the wire and as a lookup key; Unicode is the
// lower-case U-label form shown to people, empty when it equals ASCII.
type Domain struct {
	ASCII   string
	Unicode string
}

var idnaProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.Transitional(false))

// ParseDomain parses a domain given in ASCII (A-labels allowed) or Unicode.
// A trailing dot, empty labels, IP literals and labels over 63 octets are
// rejected (RFC 5321 §4.1.2, RFC 1035 §2.3.4).
func ParseDomain(s string) (Domain, error) {
	if s == "" {
		return Domain{}, ErrEmpty
	}
	if len(s) > MaxDomainLen {
		return Domain{}, ErrTooLong
	}
	if !utf8.ValidString(s) || strings.HasSuffix(s, ".") || strings.HasPrefix(s, "[") {
		return Domain{}, fmt.Errorf("%w: %q", ErrBadDomain, s)
	}
	ascii, err := idnaProfile.ToASCII(norm.NFC.String(s))
	if err != nil {
		return Domain{}, fmt.Errorf("%w: %q: %v", ErrBadDomain, s, err)
	}
	ascii = strings.ToLower(ascii)
	if len(ascii) > MaxDomainLen {
		return Domain{}, ErrTooLong
	}
	for _, label := range strings.Split(ascii, ".") {
		if !validLabel(label) {
			return Domain{}, fmt.Errorf("%w: %q", ErrBadDomain, s)
		}
	}
	uni, err := idnaProfile.ToUnicode(ascii)
	if err != nil {
		return Domain{}, fmt.Errorf("%w: %q: %v", ErrBadDomain, s, err)
	}
	d := Domain{ASCII: ascii}
	if uni != ascii {
		d.Unicode = uni
	}
	return d, nil
}

// validLabel reports whether l is an LDH label (RFC 1035 §2.3.1, with a
// leading digit allowed per RFC 1123 §2.1).
func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// MustParseDomain is ParseDomain for constants in tests and defaults; it
// panics on error.
func MustParseDomain(s string) Domain {
	d, err := ParseDomain(s)
	if err != nil {
		panic(err)
	}
	return d
}

// String returns the Unicode form when there is one, else the ASCII form.
func (d Domain) String() string {
	if d.Unicode != "" {
		return d.Unicode
	}
	return d.ASCII
}

// IsZero reports whether d is the zero Domain.
func (d Domain) IsZero() bool { return d.ASCII == "" }

// Localpart is the part of an address before the @, in its unquoted form
// (the meaning, not the syntax): `"a b"@x` has Localpart `a b`. It may hold
// UTF-8 (RFC 6531). Case is preserved; use Key for lookups.
type Localpart string

// ParseLocalpart parses a dot-atom or quoted-string localpart
// (RFC 5321 §4.1.2, RFC 6531 §3.3) and returns its unquoted form.
func ParseLocalpart(s string) (Localpart, error) {
	if s == "" {
		return "", ErrEmpty
	}
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: invalid UTF-8", ErrBadLocal)
	}
	var lp string
	if s[0] == '"' {
		v, rest, err := unquote(s)
		if err != nil {
			return "", err
		}
		if rest != "" {
			return "", fmt.Errorf("%w: text after quoted string", ErrBadLocal)
		}
		lp = v
	} else {
		if err := checkDotAtom(s); err != nil {
			return "", err
		}
		lp = s
	}
	if len(lp) > MaxLocalpartLen {
		return "", ErrTooLong
	}
	return Localpart(norm.NFC.String(lp)), nil
}

// unquote parses a quoted-string at the start of s (RFC 5321 §4.1.2).
func unquote(s string) (value, rest string, err error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			return b.String(), s[i+1:], nil
		case c == '\\':
			if i+1 >= len(s) || s[i+1] < 32 || s[i+1] == 127 {
				return "", "", fmt.Errorf("%w: bad quoted pair", ErrBadLocal)
			}
			i++
			b.WriteByte(s[i])
		case c < 32 || c == 127:
			return "", "", fmt.Errorf("%w: control character", ErrBadLocal)
		default:
			b.WriteByte(c)
		}
	}
	return "", "", fmt.Errorf("%w: unterminated quoted string", ErrBadLocal)
}

// checkDotAtom checks RFC 5321 Dot-string syntax, with UTF-8 allowed.
func checkDotAtom(s string) error {
	if s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return fmt.Errorf("%w: misplaced dot", ErrBadLocal)
	}
	for _, r := range s {
		if r == '.' || r >= 0x80 || isAtext(byte(r)) {
			continue
		}
		return fmt.Errorf("%w: character %q", ErrBadLocal, r)
	}
	return nil
}

func isAtext(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// String returns the localpart in wire syntax, quoted when needed.
func (lp Localpart) String() string {
	s := string(lp)
	if s != "" && checkDotAtom(s) == nil {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// Key is the lower-case form used to look a localpart up.
func (lp Localpart) Key() string { return strings.ToLower(string(lp)) }

// Address is a mailbox address: localpart@domain.
type Address struct {
	Localpart Localpart
	Domain    Domain
}

// ParseAddress parses localpart@domain. Source routes, IP literals and
// addresses without a domain are rejected; callers that must accept the bare
// "postmaster" (RFC 5321 §4.5.1) handle it themselves.
func ParseAddress(s string) (Address, error) {
	if s == "" {
		return Address{}, ErrEmpty
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return Address{}, ErrNoAt
	}
	lp, err := ParseLocalpart(s[:at])
	if err != nil {
		return Address{}, err
	}
	d, err := ParseDomain(s[at+1:])
	if err != nil {
		return Address{}, err
	}
	return Address{Localpart: lp, Domain: d}, nil
}

// MustParseAddress is ParseAddress for constants; it panics on error.
func MustParseAddress(s string) Address {
	a, err := ParseAddress(s)
	if err != nil {
		panic(err)
	}
	return a
}

// String returns the address for people: localpart@unicode-domain.
func (a Address) String() string {
	if a.IsZero() {
		return ""
	}
	return a.Localpart.String() + "@" + a.Domain.String()
}

// ASCIIString returns the address with the A-label domain form.
func (a Address) ASCIIString() string {
	if a.IsZero() {
		return ""
	}
	return a.Localpart.String() + "@" + a.Domain.ASCII
}

// Key is the canonical lookup key: lower-case localpart @ ASCII domain.
func (a Address) Key() string { return a.Localpart.Key() + "@" + a.Domain.ASCII }

// IsZero reports whether a is the zero Address.
func (a Address) IsZero() bool { return a.Localpart == "" && a.Domain.IsZero() }
