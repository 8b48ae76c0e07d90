package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/posthorn/posthorn/internal/store"
)

// CheckConsistent checks the invariants of every mailbox of an account:
// counts and sizes match the messages, UIDs are strictly increasing and below
// UIDNEXT, HIGHESTMODSEQ covers every MODSEQ, and the account's UsedBytes is
// the sum of all message sizes. It reports problems with t.Errorf.
func CheckConsistent(t testing.TB, s store.Store, accountID int64) {
	t.Helper()
	ctx := context.Background()
	mbs, err := s.Mailboxes(ctx, accountID)
	if err != nil {
		t.Fatalf("Mailboxes: %v", err)
	}
	var used int64
	names := map[string]bool{}
	for _, mb := range mbs {
		if names[mb.Name] {
			t.Errorf("mailbox %q listed twice", mb.Name)
		}
		names[mb.Name] = true
		if mb.AccountID != accountID {
			t.Errorf("mailbox %q: AccountID %d, want %d", mb.Name, mb.AccountID, accountID)
		}
		ms, err := s.Messages(ctx, accountID, mb.ID, 1, 0)
		if err != nil {
			t.Fatalf("Messages(%q): %v", mb.Name, err)
		}
		var size int64
		for i, m := range ms {
			size += m.Size
			if i > 0 && m.UID <= ms[i-1].UID {
				t.Errorf("mailbox %q: UIDs not strictly increasing: %d after %d", mb.Name, m.UID, ms[i-1].UID)
			}
			if m.UID >= mb.UIDNext {
				t.Errorf("mailbox %q: UID %d >= UIDNEXT %d", mb.Name, m.UID, mb.UIDNext)
			}
			if m.ModSeq > mb.HighestModSeq {
				t.Errorf("mailbox %q: MODSEQ %d > HIGHESTMODSEQ %d", mb.Name, m.ModSeq, mb.HighestModSeq)
			}
			if m.MailboxID != mb.ID || m.AccountID != accountID {
				t.Errorf("mailbox %q: message %d has MailboxID %d AccountID %d", mb.Name, m.UID, m.MailboxID, m.AccountID)
			}
		}
		if mb.Messages != len(ms) {
			t.Errorf("mailbox %q: Messages %d, listed %d", mb.Name, mb.Messages, len(ms))
		}
		if mb.Size != size {
			t.Errorf("mailbox %q: Size %d, sum of messages %d", mb.Name, mb.Size, size)
		}
		if mb.UIDValidity == 0 || mb.UIDNext == 0 {
			t.Errorf("mailbox %q: zero UIDVALIDITY or UIDNEXT: %+v", mb.Name, mb)
		}
		if mb.HighestModSeq == 0 {
			t.Errorf("mailbox %q: HIGHESTMODSEQ 0 (RFC 7162 §3.1.1: mod-sequences are positive)", mb.Name)
		}
		checkIndex(t, s, mb, ms)
		used += size
	}
	if !names["INBOX"] {
		t.Errorf("account %d has no INBOX", accountID)
	}
	a, err := s.AccountByID(ctx, accountID)
	if err != nil {
		t.Fatalf("AccountByID: %v", err)
	}
	if a.UsedBytes != used {
		t.Errorf("account %d: UsedBytes %d, sum of messages %d", accountID, a.UsedBytes, used)
	}
}

// checkIndex checks that MessageIndex and MailboxCounts agree with Messages.
func checkIndex(t testing.TB, s store.Store, mb store.Mailbox, ms []store.Message) {
	t.Helper()
	ctx := context.Background()
	idx, err := s.MessageIndex(ctx, mb.AccountID, mb.ID)
	if err != nil {
		t.Fatalf("MessageIndex(%q): %v", mb.Name, err)
	}
	if len(idx) != len(ms) {
		t.Errorf("mailbox %q: MessageIndex lists %d messages, Messages %d", mb.Name, len(idx), len(ms))
		return
	}
	var want store.MailboxCounts
	want.Messages = len(ms)
	for i, m := range ms {
		e := idx[i]
		if e.UID != m.UID || e.ModSeq != m.ModSeq || e.Flags != m.Flags || !slices.Equal(e.Keywords, m.Keywords) ||
			!e.InternalDate.Equal(m.InternalDate) || e.InternalDate.Location().String() != m.InternalDate.Location().String() ||
			!e.SaveDate.Equal(m.SaveDate) || e.Size != m.Size {
			t.Errorf("mailbox %q: MessageIndex entry %+v, message %+v", mb.Name, e, m)
		}
		if m.Flags&store.FlagSeen == 0 {
			want.Unseen++
		}
		if m.Flags&store.FlagDeleted != 0 {
			want.Deleted++
		}
	}
	got, err := s.MailboxCounts(ctx, mb.AccountID, mb.ID)
	if err != nil {
		t.Fatalf("MailboxCounts(%q): %v", mb.Name, err)
	}
	if got != want {
		t.Errorf("mailbox %q: MailboxCounts %+v, want %+v", mb.Name, got, want)
	}
}
