package imapwire

import (
	"reflect"
	"testing"
)

func TestParseSort(t *testing.T) {
	p := NewParser([]byte(`RETURN (COUNT ALL count) (REVERSE DATE subject DISPLAYFROM) utf-8 UNSEEN FROM "a b"`), false)
	a := ParseSort(p)
	if err := p.End(); err != nil {
		t.Fatal(err)
	}
	want := []SortCriterion{{"DATE", true}, {"SUBJECT", false}, {"DISPLAYFROM", false}}
	if !reflect.DeepEqual(a.Criteria, want) || a.Charset != "utf-8" || !a.Extended ||
		!reflect.DeepEqual(a.Return, []string{"COUNT", "ALL"}) || len(a.Key.Sub) != 2 || a.Key.Sub[1].Str != "a b" {
		t.Errorf("got %+v", a)
	}
	for _, bad := range []string{
		"(DATE) ALL", "() UTF-8 ALL", "(REVERSE) UTF-8 ALL", "(NAME) UTF-8 ALL", "(DATE) UTF-8",
		"(DATE)UTF-8 ALL", "RETURN (FOO) (DATE) UTF-8 ALL", "(REVERSE REVERSE DATE) UTF-8 ALL",
	} {
		p := NewParser([]byte(bad), false)
		ParseSort(p)
		if p.End() == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseThread(t *testing.T) {
	p := NewParser([]byte(`references US-ASCII NOT DELETED`), false)
	a := ParseThread(p)
	if err := p.End(); err != nil || a.Algorithm != ThreadReferences || a.Charset != "US-ASCII" || a.Key.Sub[0].Op != "NOT" {
		t.Errorf("got %+v, %v", a, err)
	}
	p = NewParser([]byte(`REFERENCES ALL`), false)
	ParseThread(p)
	if p.End() == nil {
		t.Error("THREAD without charset parsed")
	}
}

func TestParseMetadata(t *testing.T) {
	p := NewParser([]byte(`(MAXSIZE 10 DEPTH Infinity) "" (/private/a /shared)`), false)
	g := ParseGetMetadata(p)
	if err := p.End(); err != nil || !g.HasMaxSize || g.MaxSize != 10 || g.Depth != DepthInfinity || g.Mailbox != "" ||
		!reflect.DeepEqual(g.Entries, []string{"/private/a", "/shared"}) {
		t.Errorf("GETMETADATA: %+v, %v", g, err)
	}
	p = NewParser([]byte("INBOX (/private/a NIL /shared/b \"x\" /shared/c {2}\r\nab /shared/d ~{2}\r\n\x00\x01)"), false)
	s := ParseSetMetadata(p)
	want := []MetadataValue{{"/private/a", nil}, {"/shared/b", []byte("x")}, {"/shared/c", []byte("ab")}, {"/shared/d", []byte{0, 1}}}
	if err := p.End(); err != nil || s.Mailbox != "INBOX" || !reflect.DeepEqual(s.Values, want) {
		t.Errorf("SETMETADATA: %+v, %v", s, err)
	}
	for _, bad := range []string{`INBOX ()`, `INBOX (/a)`, `INBOX (/a b)`} {
		p := NewParser([]byte(bad), false)
		ParseSetMetadata(p)
		if p.End() == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	p = NewParser([]byte(`"" (STORAGE 10 message 2)`), false)
	root, lims := ParseSetQuota(p)
	if err := p.End(); err != nil || root != "" || !reflect.DeepEqual(lims, []QuotaLimit{{"STORAGE", 10}, {"MESSAGE", 2}}) {
		t.Errorf("SETQUOTA: %q %+v %v", root, lims, err)
	}
}
