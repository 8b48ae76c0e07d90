package message

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseAddressList(t *testing.T) {
	type A = EnvAddress
	gs := func(name string) A { return A{Mailbox: name} }
	ge := A{}
	tests := []struct {
		in   string
		want []A
	}{
		{"", nil},
		{"   ", nil},
		{"user@example.com", []A{{"", "", "user", "example.com"}}},
		{"John Doe <john@example.com>", []A{{"John Doe", "", "john", "example.com"}}},
		{`"Doe, John" <john@example.com>, jane@example.com`, []A{{"Doe, John", "", "john", "example.com"}, {"", "", "jane", "example.com"}}},
		{"<john@example.com>", []A{{"", "", "john", "example.com"}}},
		{"john@example.com (John Doe)", []A{{"John Doe", "", "john", "example.com"}}},
		{"john@example.com (John (the) \\) Doe), x@y.test ( X\r\n Y ), z@q.test ()", []A{{"John (the) ) Doe", "", "john", "example.com"}, {"X Y", "", "x", "y.test"}, {"", "", "z", "q.test"}}},
		{"john@example.com (=?utf-8?q?Ren=C3=A9?=)", []A{{"René", "", "john", "example.com"}}},
		{"(before) john@example.com", []A{{"", "", "john", "example.com"}}},
		{"Joe Q. Public <jqp@example.com>", []A{{"Joe Q. Public", "", "jqp", "example.com"}}},
		{"=?utf-8?q?Ren=C3=A9?= <r@example.com>", []A{{"René", "", "r", "example.com"}}},
		{"=?utf-8?q?a?= =?utf-8?q?b?= <r@example.com>", []A{{"ab", "", "r", "example.com"}}},
		{`"=?utf-8?q?Ren=C3=A9?=" <r@example.com>`, []A{{"René", "", "r", "example.com"}}},
		{"Zoë <zoe@exämple.com>", []A{{"Zoë", "", "zoe", "exämple.com"}}},
		{`"john doe"@example.com`, []A{{"", "", `"john doe"`, "example.com"}}},
		{`"john"@example.com`, []A{{"", "", "john", "example.com"}}},
		{"john . doe @ example . com", []A{{"", "", "john.doe", "example.com"}}},
		{"a@[192.0.2.1]", []A{{"", "", "a", "[192.0.2.1]"}}},
		// RFC 5322 §A.1.3 group syntax.
		{"A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
			[]A{gs("A Group"), {"Ed Jones", "", "c", "a.test"}, {"", "", "joe", "where.test"}, {"John", "", "jdoe", "one.test"}, ge}},
		{"Undisclosed recipients:;", []A{gs("Undisclosed recipients"), ge}},
		{"g: a@b", []A{gs("g"), {"", "", "a", "b"}, ge}}, // unclosed group
		{"g: a@b; c@d", []A{gs("g"), {"", "", "a", "b"}, ge, {"", "", "c", "d"}}},
		{"a@b;", []A{{"", "", "a", "b"}}}, // stray semicolon
		// RFC 5322 §4.4 obsolete forms.
		{"<@r1.test,@r2.test:x@y.test>", []A{{"", "@r1.test,@r2.test", "x", "y.test"}}},
		{",,a@b,,", []A{{"", "", "a", "b"}}},
		{"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", []A{{"Pete", "", "pete", "silly.test"}}},
		// Garbage: best effort.
		{"just-a-name", []A{{"", "", "just-a-name", MissingDomain}}},
		{"broken@", []A{{"", "", "broken", MissingDomain}}},
		{"@nohost", []A{{"", "", MissingMailbox, "nohost"}}},
		{"Name <>", []A{{"Name", "", MissingMailbox, MissingDomain}}},
		{"Name <a@b", []A{{"Name", "", "a", "b"}}},
		{"Name <a@b> trailing, c@d", []A{{"Name", "", "a", "b"}, {"", "", "c", "d"}}},
		{"(unterminated comment a@b", nil},
		{`"unterminated quote a@b`, []A{{"", "", `"unterminated quote a@b"`, MissingDomain}}},
		{"a@b@c", []A{{"", "", "a@b", "c"}}},
	}
	for _, tt := range tests {
		if got := ParseAddressList(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("ParseAddressList(%q) =\n %q\nwant\n %q", tt.in, got, tt.want)
		}
	}
}

func TestEnvelopeDefaults(t *testing.T) {
	h := ParseHeader([]byte("From: a@b\r\nSender: \r\nSubject: =?utf-8?q?hi?=\r\n\r\n"))
	e := newEnvelope(h)
	want := []EnvAddress{{"", "", "a", "b"}}
	if !slices.Equal(e.Sender, want) || !slices.Equal(e.ReplyTo, want) || e.Subject != "hi" {
		t.Errorf("envelope = %+v", e)
	}
	e.Sender[0].Name = "changed"
	if e.From[0].Name != "" {
		t.Errorf("Sender aliases From")
	}
}

// TestParseAddressListLinear guards against quadratic behaviour: on these
// 256 KiB inputs it would take many minutes. The bound is far above what
// a linear parser needs under -race on a busy machine.
func TestParseAddressListLinear(t *testing.T) {
	for _, s := range []string{
		strings.Repeat("<", 1<<18),
		strings.Repeat("a@b,", 1<<16),
		strings.Repeat("(", 1<<18),
		strings.Repeat("g:", 1<<17),
		strings.Repeat(`"\`, 1<<17),
		strings.Repeat("=?utf-8?q?a?= ", 1<<14) + "<a@b>",
		strings.Repeat(")", 1<<18),
	} {
		start := time.Now()
		ParseAddressList(s)
		if d := time.Since(start); d > time.Minute {
			t.Errorf("ParseAddressList on %q…: %v", s[:10], d)
		}
	}
}
