package accounts

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

// fixture builds a store with domain example.com (separator "+"),
// accounts alice and bob, and aliases.
func fixture(t *testing.T) (*Service, map[string]store.Account) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, d := range []string{"example.com", "other.example", "nosub.example"} {
		sep := "+"
		if d == "nosub.example" {
			sep = ""
		}
		if err := st.AddDomain(ctx, store.Domain{Name: addr.MustParseDomain(d), SubaddressSep: sep}); err != nil {
			t.Fatal(err)
		}
	}
	accs := map[string]store.Account{}
	for _, a := range []string{"alice@example.com", "bob@example.com", "carol@other.example", "dan@nosub.example"} {
		cred, err := NewCredentials("pw-" + a)
		if err != nil {
			t.Fatal(err)
		}
		acc, err := st.AddAccount(ctx, store.Account{Address: addr.MustParseAddress(a)}, cred)
		if err != nil {
			t.Fatal(err)
		}
		accs[a] = acc
	}
	alias := func(lp, dom string, targets ...string) {
		al := store.Alias{Localpart: addr.Localpart(lp), Domain: addr.MustParseDomain(dom)}
		for _, t := range targets {
			al.Targets = append(al.Targets, addr.MustParseAddress(t))
		}
		if err := st.AddAlias(ctx, al); err != nil {
			t.Fatal(err)
		}
	}
	alias("team", "example.com", "alice@example.com", "bob@example.com", "ext@remote.example")
	alias("all", "example.com", "team@example.com", "carol@other.example", "alice@example.com")
	alias("loop1", "example.com", "loop2@example.com")
	alias("loop2", "example.com", "loop1@example.com", "bob@example.com")
	alias("", "other.example", "carol@other.example") // catch-all
	return &Service{Store: st}, accs
}

func TestResolve(t *testing.T) {
	s, accs := fixture(t)
	ids := func(names ...string) []int64 {
		var out []int64
		for _, n := range names {
			out = append(out, accs[n].ID)
		}
		return out
	}
	tests := []struct {
		rcpt     string
		accounts []int64
		remote   int
		detail   string
		err      error
	}{
		{"alice@example.com", ids("alice@example.com"), 0, "", nil},
		{"ALICE@Example.COM", ids("alice@example.com"), 0, "", nil},
		{"alice+news@example.com", ids("alice@example.com"), 0, "news", nil},
		{"team@example.com", ids("alice@example.com", "bob@example.com"), 1, "", nil},
		{"team+x@example.com", ids("alice@example.com", "bob@example.com"), 1, "x", nil},
		{"all@example.com", ids("alice@example.com", "bob@example.com", "carol@other.example"), 1, "", nil},
		{"loop1@example.com", ids("bob@example.com"), 0, "", nil},
		{"anything@other.example", ids("carol@other.example"), 0, "", nil},
		{"carol+tag@other.example", ids("carol@other.example"), 0, "tag", nil},
		{"dan@nosub.example", ids("dan@nosub.example"), 0, "", nil},
		{"dan+tag@nosub.example", nil, 0, "", ErrUnknownRecipient},
		{"nobody@example.com", nil, 0, "", ErrUnknownRecipient},
		{"+alice@example.com", nil, 0, "", ErrUnknownRecipient},
		{"alice@remote.example", nil, 0, "", ErrNotLocal},
	}
	for _, tc := range tests {
		res, err := s.Resolve(context.Background(), addr.MustParseAddress(tc.rcpt))
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("Resolve(%s) error %v, want %v", tc.rcpt, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Resolve(%s): %v", tc.rcpt, err)
			continue
		}
		var got []int64
		for _, a := range res.Accounts {
			got = append(got, a.ID)
		}
		if !equalSet(got, tc.accounts) || len(res.Remote) != tc.remote || res.Detail != tc.detail {
			t.Errorf("Resolve(%s) = accounts %v remote %v detail %q; want %v, %d remote, %q",
				tc.rcpt, got, res.Remote, res.Detail, tc.accounts, tc.remote, tc.detail)
		}
	}
}

func equalSet(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[int64]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}

func TestResolveDeepAliasChain(t *testing.T) {
	s, _ := fixture(t)
	ctx := context.Background()
	d := addr.MustParseDomain("example.com")
	// chain0 -> chain1 -> … -> chain10 -> alice: deeper than MaxAliasDepth.
	for i := 0; i <= 10; i++ {
		target := "alice@example.com"
		if i < 10 {
			target = "chain" + string(rune('a'+i+1)) + "@example.com"
		}
		al := store.Alias{Localpart: addr.Localpart("chain" + string(rune('a'+i))), Domain: d, Targets: []addr.Address{addr.MustParseAddress(target)}}
		if err := s.Store.AddAlias(ctx, al); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Resolve(ctx, addr.MustParseAddress("chaina@example.com")); !errors.Is(err, ErrAliasLoop) {
		t.Fatalf("deep chain: %v", err)
	}
	if _, err := s.Resolve(ctx, addr.MustParseAddress("chainf@example.com")); err != nil {
		t.Fatalf("short chain: %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	s, accs := fixture(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	alice := accs["alice@example.com"]
	keys, err := NewSCRAMKeys("app-secret")
	if err != nil {
		t.Fatal(err)
	}
	app, err := s.Store.AddAppPassword(ctx, store.AppPassword{AccountID: alice.ID, Name: "phone", Scope: []string{"imap"}, SCRAM: keys})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, pw, proto string
		ok              bool
	}{
		{"alice@example.com", "pw-alice@example.com", "imap", true},
		{"Alice@EXAMPLE.com", "pw-alice@example.com", "smtp", true},
		{"alice@example.com", "wrong", "imap", false},
		{"alice@example.com", "pw-bob@example.com", "imap", false},
		{"alice@example.com", "app-secret", "imap", true},
		{"alice@example.com", "app-secret", "smtp", false}, // out of scope
		{"bob@example.com", "app-secret", "imap", false},
		{"nobody@example.com", "x", "imap", false},
		{"not an address", "x", "imap", false},
	}
	for _, tc := range tests {
		acc, err := s.Authenticate(ctx, tc.user, tc.pw, tc.proto)
		if tc.ok != (err == nil) {
			t.Errorf("Authenticate(%s, %s, %s) = %v", tc.user, tc.pw, tc.proto, err)
		}
		if err != nil && !errors.Is(err, ErrAuthFailed) {
			t.Errorf("Authenticate(%s) failed with %v, want ErrAuthFailed", tc.user, err)
		}
		if err == nil && acc.ID != alice.ID {
			t.Errorf("Authenticate(%s) returned account %d", tc.user, acc.ID)
		}
	}
	apps, err := s.Store.AppPasswords(ctx, alice.ID)
	if err != nil || len(apps) != 1 || apps[0].ID != app.ID || !apps[0].LastUsed.Equal(now) {
		t.Fatalf("app password last-used not recorded: %+v, %v", apps, err)
	}
}
