package store_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
	"github.com/posthorn/posthorn/internal/store/storetest"
)

// openSQLite is the storetest.Opener of the embedded backend: a fresh store
// in t.TempDir().
func openSQLite(t *testing.T) (store.Store, func() store.Store) {
	dir := t.TempDir()
	open := func() store.Store {
		t.Helper()
		s, err := store.Open(context.Background(), dir, store.Options{Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	}
	return open(), open
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return nil
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func TestConformance(t *testing.T) {
	storetest.Run(t, openSQLite)
}

// blobFiles lists the blob files of a store directory (not blobs/tmp).
func blobFiles(t testing.TB, dir string) []string {
	t.Helper()
	var files []string
	root := filepath.Join(dir, "blobs")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path == filepath.Join(root, "tmp") {
			return fs.SkipDir
		}
		if !d.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestSQLiteBlobFilesFreed checks, on the filesystem, that large bodies are
// one file however many targets they have, and that the file goes when its
// last reference does: by expunge, mailbox deletion, account deletion and
// queue deletion.
func TestSQLiteBlobFilesFreed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.AddDomain(ctx, store.Domain{Name: addr.MustParseDomain("example.org"), SubaddressSep: "+"}))
	a, err := s.AddAccount(ctx, store.Account{Address: addr.MustParseAddress("a@example.org")}, store.Credentials{})
	must(err)
	b, err := s.AddAccount(ctx, store.Account{Address: addr.MustParseAddress("b@example.org")}, store.Credentials{})
	must(err)
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB: a file
	nfiles := func(want int, when string) {
		t.Helper()
		if got := blobFiles(t, dir); len(got) != want {
			t.Errorf("%s: %d blob files, want %d: %v", when, len(got), want, got)
		}
	}
	deliver := func(targets ...store.Target) []store.Message {
		t.Helper()
		ms, err := s.Deliver(ctx, store.Delivery{Body: bytes.NewReader(big), Targets: targets})
		must(err)
		return ms
	}
	nfiles(0, "empty store")
	_, err = s.CreateMailbox(ctx, a.ID, "Tmp", "")
	must(err)
	m1 := deliver(store.Target{AccountID: a.ID}, store.Target{AccountID: a.ID, Mailbox: "Tmp"}, store.Target{AccountID: b.ID})
	nfiles(1, "one delivery to three targets")

	// Expunge one reference: the file stays.
	_, err = s.StoreFlags(ctx, store.FlagChange{AccountID: a.ID, MailboxID: m1[0].MailboxID, UIDs: []uint32{m1[0].UID}, Op: store.FlagsAdd, Flags: store.FlagDeleted})
	must(err)
	_, err = s.Expunge(ctx, a.ID, m1[0].MailboxID, nil)
	must(err)
	nfiles(1, "after expunging one of three references")
	must(s.DeleteMailbox(ctx, a.ID, "Tmp"))
	nfiles(1, "after deleting a mailbox holding one of two references")
	must(s.DeleteAccount(ctx, b.ID))
	nfiles(0, "after deleting the account holding the last reference")

	// Copy shares the file; expunging both copies frees it.
	m2 := deliver(store.Target{AccountID: a.ID})
	arch, err := s.MailboxByName(ctx, a.ID, "Archive")
	must(err)
	_, err = s.Move(ctx, a.ID, m2[0].MailboxID, []uint32{m2[0].UID}, arch.ID)
	must(err)
	nfiles(1, "after move")
	must(s.DeleteMailbox(ctx, a.ID, "Archive"))
	nfiles(0, "after deleting the mailbox moved into")

	// Queue.
	q, err := s.Enqueue(ctx, bytes.NewReader(big), []store.QueueEntry{
		{Domain: "x.example", Recipients: []store.QueueRecipient{{Address: "r@x.example"}}},
		{Domain: "y.example", Recipients: []store.QueueRecipient{{Address: "r@y.example"}}},
	})
	must(err)
	nfiles(1, "after enqueue")
	must(s.DeleteQueueEntry(ctx, q[0].ID))
	nfiles(1, "after deleting one of two queue entries")
	must(s.DeleteQueueEntry(ctx, q[1].ID))
	nfiles(0, "after deleting both queue entries")

	// Failed deliveries leave no file behind.
	_, err = s.Deliver(ctx, store.Delivery{Body: io.MultiReader(bytes.NewReader(big), iotest.ErrReader(errors.New("boom"))),
		Targets: []store.Target{{AccountID: a.ID}}})
	if err == nil {
		t.Errorf("delivery with a failing body succeeded")
	}
	nfiles(0, "after a delivery whose body failed to read")
	must(s.SetQuota(ctx, a.ID, 1000))
	if _, err := s.Deliver(ctx, store.Delivery{Body: bytes.NewReader(big), Targets: []store.Target{{AccountID: a.ID}}}); err == nil {
		t.Errorf("over-quota delivery succeeded")
	}
	nfiles(0, "after an over-quota delivery")
	if tmp, _ := os.ReadDir(filepath.Join(dir, "blobs", "tmp")); len(tmp) != 0 {
		t.Errorf("blobs/tmp holds %d files", len(tmp))
	}
}
