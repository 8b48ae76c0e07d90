package store

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// TestSubscriptionOutlivesMailbox: deleting a subscribed mailbox keeps its
// name subscribed (RFC 9051 §6.3.7) until it is unsubscribed; creating it
// again (or renaming a mailbox to it) makes it a subscribed mailbox.
func TestSubscriptionOutlivesMailbox(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	acct := addAccount(t, s, "sub@example.org").ID
	dangling := func(want ...string) {
		t.Helper()
		got, err := s.DanglingSubscriptions(ctx, acct)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("dangling %q, %v; want %q", got, err, want)
		}
	}
	for _, n := range []string{"a", "b", "c"} {
		if _, err := s.CreateMailbox(ctx, acct, n, ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"a", "b"} {
		if err := s.SetSubscribed(ctx, acct, n, true); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"a", "b", "c"} {
		if err := s.DeleteMailbox(ctx, acct, n); err != nil {
			t.Fatal(err)
		}
	}
	dangling("a", "b")
	if err := s.SetSubscribed(ctx, acct, "c", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("unsubscribing a name never subscribed: %v", err)
	}
	if err := s.SetSubscribed(ctx, acct, "b", false); err != nil {
		t.Fatal(err)
	}
	dangling("a")
	if _, err := s.CreateMailbox(ctx, acct, "a", ""); err != nil {
		t.Fatal(err)
	}
	dangling()
	if mb := mustMailbox(t, s, acct, "a"); !mb.Subscribed {
		t.Error("a created again is not subscribed")
	}
	if err := s.DeleteMailbox(ctx, acct, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.RenameMailbox(ctx, acct, "INBOX", "x"); err != nil {
		t.Fatal(err)
	}
	if err := s.RenameMailbox(ctx, acct, "x", "a"); err != nil {
		t.Fatal(err)
	}
	dangling()
	if mb := mustMailbox(t, s, acct, "a"); !mb.Subscribed {
		t.Error("mailbox renamed to a subscribed name is not subscribed")
	}
}
