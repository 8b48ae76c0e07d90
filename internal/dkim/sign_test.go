package dkim

import (
	"crypto/rsa"
	"math/big"
	"strings"
	"testing"
)

// TestSignGolden pins the exact output: signatures are deterministic
// (Ed25519, RSA PKCS #1 v1.5) for a fixed key, message and clock.
func TestSignGolden(t *testing.T) {
	signed := signMsg(t, readFile(t, "unsigned.eml"))
	golden(t, "signed.eml", signed)
}

func TestSignRoundTrip(t *testing.T) {
	msg := readFile(t, "unsigned.eml")
	signed := signMsg(t, msg)
	results := verify(t, testResolver(t), signed)
	if got := statuses(results); got != "pass,pass" {
		t.Fatalf("statuses %s: %+v", got, results)
	}
	if results[0].Algorithm != "ed25519-sha256" || results[1].Algorithm != "rsa-sha256" {
		t.Errorf("algorithms %q, %q", results[0].Algorithm, results[1].Algorithm)
	}
	if results[0].KeyBits != 256 || results[1].KeyBits != 2048 {
		t.Errorf("key bits %d, %d", results[0].KeyBits, results[1].KeyBits)
	}
	for _, r := range results {
		if r.Domain != testDomain {
			t.Errorf("domain %v", r.Domain)
		}
	}
	first, _, _ := strings.Cut(signed, "\r\nDKIM-Signature")
	tags, err := parseTags(strings.TrimPrefix(first, "DKIM-Signature:"))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := tags.Get("h")
	wantH := "from:from:to:cc:subject:subject:date:message-id:mime-version:content-type:list-id"
	if got := strings.Join(splitColon(h), ":"); got != wantH {
		t.Errorf("h=%s\nwant %s", got, wantH)
	}
	if _, ok := tags.Get("x"); ok {
		t.Error("x= present")
	}
	if ts, _ := tags.Get("t"); ts != "1780653600" {
		t.Errorf("t=%s", ts)
	}
	for _, line := range strings.Split(signed, "\r\n") {
		if len(line) > 78 {
			t.Errorf("line of %d octets: %q", len(line), line)
		}
	}
}

// TestSignTampered: every change a forger could make after signing breaks
// both signatures, including adding a second From or Subject (over-signing).
func TestSignTampered(t *testing.T) {
	signed := signMsg(t, readFile(t, "unsigned.eml"))
	res := testResolver(t)
	for name, tamper := range map[string]func(string) string{
		"body":     func(s string) string { return strings.Replace(s, "Friday?", "Monday?", 1) },
		"appended": func(s string) string { return s + "P.S. send money\r\n" },
		"subject":  func(s string) string { return strings.Replace(s, "Subject: Lunch", "Subject: Dinner", 1) },
		"added From": func(s string) string {
			return strings.Replace(s, "To: bob", "From: mallory@evil.example\r\nTo: bob", 1)
		},
		"added Subject": func(s string) string { return strings.Replace(s, "To: bob", "Subject: urgent\r\nTo: bob", 1) },
		"added To at end": func(s string) string {
			return strings.Replace(s, "\r\n\r\nHi", "\r\nTo: eve@evil.example\r\n\r\nHi", 1)
		},
		"removed Cc": func(s string) string { return strings.Replace(s, "Cc: carol@other.example\r\n", "", 1) },
	} {
		t.Run(name, func(t *testing.T) {
			results := verify(t, res, tamper(signed))
			if got := statuses(results); got != "fail,fail" {
				t.Errorf("statuses %s: %+v", got, results)
			}
		})
	}
	// Unsigned header fields and whitespace the relaxed algorithms ignore
	// may change.
	for name, change := range map[string]func(string) string{
		"unsigned field":  func(s string) string { return strings.Replace(s, "X-Mailer: not signed", "X-Mailer: changed", 1) },
		"refolded":        func(s string) string { return strings.Replace(s, "Subject: Lunch on", "Subject:  Lunch\r\n\ton", 1) },
		"trailing blanks": func(s string) string { return s + "\r\n\r\n" },
		"bare LF":         func(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") },
	} {
		t.Run(name, func(t *testing.T) {
			if got := statuses(verify(t, res, change(signed))); got != "pass,pass" {
				t.Errorf("statuses %s", got)
			}
		})
	}
}

func TestSignErrors(t *testing.T) {
	ed, _, _, _ := testKeys(t)
	short := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: new(big.Int).Lsh(big.NewInt(1), 511), E: 65537}}
	for name, c := range map[string]struct {
		msg     string
		signers []Signer
	}{
		"no signers": {"From: a@b.example\r\n\r\n", nil},
		"no From":    {"To: a@b.example\r\n\r\nhi\r\n", []Signer{{Domain: testDomain, Selector: "s", Key: ed}}},
		"no domain":  {"From: a@b.example\r\n\r\n", []Signer{{Selector: "s", Key: ed}}},
		"selector":   {"From: a@b.example\r\n\r\n", []Signer{{Domain: testDomain, Selector: "a;b", Key: ed}}},
		"no key":     {"From: a@b.example\r\n\r\n", []Signer{{Domain: testDomain, Selector: "s"}}},
		"short RSA":  {"From: a@b.example\r\n\r\n", []Signer{{Domain: testDomain, Selector: "s", Key: short}}},
	} {
		if _, err := Sign(strings.NewReader(c.msg), signTime, c.signers...); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestSignHeaderOnly(t *testing.T) {
	msg := "From: a@posthorn.example\r\nSubject: no body"
	signed := signMsg(t, msg)
	if got := statuses(verify(t, testResolver(t), signed)); got != "pass,pass" {
		t.Errorf("statuses %s", got)
	}
}

func TestRelaxedBody(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "",
		"\r\n\r\n":               "",
		"a":                      "a\r\n",
		"a \t b  \r\n":           "a b\r\n",
		"a\r\n\r\n\r\nb\r\n\r\n": "a\r\n\r\n\r\nb\r\n",
		" lead\n":                " lead\r\n",
		"x\ry\r\n":               "x\ry\r\n",
		"  \r\n\t\r\n":           "",
	} {
		var b strings.Builder
		c := &bodyCanon{w: &b, relaxed: true}
		// Write in single octets to exercise line splitting across writes.
		for i := range len(in) {
			c.Write([]byte{in[i]})
		}
		c.Close()
		if b.String() != want {
			t.Errorf("relaxedBody(%q) = %q, want %q", in, b.String(), want)
		}
	}
}

func TestRelaxedHeader(t *testing.T) {
	for in, want := range map[string]string{
		"Subject: Hello  World \r\n":      "subject:Hello World\r\n",
		"SUBJECT : a\r\n\tb\r\n":          "subject:a b\r\n",
		"To:\r\n x@y.example,\r\n  z\r\n": "to:x@y.example, z\r\n",
	} {
		if got := relaxedHeader(in); got != want {
			t.Errorf("relaxedHeader(%q) = %q, want %q", in, got, want)
		}
	}
}
