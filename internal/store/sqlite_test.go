package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
)

func openTest(t testing.TB, dir string) *SQLite {
	t.Helper()
	s, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func addAccount(t testing.TB, s *SQLite, address string) Account {
	t.Helper()
	ctx := context.Background()
	a := addr.MustParseAddress(address)
	if _, err := s.Domain(ctx, a.Domain); errors.Is(err, ErrNotFound) {
		if err := s.AddDomain(ctx, Domain{Name: a.Domain, SubaddressSep: "+"}); err != nil {
			t.Fatal(err)
		}
	}
	acc, err := s.AddAccount(ctx, Account{Address: a}, Credentials{PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	return acc
}

func deliver(t testing.TB, s *SQLite, body []byte, targets ...Target) []Message {
	t.Helper()
	msgs, err := s.Deliver(context.Background(), Delivery{Body: bytes.NewReader(body), Targets: targets})
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// blockWriter occupies the writer goroutine until release is called, so
// that requests queue up behind it.
func blockWriter(t *testing.T, s *SQLite) (release func()) {
	started, unblock, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- s.write(context.Background(), nil, func(*wtx) ([]Change, error) {
			close(started)
			<-unblock
			return nil, nil
		})
	}()
	<-started
	return func() {
		close(unblock)
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// waitQueued waits until n requests are queued for the writer.
func waitQueued(t *testing.T, s *SQLite, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(s.reqs) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", len(s.reqs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func blobCount(t *testing.T, s *SQLite) (rows int, refs int) {
	t.Helper()
	err := s.rdb.QueryRow(`SELECT count(*), coalesce(sum(refs), 0) FROM blobs`).Scan(&rows, &refs)
	if err != nil {
		t.Fatal(err)
	}
	return rows, refs
}

func blobFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "blobs", "[0-9a-f][0-9a-f]", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestGroupCommit(t *testing.T) {
	s := openTest(t, t.TempDir())
	acc := addAccount(t, s, "a@example.org")
	var base uint64 // the account's MODSEQ: the highest of its mailboxes
	mbs, _ := s.Mailboxes(context.Background(), acc.ID)
	for _, mb := range mbs {
		base = max(base, mb.HighestModSeq)
	}
	const n = 50
	release := blockWriter(t, s)
	before := s.commits.Load()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Deliver(context.Background(), Delivery{
				Body:    strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nhello\r\n", i)),
				Targets: []Target{{AccountID: acc.ID}},
			})
			errs <- err
		}()
	}
	waitQueued(t, s, n)
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// One commit for the blocking request, one for the 50 queued deliveries.
	if got := s.commits.Load() - before; got != 2 {
		t.Errorf("%d commits for %d queued deliveries, want 2", got, n)
	}
	mb, err := s.MailboxByName(context.Background(), acc.ID, "inbox")
	if err != nil {
		t.Fatal(err)
	}
	if mb.Messages != n || mb.UIDNext != n+1 || mb.HighestModSeq != base+n {
		t.Errorf("inbox %+v, want %d messages", mb, n)
	}
}

// A failing request rolls back alone: the others of its batch commit.
func TestBatchSavepoints(t *testing.T) {
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	acc := addAccount(t, s, "a@example.org")
	full := addAccount(t, s, "full@example.org")
	if err := s.SetQuota(ctx, full.ID, 10); err != nil {
		t.Fatal(err)
	}
	sub := s.Notifier().Subscribe(full.ID)
	defer sub.Close()
	release := blockWriter(t, s)
	var wg sync.WaitGroup
	var okErr, fullErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, fullErr = s.Deliver(ctx, Delivery{Body: strings.NewReader("too big for the quota\r\n"),
			Targets: []Target{{AccountID: acc.ID}, {AccountID: full.ID}}})
	}()
	waitQueued(t, s, 1)
	go func() {
		defer wg.Done()
		_, okErr = s.Deliver(ctx, Delivery{Body: strings.NewReader("fine\r\n"), Targets: []Target{{AccountID: acc.ID}}})
	}()
	waitQueued(t, s, 2)
	before := s.commits.Load()
	release()
	wg.Wait()
	if !errors.Is(fullErr, ErrOverQuota) {
		t.Errorf("over-quota delivery: %v", fullErr)
	}
	if okErr != nil {
		t.Errorf("delivery batched with a failing one: %v", okErr)
	}
	if got := s.commits.Load() - before; got != 2 { // the blocker's and the batch's
		t.Errorf("%d commits, want 2", got)
	}
	msgs, err := s.Messages(ctx, acc.ID, mustMailbox(t, s, acc.ID, "INBOX").ID, 1, 0)
	// The rolled-back delivery's UID was never committed, so it is free.
	if err != nil || len(msgs) != 1 || msgs[0].UID != 1 {
		t.Errorf("messages %+v, %v", msgs, err)
	}
	if ch := sub.Next(); len(ch) != 0 {
		t.Errorf("changes published for a failed delivery: %+v", ch)
	}
	if rows, _ := blobCount(t, s); rows != 1 {
		t.Errorf("%d blobs, want 1", rows)
	}
	a, err := s.AccountByID(ctx, full.ID)
	if err != nil || a.UsedBytes != 0 {
		t.Errorf("over-quota account %+v, %v", a, err)
	}
}

func mustMailbox(t testing.TB, s *SQLite, accountID int64, name string) Mailbox {
	t.Helper()
	mb, err := s.MailboxByName(context.Background(), accountID, name)
	if err != nil {
		t.Fatal(err)
	}
	return mb
}

func TestLargeBlob(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	ctx := context.Background()
	acc := addAccount(t, s, "a@example.org")
	body := bytes.Repeat([]byte("0123456789abcdef"), (inlineMax+1000)/16)
	prefix := []byte("Received: by test\r\n")
	msgs := deliver(t, s, body,
		Target{AccountID: acc.ID, HeaderPrefix: prefix},
		Target{AccountID: acc.ID, Mailbox: "Archive"})
	if files := blobFiles(t, dir); len(files) != 1 {
		t.Fatalf("blob files %v, want 1", files)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "blobs", "tmp")); len(ents) != 0 {
		t.Errorf("tmp not empty: %v", ents)
	}
	c, err := s.Open(ctx, msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]byte{}, prefix...), body...)
	if c.Size() != int64(len(want)) || msgs[0].Size != int64(len(want)) {
		t.Errorf("size %d / %d, want %d", c.Size(), msgs[0].Size, len(want))
	}
	got, err := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("content differs (%d bytes, %v)", len(got), err)
	}
	part := make([]byte, 100)
	if n, err := c.ReadAt(part, 10); err != nil || !bytes.Equal(part[:n], want[10:110]) {
		t.Errorf("ReadAt across the prefix: %d, %v", n, err)
	}
	if n, err := c.ReadAt(part, c.Size()-50); err != io.EOF || n != 50 {
		t.Errorf("ReadAt at the end: %d, %v", n, err)
	}
	c.Close()

	if _, err := s.Expunge(ctx, acc.ID, msgs[0].MailboxID, []uint32{msgs[0].UID}); err != nil {
		t.Fatal(err)
	}
	if files := blobFiles(t, dir); len(files) != 1 {
		t.Fatalf("blob file removed while referenced: %v", files)
	}
	if err := s.DeleteMailbox(ctx, acc.ID, "Archive"); err != nil {
		t.Fatal(err)
	}
	if files := blobFiles(t, dir); len(files) != 0 {
		t.Errorf("blob files left: %v", files)
	}
	if rows, _ := blobCount(t, s); rows != 0 {
		t.Errorf("%d blob rows left", rows)
	}
	if _, err := s.Open(ctx, msgs[1]); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open of a freed blob: %v", err)
	}
	a, _ := s.AccountByID(ctx, acc.ID)
	if a.UsedBytes != 0 {
		t.Errorf("used bytes %d after deleting everything", a.UsedBytes)
	}
}

