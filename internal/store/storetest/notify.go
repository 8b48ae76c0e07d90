package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/store"
)

// watcher collects one account's changes. Barrier makes a change of its own
// and waits for it, so every change committed before it has been seen.
type watcher struct {
	f        *fixture
	account  int64
	sub      *store.Subscription
	got      []store.Change
	barrier  store.Mailbox
	barriers int
}

const barrierMailbox = "zz-barrier"

func (f *fixture) watch(accountID int64) *watcher {
	f.t.Helper()
	mb, err := f.s.MailboxByName(f.ctx, accountID, barrierMailbox)
	if err != nil {
		mb = f.createMailbox(accountID, barrierMailbox)
	}
	w := &watcher{f: f, account: accountID, sub: f.s.Notifier().Subscribe(accountID), barrier: mb}
	f.t.Cleanup(w.sub.Close)
	return w
}

// sync waits until the barrier change arrives and returns the changes before
// it (with the barrier removed).
func (w *watcher) sync() []store.Change {
	t := w.f.t
	t.Helper()
	w.barriers++
	f := w.f
	f.must(f.s.SetSubscribed(f.ctx, w.account, barrierMailbox, w.barriers%2 == 1), "SetSubscribed (barrier)")
	deadline := time.After(10 * time.Second)
	for {
		for _, ch := range w.sub.Next() {
			if ch.AccountID != w.account {
				t.Errorf("subscription for account %d got a change of account %d: %+v", w.account, ch.AccountID, ch)
			}
			if ch.Kind == store.ChangeMailboxSubscribe && ch.MailboxID == w.barrier.ID {
				out := w.got
				w.got = nil
				return out
			}
			w.got = append(w.got, ch)
		}
		select {
		case <-w.sub.C:
		case <-deadline:
			t.Fatalf("barrier change not published within 10s; got %v", fmtChanges(w.got))
		}
	}
}

func fmtChanges(chs []store.Change) string {
	var b strings.Builder
	for _, ch := range chs {
		fmt.Fprintf(&b, "\n\t{kind %d mailbox %d %q old %q uids %v modseq %d}", ch.Kind, ch.MailboxID, ch.MailboxName, ch.OldName, ch.UIDs, ch.ModSeq)
	}
	return b.String()
}

// event is one message's part of a Change.
type event struct {
	kind    store.ChangeKind
	mailbox int64
	uid     uint32
	modseq  uint64
}

func events(chs []store.Change) []event {
	var ev []event
	for _, ch := range chs {
		switch ch.Kind {
		case store.ChangeNew, store.ChangeFlags, store.ChangeExpunge:
			for _, u := range ch.UIDs {
				ev = append(ev, event{ch.Kind, ch.MailboxID, u, ch.ModSeq})
			}
		}
	}
	return ev
}

func sortEvents(ev []event) []event {
	ev = slices.Clone(ev)
	slices.SortFunc(ev, func(a, b event) int {
		if c := int(a.kind) - int(b.kind); c != 0 {
			return c
		}
		if a.mailbox != b.mailbox {
			return int(a.mailbox - b.mailbox)
		}
		return int(int64(a.uid) - int64(b.uid))
	})
	return ev
}

// expectEvents checks that chs carry exactly the want events (in any grouping).
func expectEvents(t *testing.T, what string, chs []store.Change, want ...event) {
	t.Helper()
	for _, ch := range chs {
		if ch.Kind < store.ChangeNew || ch.Kind > store.ChangeExpunge {
			t.Errorf("%s: unexpected change%s", what, fmtChanges([]store.Change{ch}))
		}
	}
	got := sortEvents(events(chs))
	want = sortEvents(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: changes %+v\nwant %+v", what, got, want)
	}
}

func newEvents(ms ...store.Message) []event {
	var ev []event
	for _, m := range ms {
		ev = append(ev, event{store.ChangeNew, m.MailboxID, m.UID, m.ModSeq})
	}
	return ev
}

