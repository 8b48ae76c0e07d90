package message

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

func parseString(tb testing.TB, s string) *Part {
	tb.Helper()
	p, err := Parse(strings.NewReader(s), int64(len(s)))
	if err != nil {
		tb.Fatal(err)
	}
	checkTree(tb, p, int64(len(s)))
	return p
}

func body(raw []byte, p *Part) string   { return string(raw[p.BodyStart:p.BodyEnd]) }
func header(raw []byte, p *Part) string { return string(raw[p.HeaderStart:p.HeaderEnd]) }

// TestSectionBodies checks offsets by slicing the golden messages.
func TestSectionBodies(t *testing.T) {
	msgs := goldenMessages(t)
	tests := []struct {
		msg, section, header, body string
		lines                      int64
	}{
		{"simple", "1", "", "Hi Bob,\r\n\r\nLunch at noon tomorrow? The café on the corner.\r\n\r\nAlice\r\n", 5},
		{"alternative", "2", "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
			"<html><body><p>Spring sale =E2=80=94 20% off everything.</p></body></html>", 1},
		{"nested", "1.1", "Content-Type: text/plain\r\n\r\n", "plain body", 1},
		{"nested", "1.2.1", "Content-Type: text/html\r\n\r\n", `<img src="cid:pic">`, 1},
		{"nested", "1.2.2", "", "R0lGODlhAQABAAAAACw=", 0},
		{"nested", "2", "", "line 1\r\nline 2\r\n", 2},
		{"rfc822-attachment", "2.1", "Content-Type: text/plain\r\n\r\n", "original text", 1},
		{"rfc822-attachment", "2.2", "", "<p>original text</p>", 1},
		{"digest", "2.2.1", "", "second message", 1},
		{"digest", "2.3", "", "not a message, explicitly typed", 1},
		{"bare-lf", "1", "Content-Type: text/plain\n\n", "first", 1},
		{"bare-lf", "2", "", "second\n", 1},
		{"missing-close", "2", "", "AAAA\r\nBBBB\r\n", 0},
		{"prefix-boundary", "1.2.1", "\r\n", "reused boundary", 1},
		{"prefix-boundary", "2", "", "--abcde is not a boundary", 1},
		{"mixed-attachment", "3", "", "iVBORw0KGgo=", 0},
		{"no-body", "1", "", "", 0},
		{"empty", "", "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.msg+"/"+tt.section, func(t *testing.T) {
			raw := msgs[tt.msg]
			p := parseString(t, string(raw)).mustSection(t, tt.section)
			if tt.header != "" && header(raw, p) != tt.header {
				t.Errorf("header = %q, want %q", header(raw, p), tt.header)
			}
			if body(raw, p) != tt.body || p.Size() != int64(len(tt.body)) {
				t.Errorf("body = %q, want %q", body(raw, p), tt.body)
			}
			if p.Lines != tt.lines {
				t.Errorf("Lines = %d, want %d", p.Lines, tt.lines)
			}
		})
	}
}

func (p *Part) mustSection(tb testing.TB, s string) *Part {
	tb.Helper()
	nums, err := parseSection(s)
	if err != nil {
		tb.Fatal(err)
	}
	q, ok := p.Section(nums)
	if !ok {
		tb.Fatalf("no section %q", s)
	}
	return q
}

func parseSection(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var nums []int
	for _, f := range strings.Split(s, ".") {
		var n int
		if _, err := fmt.Sscan(f, &n); err != nil {
			return nil, err
		}
		nums = append(nums, n)
	}
	return nums, nil
}

func TestSection(t *testing.T) {
	msgs := goldenMessages(t)
	tests := []struct {
		msg, section string
		want         string // "type/subtype" of the part, or "" if there is none
		same         string // a section that must name the same part
	}{
		{"simple", "", "text/plain", ""},
		{"simple", "1", "text/plain", ""}, // RFC 9051 §6.4.5: part 1 of a non-multipart message
		{"simple", "2", "", ""},
		{"simple", "1.1", "", ""},
		{"simple", "0", "", ""},
		{"nested", "", "multipart/mixed", ""},
		{"nested", "1", "multipart/alternative", ""},
		{"nested", "1.2", "multipart/related", ""},
		{"nested", "1.2.2", "image/gif", ""},
		{"nested", "1.2.3", "", ""},
		{"nested", "3", "", ""},
		{"nested", "2.1", "", ""},
		{"nested", "-1", "", ""},
		{"rfc822-attachment", "2", "message/rfc822", ""},
		{"rfc822-attachment", "2.1", "text/plain", ""}, // into the embedded message's multipart
		{"rfc822-attachment", "2.2", "text/html", ""},
		{"rfc822-attachment", "2.3", "", ""},
		{"digest", "2.1", "message/rfc822", ""},
		{"digest", "2.1.1", "text/plain", ""}, // the embedded message is not multipart: its part 1 is its body
		{"digest", "2.1.2", "", ""},
		{"digest", "2.1.1.1", "", ""},
		{"empty", "1", "text/plain", ""},
	}
	for _, tt := range tests {
		root := parseString(t, string(msgs[tt.msg]))
		nums, err := parseSection(tt.section)
		if err != nil {
			t.Fatal(err)
		}
		p, ok := root.Section(nums)
		got := ""
		if ok {
			got = p.MediaType + "/" + p.MediaSubtype
		}
		if got != tt.want {
			t.Errorf("%s: Section(%q) = %q, want %q", tt.msg, tt.section, got, tt.want)
		}
	}
	// The embedded message's root is what "2.1.1" names when it is not multipart.
	root := parseString(t, string(msgs["digest"]))
	if root.mustSection(t, "2.1.1") != root.mustSection(t, "2.1").Message {
		t.Errorf("2.1.1 is not the embedded message's root")
	}
}

