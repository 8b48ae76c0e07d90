package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

func testDomains(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	a := addr.MustParseDomain("a.example")
	b := addr.MustParseDomain("b.example")
	f.must(f.s.AddDomain(ctx, store.Domain{Name: a, SubaddressSep: "+"}), "AddDomain a")
	f.must(f.s.AddDomain(ctx, store.Domain{Name: b, SubaddressSep: "-"}), "AddDomain b")
	wantErr(t, "AddDomain duplicate", f.s.AddDomain(ctx, store.Domain{Name: a, SubaddressSep: "+"}), store.ErrExists)

	d, err := f.s.Domain(ctx, b)
	f.must(err, "Domain")
	if d.Name != b || d.SubaddressSep != "-" {
		t.Errorf("Domain(b) = %+v", d)
	}
	_, err = f.s.Domain(ctx, addr.MustParseDomain("missing.example"))
	wantErr(t, "Domain missing", err, store.ErrNotFound)

	ds, err := f.s.Domains(ctx)
	f.must(err, "Domains")
	var names []string
	for _, d := range ds {
		names = append(names, d.Name.ASCII)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"a.example", "b.example"}) {
		t.Errorf("Domains = %v", names)
	}

	// A domain with an account, or with an alias, is in use.
	acc := f.account("user@a.example")
	wantErr(t, "DeleteDomain with account", f.s.DeleteDomain(ctx, a), store.ErrInUse)
	f.must(f.s.AddAlias(ctx, store.Alias{Localpart: "info", Domain: b,
		Targets: []addr.Address{acc.Address}}), "AddAlias")
	wantErr(t, "DeleteDomain with alias", f.s.DeleteDomain(ctx, b), store.ErrInUse)
	if _, err := f.s.Domain(ctx, a); err != nil {
		t.Errorf("domain gone after failed DeleteDomain: %v", err)
	}

	f.must(f.s.DeleteAlias(ctx, "info", b), "DeleteAlias")
	f.must(f.s.AddDKIMKey(ctx, store.DKIMKey{Domain: b, Selector: "s1", Algorithm: "ed25519",
		PrivateKey: []byte("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"), State: "active"}), "AddDKIMKey")
	f.must(f.s.DeleteDomain(ctx, b), "DeleteDomain b")
	_, err = f.s.Domain(ctx, b)
	wantErr(t, "Domain after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteDomain again", f.s.DeleteDomain(ctx, b), store.ErrNotFound)

	// Deleting a domain removes its DKIM keys: a re-added domain has none.
	f.must(f.s.AddDomain(ctx, store.Domain{Name: b, SubaddressSep: "+"}), "AddDomain b again")
	keys, err := f.s.DKIMKeys(ctx, b)
	f.must(err, "DKIMKeys")
	if len(keys) != 0 {
		t.Errorf("DKIM keys survived DeleteDomain: %+v", keys)
	}

	f.must(f.s.DeleteAccount(ctx, acc.ID), "DeleteAccount")
	f.must(f.s.DeleteDomain(ctx, a), "DeleteDomain a after its account is gone")
}

