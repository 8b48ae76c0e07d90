package accounts

import (
	"context"
	"errors"
	"testing"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

// TestRoleNames checks the implicit postmaster@ and abuse@ of every local
// domain: delivered to the admin account in any case and with a tag,
// overridden by an account or alias of that name (but not by a
// catch-all), and unknown while there is no admin account.
func TestRoleNames(t *testing.T) {
	ctx := context.Background()
	s, accs := fixture(t)
	st := s.Store
	for _, rcpt := range []string{"postmaster@example.com", "abuse@example.com"} {
		if _, err := s.Resolve(ctx, addr.MustParseAddress(rcpt)); !errors.Is(err, ErrUnknownRecipient) {
			t.Errorf("%s without an admin account: %v", rcpt, err)
		}
	}
	admin := accs["bob@example.com"]
	if err := st.SetAdminAccount(ctx, admin.ID); err != nil {
		t.Fatal(err)
	}
	// A domain added after the admin account was chosen.
	if err := st.AddDomain(ctx, store.Domain{Name: addr.MustParseDomain("later.example"), SubaddressSep: "+"}); err != nil {
		t.Fatal(err)
	}
	for _, rcpt := range []string{
		"postmaster@example.com", "POSTMASTER@example.com", "Abuse@example.com", "abuse@nosub.example",
		"postmaster@later.example", "abuse+x@later.example", "PostMaster@nosub.example",
	} {
		res, err := s.Resolve(ctx, addr.MustParseAddress(rcpt))
		if err != nil || len(res.Accounts) != 1 || res.Accounts[0].ID != admin.ID || len(res.Remote) != 0 {
			t.Errorf("Resolve(%s) = %+v, %v; want the admin account bob", rcpt, res, err)
		}
	}
	// other.example has a catch-all to carol: the role names still go to
	// the admin account (the catch-all is not an alias of that name).
	res, err := s.Resolve(ctx, addr.MustParseAddress("postmaster@other.example"))
	if err != nil || len(res.Accounts) != 1 || res.Accounts[0].ID != admin.ID {
		t.Errorf("postmaster@ a domain with a catch-all = %+v, %v", res, err)
	}
	// An explicit alias or account of that name wins.
	if err := st.AddAlias(ctx, store.Alias{Localpart: "Abuse", Domain: addr.MustParseDomain("example.com"),
		Targets: []addr.Address{addr.MustParseAddress("ext@remote.example")}}); err != nil {
		t.Fatal(err)
	}
	res, err = s.Resolve(ctx, addr.MustParseAddress("abuse@example.com"))
	if err != nil || len(res.Accounts) != 0 || len(res.Remote) != 1 {
		t.Errorf("abuse@ with an explicit alias = %+v, %v", res, err)
	}
	cred, _ := NewCredentials("x")
	pm, err := st.AddAccount(ctx, store.Account{Address: addr.MustParseAddress("postmaster@later.example")}, cred)
	if err != nil {
		t.Fatal(err)
	}
	res, err = s.Resolve(ctx, addr.MustParseAddress("POSTMASTER@later.example"))
	if err != nil || len(res.Accounts) != 1 || res.Accounts[0].ID != pm.ID {
		t.Errorf("postmaster@ with an explicit account = %+v, %v", res, err)
	}
	// Other names are not roles.
	if _, err := s.Resolve(ctx, addr.MustParseAddress("hostmaster@example.com")); !errors.Is(err, ErrUnknownRecipient) {
		t.Errorf("hostmaster@: %v", err)
	}
}

// TestCacheSeesAdminAccountChange checks that a new admin account through
// a watched store takes postmaster@ at once, not after the cache's TTL.
func TestCacheSeesAdminAccountChange(t *testing.T) {
	c, _, watched, _, accs := cacheFixture(t) // the clock never moves
	ctx := context.Background()
	pm := addr.MustParseAddress("postmaster@example.com")
	for _, who := range []string{"alice@example.com", "bob@example.com"} {
		if err := watched.SetAdminAccount(ctx, accs[who].ID); err != nil {
			t.Fatal(err)
		}
		res, err := c.Resolve(ctx, pm)
		if err != nil || len(res.Accounts) != 1 || res.Accounts[0].ID != accs[who].ID {
			t.Errorf("after SetAdminAccount(%s): %+v, %v", who, res, err)
		}
	}
}
