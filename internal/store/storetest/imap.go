package storetest

// Conformance tests of what the IMAP server needs beyond plain storage:
// UID EXPUNGE, the light index and counters, MODSEQ of new mailboxes,
// subscriptions of created mailboxes, INTERNALDATE zones, APPEND without
// mailbox creation and atomic MULTIAPPEND.

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/store"
)

func (f *fixture) setFlags(accountID, mailboxID int64, op store.FlagOp, flags store.Flags, uids ...uint32) {
	f.t.Helper()
	_, err := f.s.StoreFlags(f.ctx, store.FlagChange{AccountID: accountID, MailboxID: mailboxID, UIDs: uids, Op: op, Flags: flags})
	f.must(err, "StoreFlags")
}

// testExpungeDeleted: RFC 4315 §2.1 UID EXPUNGE removes only the given
// messages that have \Deleted.
func testExpungeDeleted(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	in := f.mailbox(a.ID, "INBOX")
	ms := f.deliverN(5, inbox(a.ID))
	u := uidsOf(ms)
	f.setFlags(a.ID, in.ID, store.FlagsAdd, store.FlagDeleted, u[0], u[2], u[4])
	w := f.watch(a.ID)

	got, err := f.s.ExpungeDeleted(f.ctx, a.ID, in.ID, []uint32{u[0], u[1], u[2]})
	f.must(err, "ExpungeDeleted")
	if !slices.Equal(got, []uint32{u[0], u[2]}) {
		t.Errorf("ExpungeDeleted(1:3) removed %v, want %v", got, []uint32{u[0], u[2]})
	}
	if left := uidsOf(f.messages(a.ID, in.ID)); !slices.Equal(left, []uint32{u[1], u[3], u[4]}) {
		t.Errorf("left %v", left)
	}
	if chs := w.sync(); len(chs) != 1 || chs[0].Kind != store.ChangeExpunge || !slices.Equal(chs[0].UIDs, got) {
		t.Errorf("changes %s", fmtChanges(chs))
	}
	v, err := f.s.Vanished(f.ctx, a.ID, in.ID, 0)
	f.must(err, "Vanished")
	if !slices.Equal(v, got) {
		t.Errorf("Vanished %v, want %v", v, got)
	}
	// Nothing \Deleted among the UIDs: nothing removed, no MODSEQ spent.
	hms := f.mailbox(a.ID, "INBOX").HighestModSeq
	got, err = f.s.ExpungeDeleted(f.ctx, a.ID, in.ID, []uint32{u[1], u[3], 999})
	f.must(err, "ExpungeDeleted (none deleted)")
	if len(got) != 0 || f.mailbox(a.ID, "INBOX").HighestModSeq != hms {
		t.Errorf("ExpungeDeleted of undeleted messages removed %v", got)
	}
	// nil: every \Deleted message.
	got, err = f.s.ExpungeDeleted(f.ctx, a.ID, in.ID, nil)
	f.must(err, "ExpungeDeleted(nil)")
	if !slices.Equal(got, []uint32{u[4]}) {
		t.Errorf("ExpungeDeleted(nil) removed %v", got)
	}
	_, err = f.s.ExpungeDeleted(f.ctx, a.ID, 987654, nil)
	wantErr(t, "ExpungeDeleted missing mailbox", err, store.ErrNotFound)
	f.checkConsistent(a.ID)
}

