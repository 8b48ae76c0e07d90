package message

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
)

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

func TestTo7BitMultipart(t *testing.T) {
	out, err := To7Bit([]byte(multipart8bit))
	if err != nil {
		t.Fatal(err)
	}
	if has8BitOrNUL(out) || bytes.Contains(bytes.ReplaceAll(out, []byte("\r\n"), nil), []byte("\n")) {
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

func TestTo7BitRefusals(t *testing.T) {
	for name, in := range map[string]string{
		"8-bit header":         "Subject: Grüße\n\nx\n",
		"8-bit base64 part":    "Content-Transfer-Encoding: base64\n\n\xff\n",
		"8-bit message/global": "Content-Type: message/global\n\n\xff\n",
	} {
		if _, err := To7Bit([]byte(in)); !errors.Is(err, ErrNot7Bit) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestTo7BitLongLines(t *testing.T) {
	in := "Content-Type: text/plain\n\n" + strings.Repeat("a", 2000) + "\n"
	out, err := To7Bit([]byte(in))
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

func FuzzTo7Bit(f *testing.F) {
	f.Add([]byte(multipart8bit))
	f.Add([]byte("Content-Type: multipart/alternative; boundary=x\n\n--x\n\n\xe4\n--x--\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := To7Bit(b)
		if err == nil && has8BitOrNUL(out) {
			t.Fatalf("8-bit output %q", out)
		}
	})
}