func TestParseEdgeCases(t *testing.T) {
	tests := []struct {
		name, in string
		check    func(t *testing.T, raw []byte, p *Part)
	}{
		{"boundary right after header", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
			func(t *testing.T, raw []byte, p *Part) {
				if len(p.Parts) != 1 || body(raw, p.Parts[0]) != "x" {
					t.Errorf("parts %d", len(p.Parts))
				}
			}},
		{"empty parts", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n\r\n--b--",
			func(t *testing.T, raw []byte, p *Part) {
				if len(p.Parts) != 2 || p.Parts[0].Size() != 0 || p.Parts[1].Size() != 0 {
					t.Errorf("parts %+v", p.Parts)
				}
			}},
		{"header ends at boundary", "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n--b--\r\n",
			func(t *testing.T, raw []byte, p *Part) {
				c := p.Parts[0]
				if c.MediaSubtype != "html" || c.Size() != 0 {
					t.Errorf("child %+v", c)
				}
			}},
		{"close delimiter with padding", "Content-Type: multipart/mixed; boundary=b\n\n--b \t\n\nx\n--b-- \nepilogue\n--b\nnot a part\n",
			func(t *testing.T, raw []byte, p *Part) {
				if len(p.Parts) != 1 || body(raw, p.Parts[0]) != "x" {
					t.Errorf("parts %d", len(p.Parts))
				}
			}},
		{"no boundary parameter", "Content-Type: multipart/mixed\r\n\r\n--b\r\nx\r\n",
			func(t *testing.T, raw []byte, p *Part) {
				if p.MediaType != "multipart" || len(p.Parts) != 0 || body(raw, p) != "--b\r\nx\r\n" {
					t.Errorf("got %+v", p)
				}
			}},
		{"base64 message/rfc822 is a leaf", "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nRnJvbTogYQ==\r\n",
			func(t *testing.T, raw []byte, p *Part) {
				if p.Message != nil || p.Lines != 1 {
					t.Errorf("got %+v", p)
				}
			}},
		{"outer boundary closes inner", "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\ninner\r\n--o\r\n\r\nsecond\r\n--o--\r\n",
			func(t *testing.T, raw []byte, p *Part) {
				if len(p.Parts) != 2 || body(raw, p.Parts[0].Parts[0]) != "inner" || body(raw, p.Parts[1]) != "second" {
					t.Errorf("got %d parts", len(p.Parts))
				}
			}},
		{"CR only", "Subject: x\rContent-Type: multipart/mixed; boundary=b\r\r--b\rx\r",
			func(t *testing.T, raw []byte, p *Part) {
				if p.HeaderEnd != int64(len(raw)) {
					t.Errorf("header [%d,%d)", p.HeaderStart, p.HeaderEnd)
				}
			}},
		{"digest default only when absent", "Content-Type: multipart/digest; boundary=d\n\n--d\nContent-Type: bogus\n\nx\n--d--\n",
			func(t *testing.T, raw []byte, p *Part) {
				if c := p.Parts[0]; c.MediaType != "text" || c.Params["charset"] != "us-ascii" {
					t.Errorf("child %s/%s", c.MediaType, c.MediaSubtype)
				}
			}},
		{"first content-type wins", "Content-Type: text/html\nContent-Type: text/plain\nContent-Transfer-Encoding: BASE64\nContent-Transfer-Encoding: 8bit\n\n",
			func(t *testing.T, raw []byte, p *Part) {
				if p.MediaSubtype != "html" || p.Encoding != "base64" {
					t.Errorf("got %s %s", p.MediaSubtype, p.Encoding)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, []byte(tt.in), parseString(t, tt.in))
		})
	}
}

