package dkim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/dns"
)

// TestVerifyRFCVectors verifies the examples of RFC 6376 Appendix A
// (rsa-sha256, simple/simple, key of Appendix C) and RFC 8463 Appendix A
// (ed25519-sha256 and rsa-sha256, relaxed/relaxed, keys of A.2).
func TestVerifyRFCVectors(t *testing.T) {
	res := testResolver(t)
	for _, c := range []struct{ file, want string }{
		{"rfc6376.eml", "pass"},
		{"rfc8463.eml", "pass,pass"},
	} {
		results := verify(t, res, readFile(t, c.file))
		if got := statuses(results); got != c.want {
			t.Errorf("%s: %s, want %s: %+v", c.file, got, c.want, results)
		}
	}
}

// verifyCases are the golden verification cases: a message built from the
// fixtures, verified over testZone.
func verifyCases(t *testing.T) []struct{ name, msg string } {
	rfc6376, rfc8463 := readFile(t, "rfc6376.eml"), readFile(t, "rfc8463.eml")
	signed := readFile(t, "signed.eml")
	unsigned := readFile(t, "unsigned.eml")
	// resign returns signed with the first signature's tags changed.
	resign := func(old, new string) string {
		if !strings.Contains(signed, old) {
			t.Fatalf("signed.eml lacks %q", old)
		}
		return strings.Replace(signed, old, new, 1)
	}
	extra := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "DKIM-Signature: v=1; a=rsa-sha256; d=posthorn.example; s=none%d; h=from; bh=AAAA; b=BBBBBBBB%02d\r\n", i, i)
		}
		return b.String()
	}
	return []struct{ name, msg string }{
		{"rfc6376", rfc6376},
		{"rfc8463", rfc8463},
		{"rfc8463 body changed", strings.Replace(rfc8463, "We lost", "We won", 1)},
		{"rfc8463 subject changed", strings.Replace(rfc8463, "dinner ready", "lunch ready", 1)},
		{"rfc8463 From added", strings.Replace(rfc8463, "From: Joe", "From: Mallory <m@evil.example>\r\nFrom: Joe", 1)},
		{"rfc6376 appended", rfc6376 + "Send money.\r\n"},
		{"posthorn", signed},
		{"unsigned", unsigned},
		{"l= with appended text", resign("c=relaxed/relaxed;", "c=relaxed/relaxed; l=20;") + "Click here\r\n"},
		{"rsa-sha1", resign("a=ed25519-sha256", "a=rsa-sha1")},
		{"unknown algorithm", resign("a=ed25519-sha256", "a=dsa-sha256")},
		{"short RSA key", strings.Replace(signed, "s=rsa;", "s=short;", 1)},
		{"revoked key", resign("s=ed;", "s=revoked;")},
		{"no key", resign("s=ed;", "s=gone;")},
		{"key lookup fails", resign("s=ed;", "s=flaky;")},
		{"expired", resign("c=relaxed/relaxed;", "c=relaxed/relaxed; x=1000;")},
		{"malformed tags", resign("c=relaxed/relaxed;", "c=relaxed/relaxed; c=simple;")},
		{"bad d=", resign("d=posthorn.example", "d=posthorn..example")},
		{"seven signatures", extra(5) + signed},
	}
}

func formatResults(results []Result) string {
	if len(results) == 0 {
		return "  (no signatures)\n"
	}
	var b strings.Builder
	for _, r := range results {
		fmt.Fprintf(&b, "  %s d=%s s=%s a=%s header.b=%s bits=%d: %s\n",
			r.Status, r.Domain.ASCII, r.Selector, r.Algorithm, r.HeaderB, r.KeyBits, r.Explanation)
	}
	return b.String()
}

// TestVerifyGolden: message + zone → results, in testdata/verify.golden.
func TestVerifyGolden(t *testing.T) {
	res := testResolver(t)
	var b strings.Builder
	for _, c := range verifyCases(t) {
		fmt.Fprintf(&b, "%s:\n%s", c.name, formatResults(verify(t, res, c.msg)))
	}
	golden(t, "verify.golden", b.String())
}