func testAccounts(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	f.addDomain("example.org")
	f.addDomain("other.example")
	alice, err := f.s.AddAccount(ctx, store.Account{
		Address:     addr.MustParseAddress("Alice@example.org"),
		DisplayName: "Alice",
		QuotaBytes:  1 << 20,
	}, testCredentials("alice"))
	f.must(err, "AddAccount")
	if alice.ID == 0 || alice.UsedBytes != 0 || alice.QuotaBytes != 1<<20 || alice.DisplayName != "Alice" {
		t.Errorf("AddAccount returned %+v", alice)
	}
	bob := f.account("bob@example.org")
	carol := f.account("carol@other.example")

	// Case-insensitive lookup, and the same account either way.
	for _, s := range []string{"alice@example.org", "ALICE@EXAMPLE.ORG", "Alice@Example.Org"} {
		a, err := f.s.Account(ctx, addr.MustParseAddress(s))
		if err != nil {
			t.Errorf("Account(%s): %v", s, err)
			continue
		}
		if a.ID != alice.ID || a.Address.Key() != "alice@example.org" || a.QuotaBytes != 1<<20 {
			t.Errorf("Account(%s) = %+v", s, a)
		}
	}
	_, err = f.s.Account(ctx, addr.MustParseAddress("nobody@example.org"))
	wantErr(t, "Account missing", err, store.ErrNotFound)
	_, err = f.s.AccountByID(ctx, 987654)
	wantErr(t, "AccountByID missing", err, store.ErrNotFound)

	// Duplicates, in any case, and accounts in unknown domains are refused.
	_, err = f.s.AddAccount(ctx, store.Account{Address: addr.MustParseAddress("ALICE@example.org")}, store.Credentials{})
	wantErr(t, "AddAccount duplicate", err, store.ErrExists)
	_, err = f.s.AddAccount(ctx, store.Account{Address: addr.MustParseAddress("x@nodomain.example")}, store.Credentials{})
	wantErr(t, "AddAccount unknown domain", err, store.ErrNotFound, store.ErrInvalid)

	byID := f.getAccount(bob.ID)
	if byID.Address.Key() != "bob@example.org" {
		t.Errorf("AccountByID = %+v", byID)
	}

	// Listing: ordered by address; a zero domain lists all.
	list, err := f.s.Accounts(ctx, addr.MustParseDomain("example.org"))
	f.must(err, "Accounts")
	if got := accountKeys(list); !slices.Equal(got, []string{"alice@example.org", "bob@example.org"}) {
		t.Errorf("Accounts(example.org) = %v", got)
	}
	list, err = f.s.Accounts(ctx, addr.Domain{})
	f.must(err, "Accounts all")
	if got := accountKeys(list); !slices.Equal(got, []string{"alice@example.org", "bob@example.org", "carol@other.example"}) {
		t.Errorf("Accounts() = %v", got)
	}

	// Credentials.
	c, err := f.s.Credentials(ctx, alice.ID)
	f.must(err, "Credentials")
	if !credsEqual(c, testCredentials("alice")) {
		t.Errorf("Credentials = %+v", c)
	}
	nc := testCredentials("alice-new")
	nc.SCRAM.Iterations = 8192
	f.must(f.s.SetCredentials(ctx, alice.ID, nc), "SetCredentials")
	c, err = f.s.Credentials(ctx, alice.ID)
	f.must(err, "Credentials")
	if !credsEqual(c, nc) {
		t.Errorf("Credentials after set = %+v, want %+v", c, nc)
	}
	if c2, _ := f.s.Credentials(ctx, bob.ID); !credsEqual(c2, testCredentials("bob@example.org")) {
		t.Errorf("SetCredentials changed another account: %+v", c2)
	}
	_, err = f.s.Credentials(ctx, 987654)
	wantErr(t, "Credentials missing", err, store.ErrNotFound)
	wantErr(t, "SetCredentials missing", f.s.SetCredentials(ctx, 987654, nc), store.ErrNotFound)

	// Quota.
	f.must(f.s.SetQuota(ctx, carol.ID, 5000), "SetQuota")
	if a := f.getAccount(carol.ID); a.QuotaBytes != 5000 {
		t.Errorf("QuotaBytes = %d after SetQuota", a.QuotaBytes)
	}
	f.must(f.s.SetQuota(ctx, carol.ID, 0), "SetQuota 0")
	if a := f.getAccount(carol.ID); a.QuotaBytes != 0 {
		t.Errorf("QuotaBytes = %d after SetQuota 0", a.QuotaBytes)
	}
	wantErr(t, "SetQuota missing", f.s.SetQuota(ctx, 987654, 1), store.ErrNotFound)
	f.checkConsistent(alice.ID)
}

func accountKeys(as []store.Account) []string {
	var s []string
	for _, a := range as {
		s = append(s, a.Address.Key())
	}
	return s
}

func credsEqual(a, b store.Credentials) bool {
	return a.PasswordHash == b.PasswordHash && scramEqual(a.SCRAM, b.SCRAM)
}

func scramEqual(a, b store.SCRAMKeys) bool {
	return string(a.Salt) == string(b.Salt) && a.Iterations == b.Iterations &&
		string(a.StoredKey) == string(b.StoredKey) && string(a.ServerKey) == string(b.ServerKey)
}

