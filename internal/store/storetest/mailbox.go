package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/posthorn/posthorn/internal/store"
)

func mailboxNames(mbs []store.Mailbox) []string {
	var n []string
	for _, mb := range mbs {
		n = append(n, mb.Name)
	}
	slices.Sort(n)
	return n
}

func (f *fixture) mailboxNames(accountID int64) []string {
	f.t.Helper()
	mbs, err := f.s.Mailboxes(f.ctx, accountID)
	f.must(err, "Mailboxes")
	return mailboxNames(mbs)
}

func testDefaultMailboxes(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	mbs, err := f.s.Mailboxes(f.ctx, a.ID)
	f.must(err, "Mailboxes")
	want := map[string]string{
		"INBOX": "", "Sent": store.SpecialSent, "Drafts": store.SpecialDrafts, "Junk": store.SpecialJunk,
		"Trash": store.SpecialTrash, "Archive": store.SpecialArchive,
	}
	if len(mbs) != len(want) {
		t.Errorf("default mailboxes = %v", mailboxNames(mbs))
	}
	validity := map[uint32]bool{}
	for _, mb := range mbs {
		su, ok := want[mb.Name]
		if !ok {
			t.Errorf("unexpected default mailbox %q", mb.Name)
			continue
		}
		if mb.SpecialUse != su {
			t.Errorf("%s: SpecialUse %q, want %q", mb.Name, mb.SpecialUse, su)
		}
		if mb.Messages != 0 || mb.Size != 0 || mb.UIDNext == 0 || mb.UIDValidity == 0 {
			t.Errorf("%s: %+v", mb.Name, mb)
		}
		validity[mb.UIDValidity] = true
		if got := f.mailboxByID(a.ID, mb.ID); got.Name != mb.Name {
			t.Errorf("MailboxByID(%d) = %q, want %q", mb.ID, got.Name, mb.Name)
		}
	}
	for _, n := range []string{"inbox", "Inbox", "INBOX"} {
		if mb := f.mailbox(a.ID, n); mb.Name != "INBOX" {
			t.Errorf("MailboxByName(%q).Name = %q", n, mb.Name)
		}
	}
	// Only INBOX is case-insensitive.
	_, err = f.s.MailboxByName(f.ctx, a.ID, "sent")
	wantErr(t, `MailboxByName("sent")`, err, store.ErrNotFound)
	_, err = f.s.MailboxByName(f.ctx, a.ID, "Nope")
	wantErr(t, "MailboxByName missing", err, store.ErrNotFound)
	_, err = f.s.MailboxByID(f.ctx, a.ID, 987654)
	wantErr(t, "MailboxByID missing", err, store.ErrNotFound)
	f.checkConsistent(a.ID)
}

func testCreateMailbox(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	a := f.account("a@example.org")
	mb, err := f.s.CreateMailbox(ctx, a.ID, "Lists/Go", "")
	f.must(err, "CreateMailbox")
	if mb.ID == 0 || mb.Name != "Lists/Go" || mb.AccountID != a.ID || mb.UIDValidity == 0 || mb.UIDNext == 0 {
		t.Errorf("CreateMailbox returned %+v", mb)
	}
	if got := f.mailbox(a.ID, "Lists/Go"); got.ID != mb.ID {
		t.Errorf("MailboxByName = %+v, want ID %d", got, mb.ID)
	}
	f.mailbox(a.ID, "Lists") // the parent was created with it (RFC 9051 §6.3.4)
	f.createMailbox(a.ID, "Ünïcödé ✉")
	sp, err := f.s.CreateMailbox(ctx, a.ID, "Old Sent", store.SpecialSent)
	f.must(err, "CreateMailbox with special-use")
	if got := f.mailboxByID(a.ID, sp.ID); got.SpecialUse != store.SpecialSent {
		t.Errorf("special-use = %q", got.SpecialUse)
	}
	if got := f.mailbox(a.ID, "Ünïcödé ✉"); got.Name != "Ünïcödé ✉" {
		t.Errorf("unicode name = %q", got.Name)
	}

	for _, n := range []string{"Lists/Go", "Sent", "INBOX", "inbox", "Inbox"} {
		_, err := f.s.CreateMailbox(ctx, a.ID, n, "")
		wantErr(t, "CreateMailbox duplicate "+n, err, store.ErrExists)
	}
	before := f.mailboxNames(a.ID)
	deep := strings.Repeat("d/", store.MaxMailboxDepth) + "d"
	long := strings.Repeat("l", store.MaxMailboxName-1) + "/x"
	for _, n := range []string{"", "/", "a//b", "/a", "a/", "a/b/", "q1//y", "new/a//b",
		deep, long, "new/a\nb", "new/a\rb", "new/a\x00b", "new/\x7f", "new/a\u0085b", "INBOX/\t"} {
		_, err := f.s.CreateMailbox(ctx, a.ID, n, "")
		wantErr(t, fmt.Sprintf("CreateMailbox invalid %.40q", n), err, store.ErrInvalid)
	}
	// A CREATE that fails creates no parent either.
	if got := f.mailboxNames(a.ID); !slices.Equal(got, before) {
		t.Errorf("failed CreateMailbox left mailboxes: %v, want %v", got, before)
	}
	f.createMailbox(a.ID, strings.Repeat("d/", store.MaxMailboxDepth-1)+"d")
	// INBOX is case-insensitive as a parent too (RFC 9051 §5.1).
	child := f.createMailbox(a.ID, "inbox/Child")
	if child.Name != "INBOX/Child" || f.mailbox(a.ID, "Inbox/Child").ID != child.ID {
		t.Errorf("inbox/Child created as %q", child.Name)
	}
	_, err = f.s.CreateMailbox(ctx, a.ID, "INBOX/Child", "")
	wantErr(t, "CreateMailbox INBOX/Child after inbox/Child", err, store.ErrExists)
	_, err = f.s.MailboxByName(ctx, a.ID, "inboxChild")
	wantErr(t, "MailboxByName inboxChild", err, store.ErrNotFound)
	// Names are per account.
	b := f.account("b@example.org")
	f.createMailbox(b.ID, "Lists/Go")
	if _, err := f.s.MailboxByID(ctx, b.ID, mb.ID); err == nil {
		t.Errorf("MailboxByID found another account's mailbox")
	}
	f.checkConsistent(a.ID)
	f.checkConsistent(b.ID)
}