func TestRefcounts(t *testing.T) {
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	a := addAccount(t, s, "a@example.org")
	b := addAccount(t, s, "b@example.org")
	msgs := deliver(t, s, []byte("Subject: x\r\n\r\nx\r\n"), Target{AccountID: a.ID}, Target{AccountID: b.ID})
	if msgs[0].BlobID != msgs[1].BlobID {
		t.Fatalf("multi-recipient delivery stored twice")
	}
	trash := mustMailbox(t, s, a.ID, "Trash")
	if _, err := s.Copy(ctx, a.ID, msgs[0].MailboxID, []uint32{msgs[0].UID}, trash.ID); err != nil {
		t.Fatal(err)
	}
	q, err := s.Enqueue(ctx, strings.NewReader("queued"), []QueueEntry{
		{Domain: "x.example", Recipients: []QueueRecipient{{Address: "r@x.example"}}},
		{Domain: "y.example", Recipients: []QueueRecipient{{Address: "r@y.example"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows, refs := blobCount(t, s); rows != 2 || refs != 5 {
		t.Errorf("blobs %d refs %d, want 2 and 5", rows, refs)
	}
	if err := s.DeleteAccount(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if rows, refs := blobCount(t, s); rows != 2 || refs != 3 {
		t.Errorf("after DeleteAccount: blobs %d refs %d, want 2 and 3", rows, refs)
	}
	for _, e := range q {
		if err := s.DeleteQueueEntry(ctx, e.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Expunge(ctx, b.ID, msgs[1].MailboxID, []uint32{msgs[1].UID}); err != nil {
		t.Fatal(err)
	}
	if rows, refs := blobCount(t, s); rows != 0 || refs != 0 {
		t.Errorf("at the end: blobs %d refs %d, want 0", rows, refs)
	}
}

func TestMigrateAndReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := openWith(ctx, dir, Options{}, migrations)
	if err != nil {
		t.Fatal(err)
	}
	acc := addAccount(t, s, "a@example.org")
	deliver(t, s, []byte("hello\r\n"), Target{AccountID: acc.ID})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("index.db.before-v%d", len(migrations)))); !os.IsNotExist(err) {
		t.Errorf("snapshot of an empty database: %v", err)
	}

	// A later version with one more migration snapshots the data first.
	v2 := append(migrations[:len(migrations):len(migrations)], func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE extra (x INTEGER)`)
		return err
	})
	s, err = openWith(ctx, dir, Options{}, v2)
	if err != nil {
		t.Fatal(err)
	}
	var version int
	if err := s.rdb.QueryRow(`SELECT version FROM schema_version`).Scan(&version); err != nil || version != len(v2) {
		t.Errorf("version %d, %v", version, err)
	}
	if msgs, err := s.Messages(ctx, acc.ID, mustMailbox(t, s, acc.ID, "INBOX").ID, 1, 0); err != nil || len(msgs) != 1 {
		t.Errorf("after migration: %d messages, %v", len(msgs), err)
	}
	s.Close()
	snap := filepath.Join(dir, fmt.Sprintf("index.db.before-v%d", len(v2)))
	db, err := sql.Open("sqlite", "file:"+snap+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM messages`).Scan(&n); err != nil || n != 1 {
		t.Errorf("snapshot: %d messages, %v", n, err)
	}

	// Going back to the older program fails cleanly.
	if _, err := openWith(ctx, dir, Options{}, migrations); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("opening a newer schema: %v", err)
	}
}

func TestOpenCleansUp(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	acc := addAccount(t, s, "a@example.org")
	big := bytes.Repeat([]byte("x"), inlineMax+1)
	deliver(t, s, big, Target{AccountID: acc.ID})
	s.Close()
	tmpFile := filepath.Join(dir, "blobs", "tmp", "blob-123")
	orphan := filepath.Join(dir, "blobs", "ab", "ab0123")
	for _, p := range []string{tmpFile, orphan} {
		if err := os.WriteFile(p, []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	openTest(t, dir)
	for _, p := range []string{tmpFile, orphan} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s survived Open: %v", p, err)
		}
	}
	if files := blobFiles(t, dir); len(files) != 1 {
		t.Errorf("referenced blob file removed: %v", files)
	}
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir)
	if s, err := Open(context.Background(), dir, Options{}); err == nil {
		s.Close()
		t.Fatal("second Open of the same directory succeeded")
	}
}

// TestCloseUnlocksWithChildren: Close releases the lock even while a child
// process holds a copy of the lock descriptor, as every child forked by this
// process does between fork and exec (the e2e tests read a stopped server's
// store while other tests start clients: "in use by another process").
func TestCloseUnlocksWithChildren(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command("sleep", "60")
	child.ExtraFiles = []*os.File{s.lock}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatalf("Open after Close while a child holds the old descriptor: %v", err)
	}
	s2.Close()
}

func TestClose(t *testing.T) {
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	acc := addAccount(t, s, "a@example.org")
	release := blockWriter(t, s)
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Deliver(ctx, Delivery{Body: strings.NewReader("x"), Targets: []Target{{AccountID: acc.ID}}})
		}()
	}
	waitQueued(t, s, len(errs))
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	time.Sleep(20 * time.Millisecond)
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("pending write at Close: %v", err)
		}
	}
	if _, err := s.Deliver(ctx, Delivery{Body: strings.NewReader("x"), Targets: []Target{{AccountID: acc.ID}}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Deliver after Close: %v", err)
	}
	if _, err := s.Mailboxes(ctx, acc.ID); !errors.Is(err, ErrClosed) {
		t.Errorf("Mailboxes after Close: %v", err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

func TestCancelWhileQueued(t *testing.T) {
	s := openTest(t, t.TempDir())
	acc := addAccount(t, s, "a@example.org")
	release := blockWriter(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() {
		_, err := s.Deliver(ctx, Delivery{Body: strings.NewReader("x"), Targets: []Target{{AccountID: acc.ID}}})
		errc <- err
	}()
	waitQueued(t, s, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Deliver: %v", err)
	}
	release()
	if mb := mustMailbox(t, s, acc.ID, "INBOX"); mb.Messages != 0 {
		t.Errorf("cancelled delivery stored: %+v", mb)
	}
}

func TestMailSemantics(t *testing.T) {
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	acc := addAccount(t, s, "a@example.org")
	sub := s.Notifier().Subscribe(acc.ID)
	defer sub.Close()

	m := deliver(t, s, []byte("a"), Target{AccountID: acc.ID, Mailbox: "Lists/go", Keywords: []string{"$Junk", "foo", "FOO"}})[0]
	if m.UID != 1 || m.ModSeq == 0 || len(m.Keywords) != 2 {
		t.Errorf("first message %+v", m)
	}
	ch := sub.Next()
	if len(ch) != 2 || ch[0].Kind != ChangeMailboxCreate || ch[1].Kind != ChangeNew {
		t.Errorf("changes %+v", ch)
	}
	lists := mustMailbox(t, s, acc.ID, "Lists/go")
	res, err := s.StoreFlags(ctx, FlagChange{AccountID: acc.ID, MailboxID: lists.ID, UIDs: []uint32{1}, Op: FlagsAdd,
		Flags: FlagSeen, Keywords: []string{"Foo", "bar"}})
	if err != nil || len(res.Changed) != 1 || res.Changed[0].ModSeq <= m.ModSeq ||
		strings.Join(res.Changed[0].Keywords, ",") != "$Junk,bar,foo" {
		t.Fatalf("StoreFlags: %+v, %v", res, err)
	}
	flagsModSeq := res.Changed[0].ModSeq
	res, err = s.StoreFlags(ctx, FlagChange{AccountID: acc.ID, MailboxID: lists.ID, UIDs: []uint32{1}, Op: FlagsAdd,
		Flags: FlagFlagged, UnchangedSince: m.ModSeq})
	if err != nil || len(res.Failed) != 1 || len(res.Changed) != 0 {
		t.Errorf("UNCHANGEDSINCE: %+v, %v", res, err)
	}
	if _, err := s.Expunge(ctx, acc.ID, lists.ID, nil); err != nil {
		t.Fatal(err)
	}
	if mb := mustMailbox(t, s, acc.ID, "Lists/go"); mb.Messages != 1 {
		t.Errorf("expunge without \\Deleted removed something: %+v", mb)
	}
	uids, err := s.Expunge(ctx, acc.ID, lists.ID, []uint32{1})
	if err != nil || len(uids) != 1 {
		t.Fatalf("Expunge: %v, %v", uids, err)
	}
	if v, err := s.Vanished(ctx, acc.ID, lists.ID, flagsModSeq); err != nil || len(v) != 1 || v[0] != 1 {
		t.Errorf("Vanished: %v, %v", v, err)
	}
	// Rename with children; recreate: new UIDVALIDITY.
	if _, err := s.CreateMailbox(ctx, acc.ID, "Lists/go/x", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.RenameMailbox(ctx, acc.ID, "Lists", "Lists"); err == nil {
		t.Error("rename to itself succeeded")
	}
	// Lists was created as the parent of Lists/go/x.
	if _, err := s.CreateMailbox(ctx, acc.ID, "Lists", ""); !errors.Is(err, ErrExists) {
		t.Fatalf("CreateMailbox(Lists) after Lists/go/x: %v", err)
	}
	if err := s.RenameMailbox(ctx, acc.ID, "Lists", "Old"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"Old", "Old/go", "Old/go/x"} {
		mustMailbox(t, s, acc.ID, n)
	}
	if err := s.DeleteMailbox(ctx, acc.ID, "Old/go"); err != nil {
		t.Fatal(err)
	}
	again, err := s.CreateMailbox(ctx, acc.ID, "Old/go", "")
	if err != nil || again.UIDValidity == lists.UIDValidity {
		t.Errorf("recreated mailbox %+v (old UIDVALIDITY %d), %v", again, lists.UIDValidity, err)
	}
	for _, bad := range []string{"", "/a", "a/", "a//b", "a\x00b", string([]byte{0xff})} {
		if _, err := s.CreateMailbox(ctx, acc.ID, bad, ""); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateMailbox(%q): %v", bad, err)
		}
	}
	if _, err := s.CreateMailbox(ctx, acc.ID, "inbox", ""); !errors.Is(err, ErrExists) {
		t.Errorf("CreateMailbox(inbox): %v", err)
	}

	// Renaming INBOX moves its messages.
	deliver(t, s, []byte("b"), Target{AccountID: acc.ID})
	if err := s.RenameMailbox(ctx, acc.ID, "inbox", "Moved"); err != nil {
		t.Fatal(err)
	}
	inbox, moved := mustMailbox(t, s, acc.ID, "INBOX"), mustMailbox(t, s, acc.ID, "Moved")
	if inbox.Messages != 0 || moved.Messages != 1 || moved.UIDNext != 2 {
		t.Errorf("after renaming INBOX: %+v %+v", inbox, moved)
	}
	a, _ := s.AccountByID(ctx, acc.ID)
	if a.UsedBytes != 1 {
		t.Errorf("used bytes %d, want 1", a.UsedBytes)
	}
}

func TestDirectory(t *testing.T) {
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	acc := addAccount(t, s, "User@Example.org")
	if _, err := s.Account(ctx, addr.MustParseAddress("user@EXAMPLE.org")); err != nil {
		t.Errorf("case-insensitive lookup: %v", err)
	}
	d := addr.MustParseDomain("example.org")
	if err := s.AddAlias(ctx, Alias{Localpart: "USER", Domain: d, Targets: []addr.Address{acc.Address}}); !errors.Is(err, ErrExists) {
		t.Errorf("alias over an account: %v", err)
	}
	if err := s.AddAlias(ctx, Alias{Localpart: "info", Domain: d, Targets: []addr.Address{acc.Address}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddAccount(ctx, Account{Address: addr.MustParseAddress("INFO@example.org")}, Credentials{}); !errors.Is(err, ErrExists) {
		t.Errorf("account over an alias: %v", err)
	}
	if err := s.DeleteDomain(ctx, d); !errors.Is(err, ErrInUse) {
		t.Errorf("DeleteDomain in use: %v", err)
	}
	if mbs, err := s.Mailboxes(ctx, acc.ID); err != nil || len(mbs) != 6 || mbs[0].Name != "INBOX" {
		t.Errorf("default mailboxes %+v, %v", mbs, err)
	}
}

// BenchmarkDeliver measures deliveries/s of 4 KiB messages through the
// store alone, with 1 and 32 concurrent deliverers.
func BenchmarkDeliver(b *testing.B) {
	for _, par := range []int{1, 32} {
		b.Run(fmt.Sprintf("par=%d", par), func(b *testing.B) {
			benchDeliver(b, par, 4<<10, inlineMax)
		})
	}
}

// BenchmarkDeliverSize compares inline and file blobs around inlineMax.
func BenchmarkDeliverSize(b *testing.B) {
	for _, size := range []int{16 << 10, 64 << 10, 256 << 10} {
		for _, inline := range []bool{true, false} {
			max := -1
			if inline {
				max = 1 << 30
			}
			b.Run(fmt.Sprintf("size=%dK/inline=%v", size>>10, inline), func(b *testing.B) {
				benchDeliver(b, 32, size, max)
			})
		}
	}
}

func benchDeliver(b *testing.B, par, size, inlineMax int) {
	s := openTest(b, b.TempDir())
	s.inlineMax = inlineMax
	acc := addAccount(b, s, "bench@example.org")
	body := bytes.Repeat([]byte("Lorem ipsum dolor sit amet, consectetur adipiscing.\r\n"), size/53+1)[:size]
	prefix := []byte("Received: from bench by posthorn\r\n")
	procs := max(1, runtime.GOMAXPROCS(0))
	b.SetParallelism((par + procs - 1) / procs)
	b.SetBytes(int64(size))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, err := s.Deliver(context.Background(), Delivery{
				Body:    bytes.NewReader(body),
				Targets: []Target{{AccountID: acc.ID, HeaderPrefix: prefix, Structure: []byte("{}")}},
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64(s.written.Load())/float64(max(1, s.commits.Load())), "reqs/commit")
}
