package mailport

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// FuzzMboxReader splits arbitrary input, then writes the messages back
// with mboxrd quoting and splits that: the same messages must come back
// (each ending in a line ending, which writing adds when missing).
func FuzzMboxReader(f *testing.F) {
	for _, s := range []string{
		"",
		"From a Mon Jan  2 15:04:05 2006\nS: 1\n\nbody\n\n",
		"From a Mon Jan  2 15:04:05 2006\r\nS: 1\r\n\r\n>From x\r\n>>From y\r\n\r\nFrom b Mon Jan  2 15:04:05 2006\r\n\r\n",
		"From a\n\nFrom b\nFrom c\n\n\n\nFrom d\nStatus: RO\nX-Status: AFT\nX-Keywords: a b\n\nx",
		"\n\nFrom \n>From \n",
		"Subject: not mbox\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewMboxReader(bytes.NewReader(in), 1<<20)
		var msgs []string
		for {
			m, err := r.Next()
			if err == io.EOF || err == ErrNotMbox {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.TooBig || int64(len(m.Data)) != m.Size {
				t.Fatalf("message at line %d: TooBig %v, %d bytes, Size %d", m.Line, m.TooBig, len(m.Data), m.Size)
			}
			stripMboxFields(m.Data)
			msgs = append(msgs, string(m.Data))
		}
		if r.Consumed() > int64(len(in)) {
			t.Fatalf("consumed %d of %d bytes", r.Consumed(), len(in))
		}
		back, _, err := splitAll(t, writeMbox(msgs), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(back) != len(msgs) {
			t.Fatalf("%d messages, %d after writing and reading back", len(msgs), len(back))
		}
		for i, m := range msgs {
			if m != "" && !strings.HasSuffix(m, "\n") {
				m += "\n"
			}
			if back[i] != m {
				t.Fatalf("message %d: %q read back as %q", i, m, back[i])
			}
		}
	})
}

// FuzzMaildirName parses arbitrary file and folder names: flags must
// survive writing an info suffix and parsing it again, and a folder name
// that decodes must encode back to a directory that decodes to it.
func FuzzMaildirName(f *testing.F) {
	for _, s := range []string{
		"1700000000.M1P2.host,S=1234,W=1300:2,FRS",
		"x:2,PSacba",
		"x;2,DT",
		"a:b:2,S",
		".Foo.Bar",
		".Entw&APw-rfe",
		".a&AC4-b",
		".R&-D",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n := ParseMaildirName(name)
		back := ParseMaildirName("u" + maildirInfo(n.Flags, n.Passed, n.KeywordLetters))
		if back.Flags != n.Flags || back.Passed != n.Passed || len(back.KeywordLetters) != len(n.KeywordLetters) {
			t.Fatalf("%q: %+v written and parsed as %+v", name, n, back)
		}
		mb, err := MaildirFolderName(name)
		if err != nil {
			return
		}
		dir := MaildirFolderDir(mb)
		again, err := MaildirFolderName(dir)
		if err != nil || again != mb {
			t.Fatalf("%q -> mailbox %q -> dir %q -> %q, %v", name, mb, dir, again, err)
		}
	})
}
