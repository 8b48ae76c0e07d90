package store

import (
	"context"
	"testing"
)

// TestClaimRecent: each UID is claimed as recent once; looking does not
// claim.
func TestClaimRecent(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	acct := addAccount(t, s, "recent@example.org").ID
	inbox := mustMailbox(t, s, acct, "INBOX")
	claim := func(c bool, wantFrom, wantTo uint32) {
		t.Helper()
		f, to, err := s.ClaimRecent(ctx, acct, inbox.ID, c)
		if err != nil || f != wantFrom || to != wantTo {
			t.Fatalf("ClaimRecent(%v) = %d, %d, %v; want %d, %d", c, f, to, err, wantFrom, wantTo)
		}
	}
	claim(false, 0, 1)
	deliver(t, s, []byte("Subject: 1\r\n\r\n1\r\n"), Target{AccountID: acct})
	deliver(t, s, []byte("Subject: 2\r\n\r\n2\r\n"), Target{AccountID: acct})
	claim(false, 0, 3)
	claim(true, 0, 3)
	claim(true, 3, 3)
	deliver(t, s, []byte("Subject: 3\r\n\r\n3\r\n"), Target{AccountID: acct})
	claim(true, 3, 4)
	claim(false, 4, 4)
	if _, _, err := s.ClaimRecent(ctx, acct+1, inbox.ID, true); err == nil {
		t.Error("another account's mailbox was claimed")
	}
}