// TestVerifyPolicy pins the decisions that matter most, independent of the
// golden file's wording.
func TestVerifyPolicy(t *testing.T) {
	res := testResolver(t)
	want := map[string]string{
		"rfc8463 body changed":    "fail,fail",
		"rfc8463 subject changed": "fail,fail",
		"rfc8463 From added":      "fail,fail",
		"rfc6376 appended":        "fail",
		"l= with appended text":   "policy,fail",
		"rsa-sha1":                "fail,pass",
		"unknown algorithm":       "permerror,pass",
		"short RSA key":           "pass,fail",
		"revoked key":             "permerror,pass",
		"no key":                  "permerror,pass",
		"key lookup fails":        "temperror,pass",
		"expired":                 "permerror,pass",
		"malformed tags":          "permerror,pass",
		"bad d=":                  "permerror,pass",
		"seven signatures":        "permerror,permerror,permerror,permerror,permerror,policy,policy",
	}
	for _, c := range verifyCases(t) {
		w, ok := want[c.name]
		if !ok {
			continue
		}
		if got := statuses(verify(t, res, c.msg)); got != w {
			t.Errorf("%s: %s, want %s", c.name, got, w)
		}
	}
}

// TestVerifyLookups: one lookup per distinct key, none beyond the limit.
func TestVerifyLookups(t *testing.T) {
	res := testResolver(t)
	signed := readFile(t, "signed.eml")
	// Three signatures, two of them by the same key.
	first, _, _ := strings.Cut(signed, "DKIM-Signature: v=1; a=rsa")
	verify(t, res, first+signed)
	if n := res.Queries("ed._domainkey.posthorn.example"); n != 1 {
		t.Errorf("%d lookups of the shared key", n)
	}
	res.Reset()
	var many strings.Builder
	for i := range 20 {
		fmt.Fprintf(&many, "DKIM-Signature: v=1; a=rsa-sha256; d=posthorn.example; s=k%d; h=from; bh=AAAA; b=BBBB\r\n", i)
	}
	results := verify(t, res, many.String()+signed)
	if len(results) != 22 || res.Total() != DefaultMaxSignatures {
		t.Errorf("%d results, %d lookups", len(results), res.Total())
	}
}

func TestVerifyHeaderB(t *testing.T) {
	results := verify(t, testResolver(t), readFile(t, "signed.eml"))
	for _, r := range results {
		if len(r.HeaderB) < 8 {
			t.Errorf("header.b %q too short", r.HeaderB)
		}
	}
	if results[0].HeaderB == results[1].HeaderB {
		t.Error("header.b values not distinct")
	}
	// Two signatures whose b= share a long prefix get longer prefixes.
	msg := "DKIM-Signature: v=1; a=rsa-sha256; d=a.example; s=s; h=from; bh=AA; b=ABCDEFGHIJKL1\r\n" +
		"DKIM-Signature: v=1; a=rsa-sha256; d=a.example; s=s; h=from; bh=AA; b=ABCDEFGHIJKL2\r\n" +
		"From: x@a.example\r\n\r\n"
	results = verify(t, testResolver(t), msg)
	if results[0].HeaderB != "ABCDEFGHIJKL1" || results[1].HeaderB != "ABCDEFGHIJKL2" {
		t.Errorf("header.b %q %q", results[0].HeaderB, results[1].HeaderB)
	}
}

// TestVerifyContext: a cancelled context is a temporary failure.
func TestVerifyContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	v := &Verifier{Resolver: testResolver(t)}
	results, err := v.Verify(ctx, strings.NewReader(readFile(t, "signed.eml")))
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(results); got != "temperror,temperror" {
		t.Errorf("statuses %s", got)
	}
}

// TestVerifyPermanentDNS: a permanent DNS failure (not a missing name) is a
// permerror.
func TestVerifyPermanentDNS(t *testing.T) {
	res := testResolver(t)
	res.Fail("ed._domainkey.posthorn.example", dns.ErrPermanent)
	if got := statuses(verify(t, res, readFile(t, "signed.eml"))); got != "permerror,pass" {
		t.Errorf("statuses %s", got)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestVerifyReadError(t *testing.T) {
	v := &Verifier{Resolver: testResolver(t)}
	if _, err := v.Verify(context.Background(), errReader{}); err == nil {
		t.Error("no error")
	}
	huge := "X-Big: " + strings.Repeat("a", MaxHeaderBytes) + "\r\n\r\n"
	if _, err := v.Verify(context.Background(), strings.NewReader(huge)); !errors.Is(err, ErrHeaderTooLong) {
		t.Errorf("err %v", err)
	}
}

func TestVerifyClock(t *testing.T) {
	signed := strings.Replace(readFile(t, "signed.eml"), "c=relaxed/relaxed;", "c=relaxed/relaxed; x=4102444800;", 1) // 2100
	v := &Verifier{Resolver: testResolver(t), Now: func() time.Time { return time.Date(2101, 1, 1, 0, 0, 0, 0, time.UTC) }}
	results, err := v.Verify(context.Background(), strings.NewReader(signed))
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Status != StatusPermError || !strings.Contains(results[0].Explanation, "expired") {
		t.Errorf("%+v", results[0])
	}
}