func testAccountIDN(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	d := f.addDomain("bücher.example")
	got, err := f.s.Domain(ctx, addr.MustParseDomain("xn--bcher-kva.example"))
	f.must(err, "Domain by A-label")
	if got.Name != d || got.Name.Unicode != "bücher.example" {
		t.Errorf("Domain = %+v, want %+v", got.Name, d)
	}
	acc := f.account("jörg@bücher.example")
	for _, s := range []string{"JÖRG@xn--bcher-kva.example", "jörg@BÜCHER.example"} {
		a, err := f.s.Account(ctx, addr.MustParseAddress(s))
		if err != nil {
			t.Errorf("Account(%s): %v", s, err)
			continue
		}
		if a.ID != acc.ID {
			t.Errorf("Account(%s) = %d, want %d", s, a.ID, acc.ID)
		}
		if a.Address.Domain.Unicode != "bücher.example" || a.Address.Domain.ASCII != "xn--bcher-kva.example" {
			t.Errorf("Account(%s).Address.Domain = %+v", s, a.Address.Domain)
		}
	}
	list, err := f.s.Accounts(ctx, addr.MustParseDomain("bücher.example"))
	f.must(err, "Accounts")
	if len(list) != 1 || list[0].ID != acc.ID {
		t.Errorf("Accounts(IDN) = %+v", list)
	}
}

func testDeleteAccount(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	a := f.account("a@example.org")
	b := f.account("b@example.org")
	f.createMailbox(a.ID, "Projects/X")
	_, err := f.s.AddAppPassword(ctx, store.AppPassword{AccountID: a.ID, Name: "phone", SCRAM: testCredentials("p").SCRAM})
	f.must(err, "AddAppPassword")
	// One message shared by both accounts, one only in a.
	shared := f.deliver(testBody("shared"), inbox(a.ID), inbox(b.ID))
	own := f.deliver(testBody("own"), inbox(a.ID))

	f.must(f.s.DeleteAccount(ctx, a.ID), "DeleteAccount")
	_, err = f.s.AccountByID(ctx, a.ID)
	wantErr(t, "AccountByID after delete", err, store.ErrNotFound)
	_, err = f.s.Account(ctx, a.Address)
	wantErr(t, "Account after delete", err, store.ErrNotFound)
	_, err = f.s.MailboxByName(ctx, a.ID, "INBOX")
	wantErr(t, "MailboxByName after delete", err, store.ErrNotFound)
	ps, err := f.s.AppPasswords(ctx, a.ID)
	if err == nil && len(ps) != 0 {
		t.Errorf("app passwords survived DeleteAccount: %+v", ps)
	}
	wantErr(t, "DeleteAccount again", f.s.DeleteAccount(ctx, a.ID), store.ErrNotFound)

	// The blob b still references survives; a's own message is freed.
	if got := f.content(f.message(b.ID, shared[1].MailboxID, shared[1].UID)); string(got) != testBody("shared") {
		t.Errorf("shared message content after DeleteAccount = %q", got)
	}
	if c, err := f.s.Open(ctx, own[0]); err == nil {
		c.Close()
		t.Errorf("Open of a deleted account's message succeeded: its blob was not freed")
	}
	f.checkConsistent(b.ID)

	// The address can be used again, and starts empty.
	a2 := f.account("a@example.org")
	if a2.ID == a.ID {
		t.Errorf("re-created account reused ID %d", a.ID)
	}
	if ms := f.messages(a2.ID, f.mailbox(a2.ID, "INBOX").ID); len(ms) != 0 {
		t.Errorf("re-created account has %d messages", len(ms))
	}
	if _, err := f.s.MailboxByName(ctx, a2.ID, "Projects/X"); err == nil {
		t.Errorf("re-created account inherited mailbox Projects/X")
	}
	f.checkConsistent(a2.ID)
}