func testRenameMailbox(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	a := f.account("a@example.org")
	parent := f.createMailbox(a.ID, "Work")
	child := f.createMailbox(a.ID, "Work/2024")
	grand := f.createMailbox(a.ID, "Work/2024/Q1")
	f.createMailbox(a.ID, "Workshop") // shares a prefix, not a child
	msgs := f.deliverN(2, store.Target{AccountID: a.ID, Mailbox: "Work/2024"})

	f.must(f.s.RenameMailbox(ctx, a.ID, "Work", "Job"), "RenameMailbox")
	want := []string{"Archive", "Drafts", "INBOX", "Job", "Job/2024", "Job/2024/Q1", "Junk", "Sent", "Trash", "Workshop"}
	if got := f.mailboxNames(a.ID); !slices.Equal(got, want) {
		t.Errorf("after rename: %v, want %v", got, want)
	}
	for name, id := range map[string]int64{"Job": parent.ID, "Job/2024": child.ID, "Job/2024/Q1": grand.ID} {
		if mb, err := f.s.MailboxByName(ctx, a.ID, name); err != nil || mb.ID != id {
			t.Errorf("MailboxByName(%s) = %+v, %v; want ID %d", name, mb, err, id)
		}
	}
	_, err := f.s.MailboxByName(ctx, a.ID, "Work/2024")
	wantErr(t, "old child name", err, store.ErrNotFound)
	// The messages went along.
	got := f.messages(a.ID, f.mailbox(a.ID, "Job/2024").ID)
	if !slices.Equal(uidsOf(got), uidsOf(msgs)) {
		t.Errorf("messages after rename: %v, want %v", uidsOf(got), uidsOf(msgs))
	}
	for i, m := range got {
		if string(f.content(m)) != string(f.content(msgs[i])) {
			t.Errorf("content changed by rename")
		}
	}

	wantErr(t, "rename onto existing", f.s.RenameMailbox(ctx, a.ID, "Job", "Workshop"), store.ErrExists)
	wantErr(t, "rename onto INBOX", f.s.RenameMailbox(ctx, a.ID, "Job", "inbox"), store.ErrExists)
	wantErr(t, "rename missing", f.s.RenameMailbox(ctx, a.ID, "Nope", "Nope2"), store.ErrNotFound)
	wantErr(t, "rename to invalid", f.s.RenameMailbox(ctx, a.ID, "Job", "a//b"), store.ErrInvalid)
	// Into a new hierarchy level.
	f.must(f.s.RenameMailbox(ctx, a.ID, "Workshop", "Archive/Workshop"), "rename into hierarchy")
	f.mailbox(a.ID, "Archive/Workshop")
	f.checkConsistent(a.ID)
}

func testRenameInbox(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	a := f.account("a@example.org")
	in := f.mailbox(a.ID, "INBOX")
	msgs := f.deliverN(3, inbox(a.ID))
	before := f.mailbox(a.ID, "INBOX")

	f.must(f.s.RenameMailbox(ctx, a.ID, "inbox", "Old Inbox"), "RenameMailbox INBOX")
	old := f.mailbox(a.ID, "Old Inbox")
	moved := f.messages(a.ID, old.ID)
	if len(moved) != 3 {
		t.Fatalf("renamed INBOX has %d messages, want 3", len(moved))
	}
	for i, m := range moved {
		if got, want := string(f.content(m)), string(f.content(msgs[i])); got != want {
			t.Errorf("moved message %d content %q, want %q", i, got, want)
		}
	}
	nin := f.mailbox(a.ID, "INBOX")
	if nin.Messages != 0 || len(f.messages(a.ID, nin.ID)) != 0 {
		t.Errorf("INBOX not empty after rename: %+v", nin)
	}
	// New mail in INBOX must not reuse the old UIDs under the same UIDVALIDITY.
	m := f.deliver(testBody("after"), inbox(a.ID))[0]
	nin = f.mailbox(a.ID, "INBOX")
	if nin.ID == in.ID && nin.UIDValidity == before.UIDValidity && m.UID < before.UIDNext {
		t.Errorf("INBOX reused UID %d (UIDNEXT was %d) under the same UIDVALIDITY", m.UID, before.UIDNext)
	}
	f.checkConsistent(a.ID)
}