// testMessageIndex: the light listing agrees with Messages (CheckConsistent
// compares them field by field) and the counters follow flag changes.
func testMessageIndex(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	in := f.mailbox(a.ID, "INBOX")
	idx, err := f.s.MessageIndex(f.ctx, a.ID, in.ID)
	f.must(err, "MessageIndex (empty)")
	if len(idx) != 0 {
		t.Errorf("empty mailbox: %d entries", len(idx))
	}
	ms := f.deliverN(4, store.Target{AccountID: a.ID, Keywords: []string{"$Junk"}})
	f.setFlags(a.ID, in.ID, store.FlagsAdd, store.FlagSeen, ms[0].UID, ms[1].UID)
	f.setFlags(a.ID, in.ID, store.FlagsAdd, store.FlagDeleted, ms[1].UID, ms[2].UID)
	c, err := f.s.MailboxCounts(f.ctx, a.ID, in.ID)
	f.must(err, "MailboxCounts")
	if c != (store.MailboxCounts{Messages: 4, Unseen: 2, Deleted: 2}) {
		t.Errorf("MailboxCounts %+v", c)
	}
	idx, err = f.s.MessageIndex(f.ctx, a.ID, in.ID)
	f.must(err, "MessageIndex")
	if len(idx) != 4 || idx[1].Flags != store.FlagSeen|store.FlagDeleted || !slices.Equal(idx[3].Keywords, []string{"$Junk"}) {
		t.Errorf("MessageIndex %+v", idx)
	}
	f.checkConsistent(a.ID)
	_, err = f.s.MessageIndex(f.ctx, a.ID, 987654)
	wantErr(t, "MessageIndex missing mailbox", err, store.ErrNotFound)
	_, err = f.s.MailboxCounts(f.ctx, a.ID, 987654)
	wantErr(t, "MailboxCounts missing mailbox", err, store.ErrNotFound)
	b := f.account("b@example.org")
	_, err = f.s.MessageIndex(f.ctx, b.ID, in.ID)
	wantErr(t, "MessageIndex of another account's mailbox", err, store.ErrNotFound)
}

// testNewMailboxModSeq: RFC 7162 §3.1.1: HIGHESTMODSEQ is positive from
// the start, and the first change gets a greater MODSEQ.
func testNewMailboxModSeq(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	for _, name := range []string{"INBOX", "Sent"} {
		if mb := f.mailbox(a.ID, name); mb.HighestModSeq == 0 {
			t.Errorf("default mailbox %s: HIGHESTMODSEQ 0", name)
		}
	}
	// Another mailbox's changes first, so the account counter is ahead.
	f.deliverN(3, inbox(a.ID))
	mb := f.createMailbox(a.ID, "New")
	if mb.HighestModSeq == 0 {
		t.Errorf("CreateMailbox: HIGHESTMODSEQ 0")
	}
	if got := f.mailbox(a.ID, "New").HighestModSeq; got != mb.HighestModSeq {
		t.Errorf("CreateMailbox returned HIGHESTMODSEQ %d, stored %d", mb.HighestModSeq, got)
	}
	seen := mb.HighestModSeq
	m := f.deliver(testBody("first"), store.Target{AccountID: a.ID, Mailbox: "New"})[0]
	if m.ModSeq <= seen {
		t.Errorf("first message in a new mailbox: MODSEQ %d, not above the HIGHESTMODSEQ %d reported before", m.ModSeq, seen)
	}
	// A mailbox created by delivery.
	m = f.deliver(testBody("auto"), store.Target{AccountID: a.ID, Mailbox: "Auto"})[0]
	if auto := f.mailbox(a.ID, "Auto"); auto.HighestModSeq != m.ModSeq {
		t.Errorf("auto-created mailbox: HIGHESTMODSEQ %d, message MODSEQ %d", auto.HighestModSeq, m.ModSeq)
	}
	// A copy into a fresh mailbox.
	dst := f.createMailbox(a.ID, "Dst")
	res, err := f.s.Copy(f.ctx, a.ID, m.MailboxID, []uint32{m.UID}, dst.ID)
	f.must(err, "Copy")
	if c := f.message(a.ID, dst.ID, res.DstUIDs[0]); c.ModSeq <= dst.HighestModSeq {
		t.Errorf("copy into a new mailbox: MODSEQ %d, not above %d", c.ModSeq, dst.HighestModSeq)
	}
	// A flag change in a new mailbox that was renamed.
	f.must(f.s.RenameMailbox(f.ctx, a.ID, "Dst", "Dst2"), "RenameMailbox")
	f.checkConsistent(a.ID)
}