func testAppPasswords(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	a := f.account("a@example.org")
	b := f.account("b@example.org")
	p1, err := f.s.AddAppPassword(ctx, store.AppPassword{AccountID: a.ID, Name: "phone",
		Scope: []string{"imap", "smtp"}, SCRAM: testCredentials("p1").SCRAM})
	f.must(err, "AddAppPassword")
	p2, err := f.s.AddAppPassword(ctx, store.AppPassword{AccountID: a.ID, Name: "laptop", SCRAM: testCredentials("p2").SCRAM})
	f.must(err, "AddAppPassword")
	if p1.ID == 0 || p2.ID == 0 || p1.ID == p2.ID || p1.AccountID != a.ID {
		t.Fatalf("AddAppPassword returned %+v, %+v", p1, p2)
	}
	if !p1.LastUsed.IsZero() {
		t.Errorf("new app password has LastUsed %v", p1.LastUsed)
	}
	list, err := f.s.AppPasswords(ctx, a.ID)
	f.must(err, "AppPasswords")
	if len(list) != 2 {
		t.Fatalf("AppPasswords = %+v", list)
	}
	for _, p := range list {
		want := p1
		if p.ID == p2.ID {
			want = p2
		}
		if p.Name != want.Name || !slices.Equal(p.Scope, want.Scope) || !scramEqual(p.SCRAM, want.SCRAM) || p.AccountID != a.ID {
			t.Errorf("AppPasswords: %+v, want %+v", p, want)
		}
	}
	if l, err := f.s.AppPasswords(ctx, b.ID); err != nil || len(l) != 0 {
		t.Errorf("AppPasswords(other) = %+v, %v", l, err)
	}

	used := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	f.must(f.s.TouchAppPassword(ctx, p1.ID, used), "TouchAppPassword")
	list, _ = f.s.AppPasswords(ctx, a.ID)
	for _, p := range list {
		if p.ID == p1.ID && !p.LastUsed.Equal(used) {
			t.Errorf("LastUsed = %v, want %v", p.LastUsed, used)
		}
		if p.ID == p2.ID && !p.LastUsed.IsZero() {
			t.Errorf("TouchAppPassword touched another password: %v", p.LastUsed)
		}
	}
	wantErr(t, "TouchAppPassword missing", f.s.TouchAppPassword(ctx, 987654, used), store.ErrNotFound)

	// Only the owner can delete.
	wantErr(t, "DeleteAppPassword other account", f.s.DeleteAppPassword(ctx, b.ID, p1.ID), store.ErrNotFound)
	f.must(f.s.DeleteAppPassword(ctx, a.ID, p1.ID), "DeleteAppPassword")
	wantErr(t, "DeleteAppPassword again", f.s.DeleteAppPassword(ctx, a.ID, p1.ID), store.ErrNotFound)
	list, _ = f.s.AppPasswords(ctx, a.ID)
	if len(list) != 1 || list[0].ID != p2.ID {
		t.Errorf("AppPasswords after delete = %+v", list)
	}
}

func testAliases(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	a := f.account("a@example.org")
	d := a.Address.Domain
	remote := addr.MustParseAddress("someone@remote.example")
	f.must(f.s.AddAlias(ctx, store.Alias{Localpart: "Team", Domain: d,
		Targets: []addr.Address{a.Address, remote}}), "AddAlias multi-target")
	f.must(f.s.AddAlias(ctx, store.Alias{Localpart: "", Domain: d,
		Targets: []addr.Address{a.Address}}), "AddAlias catch-all")

	al, err := f.s.Alias(ctx, "team", d)
	f.must(err, "Alias (other case)")
	if len(al.Targets) != 2 || al.Targets[0].Key() != a.Address.Key() || al.Targets[1].Key() != remote.Key() {
		t.Errorf("Alias targets = %v", al.Targets)
	}
	if al.Domain != d {
		t.Errorf("Alias domain = %+v", al.Domain)
	}
	ca, err := f.s.Alias(ctx, "", d)
	f.must(err, "Alias catch-all")
	if ca.Localpart != "" || len(ca.Targets) != 1 {
		t.Errorf("catch-all = %+v", ca)
	}
	_, err = f.s.Alias(ctx, "nobody", d)
	wantErr(t, "Alias missing", err, store.ErrNotFound)

	// Conflicts both ways, and duplicates.
	wantErr(t, "AddAlias duplicate", f.s.AddAlias(ctx, store.Alias{Localpart: "TEAM", Domain: d,
		Targets: []addr.Address{remote}}), store.ErrExists)
	wantErr(t, "AddAlias duplicate catch-all", f.s.AddAlias(ctx, store.Alias{Domain: d,
		Targets: []addr.Address{remote}}), store.ErrExists)
	wantErr(t, "AddAlias over an account", f.s.AddAlias(ctx, store.Alias{Localpart: "A", Domain: d,
		Targets: []addr.Address{remote}}), store.ErrExists)
	_, err = f.s.AddAccount(ctx, store.Account{Address: addr.MustParseAddress("team@example.org")}, store.Credentials{})
	wantErr(t, "AddAccount over an alias", err, store.ErrExists)

	list, err := f.s.Aliases(ctx, d)
	f.must(err, "Aliases")
	var lps []string
	for _, al := range list {
		lps = append(lps, strings.ToLower(string(al.Localpart)))
	}
	slices.Sort(lps)
	if !slices.Equal(lps, []string{"", "team"}) {
		t.Errorf("Aliases = %q", lps)
	}

	f.must(f.s.DeleteAlias(ctx, "TEAM", d), "DeleteAlias")
	_, err = f.s.Alias(ctx, "team", d)
	wantErr(t, "Alias after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteAlias again", f.s.DeleteAlias(ctx, "team", d), store.ErrNotFound)
	// The address is free for an account now.
	f.account("team@example.org")
	f.must(f.s.DeleteAlias(ctx, "", d), "DeleteAlias catch-all")
	if list, _ := f.s.Aliases(ctx, d); len(list) != 0 {
		t.Errorf("Aliases after deletes = %+v", list)
	}
}

