package imapwire

import (
	"bufio"
	"strings"
	"testing"
)

// TestWriterString checks quoting, escaping and the fall back to a
// literal.
func TestWriterString(t *testing.T) {
	for _, tc := range []struct {
		in   string
		utf8 bool
		want string
	}{
		{"", false, `""`},
		{"plain text", false, `"plain text"`},
		{`a "quoted" word`, false, `"a \"quoted\" word"`},
		{`back\slash\`, false, `"back\\slash\\"`},
		{`"\`, false, `"\"\\"`},
		{"two\r\nlines", false, "{10}\r\ntwo\r\nlines"},
		{"café", false, "{5}\r\ncafé"},
		{"café", true, `"café"`},
		{strings.Repeat("x", 1024), false, "{1024}\r\n" + strings.Repeat("x", 1024)},
	} {
		var sb strings.Builder
		bw := bufio.NewWriter(&sb)
		w := NewWriter(bw)
		w.UTF8 = tc.utf8
		w.String(tc.in)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := sb.String(); got != tc.want {
			t.Errorf("String(%q, utf8 %v) = %q, want %q", tc.in, tc.utf8, got, tc.want)
		}
	}
}

// TestWriterNoNULInLiteral: a literal never carries NUL (RFC 9051 §4.3);
// a literal8 carries the bytes unchanged.
func TestWriterNoNULInLiteral(t *testing.T) {
	for _, tc := range []struct {
		write func(w *Writer)
		want  string
	}{
		{func(w *Writer) { w.String("a\x00b") }, "{3}\r\na\x80b"},
		{func(w *Writer) { w.Literal(strings.NewReader("\x00x\x00"), 3, false) }, "{3}\r\n\x80x\x80"},
		{func(w *Writer) { w.Literal(strings.NewReader("\x00x\x00"), 3, true) }, "~{3}\r\n\x00x\x00"},
	} {
		var sb strings.Builder
		bw := bufio.NewWriter(&sb)
		w := NewWriter(bw)
		tc.write(w)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := sb.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}
