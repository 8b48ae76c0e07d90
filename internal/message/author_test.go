package message

import (
	"strings"
	"testing"
)

func TestAuthors(t *testing.T) {
	tests := []struct {
		header string
		want   string // the addresses, space-separated, or "error: substring"
	}{
		{"From: a@example.com\r\n", "a@example.com"},
		{"from: A <a@example.com>\r\n", "a@example.com"},
		{"FROM : a@example.com\r\n", "a@example.com"},
		{"From: a@example.com, b@example.net\r\n", "a@example.com b@example.net"},
		{"From: g: a@example.com, b@example.net;\r\n", "a@example.com b@example.net"},
		{"From: \"a@victim.example, b\" <x@evil.example>\r\n", "x@evil.example"},
		{"From: =?utf-8?q?a=40victim.example?= <x@evil.example>\r\n", "x@evil.example"},
		{"From: x@evil.example (a@victim.example)\r\n", "x@evil.example"},
		{"From: x@evil.example,\r\n\t<a@victim.example>\r\n", "x@evil.example a@victim.example"},
		{"From: \"a@b\"@evil.example\r\n", "\"a@b\"@evil.example"},
		{"Subject: none\r\n", "error: no From header field"},
		{"From: a@example.com\r\nFrom: b@example.net\r\n", "error: 2 From header fields"},
		{"From: a@example.com\r\nfrom: a@example.com\r\n", "error: 2 From header fields"},
		{"From: a@example.com\r\nFROM\t :\r\n b@example.net\r\n", "error: 2 From header fields"},
		{"From:\r\n", "error: holds no address"},
		{"From: undisclosed:;\r\n", "error: holds no address"},
		{"From: someone\r\n", "error: <someone> is incomplete"},
		{"From: a@example.com, someone\r\n", "error: <someone> is incomplete"},
		{"From: @example.com\r\n", "error: incomplete"},
		{"From: a@[192.0.2.1]\r\n", "error: address literal"},
		{"From: a@victim.example@evil.example\r\n", "error: more than one unquoted @"},
	}
	for _, tt := range tests {
		h := ParseHeader([]byte(tt.header + "\r\n"))
		as, err := h.Authors()
		var got string
		if err != nil {
			got = "error: " + err.Error()
		} else {
			var ss []string
			for _, a := range as {
				ss = append(ss, a.Mailbox+"@"+a.Host)
			}
			got = strings.Join(ss, " ")
		}
		if strings.HasPrefix(tt.want, "error: ") && !strings.Contains(got, strings.TrimPrefix(tt.want, "error: ")) ||
			!strings.HasPrefix(tt.want, "error: ") && got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.header, got, tt.want)
		}
	}
}

// FuzzAuthors: Authors never returns a group marker or a placeholder, and
// succeeds only for a header with exactly one From field.
func FuzzAuthors(f *testing.F) {
	for _, s := range []string{
		"From: a@example.com\r\n", "From: g: a@x.example, b@y.example;\r\n", "From: a@x\r\nfrom: b@y\r\n",
		"From: \"a@b, c\" <d@e>\r\n", "From: someone\r\n", "From:\r\n", "From: =?utf-8?q?a?= <b@c>, (x@y) z@w\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h := ParseHeader([]byte(s))
		as, err := h.Authors()
		if err != nil {
			return
		}
		if n := len(h.Values("From")); n != 1 {
			t.Fatalf("%d From fields accepted", n)
		}
		if len(as) == 0 {
			t.Fatal("no authors and no error")
		}
		for _, a := range as {
			if a.Host == "" || a.Host == MissingDomain || a.Mailbox == "" || a.Mailbox == MissingMailbox || strings.HasPrefix(a.Host, "[") {
				t.Fatalf("author %+v", a)
			}
		}
	})
}