func testDKIMKeys(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	d := f.addDomain("example.org")
	other := f.addDomain("other.example")
	k1 := store.DKIMKey{Domain: d, Selector: "2025a", Algorithm: "ed25519", PrivateKey: []byte("PEM1"), State: "active"}
	k2 := store.DKIMKey{Domain: d, Selector: "2025b", Algorithm: "rsa", PrivateKey: []byte("PEM2"), State: "pending"}
	f.must(f.s.AddDKIMKey(ctx, k1), "AddDKIMKey")
	f.must(f.s.AddDKIMKey(ctx, k2), "AddDKIMKey")
	f.must(f.s.AddDKIMKey(ctx, store.DKIMKey{Domain: other, Selector: "2025a", Algorithm: "ed25519", PrivateKey: []byte("PEM3"), State: "active"}), "AddDKIMKey same selector, other domain")
	wantErr(t, "AddDKIMKey duplicate", f.s.AddDKIMKey(ctx, k1), store.ErrExists)

	keys, err := f.s.DKIMKeys(ctx, d)
	f.must(err, "DKIMKeys")
	slices.SortFunc(keys, func(a, b store.DKIMKey) int { return strings.Compare(a.Selector, b.Selector) })
	if len(keys) != 2 {
		t.Fatalf("DKIMKeys = %+v", keys)
	}
	for i, want := range []store.DKIMKey{k1, k2} {
		k := keys[i]
		if k.Domain != want.Domain || k.Selector != want.Selector || k.Algorithm != want.Algorithm ||
			string(k.PrivateKey) != string(want.PrivateKey) || k.State != want.State {
			t.Errorf("DKIMKeys[%d] = %+v, want %+v", i, k, want)
		}
	}
	f.must(f.s.SetDKIMKeyState(ctx, d, "2025a", "retired"), "SetDKIMKeyState")
	keys, _ = f.s.DKIMKeys(ctx, d)
	for _, k := range keys {
		if want := map[string]string{"2025a": "retired", "2025b": "pending"}[k.Selector]; k.State != want {
			t.Errorf("key %s: State %q, want %q", k.Selector, k.State, want)
		}
	}
	if ko, _ := f.s.DKIMKeys(ctx, other); len(ko) != 1 || ko[0].State != "active" {
		t.Errorf("SetDKIMKeyState touched another domain: %+v", ko)
	}
	wantErr(t, "SetDKIMKeyState missing", f.s.SetDKIMKeyState(ctx, d, "nope", "active"), store.ErrNotFound)
}

// testAdminAccount checks the admin account: none at first, the oldest
// postmaster@ account while none is recorded, the recorded one after
// SetAdminAccount, kept across a reopen, and none recorded once that
// account is deleted.
func testAdminAccount(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	f.addDomain("example.org")
	f.addDomain("other.example")
	_, err := f.s.AdminAccount(ctx)
	wantErr(t, "AdminAccount of an empty store", err, store.ErrNotFound)
	alice := f.account("alice@example.org")
	_, err = f.s.AdminAccount(ctx)
	wantErr(t, "AdminAccount without postmaster", err, store.ErrNotFound)
	pm := f.account("Postmaster@other.example")
	f.account("postmaster@example.org")
	if a, err := f.s.AdminAccount(ctx); err != nil || a.ID != pm.ID {
		t.Errorf("AdminAccount without a record = %+v, %v; want the oldest postmaster@ (%d)", a, err, pm.ID)
	}
	f.must(f.s.SetAdminAccount(ctx, alice.ID), "SetAdminAccount")
	wantErr(t, "SetAdminAccount of a missing account", f.s.SetAdminAccount(ctx, 9999), store.ErrNotFound)
	f.cycle()
	if a, err := f.s.AdminAccount(ctx); err != nil || a.ID != alice.ID || a.Address.Key() != "alice@example.org" {
		t.Errorf("AdminAccount = %+v, %v; want alice", a, err)
	}
	f.must(f.s.DeleteAccount(ctx, alice.ID), "DeleteAccount")
	if a, err := f.s.AdminAccount(ctx); err != nil || a.ID != pm.ID {
		t.Errorf("AdminAccount after deleting the recorded one = %+v, %v; want postmaster@other.example", a, err)
	}
}
