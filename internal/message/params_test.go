package message

import (
	"maps"
	"testing"
)

func TestParseMediaType(t *testing.T) {
	tests := []struct {
		in       string
		typ, sub string
		params   map[string]string
		ok       bool
	}{
		{"text/plain", "text", "plain", nil, true},
		{"TEXT/HTML; CHARSET=UTF-8", "text", "html", map[string]string{"charset": "UTF-8"}, true},
		{` multipart/mixed ; boundary="=_a b;c"`, "multipart", "mixed", map[string]string{"boundary": "=_a b;c"}, true},
		{"text / plain (comment) ; charset = us-ascii (Plain text)", "text", "plain", map[string]string{"charset": "us-ascii"}, true},
		{"text/plain;; charset=utf-8;", "text", "plain", map[string]string{"charset": "utf-8"}, true},
		{`text/plain; charset="utf-8"; charset=latin1`, "text", "plain", map[string]string{"charset": "utf-8"}, true},
		{`text/plain; name="a \"quoted\" name"`, "text", "plain", map[string]string{"name": `a "quoted" name`}, true},
		{`text/plain; name=my file.txt`, "text", "plain", map[string]string{"name": "my file.txt"}, true},
		{`text/plain; name="unterminated`, "text", "plain", map[string]string{"name": "unterminated"}, true},
		{`text/plain; junk; x=1`, "text", "plain", map[string]string{"x": "1"}, true},
		{`text/plain; =novalue; x=1`, "text", "plain", map[string]string{"x": "1"}, true},
		{"text", "", "", nil, false},
		{"text/", "", "", nil, false},
		{"/plain", "", "", nil, false},
		{"", "", "", nil, false},
		{"tëxt/plain", "", "", nil, false},
		{"multipart/mixed; boundary==?utf-8?q?x?=", "multipart", "mixed", map[string]string{"boundary": "=?utf-8?q?x?="}, true},
	}
	for _, tt := range tests {
		typ, sub, params, ok := ParseMediaType(tt.in)
		if typ != tt.typ || sub != tt.sub || ok != tt.ok || !maps.Equal(params, tt.params) {
			t.Errorf("ParseMediaType(%q) = %q %q %q %v, want %q %q %q %v", tt.in, typ, sub, params, ok, tt.typ, tt.sub, tt.params, tt.ok)
		}
	}
}

func TestParseParams(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]string
	}{
		{"", nil},
		{";", nil},
		// RFC 2231 §3: continuations.
		{`; URL*0="ftp://"; URL*1="cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"`,
			map[string]string{"url": "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"}},
		// RFC 2231 §4: charset and language.
		{`; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A`, map[string]string{"title": "This is ***fun***"}},
		// RFC 2231 §4.1: both combined.
		{`; title*0*=us-ascii'en'This%20is%20even%20more%20; title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2="isn't it!"`,
			map[string]string{"title": "This is even more ***fun*** isn't it!"}},
		{`; filename*=UTF-8''na%C3%AFve.txt`, map[string]string{"filename": "naïve.txt"}},
		{`; filename*=iso-8859-1''caf%E9.txt`, map[string]string{"filename": "café.txt"}},
		{`; filename*=''plain.txt`, map[string]string{"filename": "plain.txt"}},
		{`; filename*=x-unknown''a%41`, map[string]string{"filename": "aA"}},
		{`; filename*=noquotes%41`, map[string]string{"filename": "noquotesA"}},
		// Out of order sections, a duplicate section, and a gap.
		{`; n*1=b; n*0=a; n*0=z; n*3=d`, map[string]string{"n": "ab"}},
		// The extended form wins over the plain one, whatever the order.
		{`; filename="fallback.txt"; filename*=UTF-8''real.txt`, map[string]string{"filename": "real.txt"}},
		{`; filename*=UTF-8''real.txt; filename="fallback.txt"`, map[string]string{"filename": "real.txt"}},
		// Bad section numbers are dropped.
		{`; n*x=1; n*01=2; n*99999=3; m=ok`, map[string]string{"m": "ok"}},
		// RFC 2047 in a quoted value (not allowed, but common).
		{`; name="=?UTF-8?Q?Gr=C3=BC=C3=9Fe.png?="`, map[string]string{"name": "Grüße.png"}},
		{`; name="=?UTF-8?B?w6TDtsO8?= =?UTF-8?B?LnR4dA==?="`, map[string]string{"name": "äöü.txt"}},
		{`; a=1 b=2`, map[string]string{"a": "1 b=2"}},
	}
	for _, tt := range tests {
		if got := ParseParams(tt.in); !maps.Equal(got, tt.want) {
			t.Errorf("ParseParams(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseParamsLimit(t *testing.T) {
	s := ""
	for i := range 3 * MaxParams {
		s += "; p" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + "=1"
	}
	if got := len(ParseParams(s)); got != MaxParams {
		t.Errorf("got %d params, want MaxParams", got)
	}
}

func TestParseDisposition(t *testing.T) {
	typ, params := ParseDisposition(`Attachment; filename="a.pdf"; size=12`)
	if typ != "attachment" || !maps.Equal(params, map[string]string{"filename": "a.pdf", "size": "12"}) {
		t.Errorf("got %q %q", typ, params)
	}
	if typ, params = ParseDisposition(""); typ != "" || params != nil {
		t.Errorf("empty: got %q %q", typ, params)
	}
}

func TestParseLanguage(t *testing.T) {
	got := parseLanguage(" en-US, (comment) de ,, fr (French)")
	if len(got) != 3 || got[0] != "en-US" || got[1] != "de" || got[2] != "fr" {
		t.Errorf("parseLanguage = %q", got)
	}
}
