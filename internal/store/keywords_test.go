package store

import (
	"context"
	"testing"
)

func TestMailboxKeywords(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	acct := addAccount(t, s, "kw@example.org")
	deliver(t, s, []byte("Subject: x\r\n\r\nx\r\n"), Target{AccountID: acct.ID})
	inbox := mustMailbox(t, s, acct.ID, "INBOX")
	kws, err := s.MailboxKeywords(ctx, acct.ID, inbox.ID)
	if err != nil || len(kws) != 0 {
		t.Fatalf("no keywords: %q, %v", kws, err)
	}
	for _, k := range [][]string{{"b", "A"}, {"a", "c"}, nil} {
		deliver(t, s, []byte("Subject: y\r\n\r\ny\r\n"), Target{AccountID: acct.ID, Keywords: k})
	}
	kws, err = s.MailboxKeywords(ctx, acct.ID, inbox.ID)
	if len(kws) != 3 || kws[0] != "A" && kws[0] != "a" || kws[1] != "b" || kws[2] != "c" {
		t.Errorf("got %q, %v; want A (or a), b, c", kws, err)
	}
	if _, err := s.MailboxKeywords(ctx, acct.ID, inbox.ID+100); err == nil {
		t.Error("no error for a missing mailbox")
	}
}
