package main

import (
	"context"
	"testing"

	"github.com/posthorn/posthorn/internal/accounts"
	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

// TestLocalserveDefaultPassword checks the documented exemption from the
// password policy: localserve's you@localhost gets the default password
// "posthorn" (README), which the policy would refuse anywhere else, and
// keeps it when localserve starts again.
func TestLocalserveDefaultPassword(t *testing.T) {
	ctx := context.Background()
	if accounts.CheckPassword(localPassword, addr.MustParseAddress(localAccount)) == nil {
		t.Fatalf("the policy accepts %q: the exemption is not needed any more", localPassword)
	}
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for range 2 {
		if err := setupLocalAccount(ctx, st, localPassword); err != nil {
			t.Fatalf("setupLocalAccount with %q: %v", localPassword, err)
		}
	}
	if _, err := (&accounts.Service{Store: st}).Authenticate(ctx, localAccount, localPassword, "imap"); err != nil {
		t.Errorf("you@localhost with %q: %v", localPassword, err)
	}
}
