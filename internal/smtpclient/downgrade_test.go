package smtpclient

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
)

func TestNormalizer(t *testing.T) {
	tests := []struct{ in, data, bdat string }{
		{"a\nb", "a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\r\nb\r\n", "a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\rb", "a\r\nb\r\n", "a\r\nb\r\n"},
		{".a\n.\n..", "..a\r\n..\r\n...\r\n", ".a\r\n.\r\n..\r\n"},
		{"x\r\n.\r\n", "x\r\n..\r\n", "x\r\n.\r\n"},
		{"", "", ""},
	}
	for _, tt := range tests {
		// Byte by byte, to exercise the state across chunks.
		d, b := normalizer{dotStuff: true}, normalizer{}
		var gd, gb []byte
		for i := range len(tt.in) {
			gd = d.append(gd, []byte{tt.in[i]})
			gb = b.append(gb, []byte{tt.in[i]})
		}
		gd, gb = d.finish(gd), b.finish(gb)
		if string(gd) != tt.data || string(gb) != tt.bdat {
			t.Errorf("%q: DATA %q BDAT %q", tt.in, gd, gb)
		}
	}
}

const multipart8bit = "From: a@example.test\n" +
	"MIME-Version: 1.0\n" +
	"Content-Type: multipart/mixed; boundary=\"b1\"\n" +
	"Content-Transfer-Encoding: 8bit\n" +
	"\n" +
	"preamble\n" +
	"--b1\n" +
	"Content-Type: text/plain; charset=utf-8\n" +
	"Content-Transfer-Encoding: 8bit\n" +
	"\n" +
	"Grüße aus Köln\n" +
	"--b1\n" +
	"Content-Type: application/octet-stream\n" +
	"Content-Transfer-Encoding: 8bit\n" +
	"\n" +
	"\xff\xfe binary-ish\n" +
	"--b1\n" +
	"Content-Type: text/plain\n" +
	"\n" +
	"plain ascii stays\n" +
	"--b1\n" +
	"Content-Type: message/rfc822\n" +
	"Content-Transfer-Encoding: 8bit\n" +
	"\n" +
	"Subject: inner\n" +
	"Content-Type: text/plain; charset=utf-8\n" +
	"\n" +
	"inner ä\n" +
	"--b1--\n" +
	"epilogue\n"

func TestDowngradeMultipart(t *testing.T) {
	out, err := downgrade([]byte(multipart8bit))
	if err != nil {
		t.Fatal(err)
	}
	if has8bit(out) || bytes.Contains(bytes.ReplaceAll(out, []byte("\r\n"), nil), []byte("\n")) {
		t.Fatalf("not 7-bit CRLF: %q", out)
	}
	m, err := mail.ReadMessage(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if cte := m.Header.Get("Content-Transfer-Encoding"); cte != "7bit" {
		t.Errorf("top CTE %q", cte)
	}
	mr := multipart.NewReader(m.Body, "b1")
	var texts []string
	var ctes []string
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		ctes = append(ctes, p.Header.Get("Content-Transfer-Encoding"))
		texts = append(texts, string(b))
	}
	want := []string{"quoted-printable", "base64", "", "7bit"}
	if strings.Join(ctes, ",") != strings.Join(want, ",") {
		t.Errorf("CTEs %q", ctes)
	}
	if len(texts) == 4 {
		if !strings.Contains(texts[0], "Gr=C3=BC=C3=9Fe aus K=C3=B6ln") {
			t.Errorf("qp part %q", texts[0])
		}
		if !strings.Contains(texts[1], "//4gYmluYXJ5LWlzaA==") {
			t.Errorf("base64 part %q", texts[1])
		}
		if texts[2] != "plain ascii stays" {
			t.Errorf("ascii part %q", texts[2])
		}
		if !strings.Contains(texts[3], "Content-Transfer-Encoding: quoted-printable") || !strings.Contains(texts[3], "inner =C3=A4") {
			t.Errorf("inner message %q", texts[3])
		}
	}
	if !bytes.Contains(out, []byte("preamble\r\n--b1\r\n")) || !bytes.HasSuffix(out, []byte("--b1--\r\nepilogue\r\n")) {
		t.Errorf("structure lost: %q", out)
	}
}

func TestDowngradeRefusals(t *testing.T) {
	for name, in := range map[string]string{
		"8-bit header":         "Subject: Grüße\n\nx\n",
		"8-bit base64 part":    "Content-Transfer-Encoding: base64\n\n\xff\n",
		"8-bit message/global": "Content-Type: message/global\n\n\xff\n",
	} {
		if _, err := downgrade([]byte(in)); !errors.Is(err, errDowngrade) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDowngradeLongLines(t *testing.T) {
	in := "Content-Type: text/plain\n\n" + strings.Repeat("a", 2000) + "\n"
	out, err := downgrade([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(out), "\r\n") {
		if len(l) > 998 {
			t.Fatalf("line of %d octets", len(l))
		}
	}
	if !strings.Contains(string(out), "quoted-printable") {
		t.Errorf("%q", out[:100])
	}
}

func FuzzDowngrade(f *testing.F) {
	f.Add([]byte(multipart8bit))
	f.Add([]byte("Content-Type: multipart/alternative; boundary=x\n\n--x\n\n\xe4\n--x--\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := downgrade(b)
		if err == nil && has8bit(out) {
			t.Fatalf("8-bit output %q", out)
		}
	})
}

func TestParseEnhanced(t *testing.T) {
	for _, tt := range []struct {
		code int
		text string
		want string
	}{
		{550, "5.1.1 no such user", "5.1.1"},
		{250, "2.0.0", "2.0.0"},
		{550, "4.1.1 class mismatch", ""},
		{550, "no code here", ""},
		{451, "4.7.30 x", "4.7.30"},
		{550, "5.1 short", ""},
	} {
		if got := parseEnhanced(tt.code, tt.text); got != tt.want {
			t.Errorf("%d %q = %q", tt.code, tt.text, got)
		}
	}
}
