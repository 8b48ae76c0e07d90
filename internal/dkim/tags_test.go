package dkim

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

func TestParseTags(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // name=value|... or "error"
	}{
		{"", ""},
		{"v=1", "v=1"},
		{" v = 1 ; a=rsa-sha256;", "v=1|a=rsa-sha256"},
		{"b=AB CD\r\n EF; h=from : to", "b=AB CD\r\n EF|h=from : to"},
		{"v=1;;a=x", "error"},
		{"v=1; ;a=x", "error"},
		{"v=1;\r\n\t;a=x", "error"},
		{";v=1", "error"},
		{"v=1;;", "error"},
		{"v=1; \r\n", "v=1"},
		{" ; ", "error"},
		{"p=", "p="},
		{"s_1=x", "s_1=x"},
		{"i=jöe@example.com", "i=jöe@example.com"},
		{"v=1; v=2", "error"},
		{"novalue", "error"},
		{"1a=x", "error"},
		{"a-b=x", "error"},
		{"=x", "error"},
		{"a=x\x00y", "error"},
		{"a=x\ry", "error"},
		{"a=x\r\ny", "error"},
		{"a=x\ny", "error"},
	} {
		l, err := parseTags(c.in)
		got := ""
		if err != nil {
			got = "error"
		} else {
			var parts []string
			for _, tg := range l {
				parts = append(parts, tg.Name+"="+tg.Value)
			}
			got = strings.Join(parts, "|")
		}
		if got != c.want {
			t.Errorf("parseTags(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestParseTagsErrors(t *testing.T) {
	if _, err := parseTags("a=1; a=2"); !errors.Is(err, ErrDuplicateTag) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := parseTags("a"); !errors.Is(err, ErrTagSyntax) {
		t.Errorf("syntax: %v", err)
	}
}

// FuzzParseTags: no panics; every parsed name is valid, no duplicates, and
// values carry no ';' nor surrounding whitespace.
func FuzzParseTags(f *testing.F) {
	for _, s := range []string{
		"v=1; a=rsa-sha256; d=example.com; s=sel; h=from:to; bh=AAAA; b=BBBB",
		"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
		"a=b\r\n c;;", "=", ";", "a=;b=", "a=\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := parseTags(s)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, tg := range l {
			if !validTagName(tg.Name) || seen[tg.Name] {
				t.Fatalf("bad or duplicate name %q", tg.Name)
			}
			seen[tg.Name] = true
			if strings.Contains(tg.Value, ";") || tg.Value != trimFWS(tg.Value) {
				t.Fatalf("bad value %q", tg.Value)
			}
		}
	})
}

// FuzzVerify: any message, verified against a zone with one key, never
// panics, returns one result per DKIM-Signature field and never a pass
// without a domain.
func FuzzVerify(f *testing.F) {
	f.Add(readFile(f, "signed.eml"))
	f.Add(readFile(f, "rfc8463.eml"))
	f.Add("DKIM-Signature: v=1; a=rsa-sha256; l=1; d=x.example; s=s; h=from; bh=; b=\r\n\r\n")
	f.Add("From: a\n\tb\nDKIM-Signature:\n")
	res := dnstest.NewResolver(testZone(f))
	f.Fuzz(func(t *testing.T, msg string) {
		v := &Verifier{Resolver: res, Now: func() time.Time { return signTime }}
		results, err := v.Verify(context.Background(), strings.NewReader(msg))
		if err != nil {
			return
		}
		for _, r := range results {
			if r.Status == StatusPass && r.Domain.IsZero() {
				t.Fatalf("pass without domain: %+v", r)
			}
			if r.Explanation == "" {
				t.Fatalf("no explanation: %+v", r)
			}
		}
	})
}
