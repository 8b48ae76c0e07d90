package mailport

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/store"
)

func TestParseMaildirName(t *testing.T) {
	for _, c := range []struct {
		name string
		want MaildirName
	}{
		{"1700000000.M1P2.host", MaildirName{Unique: "1700000000.M1P2.host", Time: time.Unix(1700000000, 0), Size: -1}},
		{"1700000000.M1P2.host:2,", MaildirName{Unique: "1700000000.M1P2.host", Time: time.Unix(1700000000, 0), Size: -1}},
		{"1700000000.M1P2.host,S=1234,W=1300:2,FRS", MaildirName{Unique: "1700000000.M1P2.host,S=1234,W=1300",
			Flags: store.FlagFlagged | store.FlagAnswered | store.FlagSeen, Time: time.Unix(1700000000, 0), Size: 1234}},
		{"x:2,DT", MaildirName{Unique: "x", Flags: store.FlagDraft | store.FlagDeleted, Size: -1}},
		{"x:2,PSacba", MaildirName{Unique: "x", Flags: store.FlagSeen, Passed: true, KeywordLetters: "acb", Size: -1}},
		{"x:2,SXYZ?", MaildirName{Unique: "x", Flags: store.FlagSeen, Size: -1}},
		{"x;2,S", MaildirName{Unique: "x", Flags: store.FlagSeen, Size: -1}},
		{"x!2,F", MaildirName{Unique: "x", Flags: store.FlagFlagged, Size: -1}},
		{"x:1,S", MaildirName{Unique: "x:1,S", Size: -1}}, // experimental info: no flags
		{"a:b:2,S", MaildirName{Unique: "a:b", Flags: store.FlagSeen, Size: -1}},
		{"", MaildirName{Size: -1}},
		{"-5.x,S=-3", MaildirName{Unique: "-5.x,S=-3", Size: -1}},
		{"garbage", MaildirName{Unique: "garbage", Size: -1}},
	} {
		if got := ParseMaildirName(c.name); !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseMaildirName(%q) =\n %+v\nwant %+v", c.name, got, c.want)
		}
	}
}

func TestMaildirInfoRoundTrip(t *testing.T) {
	for f := store.Flags(0); f < 32; f++ {
		for _, passed := range []bool{false, true} {
			info := maildirInfo(f, passed, "ca")
			n := ParseMaildirName("u" + info)
			if n.Flags != f || n.Passed != passed || n.KeywordLetters != "ac" {
				t.Errorf("flags %05b passed %v: info %q parsed as %+v", f, passed, info, n)
			}
		}
	}
	if got := maildirInfo(store.FlagSeen|store.FlagFlagged|store.FlagAnswered, false, ""); got != ":2,FRS" {
		t.Errorf("info %q, want :2,FRS (ASCII order)", got)
	}
}

func TestMaildirFolderName(t *testing.T) {
	for _, c := range []struct {
		dir, mailbox string
		ok           bool
	}{
		{".Sent", "Sent", true},
		{".Foo.Bar", "Foo/Bar", true},
		{".INBOX.sub", "INBOX/sub", true},
		{".Entw&APw-rfe", "Entwürfe", true},
		{".Entwürfe", "Entwürfe", true}, // raw UTF-8 (Dovecot's UTF-8 option)
		{".a&AC4-b.c", "a.b/c", true},   // an escaped dot inside a level
		{".R&-D", "R&D", true},
		{".Foo..Bar", "", false},
		{".", "", false},
		{"Foo", "", false},
		{".bad\x01", "", false},
		{".\xff", "", false},
	} {
		got, err := MaildirFolderName(c.dir)
		if (err == nil) != c.ok || got != c.mailbox {
			t.Errorf("MaildirFolderName(%q) = %q, %v; want %q ok=%v", c.dir, got, err, c.mailbox, c.ok)
		}
	}
	for _, mb := range []string{"Sent", "Foo/Bar", "Entwürfe/2024", "a.b/c", "R&D", "日本語"} {
		dir := MaildirFolderDir(mb)
		back, err := MaildirFolderName(dir)
		if err != nil || back != mb {
			t.Errorf("%q -> %q -> %q, %v", mb, dir, back, err)
		}
	}
}

func TestFindMaildirs(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"cur", "new", "tmp", ".Sent/cur", ".Foo.Bar/new", ".notmaildir", "Nested/Deep/cur", "Nested/cur", ".Bad..Name/cur"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var problems []Problem
	fs, err := findMaildirs(root, "", false, func(p Problem) { problems = append(problems, p) })
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range fs {
		got[f.mailbox] = true
	}
	want := map[string]bool{"INBOX": true, "Sent": true, "Foo/Bar": true, "Nested": true, "Nested/Deep": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mailboxes %v, want %v", got, want)
	}
	if len(problems) != 1 {
		t.Errorf("problems %v, want one for .Bad..Name", problems)
	}
	if _, err := findMaildirs(t.TempDir(), "", false, func(Problem) {}); err == nil {
		t.Error("an empty directory was accepted as a Maildir")
	}
	if _, err := findMaildirs(filepath.Join(root, "Nested", "Deep"), "X", true, func(Problem) {}); err != nil {
		t.Errorf("single Maildir: %v", err)
	}
}
