package admin

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/posthorn/posthorn/internal/accounts"
	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

// TestWeakPasswordsRefused checks every admin path that sets a password
// given by a person: weak ones are refused with the reason, as a user
// error; generated ones and strong given ones pass.
func TestWeakPasswordsRefused(t *testing.T) {
	ctx := context.Background()
	a := newAdmin(t)
	if _, err := a.AddDomain(ctx, DomainRequest{Domain: "example.com"}); err != nil {
		t.Fatal(err)
	}
	weak := map[string]string{
		"secret":             "at least 12",
		"password1234":       "common",
		"Passw0rd2024!":      "common",
		"aaaaaaaaaaaaaaaa":   "predictable",
		"123456789012":       "predictable",
		"qwertyuiopasdf":     "refused",
		"zxcvbnm,.-4321":     "predictable",
		"bob@example.com":    "address",
		"secretsecretsecret": "common",
	}
	for pw, why := range weak {
		_, err := a.AddUser(ctx, UserRequest{Address: "bob@example.com", Password: pw})
		if !isUserError(err) || !errors.Is(err, accounts.ErrWeakPassword) || !strings.Contains(err.Error(), why) {
			t.Errorf("AddUser with %q: %v; want a user error saying %q", pw, err, why)
		}
	}
	if _, err := a.ListUsers(ctx, DomainRequest{}); err != nil {
		t.Fatal(err)
	}
	u, err := a.AddUser(ctx, UserRequest{Address: "bob@example.com", Password: "mellow-Harbor-71-tulip"})
	if err != nil {
		t.Fatalf("strong password refused: %v", err)
	}
	for pw, why := range weak {
		_, err := a.SetPassword(ctx, UserRequest{Address: u.Address, Password: pw})
		if !isUserError(err) || !strings.Contains(err.Error(), why) {
			t.Errorf("SetPassword with %q: %v; want a user error saying %q", pw, err, why)
		}
	}
	g, err := a.SetPassword(ctx, UserRequest{Address: u.Address})
	if err != nil || g.Password == "" {
		t.Fatalf("generated password: %+v, %v", g, err)
	}
	dev := &Admin{Store: a.Store, Hostname: a.Hostname, AcceptWeakPasswords: true}
	if _, err := dev.SetPassword(ctx, UserRequest{Address: u.Address, Password: "posthorn"}); err != nil {
		t.Fatalf("AcceptWeakPasswords (localserve): %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "none": 0, "NONE": 0, "1024": 1024, "500M": 500 << 20, "2G": 2 << 30, "2g": 2 << 30,
		"1.5GiB": 3 << 29, "10KB": 10 << 10, "1T": 1 << 40, " 3 M ": 3 << 20,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "2X", "G", "1e400", "NaN", "lots"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
	for n, want := range map[int64]string{37: "37B", 2 << 30: "2G", 500 << 20: "500M", 1536: "1.5K"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestQuotaAndAdminAccount(t *testing.T) {
	ctx := context.Background()
	a := newAdmin(t)
	for _, d := range []string{"example.com", "example.org"} {
		if _, err := a.AddDomain(ctx, DomainRequest{Domain: d}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := a.AddUser(ctx, UserRequest{Address: "boss@example.com"})
	if err != nil || !first.Admin {
		t.Fatalf("first account = %+v, %v; want it to be the admin account", first, err)
	}
	u, err := a.AddUser(ctx, UserRequest{Address: "bob@example.com"})
	if err != nil || u.Admin {
		t.Fatalf("second account = %+v, %v", u, err)
	}
	if u, err = a.SetQuota(ctx, QuotaRequest{Address: "bob@example.com", Size: "2G"}); err != nil || u.QuotaBytes != 2<<30 {
		t.Fatalf("SetQuota = %+v, %v", u, err)
	}
	if _, err := a.SetQuota(ctx, QuotaRequest{Address: "bob@example.com", Size: "lots"}); !isUserError(err) {
		t.Errorf("bad size: %v", err)
	}
	us, _ := a.ListUsers(ctx, DomainRequest{})
	for _, u := range us {
		if (u.Address == "bob@example.com") != (u.QuotaBytes == 2<<30) || (u.Address == "boss@example.com") != u.Admin {
			t.Errorf("ListUsers: %+v", u)
		}
	}
	als, err := a.ListAliases(ctx, DomainRequest{})
	if err != nil {
		t.Fatal(err)
	}
	implicit := map[string]string{}
	for _, al := range als {
		if al.Implicit {
			implicit[al.Address] = strings.Join(al.Targets, ",")
		}
	}
	if len(implicit) != 4 || implicit["postmaster@example.org"] != "boss@example.com" || implicit["abuse@example.com"] != "boss@example.com" {
		t.Errorf("implicit aliases = %v", implicit)
	}
	if als, err := a.ListAliases(ctx, DomainRequest{Domain: "elsewhere.example"}); err != nil || len(als) != 0 {
		t.Errorf("ListAliases of a domain that is not local = %+v, %v", als, err)
	}
	if _, err := a.AddAlias(ctx, AliasRequest{Address: "abuse@example.org", Targets: []string{"bob@example.com"}}); err != nil {
		t.Fatal(err)
	}
	als, _ = a.ListAliases(ctx, DomainRequest{Domain: "example.org"})
	if len(als) != 2 || als[0].Address != "abuse@example.org" || als[0].Implicit || !als[1].Implicit {
		t.Errorf("after overriding abuse@example.org: %+v", als)
	}
	if _, err := a.DeleteUser(ctx, UserRequest{Address: "boss@example.com"}); !isUserError(err) || !strings.Contains(err.Error(), "user admin") {
		t.Errorf("deleting the admin account: %v", err)
	}
	if u, err := a.SetAdminUser(ctx, UserRequest{Address: "bob@example.com"}); err != nil || !u.Admin {
		t.Fatalf("SetAdminUser = %+v, %v", u, err)
	}
	res, err := (&accounts.Service{Store: a.Store}).Resolve(ctx, addrOf("Postmaster@example.org"))
	if err != nil || len(res.Accounts) != 1 || res.Accounts[0].Address.Key() != "bob@example.com" {
		t.Errorf("postmaster@ after SetAdminUser: %+v, %v", res, err)
	}
	rep, err := a.DeleteUser(ctx, UserRequest{Address: "boss@example.com"})
	if err != nil || !rep.Deleted {
		t.Fatalf("DeleteUser of the former admin = %+v, %v", rep, err)
	}
}

func TestAppPasswordsAndDeleteReport(t *testing.T) {
	ctx := context.Background()
	a := newAdmin(t)
	auth := &accounts.Service{Store: a.Store}
	if _, err := a.AddDomain(ctx, DomainRequest{Domain: "example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddUser(ctx, UserRequest{Address: "boss@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddUser(ctx, UserRequest{Address: "bob@example.com"}); err != nil {
		t.Fatal(err)
	}
	p, err := a.AddAppPassword(ctx, AppPasswordRequest{Address: "bob@example.com", Name: "phone", Scope: "imap"})
	if err != nil || p.Password == "" || p.Scope != "imap" || p.Name != "phone" {
		t.Fatalf("AddAppPassword = %+v, %v", p, err)
	}
	if _, err := auth.Authenticate(ctx, "bob@example.com", p.Password, "imap"); err != nil {
		t.Errorf("app password in scope: %v", err)
	}
	if _, err := auth.Authenticate(ctx, "bob@example.com", p.Password, "smtp"); err == nil {
		t.Errorf("imap app password logs in to smtp")
	}
	if _, err := a.AddAppPassword(ctx, AppPasswordRequest{Address: "bob@example.com", Name: "phone"}); !isUserError(err) {
		t.Errorf("duplicate name: %v", err)
	}
	if _, err := a.AddAppPassword(ctx, AppPasswordRequest{Address: "bob@example.com", Scope: "pop3"}); !isUserError(err) {
		t.Errorf("bad scope: %v", err)
	}
	all, err := a.AddAppPassword(ctx, AppPasswordRequest{Address: "bob@example.com"})
	if err != nil || all.Scope != "all" || all.Name == "" {
		t.Fatalf("AddAppPassword default = %+v, %v", all, err)
	}
	list, err := a.ListAppPasswords(ctx, UserRequest{Address: "bob@example.com"})
	if err != nil || len(list) != 2 || list[0].Password != "" || list[1].Password != "" || list[0].LastUsed.IsZero() {
		t.Fatalf("ListAppPasswords = %+v, %v (secrets must not be listed; phone was used)", list, err)
	}
	if _, err := a.DeleteAppPassword(ctx, AppPasswordRequest{Address: "bob@example.com", Name: "phone"}); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.Authenticate(ctx, "bob@example.com", p.Password, "imap"); err == nil {
		t.Errorf("deleted app password still logs in")
	}
	if _, err := a.DeleteAppPassword(ctx, AppPasswordRequest{Address: "bob@example.com", Name: "phone"}); !isUserError(err) {
		t.Errorf("deleting a missing app password: %v", err)
	}

	if _, err := a.AddAlias(ctx, AliasRequest{Address: "team@example.com", Targets: []string{"bob@example.com", "x@remote.example"}}); err != nil {
		t.Fatal(err)
	}
	acc, _ := a.Store.Account(ctx, addrOf("bob@example.com"))
	for range 3 {
		if _, err := a.Store.Deliver(ctx, store.Delivery{Body: strings.NewReader("Subject: x\r\n\r\nhello\r\n"), Targets: []store.Target{{AccountID: acc.ID}}}); err != nil {
			t.Fatal(err)
		}
	}
	dry, err := a.DeleteUser(ctx, UserRequest{Address: "bob@example.com", DryRun: true})
	if err != nil || dry.Deleted || dry.Messages != 3 || dry.Mailboxes != 6 || dry.Bytes == 0 || dry.AppPasswords != 1 ||
		len(dry.AliasesTargeting) != 1 || dry.AliasesTargeting[0] != "team@example.com" {
		t.Fatalf("DeleteUser dry run = %+v, %v", dry, err)
	}
	if _, err := a.Store.Account(ctx, addrOf("bob@example.com")); err != nil {
		t.Fatalf("dry run deleted: %v", err)
	}
	rep, err := a.DeleteUser(ctx, UserRequest{Address: "bob@example.com"})
	dry.Deleted = true
	if err != nil || rep.Messages != dry.Messages || rep.Bytes != dry.Bytes || !rep.Deleted {
		t.Fatalf("DeleteUser = %+v, %v; want %+v", rep, err, dry)
	}
}

func addrOf(s string) addr.Address { return addr.MustParseAddress(s) }