// TestHostile checks that adversarial messages parse within the limits and
// in time linear in their size.
func TestHostile(t *testing.T) {
	deep := func(n int, reuse bool) string {
		var b strings.Builder
		for i := range n {
			bd := fmt.Sprint("b", i)
			if reuse {
				bd = "b"
			}
			fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=%s\r\n\r\n--%s\r\n", bd, bd)
		}
		b.WriteString("\r\nleaf\r\n")
		return b.String()
	}
	deepMsg := func(n int) string {
		return strings.Repeat("Content-Type: message/rfc822\r\n\r\n", n) + "\r\nleaf\r\n"
	}
	manyParts := "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + strings.Repeat("--b\r\n\r\nx\r\n", 3*MaxParts) + "--b--\r\n"
	tests := []struct {
		name string
		in   string
	}{
		{"deep multipart", deep(10000, false)},
		{"deep multipart reusing boundary", deep(10000, true)},
		{"deep message/rfc822", deepMsg(100000)},
		{"many parts", manyParts},
		{"huge header", "Subject: " + strings.Repeat("x", 3*MaxHeaderBytes) + "\r\n\r\nbody"},
		{"huge folded header", "Subject: x\r\n" + strings.Repeat(" x\r\n", MaxHeaderBytes) + "\r\nbody"},
		{"many boundary-like lines", deep(MaxDepth, false) + strings.Repeat("--b1x\r\n--b\r\n-\r\n", 100000)},
		{"NULs and 8-bit", strings.Repeat("\x00\xff\r\n", 100000)},
		{"CR only lines", strings.Repeat("Subject: x\r", 200000)},
		{"long line", strings.Repeat("y", 5*MaxLineBytes+7) + "\n\n" + strings.Repeat("z", 3*MaxLineBytes)},
		{"unclosed everything", "Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n" + deep(50, false)},
		{"many params", "Content-Type: text/plain" + strings.Repeat("; a*1*=%41", 100000) + "\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			p := parseString(t, tt.in)
			if d := time.Since(start); d > time.Minute { // quadratic, not slow
				t.Errorf("took %v", d)
			}
			n := 0
			p.Walk(func(*Part) bool { n++; return true })
			if n > MaxParts {
				t.Errorf("%d parts", n)
			}
			if got, err := Unmarshal(p.Marshal()); err != nil || !equalTrees(got, p) {
				t.Errorf("round trip: %v", err)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	p := parseString(t, "Content-Type: multipart/mixed; boundary=b\r\n\r\n"+strings.Repeat("--b\r\n\r\nx\r\n", 2*MaxParts)+"--b--\r\n")
	if len(p.Parts) != MaxParts-1 {
		t.Errorf("%d parts, want MaxParts-1 children", len(p.Parts))
	}
	in := strings.Repeat("Content-Type: message/rfc822\r\n\r\n", 2*MaxDepth) + "leaf"
	p = parseString(t, in)
	depth := 0
	for ; p.Message != nil; p = p.Message {
		depth++
	}
	if depth != MaxDepth || p.MediaType != "message" {
		t.Errorf("depth %d", depth)
	}
	hdr := "Subject: " + strings.Repeat("x", MaxHeaderBytes) + "\r\n"
	p = parseString(t, "A: b\r\n"+hdr+"\r\nbody")
	if p.HeaderEnd > MaxHeaderBytes || p.HeaderEnd < MaxHeaderBytes-MaxLineBytes || p.BodyStart != p.HeaderEnd {
		t.Errorf("header not cut at MaxHeaderBytes: [%d,%d)", p.HeaderStart, p.HeaderEnd)
	}
}

type errReaderAt struct{ err error }

func (e errReaderAt) ReadAt([]byte, int64) (int, error) { return 0, e.err }

func TestParseErrors(t *testing.T) {
	if _, err := Parse(strings.NewReader("short"), 100); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short input: err = %v", err)
	}
	boom := errors.New("boom")
	if _, err := Parse(errReaderAt{boom}, 10); !errors.Is(err, boom) {
		t.Errorf("read error: err = %v", err)
	}
	// size smaller than the data: only size bytes are parsed.
	p, err := Parse(strings.NewReader("Subject: x\r\n\r\nbody"), 4)
	if err != nil || p.HeaderEnd != 4 || p.BodyEnd != 4 {
		t.Errorf("got %+v, %v", p, err)
	}
	if p, err = Parse(bytes.NewReader(nil), -1); err != nil || p.BodyEnd != 0 {
		t.Errorf("negative size: %+v, %v", p, err)
	}
}

func TestSectionChildless(t *testing.T) {
	in := "Content-Type: multipart/mixed\r\n\r\nno boundary\r\n"
	p := parseString(t, in)
	if q, ok := p.Section([]int{1}); !ok || q != p {
		t.Errorf("part 1 of a childless multipart is not its body")
	}
}
