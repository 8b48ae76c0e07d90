package message

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// goldenMessages returns the test messages in testdata/*.eml.
func goldenMessages(tb testing.TB) map[string][]byte {
	tb.Helper()
	names, err := filepath.Glob("testdata/*.eml")
	if err != nil || len(names) == 0 {
		tb.Fatalf("no test messages: %v", err)
	}
	msgs := make(map[string][]byte)
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			tb.Fatal(err)
		}
		msgs[strings.TrimSuffix(filepath.Base(n), ".eml")] = b
	}
	return msgs
}

func TestGolden(t *testing.T) {
	for name, raw := range goldenMessages(t) {
		t.Run(name, func(t *testing.T) {
			root, err := Parse(bytes.NewReader(raw), int64(len(raw)))
			if err != nil {
				t.Fatal(err)
			}
			checkTree(t, root, int64(len(raw)))
			got := render(root, raw)
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if got != string(want) {
				t.Errorf("tree differs from %s (run with -update to accept):\n%s", path, got)
			}
		})
	}
}

// render prints a tree in a form meant for review: one block per part with
// its section number, its fields, and the header and body it points at.
func render(root *Part, raw []byte) string {
	var b strings.Builder
	renderPart(&b, root, raw, "", "")
	return b.String()
}

func renderPart(b *strings.Builder, p *Part, raw []byte, section, indent string) {
	label := section
	if label == "" {
		label = "(root)"
	}
	fmt.Fprintf(b, "%s%s %s/%s%s enc=%s lines=%d\n", indent, label, p.MediaType, p.MediaSubtype,
		renderParams(p.Params), p.Encoding, p.Lines)
	in := indent + "  "
	if p.Disposition != "" || p.DispositionParams != nil {
		fmt.Fprintf(b, "%sdisposition %s%s\n", in, p.Disposition, renderParams(p.DispositionParams))
	}
	for _, kv := range [][2]string{{"id", p.ID}, {"description", p.Description}, {"md5", p.MD5}, {"location", p.Location}} {
		if kv[1] != "" {
			fmt.Fprintf(b, "%s%s %q\n", in, kv[0], kv[1])
		}
	}
	if p.Language != nil {
		fmt.Fprintf(b, "%slanguage %q\n", in, p.Language)
	}
	fmt.Fprintf(b, "%sheader [%d,%d) %s\n", in, p.HeaderStart, p.HeaderEnd, excerpt(raw[p.HeaderStart:p.HeaderEnd]))
	fmt.Fprintf(b, "%sbody   [%d,%d) %s\n", in, p.BodyStart, p.BodyEnd, excerpt(raw[p.BodyStart:p.BodyEnd]))
	if e := p.Envelope; e != nil {
		fmt.Fprintf(b, "%senvelope date=%q subject=%q in-reply-to=%q message-id=%q\n", in, e.Date, e.Subject, e.InReplyTo, e.MessageID)
		for _, l := range []struct {
			n  string
			as []EnvAddress
		}{{"from", e.From}, {"sender", e.Sender}, {"reply-to", e.ReplyTo}, {"to", e.To}, {"cc", e.Cc}, {"bcc", e.Bcc}} {
			if l.as == nil {
				fmt.Fprintf(b, "%s  %s NIL\n", in, l.n)
				continue
			}
			fmt.Fprintf(b, "%s  %s", in, l.n)
			for _, a := range l.as {
				fmt.Fprintf(b, " (%q %q %q %q)", a.Name, a.Adl, a.Mailbox, a.Host)
			}
			b.WriteString("\n")
		}
	}
	for i, c := range p.Parts {
		renderPart(b, c, raw, join(section, i+1), in)
	}
	if p.Message != nil {
		fmt.Fprintf(b, "%sembedded message:\n", in)
		renderPart(b, p.Message, raw, section, in+"  ")
	}
}

func join(section string, n int) string {
	if section == "" {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%s.%d", section, n)
}

func renderParams(m map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "; %s=%q", k, m[k])
	}
	return b.String()
}

// excerpt quotes b, keeping its start and end when it is long.
func excerpt(b []byte) string {
	if len(b) <= 100 {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%q…%q", b[:60], b[len(b)-30:])
}

// checkTree asserts the structural invariants of a parsed tree: offsets
// ordered and within [0,size], children inside their parent and in order,
// limits respected.
func checkTree(tb testing.TB, root *Part, size int64) {
	tb.Helper()
	n := 0
	var walk func(p *Part, depth int)
	walk = func(p *Part, depth int) {
		n++
		if depth > MaxDepth {
			tb.Fatalf("depth %d > MaxDepth", depth)
		}
		if !(0 <= p.HeaderStart && p.HeaderStart <= p.HeaderEnd && p.HeaderEnd <= p.BodyStart &&
			p.BodyStart <= p.BodyEnd && p.BodyEnd <= size) {
			tb.Fatalf("bad offsets %d %d %d %d (size %d)", p.HeaderStart, p.HeaderEnd, p.BodyStart, p.BodyEnd, size)
		}
		lo := p.BodyStart
		for _, c := range p.Parts {
			if c.HeaderStart < lo || c.BodyEnd > p.BodyEnd {
				tb.Fatalf("child [%d,%d) outside parent body [%d,%d) or overlapping (from %d)",
					c.HeaderStart, c.BodyEnd, p.BodyStart, p.BodyEnd, lo)
			}
			lo = c.BodyEnd
			walk(c, depth+1)
		}
		if m := p.Message; m != nil {
			if m.HeaderStart != p.BodyStart || m.BodyEnd > p.BodyEnd {
				tb.Fatalf("message [%d,%d) outside body [%d,%d)", m.HeaderStart, m.BodyEnd, p.BodyStart, p.BodyEnd)
			}
			walk(m, depth+1)
		}
	}
	walk(root, 0)
	if n > MaxParts {
		tb.Fatalf("%d parts > MaxParts", n)
	}
	if root.HeaderStart != 0 || root.BodyEnd != size {
		tb.Fatalf("root covers [%d,%d), want [0,%d)", root.HeaderStart, root.BodyEnd, size)
	}
}
