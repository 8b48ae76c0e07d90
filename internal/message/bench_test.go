package message

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// benchMessage builds a realistic message of about size bytes: a header
// with a Received chain and DKIM signature, a multipart/alternative text and
// HTML body, and a base64 attachment filling the rest.
func benchMessage(size int) []byte {
	var b strings.Builder
	for i := range 4 {
		fmt.Fprintf(&b, "Received: from relay%d.example.net (relay%d.example.net [192.0.2.%d])\r\n\tby mx.example.com with ESMTPS id abc%d\r\n\tfor <bob@example.com>; Mon, 2 Mar 2026 10:00:0%d +0000\r\n", i, i, i, i, i)
	}
	b.WriteString("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=sel;\r\n" +
		"\th=from:to:subject:date:message-id; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n" +
		"\tb=dzdVyOfAKCdLXdJOc9G2q8LoXSlEniSbav+yuU4zGeeruD00lszZVoG4ZHRNiYzR\r\n")
	b.WriteString("From: =?utf-8?q?J=C3=B6rg?= <joerg@example.org>\r\nTo: Bob <bob@example.com>, \"Doe, Jane\" <jane@example.com>\r\n" +
		"Cc: team: a@example.com, b@example.com;\r\nSubject: =?utf-8?b?UXVhcnRhbHNiZXJpY2h0IGbDvHIgTcOkcno=?=\r\n" +
		"Date: Mon, 2 Mar 2026 09:59:58 +0000\r\nMessage-ID: <bench@example.org>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"mixed-boundary\"\r\n\r\n" +
		"--mixed-boundary\r\nContent-Type: multipart/alternative; boundary=\"alt-boundary\"\r\n\r\n" +
		"--alt-boundary\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	para := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore.\r\n"
	b.WriteString(strings.Repeat(para, 8))
	b.WriteString("--alt-boundary\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<html><body>\r\n")
	b.WriteString(strings.Repeat("<p>"+para, 8))
	b.WriteString("</body></html>\r\n--alt-boundary--\r\n\r\n--mixed-boundary\r\n" +
		"Content-Type: application/pdf; name*=UTF-8''Bericht%20f%C3%BCr%20M%C3%A4rz.pdf\r\n" +
		"Content-Disposition: attachment; filename*=UTF-8''Bericht%20f%C3%BCr%20M%C3%A4rz.pdf\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	rest := size - b.Len() - len("\r\n--mixed-boundary--\r\n")
	att := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x25, 0x50, 0x44, 0x46, 0x00, 0xff}, max(rest, 0)))
	for rest > 0 {
		n := min(76, rest-2)
		if n <= 0 {
			break
		}
		b.WriteString(att[:n] + "\r\n")
		att, rest = att[n:], rest-n-2
	}
	b.WriteString("\r\n--mixed-boundary--\r\n")
	return []byte(b.String())
}

func BenchmarkParse(b *testing.B) {
	for _, size := range []int{4 << 10, 100 << 10} {
		raw := benchMessage(size)
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			r := bytes.NewReader(raw)
			for b.Loop() {
				if _, err := Parse(r, int64(len(raw))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMarshal(b *testing.B) {
	raw := benchMessage(4 << 10)
	p, _ := Parse(bytes.NewReader(raw), int64(len(raw)))
	enc := p.Marshal()
	b.Run("Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p.Marshal()
		}
		b.ReportMetric(float64(len(enc)), "bytes/tree")
	})
	b.Run("Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Unmarshal(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestBenchMessage(t *testing.T) {
	for _, size := range []int{4 << 10, 100 << 10} {
		raw := benchMessage(size)
		p := parseString(t, string(raw))
		if len(raw) < size-80 || len(raw) > size+80 || len(p.Parts) != 2 || len(p.Parts[0].Parts) != 2 {
			t.Errorf("bench message of %d bytes: %d parts", len(raw), len(p.Parts))
		}
	}
}
