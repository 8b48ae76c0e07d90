package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// tmpfs mounts a tmpfs of size (such as "4m") on a new directory and
// returns it; the test is skipped where that is not possible (not root).
func tmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a file in dir until the file system is full.
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for range 1 << 16 { // at most 256 MiB
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	for range 1 << 12 { // the last blocks, in smaller pieces
		if _, err := f.Write(buf[:64]); err != nil {
			break
		}
	}
}

// On a full disk a write fails with ErrNoSpace (wrapping the cause),
// and deleting messages (\Deleted, then expunge) still works, so that
// users can free space; after that, deliveries work again.
func TestFullDisk(t *testing.T) {
	mnt := tmpfs(t, "24m") // DefaultReserveSpace (8 MiB) and the messages
	var now atomic.Int64   // the clock, in seconds
	now.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Unix())
	opts := Options{Now: func() time.Time { return time.Unix(now.Load(), 0) }}
	s, err := Open(context.Background(), filepath.Join(mnt, "store"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	a := addAccount(t, s, "a@example.org")
	ctx := context.Background()
	if fi, err := os.Stat(filepath.Join(mnt, "store", "reserve")); err != nil || fi.Size() != DefaultReserveSpace {
		t.Fatalf("no reserve after Open: %v", err)
	}
	inbox, err := s.MailboxByName(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	big := []byte("Subject: big\r\n\r\n" + strings.Repeat("x", 200<<10) + "\r\n")
	small := func(i int) []byte {
		return []byte(fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", i, strings.Repeat("y", 2000)))
	}
	var uids []uint32
	for i := range 16 {
		m := deliver(t, s, big, Target{AccountID: a.ID, Mailbox: "INBOX"})
		uids = append(uids, m[0].UID)
		m = deliver(t, s, small(i), Target{AccountID: a.ID, Mailbox: "INBOX"})
		uids = append(uids, m[0].UID)
		deliver(t, s, small(200+i), Target{AccountID: a.ID, Mailbox: "Old"})
	}
	fillDisk(t, mnt)

	// A large message (a blob file) and small ones (inside the index,
	// where SQLite may still find room in pages it has).
	_, err = s.Deliver(ctx, Delivery{Body: bytes.NewReader(big), Targets: []Target{{AccountID: a.ID, Mailbox: "INBOX"}}})
	if !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Deliver of a large message on a full disk: %v, want ErrNoSpace and ENOSPC", err)
	}
	for i := range 2000 {
		_, err = s.Deliver(ctx, Delivery{Body: bytes.NewReader(small(1000 + i)), Targets: []Target{{AccountID: a.ID, Mailbox: "INBOX"}}})
		if err != nil {
			break
		}
	}
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Deliver of small messages on a full disk: %v, want ErrNoSpace", err)
	}
	// The user marks messages \Deleted and expunges them.
	if _, err := s.StoreFlags(ctx, FlagChange{AccountID: a.ID, MailboxID: inbox.ID, UIDs: uids[:4], Op: FlagsAdd, Flags: FlagDeleted}); err != nil {
		t.Fatalf("StoreFlags \\Deleted on a full disk: %v", err)
	}
	gone, err := s.ExpungeDeleted(ctx, a.ID, inbox.ID, nil)
	if err != nil || len(gone) != 4 {
		t.Fatalf("ExpungeDeleted on a full disk: %v, %v", gone, err)
	}
	if _, err := s.Expunge(ctx, a.ID, inbox.ID, uids[4:6]); err != nil {
		t.Fatalf("Expunge on a full disk: %v", err)
	}
	if err := s.DeleteMailbox(ctx, a.ID, "Old"); err != nil {
		t.Fatalf("DeleteMailbox on a full disk: %v", err)
	}
	// The reserve comes back once there is room and a minute has passed.
	if err := os.Remove(filepath.Join(mnt, "filler")); err != nil {
		t.Fatal(err)
	}
	deliver(t, s, small(100), Target{AccountID: a.ID, Mailbox: "INBOX"})
	now.Add(61)
	deliver(t, s, small(101), Target{AccountID: a.ID, Mailbox: "INBOX"})
	if fi, err := os.Stat(filepath.Join(mnt, "store", "reserve")); err != nil || fi.Size() != DefaultReserveSpace {
		t.Errorf("reserve after the disk has space again: %v", err)
	}
	// The store reopens.
	s.Close()
	s, err = Open(ctx, filepath.Join(mnt, "store"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.MailboxByName(ctx, a.ID, "INBOX"); err != nil {
		t.Fatal(err)
	}
}

// Expunging a whole mailbox of 5,000 messages on a full disk: the largest
// deletion a user is likely to try, which writes about a third of the
// index's size to the WAL.
func TestFullDiskLargeExpunge(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 messages")
	}
	mnt := tmpfs(t, "96m")
	s := openTest(t, filepath.Join(mnt, "store"))
	a := addAccount(t, s, "a@example.org")
	ctx := context.Background()
	inbox, err := s.MailboxByName(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	var ds []Delivery
	for i := range n {
		body := fmt.Sprintf("Subject: message %d\r\nFrom: x@example.com\r\n\r\n%s\r\n", i, strings.Repeat(fmt.Sprintf("word%d ", i%97), 400))
		ds = append(ds, Delivery{Body: strings.NewReader(body), Targets: []Target{{AccountID: a.ID, Mailbox: "INBOX"}}})
		if len(ds) == 100 {
			if _, err := s.DeliverAll(ctx, ds); err != nil {
				t.Fatal(err)
			}
			ds = nil
		}
	}
	// Reopen: the reserve is sized after the index at Open.
	s.Close()
	s = openTest(t, filepath.Join(mnt, "store"))
	fillDisk(t, mnt)
	uids := make([]uint32, n)
	for i := range uids {
		uids[i] = uint32(i + 1)
	}
	if _, err := s.StoreFlags(ctx, FlagChange{AccountID: a.ID, MailboxID: inbox.ID, UIDs: uids, Op: FlagsAdd, Flags: FlagDeleted}); err != nil {
		t.Fatalf("StoreFlags \\Deleted on a full disk: %v", err)
	}
	if gone, err := s.ExpungeDeleted(ctx, a.ID, inbox.ID, nil); err != nil || len(gone) != n {
		t.Fatalf("ExpungeDeleted of %d messages on a full disk: %d, %v", n, len(gone), err)
	}
}