func testNotify(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	a := f.account("a@example.org")
	b := f.account("b@example.org")
	w := f.watch(a.ID)
	wb := f.watch(b.ID)
	in := f.mailbox(a.ID, "INBOX")

	// Mailbox creation.
	box := f.createMailbox(a.ID, "Box")
	if chs := w.sync(); len(chs) != 1 || chs[0].Kind != store.ChangeMailboxCreate ||
		chs[0].MailboxID != box.ID || chs[0].MailboxName != "Box" {
		t.Errorf("CreateMailbox: changes%s", fmtChanges(chs))
	}

	// Deliveries: one ChangeNew per message with its MODSEQ, in order.
	var ms []store.Message
	for i := range 4 {
		ms = append(ms, f.deliver(testBody(fmt.Sprint(i)), inbox(a.ID))...)
	}
	chs := w.sync()
	expectEvents(t, "Deliver", chs, newEvents(ms...)...)
	checkModSeqOrder(t, "Deliver", chs)
	for _, ch := range chs {
		if ch.AccountID != a.ID {
			t.Errorf("change AccountID %d", ch.AccountID)
		}
	}

	// Flags.
	r := f.storeFlags(store.FlagChange{AccountID: a.ID, MailboxID: in.ID, UIDs: uidsOf(ms[:3]), Op: store.FlagsAdd, Flags: store.FlagDeleted})
	var want []event
	for _, m := range r.Changed {
		want = append(want, event{store.ChangeFlags, in.ID, m.UID, m.ModSeq})
	}
	expectEvents(t, "StoreFlags", w.sync(), want...)

	// Expunge: the MODSEQ is above everything before and is the new HIGHESTMODSEQ.
	prev := f.mailbox(a.ID, "INBOX").HighestModSeq
	f.expunge(a.ID, in.ID, []uint32{ms[0].UID})
	f.expunge(a.ID, in.ID, nil)
	hms := f.mailbox(a.ID, "INBOX").HighestModSeq
	chs = w.sync()
	ev := events(chs)
	if len(chs) != 2 || len(ev) != 3 || chs[0].Kind != store.ChangeExpunge || !slices.Equal(chs[0].UIDs, []uint32{ms[0].UID}) ||
		!slices.Equal(sortedCopy(chs[1].UIDs), uidsOf(ms[1:3])) {
		t.Errorf("Expunge: changes%s", fmtChanges(chs))
	} else if chs[0].ModSeq <= prev || chs[1].ModSeq <= chs[0].ModSeq || chs[1].ModSeq != hms {
		t.Errorf("Expunge MODSEQs %d, %d (before %d, HIGHESTMODSEQ %d)", chs[0].ModSeq, chs[1].ModSeq, prev, hms)
	}
	v, _ := f.s.Vanished(ctx, a.ID, in.ID, prev)
	if len(v) != 3 {
		t.Errorf("Vanished = %v", v)
	}

	// Copy and Move.
	more := f.deliverN(2, inbox(a.ID))
	w.sync()
	cr, err := f.s.Copy(ctx, a.ID, in.ID, uidsOf(more[:1]), box.ID)
	f.must(err, "Copy")
	copied := f.messages(a.ID, box.ID)
	expectEvents(t, "Copy", w.sync(), newEvents(copied...)...)
	_ = cr
	mr, err := f.s.Move(ctx, a.ID, in.ID, uidsOf(more), box.ID)
	f.must(err, "Move")
	chs = w.sync()
	var moved []store.Message
	for _, u := range mr.DstUIDs {
		moved = append(moved, f.message(a.ID, box.ID, u))
	}
	hms = f.mailbox(a.ID, "INBOX").HighestModSeq
	want = newEvents(moved...)
	for _, u := range uidsOf(more) {
		want = append(want, event{store.ChangeExpunge, in.ID, u, hms})
	}
	expectEvents(t, "Move", chs, want...)

	// Mailbox rename, subscription, deletion.
	f.must(f.s.RenameMailbox(ctx, a.ID, "Box", "Box2"), "RenameMailbox")
	if chs := w.sync(); len(chs) != 1 || chs[0].Kind != store.ChangeMailboxRename || chs[0].MailboxID != box.ID ||
		chs[0].MailboxName != "Box2" || chs[0].OldName != "Box" {
		t.Errorf("RenameMailbox: changes%s", fmtChanges(chs))
	}
	f.must(f.s.SetSubscribed(ctx, a.ID, "Box2", true), "SetSubscribed")
	if chs := w.sync(); len(chs) != 1 || chs[0].Kind != store.ChangeMailboxSubscribe || chs[0].MailboxID != box.ID || chs[0].MailboxName != "Box2" {
		t.Errorf("SetSubscribed: changes%s", fmtChanges(chs))
	}
	f.must(f.s.DeleteMailbox(ctx, a.ID, "Box2"), "DeleteMailbox")
	if chs := w.sync(); len(chs) != 1 || chs[0].Kind != store.ChangeMailboxDelete || chs[0].MailboxID != box.ID {
		t.Errorf("DeleteMailbox: changes%s", fmtChanges(chs))
	}

	// The other account saw nothing.
	if chs := wb.sync(); len(chs) != 0 {
		t.Errorf("another account's subscription got%s", fmtChanges(chs))
	}
	// A closed subscription gets nothing more.
	w.sub.Close()
	f.deliver(testBody("after close"), inbox(a.ID))
	time.Sleep(10 * time.Millisecond)
	if chs := w.sub.Next(); len(chs) != 0 {
		t.Errorf("closed subscription got%s", fmtChanges(chs))
	}
}

