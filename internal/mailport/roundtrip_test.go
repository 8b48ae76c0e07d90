package mailport

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

// testStore opens a store with one account per name (name@example.com).
func testStore(t testing.TB, names ...string) (store.Store, []int64) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddDomain(ctx, store.Domain{Name: addr.MustParseDomain("example.com"), SubaddressSep: "+"}); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, n := range names {
		a, err := st.AddAccount(ctx, store.Account{Address: addr.MustParseAddress(n + "@example.com")}, store.Credentials{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	return st, ids
}

func writeFile(t testing.TB, path, data string, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func testMsg(n int, extra string) string {
	return fmt.Sprintf("From: Sender %d <s%d@example.org>\nTo: you@example.com\nSubject: message %d\nMessage-ID: <%d@example.org>\n\nBody %d\n%s", n, n, n, n, n, extra)
}

// makeMaildir builds a Maildir++ tree with flags, keywords, folders and
// files that must be skipped; it returns the number of good messages.
func makeMaildir(t testing.TB, root string) int {
	t.Helper()
	base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Hour) }
	for _, d := range []string{"cur", "new", "tmp", ".Empty/cur", ".Empty/new", ".Empty/tmp"} {
		os.MkdirAll(filepath.Join(root, d), 0o700)
	}
	writeFile(t, filepath.Join(root, "dovecot-keywords"), "0 $Label1\n1 work\n", time.Time{})
	writeFile(t, filepath.Join(root, "cur", "1709294400.M1P1.host,S=100:2,FRSab"), testMsg(1, ""), at(1))
	writeFile(t, filepath.Join(root, "cur", "1709294401.M2P1.host:2,P"), testMsg(2, "From the start of a line\n>From quoted\n"), at(2))
	writeFile(t, filepath.Join(root, "new", "1709294402.M3P1.host"), testMsg(3, ""), at(3))
	writeFile(t, filepath.Join(root, "cur", "no-message-id:2,S"), "Subject: no id\r\n\r\nCRLF body\r\n", at(4))
	writeFile(t, filepath.Join(root, "tmp", "1709294403.M4P1.host"), testMsg(99, ""), at(5)) // ignored
	writeFile(t, filepath.Join(root, "cur", "garbage:2,S"), "\x00\x01\x02binary junk\n", at(6))
	writeFile(t, filepath.Join(root, "cur", "empty:2,S"), "", at(7))
	writeFile(t, filepath.Join(root, ".Sent", "cur", "1709294404.M5P1.host:2,S"), testMsg(5, ""), at(8))
	writeFile(t, filepath.Join(root, ".Foo.Bar", "cur", "1709294405.M6P1.host:2,DT"), testMsg(6, ""), at(9))
	writeFile(t, filepath.Join(root, ".Foo.Bar", "new", "1709294406.M7P1.host"), testMsg(7, "\n\n"), at(10))
	writeFile(t, filepath.Join(root, ".Entw&APw-rfe", "cur", "1709294407.M8P1.host:2,D"), testMsg(8, ""), at(11))
	return 8
}

// snapshot is an account's content in comparable form.
type snapshot map[string][]string // mailbox -> messages "flags keywords date\nbytes"

func takeSnapshot(t testing.TB, st store.Store, acc int64) snapshot {
	t.Helper()
	ctx := context.Background()
	mbs, err := st.Mailboxes(ctx, acc)
	if err != nil {
		t.Fatal(err)
	}
	snap := snapshot{}
	for _, mb := range mbs {
		msgs, err := st.Messages(ctx, acc, mb.ID, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		list := []string{}
		for _, m := range msgs {
			c, err := st.Open(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
			c.Close()
			list = append(list, fmt.Sprintf("%05b %v %d\n%s", m.Flags, m.Keywords, m.InternalDate.Unix(), b))
		}
		snap[mb.Name] = list
	}
	return snap
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	st, accs := testStore(t, "a", "b", "c")
	src := t.TempDir()
	good := makeMaildir(t, src)

	var problems []string
	im := &Importer{Store: st, AccountID: accs[0], BatchSize: 3,
		Problem: func(p Problem) { problems = append(problems, p.Error()) }}
	res, err := im.ImportMaildir(ctx, src, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages != good || res.Skipped != 2 || res.Duplicates != 0 {
		t.Errorf("import result %+v, want %d messages, 2 skipped; problems %q", res, good, problems)
	}
	if len(problems) != 2 || !strings.Contains(strings.Join(problems, "\n"), "garbage") || !strings.Contains(strings.Join(problems, "\n"), "empty") {
		t.Errorf("problems %q, want the garbage and the empty file", problems)
	}
	a := takeSnapshot(t, st, accs[0])
	for _, name := range []string{"INBOX", "Sent", "Foo/Bar", "Entwürfe", "Empty"} {
		if _, ok := a[name]; !ok {
			t.Errorf("mailbox %q missing after import; have %v", name, slices.Sorted(mapsKeys(a)))
		}
	}
	inbox := strings.Join(a["INBOX"], "\n---\n")
	for _, want := range []string{
		fmt.Sprintf("%05b [$Forwarded] ", store.Flags(0)),
		fmt.Sprintf("%05b [$Label1 work] %d", store.FlagSeen|store.FlagAnswered|store.FlagFlagged, time.Date(2024, 3, 1, 13, 0, 0, 0, time.UTC).Unix()),
		"Body 1\r\n", "\r\nFrom the start of a line\r\n>From quoted\r\n",
	} {
		if !strings.Contains(inbox, want) {
			t.Errorf("INBOX lacks %q:\n%s", want, inbox)
		}
	}
	if got := a["Foo/Bar"]; len(got) != 2 || !strings.HasPrefix(got[0], fmt.Sprintf("%05b", store.FlagDeleted|store.FlagDraft)) {
		t.Errorf("Foo/Bar: %q", got)
	}

	// Re-running the import adds nothing.
	res, err = im.ImportMaildir(ctx, src, "")
	if err != nil || res.Messages != 0 || res.Duplicates != good {
		t.Errorf("second import: %+v, %v; want %d duplicates", res, err, good)
	}

	// Export to Maildir, import into b; export to mbox, import into c.
	ex := &Exporter{Store: st, AccountID: accs[0], Problem: func(p Problem) { t.Errorf("export problem: %v", p) }}
	mdOut := filepath.Join(t.TempDir(), "maildir")
	if res, err := ex.ExportMaildir(ctx, mdOut, ""); err != nil || res.Messages != good {
		t.Fatalf("ExportMaildir: %+v, %v", res, err)
	}
	mboxOut := filepath.Join(t.TempDir(), "mbox")
	if res, err := ex.ExportMbox(ctx, mboxOut, ""); err != nil || res.Messages != good {
		t.Fatalf("ExportMbox: %+v, %v", res, err)
	}
	im.Problem = func(p Problem) { t.Errorf("re-import problem: %v", p) }
	im.AccountID = accs[1]
	if _, err := im.ImportMaildir(ctx, mdOut, ""); err != nil {
		t.Fatal(err)
	}
	im.AccountID = accs[2]
	if _, err := im.ImportMbox(ctx, mboxOut, ""); err != nil {
		t.Fatal(err)
	}
	for i, acc := range accs[1:] {
		if b := takeSnapshot(t, st, acc); !reflect.DeepEqual(a, b) {
			t.Errorf("account %d (from the %s export) differs:\n got %q\nwant %q", i+1, []string{"Maildir", "mbox"}[i], b, a)
		}
	}

	// The exported Maildir carries flags in names and dates in mtimes.
	fi, err := os.Stat(filepath.Join(mdOut, ".Foo.Bar", "cur"))
	if err != nil || !fi.IsDir() {
		t.Errorf(".Foo.Bar/cur missing: %v", err)
	}
	if _, err := os.Stat(filepath.Join(mdOut, ".Entw&APw-rfe", "maildirfolder")); err != nil {
		t.Error(err)
	}
	kw, _ := os.ReadFile(filepath.Join(mdOut, "dovecot-keywords"))
	if string(kw) != "0 $Label1\n1 work\n" {
		t.Errorf("dovecot-keywords %q", kw)
	}
	mbox, _ := os.ReadFile(filepath.Join(mboxOut, "INBOX.mbox"))
	for _, want := range []string{"From s1@example.org Fri Mar  1 13:00:00 2024\n", "Status: RO\r\nX-Status: AF\r\nX-Keywords: $Label1 work\r\n\r\nBody 1",
		"\r\n>From the start of a line\r\n>>From quoted\r\n"} {
		if !bytes.Contains(mbox, []byte(want)) {
			t.Errorf("INBOX.mbox lacks %q:\n%s", want, mbox)
		}
	}
	if _, err := os.Stat(filepath.Join(mboxOut, "Foo", "Bar.mbox")); err != nil {
		t.Error(err)
	}
	// Exporting into a non-empty directory is refused.
	if _, err := ex.ExportMbox(ctx, mboxOut, ""); err == nil {
		t.Error("export into a non-empty directory succeeded")
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestImportSingleMaildirAndMbox(t *testing.T) {
	ctx := context.Background()
	st, accs := testStore(t, "a")
	src := t.TempDir()
	makeMaildir(t, src)
	im := &Importer{Store: st, AccountID: accs[0]}
	res, err := im.ImportMaildir(ctx, filepath.Join(src, ".Foo.Bar"), "Archive/2024")
	if err != nil || res.Messages != 2 {
		t.Fatalf("single Maildir: %+v, %v", res, err)
	}
	mb, err := st.MailboxByName(ctx, accs[0], "Archive/2024")
	if err != nil || mb.Messages != 2 || !mb.Subscribed {
		t.Errorf("Archive/2024: %+v, %v", mb, err)
	}

	dir := t.TempDir()
	mboxPath := filepath.Join(dir, "mbox")
	writeFile(t, mboxPath, "From x@y Sat Mar  2 10:00:00 2024\nStatus: R\nX-Status: F\n"+testMsg(20, "")+
		"\nFrom x@y Sat Mar  2 11:00:00 2024\n"+testMsg(21, strings.Repeat("z", 300)+"\n")+
		"\nFrom x@y Sat Mar  2 12:00:00 2024\n"+testMsg(22, ""), time.Time{})
	var problems []Problem
	im = &Importer{Store: st, AccountID: accs[0], MaxMessageSize: 300, Problem: func(p Problem) { problems = append(problems, p) }}
	res, err = im.ImportMbox(ctx, mboxPath, "Old")
	if err != nil || res.Messages != 2 || res.Skipped != 1 {
		t.Fatalf("mbox: %+v, %v, %v", res, err, problems)
	}
	if len(problems) != 1 || problems[0].Line != 11 || !strings.Contains(problems[0].Error(), "exceeds the limit") {
		t.Errorf("problems %v, want the oversized message at line 11", problems)
	}
	mb, _ = st.MailboxByName(ctx, accs[0], "Old")
	msgs, _ := st.Messages(ctx, accs[0], mb.ID, 1, 0)
	if len(msgs) != 2 || msgs[0].Flags != store.FlagSeen|store.FlagFlagged || !msgs[0].InternalDate.Equal(time.Date(2024, 3, 2, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("messages %+v", msgs)
	}

	// A directory of mbox files; a non-mbox file in it is skipped.
	writeFile(t, filepath.Join(dir, "tree", "Lists.sbd", "Go"), "From x@y Sat Mar  2 10:00:00 2024\n"+testMsg(30, ""), time.Time{})
	writeFile(t, filepath.Join(dir, "tree", "Lists.msf"), "// index", time.Time{})
	writeFile(t, filepath.Join(dir, "tree", "notes.txt"), "not mail\n", time.Time{})
	writeFile(t, filepath.Join(dir, "tree", "Empty.mbox"), "", time.Time{})
	problems = nil
	res, err = im.ImportMbox(ctx, filepath.Join(dir, "tree"), "")
	if err != nil || res.Messages != 1 || res.Skipped != 1 || len(problems) != 1 {
		t.Fatalf("mbox tree: %+v, %v, %v", res, err, problems)
	}
	for _, name := range []string{"Lists/Go", "Empty"} {
		if _, err := st.MailboxByName(ctx, accs[0], name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := im.ImportMbox(ctx, filepath.Join(dir, "tree"), "X"); err == nil {
		t.Error("--mailbox with a directory was accepted")
	}
}

func TestImportOverQuotaStops(t *testing.T) {
	ctx := context.Background()
	st, accs := testStore(t, "a")
	if err := st.SetQuota(ctx, accs[0], 300); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	makeMaildir(t, src)
	_, err := (&Importer{Store: st, AccountID: accs[0], BatchSize: 1}).ImportMaildir(ctx, src, "")
	if err == nil || !strings.Contains(err.Error(), "quota") {
		t.Fatalf("err %v, want over quota", err)
	}
}