// testSubscriptionDefaults: RFC 9051 §6.3.4: CREATE does not subscribe;
// the default mailboxes of a new account are subscribed, and so are the
// mailboxes a delivery creates (Sieve fileinto :create).
func testSubscriptionDefaults(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	mbs, err := f.s.Mailboxes(f.ctx, a.ID)
	f.must(err, "Mailboxes")
	for _, mb := range mbs {
		if !mb.Subscribed {
			t.Errorf("default mailbox %s is not subscribed", mb.Name)
		}
	}
	mb := f.createMailbox(a.ID, "Created")
	if mb.Subscribed || f.mailbox(a.ID, "Created").Subscribed {
		t.Errorf("CreateMailbox subscribed the mailbox")
	}
	f.deliver(testBody("x"), store.Target{AccountID: a.ID, Mailbox: "Filed/By/Sieve"})
	if !f.mailbox(a.ID, "Filed/By/Sieve").Subscribed {
		t.Errorf("mailbox created by delivery is not subscribed")
	}
	// Renames keep the subscription.
	f.must(f.s.SetSubscribed(f.ctx, a.ID, "Created", true), "SetSubscribed")
	f.must(f.s.RenameMailbox(f.ctx, a.ID, "Created", "Renamed"), "RenameMailbox")
	if !f.mailbox(a.ID, "Renamed").Subscribed {
		t.Errorf("rename lost the subscription")
	}
}

// testInternalDateZone: RFC 9051 §2.3.3: INTERNALDATE keeps its zone.
func testInternalDateZone(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	in := f.mailbox(a.ID, "INBOX")
	zones := []*time.Location{time.FixedZone("", -7*3600), time.FixedZone("", 5*3600+45*60), time.UTC}
	var ms []store.Message
	for i, z := range zones {
		date := time.Date(1996, 7, 17, 2, 44, 25, 0, z)
		m, err := f.s.Deliver(f.ctx, store.Delivery{Body: strings.NewReader(testBody(fmt.Sprint(i))), InternalDate: date,
			Targets: []store.Target{inbox(a.ID)}})
		f.must(err, "Deliver")
		ms = append(ms, m[0])
	}
	check := func(when string) {
		t.Helper()
		got := f.messages(a.ID, in.ID)
		idx, err := f.s.MessageIndex(f.ctx, a.ID, in.ID)
		f.must(err, "MessageIndex")
		for i, z := range zones {
			want := time.Date(1996, 7, 17, 2, 44, 25, 0, z)
			_, wantOff := want.Zone()
			for _, d := range []time.Time{ms[i].InternalDate, got[i].InternalDate, idx[i].InternalDate} {
				if _, off := d.Zone(); !d.Equal(want) || off != wantOff {
					t.Errorf("%s: INTERNALDATE %v, want %v", when, d, want)
				}
			}
		}
	}
	check("after delivery")
	arch := f.mailbox(a.ID, "Archive")
	res, err := f.s.Copy(f.ctx, a.ID, in.ID, []uint32{ms[0].UID}, arch.ID)
	f.must(err, "Copy")
	c := f.message(a.ID, arch.ID, res.DstUIDs[0])
	if _, off := c.InternalDate.Zone(); off != -7*3600 {
		t.Errorf("copy: INTERNALDATE %v lost its zone", c.InternalDate)
	}
	f.cycle()
	check("after reopen")
}

