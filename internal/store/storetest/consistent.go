package storetest

import (
	"context"
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
