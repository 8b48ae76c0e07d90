package smtpclient

import (
	"testing"
)

func TestNormalizer(t *testing.T) {
	tests := []struct{ in, data, bdat string }{
		{"a\nb", "a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\r\nb\r\n", "a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\rb", "a\r\nb\r\n", "a\r\nb\r\n"},
		{".a\n.\n..", "..a\r\n..\r\n...\r\n", ".a\r\n.\r\n..\r\n"},
		{"x\r\n.\r\n", "x\r\n..\r\n", "x\r\n.\r\n"},
		{"", "", ""},
	}
	for _, tt := range tests {
		// Byte by byte, to exercise the state across chunks.
		d, b := normalizer{dotStuff: true}, normalizer{}
		var gd, gb []byte
		for i := range len(tt.in) {
			gd = d.append(gd, []byte{tt.in[i]})
			gb = b.append(gb, []byte{tt.in[i]})
		}
		gd, gb = d.finish(gd), b.finish(gb)
		if string(gd) != tt.data || string(gb) != tt.bdat {
			t.Errorf("%q: DATA %q BDAT %q", tt.in, gd, gb)
		}
	}
}

func TestParseEnhanced(t *testing.T) {
	for _, tt := range []struct {
		code int
		text string
		want string
	}{
		{550, "5.1.1 no such user", "5.1.1"},
		{250, "2.0.0", "2.0.0"},
		{550, "4.1.1 class mismatch", ""},
		{550, "no code here", ""},
		{451, "4.7.30 x", "4.7.30"},
		{550, "5.1 short", ""},
	} {
		if got := parseEnhanced(tt.code, tt.text); got != tt.want {
			t.Errorf("%d %q = %q", tt.code, tt.text, got)
		}
	}
}