// testDeliverNoCreate: a target with NoCreate fails with ErrNotFound when
// its mailbox does not exist, and creates nothing.
func testDeliverNoCreate(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	_, err := f.s.Deliver(f.ctx, store.Delivery{Body: strings.NewReader(testBody("x")),
		Targets: []store.Target{inbox(a.ID), {AccountID: a.ID, Mailbox: "Missing", NoCreate: true}}})
	wantErr(t, "Deliver NoCreate to a missing mailbox", err, store.ErrNotFound)
	if _, err := f.s.MailboxByName(f.ctx, a.ID, "Missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("NoCreate created the mailbox: %v", err)
	}
	if n := f.mailbox(a.ID, "INBOX").Messages; n != 0 {
		t.Errorf("failed delivery left %d messages in INBOX", n)
	}
	m := f.deliver(testBody("y"), store.Target{AccountID: a.ID, Mailbox: "Sent", NoCreate: true})
	if m[0].MailboxID != f.mailbox(a.ID, "Sent").ID {
		t.Errorf("NoCreate to an existing mailbox went to %d", m[0].MailboxID)
	}
	f.checkConsistent(a.ID)
}

// testDeliverAll: RFC 3502 §3 MULTIAPPEND: all messages or none.
func testDeliverAll(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	w := f.watch(a.ID)
	d := func(tag string, targets ...store.Target) store.Delivery {
		return store.Delivery{Body: strings.NewReader(testBody(tag)), Targets: targets}
	}
	big := strings.Repeat("x", 100<<10) // a blob file, not inline
	out, err := f.s.DeliverAll(f.ctx, []store.Delivery{
		d("1", inbox(a.ID)),
		{Body: strings.NewReader(testBody("2") + big), Targets: []store.Target{inbox(a.ID)}},
		d("3", inbox(a.ID), store.Target{AccountID: a.ID, Mailbox: "Archive"}),
	})
	f.must(err, "DeliverAll")
	if len(out) != 3 || len(out[0]) != 1 || len(out[1]) != 1 || len(out[2]) != 2 {
		t.Fatalf("DeliverAll returned %v", out)
	}
	if !(out[0][0].UID < out[1][0].UID && out[1][0].UID < out[2][0].UID) {
		t.Errorf("UIDs not in delivery order: %d %d %d", out[0][0].UID, out[1][0].UID, out[2][0].UID)
	}
	if s := f.content(out[1][0]); !strings.HasSuffix(string(s), big) {
		t.Errorf("large message content wrong")
	}
	if chs := w.sync(); len(chs) != 4 {
		t.Errorf("DeliverAll published %s, want 4 new-message changes", fmtChanges(chs))
	}
	in := f.mailbox(a.ID, "INBOX")

	// One failing delivery (a missing mailbox with NoCreate) fails all.
	_, err = f.s.DeliverAll(f.ctx, []store.Delivery{
		d("4", inbox(a.ID)),
		{Body: strings.NewReader(big), Targets: []store.Target{inbox(a.ID)}},
		d("5", store.Target{AccountID: a.ID, Mailbox: "Missing", NoCreate: true}),
	})
	wantErr(t, "DeliverAll with a failing delivery", err, store.ErrNotFound)
	// Over quota on the last one fails all.
	f.must(f.s.SetQuota(f.ctx, a.ID, f.getAccount(a.ID).UsedBytes+int64(len(big))), "SetQuota")
	_, err = f.s.DeliverAll(f.ctx, []store.Delivery{
		d("6", inbox(a.ID)),
		{Body: strings.NewReader(big), Targets: []store.Target{inbox(a.ID)}},
	})
	wantErr(t, "DeliverAll over quota", err, store.ErrOverQuota)
	_, err = f.s.DeliverAll(f.ctx, nil)
	wantErr(t, "DeliverAll of nothing", err, store.ErrInvalid)
	if got := f.mailbox(a.ID, "INBOX"); got.Messages != in.Messages || got.UIDNext != in.UIDNext {
		t.Errorf("failed DeliverAll changed INBOX: %+v, was %+v", got, in)
	}
	if chs := w.sync(); len(chs) != 0 {
		t.Errorf("failed DeliverAll published %s", fmtChanges(chs))
	}
	f.checkConsistent(a.ID)
}
