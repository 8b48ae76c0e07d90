package msgauth

import (
	"io"
	"strings"
	"testing"

	"github.com/posthorn/posthorn/internal/delivery"
)

func TestResultsAuthServID(t *testing.T) {
	for in, want := range map[string]string{
		" mx.example.org; spf=pass":           "mx.example.org",
		"mx.example.org 1; none":              "mx.example.org",
		" (comment (nested)) MX.Example.Org;": "MX.Example.Org",
		` "mx.example.org"; dkim=pass`:        "mx.example.org",
		"\r\n\tmx.example.org;\r\n\tspf=pass": "mx.example.org",
		"other.example; spf=pass":             "other.example",
		"":                                    "",
	} {
		if got := ResultsAuthServID(in); got != want {
			t.Errorf("ResultsAuthServID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStripForged(t *testing.T) {
	body := "\r\nHello\r\nAuthentication-Results: mx.example.org; body text stays\r\n"
	head := "Received: from a by b; Fri, 05 Jun 2026 10:00:00 +0000\r\n" +
		"Authentication-Results: mx.example.org; dmarc=pass\r\n\theader.from=bank.example\r\n" +
		"From: a@bank.example\r\n" +
		"authentication-results: (forged) MX.EXAMPLE.ORG; spf=pass\r\n" +
		"Authentication-Results: relay.example; spf=pass smtp.mailfrom=a@bank.example\r\n" +
		"Subject: hi\r\n"
	in := delivery.Bytes([]byte(head + body))
	out, n, err := StripForged(in, "mx.example.org")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("removed %d fields, want 2", n)
	}
	got, _ := io.ReadAll(delivery.Reader(out))
	want := "Received: from a by b; Fri, 05 Jun 2026 10:00:00 +0000\r\n" +
		"From: a@bank.example\r\n" +
		"Authentication-Results: relay.example; spf=pass smtp.mailfrom=a@bank.example\r\n" +
		"Subject: hi\r\n" + body
	if string(got) != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	// Nothing to remove: the same message comes back.
	same, n, err := StripForged(out, "mx.example.org")
	if err != nil || n != 0 || same.Size() != out.Size() {
		t.Errorf("second pass: n=%d err=%v", n, err)
	}
	// A message without a body separator.
	out, n, _ = StripForged(delivery.Bytes([]byte("Authentication-Results: mx.example.org; none\r\nX: y\r\n")), "mx.example.org")
	got, _ = io.ReadAll(delivery.Reader(out))
	if n != 1 || string(got) != "X: y\r\n" {
		t.Errorf("headers only: n=%d %q", n, got)
	}
	if strings.Contains(want, "dmarc=pass") {
		t.Fatal("test message wrong")
	}
}
