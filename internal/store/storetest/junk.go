package storetest

import (
	"fmt"
	"io"
	"testing"

	"github.com/posthorn/posthorn/internal/store"
)

// testJunkEvents: TrainingCopy records spam events for copies and moves
// into Junk, ham events out of Junk except into Trash, none for other
// copies or for plain Copy/Move; events carry the new message and its
// blob, whose content stays readable after the message is expunged until
// the event is deleted; JunkEvents pages by ID; events survive a reopen;
// DeleteJunkEvents and DeleteAccount remove them.
func testJunkEvents(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	a := f.account("junk@example.com")
	in := f.mailbox(a.ID, "INBOX")
	junk, trash, arch := f.mailbox(a.ID, "Junk"), f.mailbox(a.ID, "Trash"), f.mailbox(a.ID, "Archive")
	ms := f.deliverN(6, inbox(a.ID))
	train := func(src, dst store.Mailbox, move bool, uids ...uint32) store.CopyResult {
		t.Helper()
		r, err := f.s.TrainingCopy(ctx, store.CopyRequest{AccountID: a.ID, SrcMailboxID: src.ID, UIDs: uids, DstMailboxID: dst.ID, Move: move})
		f.must(err, "TrainingCopy")
		if len(r.DstUIDs) != len(uids) {
			t.Fatalf("TrainingCopy %s → %s: %d copies, want %d", src.Name, dst.Name, len(r.DstUIDs), len(uids))
		}
		return r
	}
	events := func(after int64, limit int) []store.JunkEvent {
		t.Helper()
		es, err := f.s.JunkEvents(ctx, after, limit)
		f.must(err, "JunkEvents")
		return es
	}

	// Not training: plain Move into Junk, TrainingCopy between other mailboxes.
	_, err := f.s.Move(ctx, a.ID, in.ID, []uint32{ms[5].UID}, junk.ID)
	f.must(err, "Move")
	train(in, arch, false, ms[4].UID)
	if es := events(0, 100); len(es) != 0 {
		t.Fatalf("events after non-training copies: %+v", es)
	}

	mv := train(in, junk, true, ms[0].UID, ms[1].UID) // 2 spam
	train(in, junk, false, ms[2].UID)                 // 1 spam (COPY)
	train(junk, trash, true, mv.DstUIDs[0])           // none: deleting junk
	back := train(junk, in, true, mv.DstUIDs[1])      // 1 ham
	es := events(0, 100)
	if len(es) != 4 {
		t.Fatalf("%d events, want 4: %+v", len(es), es)
	}
	want := []struct {
		blob     int64
		from, to string
		v        store.JunkVerdict
	}{
		{ms[0].BlobID, "INBOX", "Junk", store.JunkSpam},
		{ms[1].BlobID, "INBOX", "Junk", store.JunkSpam},
		{ms[2].BlobID, "INBOX", "Junk", store.JunkSpam},
		{ms[1].BlobID, "Junk", "INBOX", store.JunkHam},
	}
	for i, e := range es {
		w := want[i]
		if e.AccountID != a.ID || e.BlobID != w.blob || e.From != w.from || e.To != w.to || e.Verdict != w.v || e.Time.IsZero() {
			t.Errorf("event %d: %+v, want blob %d %s → %s %s", i, e, w.blob, w.from, w.to, w.v)
		}
		if i > 0 && e.ID <= es[i-1].ID {
			t.Errorf("event IDs not increasing: %d after %d", e.ID, es[i-1].ID)
		}
	}
	if m := f.message(a.ID, in.ID, back.DstUIDs[0]); es[3].MessageID != m.ID {
		t.Errorf("ham event MessageID %d, want the INBOX copy %d", es[3].MessageID, m.ID)
	}
	if page := events(es[0].ID, 2); len(page) != 2 || page[0].ID != es[1].ID || page[1].ID != es[2].ID {
		t.Errorf("JunkEvents(after %d, 2) = %+v", es[0].ID, page)
	}
	if page := events(0, 0); len(page) != 0 {
		t.Errorf("JunkEvents(limit 0) = %+v", page)
	}

	// Content outlives the message: empty Junk and Trash (where ms[0]
	// ended up), then read the first event's blob.
	for _, mb := range []store.Mailbox{junk, trash} {
		f.expunge(a.ID, mb.ID, uidsOf(f.messages(a.ID, mb.ID)))
	}
	if got := f.eventContent(es[0]); got != testBody(fmt.Sprintf("n%d-0", a.ID)) {
		t.Errorf("content of event 0 after expunge: %q", got)
	}
	f.checkConsistent(a.ID)

	f.cycle()
	if again := events(0, 100); len(again) != 4 || again[3] != es[3] {
		t.Fatalf("after reopen: %+v", again)
	}
	n, err := f.s.DeleteJunkEvents(ctx, es[2].ID)
	f.must(err, "DeleteJunkEvents")
	if n != 3 {
		t.Errorf("DeleteJunkEvents deleted %d, want 3", n)
	}
	if rest := events(0, 100); len(rest) != 1 || rest[0].ID != es[3].ID {
		t.Errorf("after DeleteJunkEvents: %+v", rest)
	}
	_, err = f.s.Open(ctx, store.Message{BlobID: es[0].BlobID})
	wantErr(t, "Open of a released blob", err, store.ErrNotFound)
	f.checkConsistent(a.ID)

	// A new event does not reuse a deleted ID.
	more := f.deliverN(1, inbox(a.ID))
	train(in, junk, true, more[0].UID)
	if es2 := events(0, 100); len(es2) != 2 || es2[1].ID <= es[3].ID {
		t.Errorf("after a new event: %+v", es2)
	}
	f.must(f.s.DeleteAccount(ctx, a.ID), "DeleteAccount")
	if left := events(0, 100); len(left) != 0 {
		t.Errorf("events after DeleteAccount: %+v", left)
	}
}

// eventContent reads an event's blob.
func (f *fixture) eventContent(e store.JunkEvent) string {
	f.t.Helper()
	c, err := f.s.Open(f.ctx, store.Message{BlobID: e.BlobID})
	f.must(err, "Open event blob")
	defer c.Close()
	b, err := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
	f.must(err, "read event blob")
	return string(b)
}
