package imapwire

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// FuzzCommand frames and parses arbitrary input with every argument
// parser: nothing may panic, a parsed literal never reaches past the
// arguments, and what the server writes back of what it parsed parses to
// the same value (roundTrip).
func FuzzCommand(f *testing.F) {
	for _, s := range []string{
		"a1 FETCH 1:* (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (Subject)]<0.100>)\r\n",
		"a2 UID STORE 1,3:5 (UNCHANGEDSINCE 5) +FLAGS.SILENT (\\Seen)\r\n",
		"a3 SELECT INBOX (QRESYNC (1 2 1:10 (1:3 4:6)))\r\n",
		"a4 LIST (SUBSCRIBED) \"\" (% \"*\") RETURN (STATUS (MESSAGES))\r\n",
		"a5 APPEND INBOX (\\Seen) \" 1-Jan-2020 00:00:00 +0000\" {5+}\r\nhello\r\n",
		"a6 LOGIN {3}\r\nbob \"pa\\\"ss\"\r\n",
		"a7 CREATE &ZeVnLIqe- (USE (\\Drafts))\r\n",
		"a8 STATUS INBOX (MESSAGES UIDNEXT)\r\n",
		"a9 ID (\"name\" \"x\" \"version\" NIL)\r\n",
		"b1 UID FETCH $ (BINARY[1] BINARY.SIZE[2]) (CHANGEDSINCE 1 VANISHED)\r\n",
		"b2 SEARCH CHARSET UTF-8 OR (FROM \"bob\" SINCE 1-Feb-1994) NOT BODY {3}\r\nabc 1:*,$\r\n",
		"b3 UID SEARCH RETURN (MIN MAX COUNT SAVE) HEADER X-A \"\" MODSEQ \"/flags/\\\\seen\" all 5 UID 1:4\r\n",
		"b4 SEARCH OLDER 60 YOUNGER 5 SAVEDSINCE \"1-Jan-2000\" LARGER 10 KEYWORD $x UNKEYWORD y (((SEEN)))\r\n",
		"b5 UID SORT RETURN (MIN COUNT) (REVERSE DATE SUBJECT DISPLAYFROM) UTF-8 UNSEEN OR FROM a TO b\r\n",
		"b6 THREAD REFERENCES US-ASCII NOT DELETED SINCE 1-Jan-2020\r\n",
		"b7 GETMETADATA (MAXSIZE 1024 DEPTH infinity) \"\" (/private/comment /shared)\r\n",
		"b8 SETMETADATA INBOX (/private/comment ~{3}\r\na\x00b /shared/x NIL /shared/y \"v\")\r\n",
		"b9 SETQUOTA \"\" (STORAGE 512 MESSAGE 10)\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bufio.NewReader(bytes.NewReader(in)), Limits{MaxLine: 512, MaxCommand: 4096, MaxAppend: 4096})
		for range 4 {
			cmd, err := r.ReadCommand(func() error { return nil })
			if err != nil {
				if _, ok := err.(*Error); ok {
					continue
				}
				return
			}
			for _, utf8 := range []bool{false, true} {
				parseAll(cmd.Args, utf8)
				roundTrip(t, cmd.Args, utf8)
			}
		}
	})
}

func parseAll(args []byte, utf8 bool) {
	run := func(fn func(p *Parser)) {
		p := NewParser(args, utf8)
		fn(p)
		p.End()
	}
	run(func(p *Parser) { ParseFetch(p) })
	run(func(p *Parser) { ParseStore(p) })
	run(func(p *Parser) { ParseSelect(p) })
	run(func(p *Parser) { ParseList(p) })
	run(func(p *Parser) { ParseStatus(p) })
	run(func(p *Parser) { ParseAppend(p) })
	run(func(p *Parser) { ParseCreate(p) })
	run(func(p *Parser) { ParseID(p) })
	run(func(p *Parser) { ParseSearch(p) })
	run(func(p *Parser) { ParseSort(p) })
	run(func(p *Parser) { ParseThread(p) })
	run(func(p *Parser) { ParseGetMetadata(p) })
	run(func(p *Parser) { ParseSetMetadata(p) })
	run(func(p *Parser) { ParseSetQuota(p) })
	run(func(p *Parser) { ParseAtoms(p) })
	run(func(p *Parser) { p.AString(); p.SP(); p.AString() })
	run(func(p *Parser) { p.SeqSet() })
}

// roundTrip checks the Writer against the Parser on the values a server
// echoes: a mailbox name (LIST, STATUS), an astring (ID, METADATA), and a
// sequence set re-formatted with FormatUIDs (COPYUID, MODIFIED).
func roundTrip(t *testing.T, args []byte, utf8 bool) {
	t.Helper()
	write := func(fn func(w *Writer)) []byte {
		var b bytes.Buffer
		bw := bufio.NewWriter(&b)
		w := NewWriter(bw)
		w.UTF8 = utf8
		fn(w)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	if p := NewParser(args, utf8); true {
		name := p.Mailbox()
		if p.Err() == nil && !strings.Contains(name, "\x00") {
			out := write(func(w *Writer) { w.Mailbox(name) })
			q := NewParser(out, utf8)
			if got := q.Mailbox(); q.End() != nil || got != name {
				t.Errorf("mailbox %q written as %q parses as %q (%v)", name, out, got, q.End())
			}
		}
	}
	if p := NewParser(args, utf8); true {
		s := p.AString()
		if p.Err() == nil && !strings.Contains(s, "\x00") {
			out := write(func(w *Writer) { w.AString(s) })
			q := NewParser(out, utf8)
			if got := q.AString(); q.End() != nil || got != s {
				t.Errorf("astring %q written as %q parses as %q (%v)", s, out, got, q.End())
			}
		}
	}
	if p := NewParser(args, utf8); true {
		set := p.SeqSet()
		if p.Err() == nil && !set.Saved {
			const max = 40
			var in []uint32
			for n := uint32(1); n <= max; n++ {
				if set.Contains(n, max) {
					in = append(in, n)
				}
			}
			if len(in) > 0 {
				s := FormatUIDs(in)
				q := NewParser([]byte(s), utf8)
				back := q.SeqSet()
				for n := uint32(1); n <= max && q.End() == nil; n++ {
					if back.Contains(n, max) != set.Contains(n, max) {
						t.Errorf("set %q as %q: %d differs", args, s, n)
						break
					}
				}
				if q.End() != nil {
					t.Errorf("FormatUIDs(%v) = %q: %v", in, s, q.End())
				}
			}
		}
	}
}

func FuzzUTF7(f *testing.F) {
	for _, s := range []string{"&ZeVnLIqe-", "a&-b", "&2D3eAA-", "plain"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dec, err := DecodeUTF7(s)
		if err != nil {
			return
		}
		if enc := EncodeUTF7(dec); enc != s {
			// Decoding is strict, so the encoding is canonical.
			t.Errorf("%q → %q → %q", s, dec, enc)
		}
	})
}
