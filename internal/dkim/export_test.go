package dkim

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestSimpleHeader(t *testing.T) {
	for in, want := range map[string]string{
		"Subject:  A\r\n\tB \r\n": "Subject:  A\r\n\tB \r\n",
		"Subject: A\n B\n":        "Subject: A\r\n B\r\n",
		"X: y":                    "X: y\r\n",
	} {
		if got := SimpleHeader(in); got != want {
			t.Errorf("SimpleHeader(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSimpleBody checks RFC 6376 §3.4.3 and the example of §3.4.5.
func TestSimpleBody(t *testing.T) {
	for in, want := range map[string]string{
		"":                               "\r\n",
		"\r\n\r\n":                       "\r\n",
		" C \r\nD \t E\r\n\r\n\r\n":      " C \r\nD \t E\r\n",
		"a\n\nb":                         "a\r\n\r\nb\r\n",
		"x  \r\n":                        "x  \r\n",
		"line\r\n\r\n \r\n":              "line\r\n\r\n \r\n",
		"no end":                         "no end\r\n",
		"a\r\n\r\nb\r\n\r\n\r\n\r\n\r\n": "a\r\n\r\nb\r\n",
	} {
		var b strings.Builder
		w := NewSimpleBody(&b)
		// Byte at a time, to cross every boundary.
		for i := range len(in) {
			w.Write([]byte{in[i]})
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if b.String() != want {
			t.Errorf("simple(%q) = %q, want %q", in, b.String(), want)
		}
	}
	// RFC 6376 §3.4.6: the simple body hash of an empty body.
	h := sha256.New()
	w := NewSimpleBody(h)
	w.Close()
	if got := base64.StdEncoding.EncodeToString(h.Sum(nil)); got != "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=" {
		t.Errorf("empty simple body hash %s", got)
	}
}

func TestExportedHeader(t *testing.T) {
	msg := "From: a@b.example\r\nSubject: x\r\n y\r\nDKIM-Signature: v=1\r\n\r\nbody\r\n"
	br := bufio.NewReader(strings.NewReader(msg))
	h, err := ReadHeader(br)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Fields) != 3 || h.Fields[1].Raw != "Subject: x\r\n y\r\n" || !h.Separated || h.Count("from") != 1 {
		t.Errorf("header %+v", h)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "body\r\n" {
		t.Errorf("body %q", rest)
	}
	if got := strings.Join(SignedNames(h), ":"); got != "from:from:subject:subject" {
		t.Errorf("SignedNames = %s", got)
	}
	l, err := ParseTags(" a = 1; b=x y ")
	if v, _ := l.Get("b"); err != nil || v != "x y" {
		t.Errorf("ParseTags: %v %v", l, err)
	}
}

func TestParseKeyRecord(t *testing.T) {
	_, _, edPEM, rsaPEM := testKeys(t)
	edRec, _ := Record([]byte(edPEM))
	rsaRec, _ := Record([]byte(rsaPEM))
	for _, c := range []struct {
		rec  string
		bits int
		err  error
		ok   bool // Allows("sha256")
	}{
		{edRec, 256, nil, true},
		{rsaRec, 2048, nil, true},
		{strings.Replace(rsaRec, "k=rsa;", "k=rsa; h=sha1:sha256; s=email;", 1), 2048, nil, true},
		{strings.Replace(rsaRec, "k=rsa;", "k=rsa; h=sha1;", 1), 2048, nil, false},
		{strings.Replace(rsaRec, "k=rsa;", "k=rsa; s=tlsrpt;", 1), 2048, nil, false},
		{strings.Replace(rsaRec, "k=rsa;", "k=rsa; s=tlsrpt:*;", 1), 2048, nil, true},
		{"v=DKIM1; k=rsa; p=", 0, ErrKeyRevoked, false},
		{"v=DKIM1; k=rsa; p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBALwxk1oyMT+k9fuZLgPiO3EfrT8wDjsDLOfCkVSBKX0EQWbgxl6iIk48OnF7NcbYZm0qkOrJiwDPOgr/ZEY/gz0CAwEAAQ==", 0, ErrKeyTooWeak, false},
		{"v=DKIM2; p=AAAA", 0, ErrKeySyntax, false},
		{"k=dsa; p=AAAA", 0, ErrKeySyntax, false},
		{"k=ed25519; p=AAAA", 0, ErrKeySyntax, false},
		{"p=!!", 0, ErrKeySyntax, false},
		{"v=DKIM1", 0, ErrKeySyntax, false},
	} {
		k, err := ParseKeyRecord(c.rec)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%.40q: %v, want %v", c.rec, err, c.err)
			}
			continue
		}
		if err != nil || k.Bits != c.bits || k.Allows("sha256") != c.ok {
			t.Errorf("%.60q: %+v %v", c.rec, k, err)
		}
	}
}