func testDeleteMailbox(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	a := f.account("a@example.org")
	f.createMailbox(a.ID, "Tmp")
	ms := f.deliverN(3, store.Target{AccountID: a.ID, Mailbox: "Tmp"})
	keep := f.deliver(testBody("keep"), inbox(a.ID))
	shared := f.deliver(testBody("shared"), store.Target{AccountID: a.ID, Mailbox: "Tmp"}, inbox(a.ID))
	usedBefore := f.getAccount(a.ID).UsedBytes

	f.must(f.s.DeleteMailbox(ctx, a.ID, "Tmp"), "DeleteMailbox")
	_, err := f.s.MailboxByName(ctx, a.ID, "Tmp")
	wantErr(t, "MailboxByName after delete", err, store.ErrNotFound)
	freed := ms[0].Size + ms[1].Size + ms[2].Size + shared[0].Size
	if used := f.getAccount(a.ID).UsedBytes; used != usedBefore-freed {
		t.Errorf("UsedBytes after DeleteMailbox = %d, want %d", used, usedBefore-freed)
	}
	for _, m := range ms {
		if c, err := f.s.Open(ctx, m); err == nil {
			c.Close()
			t.Errorf("Open of a message of a deleted mailbox succeeded: storage not freed")
		}
	}
	// Blobs still referenced elsewhere survive.
	if got := f.content(f.message(a.ID, shared[1].MailboxID, shared[1].UID)); string(got) != testBody("shared") {
		t.Errorf("shared blob content = %q", got)
	}
	if got := f.content(keep[0]); string(got) != testBody("keep") {
		t.Errorf("other message content = %q", got)
	}

	wantErr(t, "DeleteMailbox again", f.s.DeleteMailbox(ctx, a.ID, "Tmp"), store.ErrNotFound)
	wantErr(t, "DeleteMailbox INBOX", f.s.DeleteMailbox(ctx, a.ID, "INBOX"), store.ErrInvalid)
	wantErr(t, "DeleteMailbox inbox", f.s.DeleteMailbox(ctx, a.ID, "inbox"), store.ErrInvalid)
	f.checkConsistent(a.ID)
}

func testRecreateMailbox(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	a := f.account("a@example.org")
	first := f.createMailbox(a.ID, "X")
	f.deliverN(2, store.Target{AccountID: a.ID, Mailbox: "X"})
	first = f.mailboxByID(a.ID, first.ID)
	f.must(f.s.DeleteMailbox(ctx, a.ID, "X"), "DeleteMailbox")
	second := f.createMailbox(a.ID, "X")
	if second.UIDValidity == first.UIDValidity {
		t.Errorf("re-created mailbox kept UIDVALIDITY %d", first.UIDValidity)
	}
	// Renaming another mailbox onto the name is a re-creation too.
	f.must(f.s.DeleteMailbox(ctx, a.ID, "X"), "DeleteMailbox")
	f.createMailbox(a.ID, "Y")
	f.must(f.s.RenameMailbox(ctx, a.ID, "Y", "X"), "RenameMailbox")
	third := f.mailbox(a.ID, "X")
	if third.UIDValidity == first.UIDValidity || third.UIDValidity == second.UIDValidity {
		t.Errorf("mailbox renamed onto a deleted name has an old UIDVALIDITY %d (had %d, %d)",
			third.UIDValidity, first.UIDValidity, second.UIDValidity)
	}
}

func testSubscribe(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	a := f.account("a@example.org")
	f.createMailbox(a.ID, "News")
	f.must(f.s.SetSubscribed(ctx, a.ID, "News", true), "SetSubscribed")
	if !f.mailbox(a.ID, "News").Subscribed {
		t.Errorf("not subscribed")
	}
	mbs, _ := f.s.Mailboxes(ctx, a.ID)
	for _, mb := range mbs {
		if mb.Name == "News" && !mb.Subscribed {
			t.Errorf("Mailboxes does not show the subscription")
		}
	}
	f.must(f.s.SetSubscribed(ctx, a.ID, "News", false), "SetSubscribed false")
	if f.mailbox(a.ID, "News").Subscribed {
		t.Errorf("still subscribed")
	}
	f.must(f.s.SetSubscribed(ctx, a.ID, "inbox", true), "SetSubscribed inbox")
	if !f.mailbox(a.ID, "INBOX").Subscribed {
		t.Errorf("INBOX not subscribed")
	}
	wantErr(t, "SetSubscribed missing", f.s.SetSubscribed(ctx, a.ID, "Nope", true), store.ErrNotFound)
}
