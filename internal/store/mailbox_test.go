package store

import (
	"context"
	"slices"
	"testing"
)

// Children of INBOX created under another spelling before INBOX was
// case-insensitive as a parent ("inbox/x") get their canonical name at
// Open, unless it is taken; otherwise no command could reach them.
func TestOpenFixesInboxChildren(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	a := addAccount(t, s, "a@example.org")
	ctx := context.Background()
	if _, err := s.CreateMailbox(ctx, a.ID, "INBOX/taken", ""); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"inbox/old", "Inbox/old/sub", "iNbOx/taken", "inboxes"} {
		if _, err := s.wdb.ExecContext(ctx, `INSERT INTO mailboxes (account_id, name, special_use, subscribed, uidvalidity, uidnext, highestmodseq)
			VALUES (?, ?, '', 0, 1, 1, 1)`, a.ID, n); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = openTest(t, dir)
	mbs, err := s.Mailboxes(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mb := range mbs {
		names = append(names, mb.Name)
	}
	for _, want := range []string{"INBOX/old", "INBOX/old/sub", "INBOX/taken", "iNbOx/taken", "inboxes"} {
		if !slices.Contains(names, want) {
			t.Errorf("no mailbox %q after Open: %q", want, names)
		}
	}
	if _, err := s.MailboxByName(ctx, a.ID, "inbox/old/sub"); err != nil {
		t.Errorf("inbox/old/sub: %v", err)
	}
}