// checkModSeqOrder checks that message changes of each mailbox arrive in
// non-decreasing MODSEQ order.
func checkModSeqOrder(t *testing.T, what string, chs []store.Change) {
	t.Helper()
	last := map[int64]uint64{}
	for _, ch := range chs {
		if ch.Kind > store.ChangeExpunge {
			continue
		}
		if ch.ModSeq == 0 || ch.ModSeq < last[ch.MailboxID] {
			t.Errorf("%s: mailbox %d: change with MODSEQ %d after %d", what, ch.MailboxID, ch.ModSeq, last[ch.MailboxID])
		}
		last[ch.MailboxID] = ch.ModSeq
	}
}

func testNotifyFailedWrites(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	a := f.account("a@example.org")
	ms := f.deliverN(2, inbox(a.ID))
	// Every message's MODSEQ above 1, for UNCHANGEDSINCE 1 below.
	f.storeFlags(store.FlagChange{AccountID: a.ID, MailboxID: ms[0].MailboxID, UIDs: uidsOf(ms), Op: store.FlagsAdd, Flags: store.FlagFlagged})
	in := f.mailbox(a.ID, "INBOX")
	f.must(f.s.SetQuota(ctx, a.ID, 1), "SetQuota")
	w := f.watch(a.ID)

	_, err := f.s.Deliver(ctx, store.Delivery{Body: strings.NewReader("too big"), Targets: []store.Target{inbox(a.ID)}})
	wantErr(t, "Deliver over quota", err, store.ErrOverQuota)
	_, err = f.s.Deliver(ctx, store.Delivery{Body: strings.NewReader("x"), Targets: []store.Target{inbox(a.ID), inbox(987654)}})
	if err == nil {
		t.Errorf("Deliver with an unknown account succeeded")
	}
	_, err = f.s.CreateMailbox(ctx, a.ID, "Sent", "")
	wantErr(t, "CreateMailbox duplicate", err, store.ErrExists)
	_, err = f.s.CreateMailbox(ctx, a.ID, "a//b", "")
	wantErr(t, "CreateMailbox invalid", err, store.ErrInvalid)
	wantErr(t, "RenameMailbox missing", f.s.RenameMailbox(ctx, a.ID, "Nope", "Nope2"), store.ErrNotFound)
	wantErr(t, "RenameMailbox onto existing", f.s.RenameMailbox(ctx, a.ID, "Sent", "Junk"), store.ErrExists)
	wantErr(t, "DeleteMailbox INBOX", f.s.DeleteMailbox(ctx, a.ID, "INBOX"), store.ErrInvalid)
	wantErr(t, "SetSubscribed missing", f.s.SetSubscribed(ctx, a.ID, "Nope", true), store.ErrNotFound)
	r, err := f.s.StoreFlags(ctx, store.FlagChange{AccountID: a.ID, MailboxID: in.ID, UIDs: uidsOf(ms),
		Op: store.FlagsAdd, Flags: store.FlagSeen, UnchangedSince: 1})
	if err != nil {
		wantErr(t, "StoreFlags UNCHANGEDSINCE", err, store.ErrModified)
	}
	if len(r.Failed) != 2 {
		t.Errorf("UNCHANGEDSINCE 1: Failed %v", r.Failed)
	}
	// No-ops: nothing changes, nothing is published.
	f.storeFlags(store.FlagChange{AccountID: a.ID, MailboxID: in.ID, UIDs: uidsOf(ms), Op: store.FlagsRemove, Flags: store.FlagSeen})
	f.expunge(a.ID, in.ID, nil)
	if chs := w.sync(); len(chs) != 0 {
		t.Errorf("failed or no-op writes published%s", fmtChanges(chs))
	}
	if got := f.mailbox(a.ID, "INBOX"); got.HighestModSeq != in.HighestModSeq {
		t.Errorf("failed or no-op writes moved HIGHESTMODSEQ %d -> %d", in.HighestModSeq, got.HighestModSeq)
	}
}

func testNotifyMultiTarget(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	b := f.account("b@example.org")
	wa := f.watch(a.ID)
	wb := f.watch(b.ID)
	ms := f.deliver(testBody("multi"), inbox(a.ID), store.Target{AccountID: a.ID, Mailbox: "Archive"}, inbox(b.ID))
	expectEvents(t, "account a", wa.sync(), newEvents(ms[0], ms[1])...)
	expectEvents(t, "account b", wb.sync(), newEvents(ms[2])...)

	// A mailbox created by delivery is announced before its first message.
	m := f.deliver(testBody("fresh"), store.Target{AccountID: a.ID, Mailbox: "Fresh"})[0]
	chs := wa.sync()
	if len(chs) != 2 || chs[0].Kind != store.ChangeMailboxCreate || chs[0].MailboxName != "Fresh" || chs[0].MailboxID != m.MailboxID {
		t.Errorf("delivery into a new mailbox: changes%s", fmtChanges(chs))
	} else {
		expectEvents(t, "delivery into a new mailbox", chs[1:], newEvents(m)...)
	}
}
