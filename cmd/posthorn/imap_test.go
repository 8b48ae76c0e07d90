package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

// TestPruneJunkEvents checks that events older than the cutoff are
// deleted, oldest first, and newer ones kept.
func TestPruneJunkEvents(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	clock := now.Add(-40 * 24 * time.Hour)
	st, err := store.Open(ctx, t.TempDir(), store.Options{Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AddDomain(ctx, store.Domain{Name: addr.MustParseDomain("example.com")}); err != nil {
		t.Fatal(err)
	}
	acc, err := st.AddAccount(ctx, store.Account{Address: addr.MustParseAddress("a@example.com")}, store.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	inbox, _ := st.MailboxByName(ctx, acc.ID, "INBOX")
	junk, _ := st.MailboxByName(ctx, acc.ID, "Junk")
	train := func() {
		msgs, err := st.Deliver(ctx, store.Delivery{Body: strings.NewReader("Subject: x\r\n\r\nbody\r\n"), Targets: []store.Target{{AccountID: acc.ID}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.TrainingCopy(ctx, store.CopyRequest{AccountID: acc.ID, SrcMailboxID: inbox.ID, UIDs: []uint32{msgs[0].UID}, DstMailboxID: junk.ID}); err != nil {
			t.Fatal(err)
		}
	}
	train() // 40 days old
	train()
	clock = now.Add(-time.Hour)
	train() // recent
	n, err := pruneJunkEventsOnce(ctx, st, now.Add(-junkEventMaxAge))
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, %v; want 2", n, err)
	}
	left, err := st.JunkEvents(ctx, 0, 10)
	if err != nil || len(left) != 1 || !left[0].Time.After(now.Add(-2*time.Hour)) {
		t.Fatalf("left %+v, %v", left, err)
	}
}
