package imapwire

import (
	"bufio"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestReadCommand(t *testing.T) {
	tests := []struct {
		in      string
		name    string
		args    string
		conts   int
		errCode string
		tag     string // of the error
		fatal   bool
	}{
		{in: "a1 NOOP\r\n", name: "NOOP"},
		{in: "a1 noop\n", name: "NOOP"},
		{in: "x.1 uid fetch 1:* FLAGS\r\n", name: "UID FETCH", args: "1:* FLAGS"},
		{in: "a LOGIN {3}\r\nbob {2+}\r\npw\r\n", name: "LOGIN", args: "{3}\r\nbob {2+}\r\npw", conts: 1},
		{in: "a APPEND INBOX ~{2}\r\n\x00\x01\r\n", name: "APPEND", args: "INBOX ~{2}\r\n\x00\x01", conts: 1},
		{in: "a LOGIN {99999999}\r\n", errCode: "TOOBIG", tag: "a"},
		{in: "a LOGIN {99999999+}\r\n", errCode: "TOOBIG", tag: "a", fatal: true},
		{in: "a LOGIN {99999999999999999999}\r\n", errCode: "TOOBIG", tag: "a"},
		{in: "a NOOP " + strings.Repeat("x", 200) + "\r\n", errCode: "TOOBIG", tag: "a"},
		{in: "+ NOOP\r\n", errCode: "-"},
		{in: "NOOP\r\n", errCode: "-"},
		// An over-long line is answered with its tag; the connection
		// closes only if a non-synchronizing literal follows it (the
		// marker may straddle bufio's 4096-byte buffer).
		{in: "t1 NOOP " + strings.Repeat("x", 200) + " {5}\r\n", errCode: "TOOBIG", tag: "t1"},
		{in: "t2 NOOP " + strings.Repeat("x", 200) + " {5+}\r\nhello\r\n", errCode: "TOOBIG", tag: "t2", fatal: true},
		{in: "t3 NOOP " + strings.Repeat("x", 4086) + "{5+}\r\nhello\r\n", errCode: "TOOBIG", tag: "t3", fatal: true},
		{in: strings.Repeat("x", 300) + "\r\n", errCode: "TOOBIG", fatal: true}, // no tag to answer with
		{in: "{5+}\r\nhello\r\n", errCode: "-", fatal: true},
		{in: "b\x01d NOOP {5+}\r\nhello\r\n", errCode: "-", fatal: true},
		{in: "t4 N\x01P {5}\r\n", errCode: "-", tag: "t4"},
	}
	for _, tt := range tests {
		r := NewReader(bufio.NewReader(strings.NewReader(tt.in)), Limits{MaxLine: 100, MaxCommand: 1000, MaxAppend: 1000})
		conts := 0
		cmd, err := r.ReadCommand(func() error { conts++; return nil })
		var we *Error
		if tt.errCode != "" {
			if !errors.As(err, &we) || tt.errCode != "-" && we.Code != tt.errCode || we.Fatal != tt.fatal || we.Tag != tt.tag {
				t.Errorf("%q: err %v (%+v), want code %s fatal %v", tt.in, err, we, tt.errCode, tt.fatal)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if cmd.Name != tt.name || string(cmd.Args) != tt.args || conts != tt.conts {
			t.Errorf("%q: got %q %q conts %d", tt.in, cmd.Name, cmd.Args, conts)
		}
	}
}

func TestParseFetch(t *testing.T) {
	tests := []struct {
		in   string
		want FetchArgs
		err  bool
	}{
		{in: "1:*,3 FLAGS", want: FetchArgs{Set: SeqSet{Ranges: []SeqRange{{1, 0}, {3, 3}}}, Attrs: []FetchAttr{{Name: FetchFlags}}}},
		{in: "$ (UID)", want: FetchArgs{Set: SeqSet{Saved: true}, Attrs: []FetchAttr{{Name: FetchUID}}}},
		{in: "1 FAST", want: FetchArgs{Set: SeqSet{Ranges: []SeqRange{{1, 1}}}, Attrs: []FetchAttr{{Name: FetchFlags}, {Name: FetchInternalDate}, {Name: FetchRFC822Size}}}},
		{in: "1 (BODY.PEEK[1.2.HEADER.FIELDS (Subject from)]<10.20> BINARY[3] BINARY.SIZE[] body)", want: FetchArgs{
			Set: SeqSet{Ranges: []SeqRange{{1, 1}}},
			Attrs: []FetchAttr{
				{Name: FetchBodySection, Peek: true, Section: Section{Part: []int{1, 2}, Specifier: "HEADER.FIELDS", Fields: []string{"SUBJECT", "FROM"}}, Partial: &Partial{10, 20}},
				{Name: FetchBinary, Section: Section{Part: []int{3}}},
				{Name: FetchBinarySize},
				{Name: FetchBody},
			}}},
		{in: "1:5 (FLAGS) (CHANGEDSINCE 12345 VANISHED)", want: FetchArgs{Set: SeqSet{Ranges: []SeqRange{{1, 5}}}, Attrs: []FetchAttr{{Name: FetchFlags}}, ChangedSince: 12345, Vanished: true}},
		{in: "1 PREVIEW", want: FetchArgs{Set: SeqSet{Ranges: []SeqRange{{1, 1}}}, Attrs: []FetchAttr{{Name: FetchPreview}}}},
		{in: "0 FLAGS", err: true},
		{in: "1 (FLAGS", err: true},
		{in: "1 BODY[TEXT]<1.0>", err: true},
		{in: "1 BINARY[TEXT]", err: true},
		{in: "1 BODY[MIME]", err: true},
		{in: "1 (FLAGS) (VANISHED)", err: true},
		{in: "1 FLAGS extra", err: true},
		{in: "4294967296 FLAGS", err: true},
	}
	for _, tt := range tests {
		p := NewParser([]byte(tt.in), false)
		got := ParseFetch(p)
		err := p.End()
		if tt.err {
			if err == nil {
				t.Errorf("%q: no error", tt.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseStoreSelectList(t *testing.T) {
	p := NewParser([]byte(`1:3 (UNCHANGEDSINCE 7) +FLAGS.SILENT (\Seen $Junk)`), false)
	st := ParseStore(p)
	if p.End() != nil || st.Op != '+' || !st.Silent || st.UnchangedSince != 7 || !reflect.DeepEqual(st.Flags, []string{`\Seen`, "$Junk"}) {
		t.Errorf("store: %+v %v", st, p.Err())
	}
	p = NewParser([]byte(`inbox (QRESYNC (67890007 20050715194045000 41,43:211,214:541 (1,3:5 100,102:104)))`), false)
	sa := ParseSelect(p)
	if p.End() != nil || sa.Mailbox != "INBOX" || sa.QResync == nil || sa.QResync.UIDValidity != 67890007 || sa.QResync.SeqMatch == nil {
		t.Errorf("select: %+v %v", sa, p.Err())
	}
	p = NewParser([]byte(`(SUBSCRIBED) "" ("INBOX" "Sent/%" &ZeVnLIqe-) RETURN (CHILDREN STATUS (MESSAGES UNSEEN))`), false)
	la := ParseList(p)
	if p.End() != nil || !reflect.DeepEqual(la.Patterns, []string{"INBOX", "Sent/%", "日本語"}) || !reflect.DeepEqual(la.Status, []string{"MESSAGES", "UNSEEN"}) {
		t.Errorf("list: %+v %v", la, p.Err())
	}
	p = NewParser([]byte("Drafts (\\Draft) \" 5-Jul-2023 02:44:25 +0200\" {3+}\r\nabc {1}\r\nx"), false)
	aa := ParseAppend(p)
	if p.End() != nil || len(aa.Messages) != 2 || string(aa.Messages[0].Data) != "abc" || aa.Messages[0].Date.Day() != 5 {
		t.Errorf("append: %+v %v", aa, p.Err())
	}
	for _, bad := range []string{`"unterminated`, `"8bit é"`, "{5}\r\nab", `"bad \q escape"`} {
		p = NewParser([]byte(bad), false)
		p.AString()
		if p.End() == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	p = NewParser([]byte(`"é"`), true)
	if s := p.AString(); p.End() != nil || s != "é" {
		t.Errorf("utf8 quoted: %q %v", s, p.Err())
	}
}

func TestUTF7(t *testing.T) {
	for _, s := range []string{"INBOX", "日本語", "a&b", "Entwürfe", "😀 smile", "~peter/mail/台北/日本語"} {
		enc := EncodeUTF7(s)
		dec, err := DecodeUTF7(enc)
		if err != nil || dec != s {
			t.Errorf("%q → %q → %q %v", s, enc, dec, err)
		}
	}
	if EncodeUTF7("~peter/mail/台北/日本語") != "~peter/mail/&U,BTFw-/&ZeVnLIqe-" {
		t.Error(EncodeUTF7("~peter/mail/台北/日本語"))
	}
	// "&\n-" was found by FuzzUTF7: the base64 decoder skips CR and LF.
	for _, bad := range []string{"&Jjo!", "&AGE-", "é", "&ZeVnLIqe", "INB&\n-OX", "&\r\n-", "&ZeV\nnLIqe-", "&Ze=-", "&Z e-"} {
		if _, err := DecodeUTF7(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestFormatUIDs(t *testing.T) {
	if got := FormatUIDs([]uint32{5, 1, 2, 3, 9, 10}); got != "1:3,5,9:10" {
		t.Error(got)
	}
	if got := FormatOrdered([]uint32{5, 6, 1}); got != "5:6,1" {
		t.Error(got)
	}
}

// TestTildeAtom: "~" starts a literal8 only before "{"; elsewhere it is an
// ATOM-CHAR, so every string-taking parser accepts an atom beginning with it.
func TestTildeAtom(t *testing.T) {
	for _, tt := range []struct {
		name string
		fn   func(p *Parser) string
		in   string
		want string
	}{
		{"AString", (*Parser).AString, "~foo", "~foo"},
		{"Mailbox", (*Parser).Mailbox, "~foo", "~foo"},
		{"ListMailbox", (*Parser).ListMailbox, "~foo%", "~foo%"},
		{"ListMailbox", (*Parser).ListMailbox, "~", "~"},
	} {
		p := NewParser([]byte(tt.in), false)
		got := tt.fn(p)
		if err := p.End(); err != nil || got != tt.want {
			t.Errorf("%s(%q) = %q, %v; want %q", tt.name, tt.in, got, err, tt.want)
		}
	}
	p := NewParser([]byte("~{1}\r\nx"), false)
	if p.AString(); p.End() == nil {
		t.Errorf("AString accepted a literal8")
	}
}

// No mailbox name or pattern read from a command has a control character,
// whatever its encoding (quoted, literal, modified UTF-7, UTF-8), and INBOX
// is case-insensitive where it begins a name.
func TestMailboxNames(t *testing.T) {
	for _, tc := range []struct {
		in   string
		utf8 bool
		want string // "" for an error
	}{
		{`"INB&\n-OX"`, false, ""},
		{"{8}\r\nINB&\n-OX", false, ""},
		{"{5}\r\nIN\nOX", false, ""},
		{"{5}\r\nIN\nOX", true, ""},
		{"&AAo-", false, ""},         // LF in a shift
		{"&AIU-", false, ""},         // U+0085 (C1)
		{"{4}\r\na\u0085", true, ""}, // the same in UTF-8
		{"{3}\r\na\x7f", true, ""},
		{"inbox/x", false, "INBOX/x"},
		{"Inbox", true, "INBOX"},
		{"inboxes", false, "inboxes"},
		{"&AOk-t&AOk-", false, "été"},
	} {
		for _, list := range []bool{false, true} {
			p := NewParser([]byte(tc.in), tc.utf8)
			var got string
			if list {
				got = p.ListMailbox()
			} else {
				got = p.Mailbox()
			}
			err := p.End()
			want := tc.want
			if list && want != "" {
				want = strings.Replace(tc.want, "INBOX", tc.in[:min(5, len(tc.in))], 1) // patterns keep their spelling
			}
			switch {
			case want == "" && err == nil:
				t.Errorf("%q (utf8 %v, list %v): got %q, want an error", tc.in, tc.utf8, list, got)
			case want != "" && (err != nil || got != want):
				t.Errorf("%q (utf8 %v, list %v): got %q, %v, want %q", tc.in, tc.utf8, list, got, err, want)
			}
		}
	}
}
