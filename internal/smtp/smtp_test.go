package smtp

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestErrorReply(t *testing.T) {
	e := Errorf(550, Enhanced{5, 1, 1}, "<%s>: no such user\r\n250 injected", "a@b")
	if got, want := e.Reply(), "550 5.1.1 <a@b>: no such user  250 injected"; got != want {
		t.Errorf("Reply = %q, want %q", got, want)
	}
	if e.Temporary() {
		t.Error("550 is not temporary")
	}
	if (&Error{Code: 421}).Reply() != "421 4.0.0 " {
		t.Errorf("derived enhanced code: %q", (&Error{Code: 421}).Reply())
	}
	cause := errors.New("disk full")
	w := ErrLocal.Wrap(cause)
	if !errors.Is(w, cause) || !w.Temporary() || ErrLocal.Err != nil {
		t.Errorf("Wrap: %v", w)
	}
	if a := AsError(fmt.Errorf("x: %w", cause)); a.Code != 451 || !errors.Is(a, cause) {
		t.Errorf("AsError(plain) = %v", a)
	}
	if a := AsError(fmt.Errorf("x: %w", ErrMessageTooBig)); a != ErrMessageTooBig {
		t.Errorf("AsError(wrapped) = %v", a)
	}
}

func TestParseParams(t *testing.T) {
	ps, err := ParseParams("SIZE=100 body=8BITMIME SMTPUTF8")
	if err != nil || len(ps) != 3 || ps[1].Keyword != "BODY" || ps[1].Value != "8BITMIME" || ps[2].HasVal {
		t.Fatalf("ParseParams = %+v, %v", ps, err)
	}
	for _, bad := range []string{"=x", "-A=1", "A=", "A=b=c", "A\x01=1"} {
		if _, err := ParseParams(bad); err == nil {
			t.Errorf("ParseParams(%q) succeeded", bad)
		}
	}
}

func TestXtext(t *testing.T) {
	for _, s := range []string{"", "plain", "a+b=c d", "\x00\xff"} {
		got, err := DecodeXtext(EncodeXtext(s))
		if err != nil || got != s {
			t.Errorf("round trip %q: %q, %v", s, got, err)
		}
	}
	for _, bad := range []string{"+", "+4", "+4g", "+4a"} {
		if _, err := DecodeXtext(bad); err == nil {
			t.Errorf("DecodeXtext(%q) succeeded", bad)
		}
	}
}

// FuzzParseParams: parameters that parse are well-formed, one per field,
// and parse again to themselves when written back; xtext round-trips,
// both from any octets and from any value that decodes.
func FuzzParseParams(f *testing.F) {
	f.Add("SIZE=1 BODY=8BITMIME")
	f.Add("ENVID=a+2Bb")
	f.Fuzz(func(t *testing.T, s string) {
		if got, err := DecodeXtext(EncodeXtext(s)); err != nil || got != s {
			t.Fatalf("xtext round trip of %q: %q, %v", s, got, err)
		}
		ps, err := ParseParams(s)
		if err != nil {
			return
		}
		if len(ps) != len(strings.Fields(s)) {
			t.Fatalf("ParseParams(%q): %d params for %d fields", s, len(ps), len(strings.Fields(s)))
		}
		var fields []string
		for _, p := range ps {
			if !validKeyword(p.Keyword) || p.Keyword != strings.ToUpper(p.Keyword) || p.HasVal != (p.Value != "") ||
				strings.ContainsAny(p.Value, "= \t\r\n\x00\x7f") {
				t.Fatalf("ParseParams(%q): bad param %+v", s, p)
			}
			field := p.Keyword
			if p.HasVal {
				field += "=" + p.Value
			}
			fields = append(fields, field)
			dec, err := DecodeXtext(p.Value)
			if err != nil {
				continue
			}
			enc := EncodeXtext(dec)
			if again, err := DecodeXtext(enc); err != nil || again != dec {
				t.Fatalf("xtext %q: decoded %q, encoded %q, decoded again %q, %v", p.Value, dec, enc, again, err)
			}
			if enc != "" && !validValue(enc) {
				t.Fatalf("EncodeXtext(%q) = %q is not an esmtp-value", dec, enc)
			}
		}
		again, err := ParseParams(strings.Join(fields, " "))
		if err != nil || !slices.Equal(again, ps) {
			t.Fatalf("ParseParams(%q) = %+v; written back and parsed: %+v, %v", s, ps, again, err)
		}
	})
}
