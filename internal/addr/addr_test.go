package addr

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseDomain(t *testing.T) {
	tests := []struct {
		in, ascii, unicode string
		err                error
	}{
		{"example.com", "example.com", "", nil},
		{"EXAMPLE.Com", "example.com", "", nil},
		{"mail-1.example.com", "mail-1.example.com", "", nil},
		{"bücher.example", "xn--bcher-kva.example", "bücher.example", nil},
		{"XN--BCHER-KVA.example", "xn--bcher-kva.example", "bücher.example", nil},
		{"localhost", "localhost", "", nil},
		{"_dmarc.example.com", "", "", ErrBadDomain}, // underscores are for DNS records, not mail domains
		{"", "", "", ErrEmpty},
		{"example.com.", "", "", ErrBadDomain},
		{"[1.2.3.4]", "", "", ErrBadDomain},
		{"a..b", "", "", ErrBadDomain},
		{"-a.b", "", "", ErrBadDomain},
		{"a-.b", "", "", ErrBadDomain},
		{"a b.c", "", "", ErrBadDomain},
		{"a@b.c", "", "", ErrBadDomain},
		{strings.Repeat("a", 64) + ".com", "", "", ErrBadDomain},
		{strings.Repeat("a.", 128) + "com", "", "", ErrTooLong},
		{"\xff.com", "", "", ErrBadDomain},
	}
	for _, tc := range tests {
		d, err := ParseDomain(tc.in)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("ParseDomain(%q) error %v, want %v", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDomain(%q): %v", tc.in, err)
			continue
		}
		if d.ASCII != tc.ascii || d.Unicode != tc.unicode {
			t.Errorf("ParseDomain(%q) = %+v, want %q %q", tc.in, d, tc.ascii, tc.unicode)
		}
	}
}

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in       string
		local    Localpart
		domain   string
		str, key string
		err      error
	}{
		{"User@Example.com", "User", "example.com", "User@example.com", "user@example.com", nil},
		{"a.b+tag@x.org", "a.b+tag", "x.org", "a.b+tag@x.org", "a.b+tag@x.org", nil},
		{`"a b"@x.org`, "a b", "x.org", `"a b"@x.org`, "a b@x.org", nil},
		{`"a@b"@x.org`, "a@b", "x.org", `"a@b"@x.org`, "a@b@x.org", nil},
		{`"a\"b"@x.org`, `a"b`, "x.org", `"a\"b"@x.org`, `a"b@x.org`, nil},
		{"jürgen@bücher.example", "jürgen", "xn--bcher-kva.example", "jürgen@bücher.example", "jürgen@xn--bcher-kva.example", nil},
		{"user", "", "", "", "", ErrNoAt},
		{"", "", "", "", "", ErrEmpty},
		{"@x.org", "", "", "", "", ErrEmpty},
		{".a@x.org", "", "", "", "", ErrBadLocal},
		{"a.@x.org", "", "", "", "", ErrBadLocal},
		{"a..b@x.org", "", "", "", "", ErrBadLocal},
		{"a b@x.org", "", "", "", "", ErrBadLocal},
		{`"unterminated@x.org`, "", "", "", "", ErrBadLocal},
		{`"a"b@x.org`, "", "", "", "", ErrBadLocal},
		{"@a,@b:user@c.org", "", "", "", "", ErrBadLocal},
		{"user@[1.2.3.4]", "", "", "", "", ErrBadDomain},
		{"user@x.org.", "", "", "", "", ErrBadDomain},
		{strings.Repeat("a", 65) + "@x.org", "", "", "", "", ErrTooLong},
	}
	for _, tc := range tests {
		a, err := ParseAddress(tc.in)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("ParseAddress(%q) error %v, want %v", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseAddress(%q): %v", tc.in, err)
			continue
		}
		if a.Localpart != tc.local || a.Domain.ASCII != tc.domain || a.String() != tc.str || a.Key() != tc.key {
			t.Errorf("ParseAddress(%q) = %q %q %q %q", tc.in, a.Localpart, a.Domain.ASCII, a.String(), a.Key())
		}
	}
}

// FuzzParseAddress checks that parsing never panics and that the printed
// form of a parsed address parses back to the same address.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"a@b.c", `"a b"@c.d`, "jürgen@bücher.example", `"\\"@x.y`, "a@xn--bcher-kva.example", "@", `""@a.b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		if !utf8.ValidString(a.String()) {
			t.Fatalf("invalid UTF-8 output for %q", s)
		}
		b, err := ParseAddress(a.String())
		if err != nil {
			t.Fatalf("reparse of %q (from %q): %v", a.String(), s, err)
		}
		if b.Key() != a.Key() {
			t.Fatalf("round trip %q -> %q -> %q", s, a.Key(), b.Key())
		}
		if _, err := ParseAddress(a.ASCIIString()); err != nil {
			t.Fatalf("reparse of ASCII form %q: %v", a.ASCIIString(), err)
		}
	})
}
