package admin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/accounts"
	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

func newAdmin(t *testing.T) *Admin {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &Admin{Store: st, Hostname: addr.MustParseDomain("mail.example.com")}
}

func isUserError(err error) bool {
	var ue *UserError
	return errors.As(err, &ue)
}

func TestDomainLifecycle(t *testing.T) {
	ctx := context.Background()
	a := newAdmin(t)
	info, err := a.AddDomain(ctx, DomainRequest{Domain: "Example.COM"})
	if err != nil {
		t.Fatal(err)
	}
	if info.Domain != "example.com" || len(info.DKIMSelectors) != 2 {
		t.Fatalf("AddDomain = %+v", info)
	}
	if _, err := a.AddDomain(ctx, DomainRequest{Domain: "example.com"}); !isUserError(err) || !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate domain: %v", err)
	}
	if _, err := a.AddDomain(ctx, DomainRequest{Domain: "bad domain"}); !isUserError(err) {
		t.Fatalf("bad domain: %v", err)
	}
	if _, err := a.AddUser(ctx, UserRequest{Address: "alice@example.com", Password: "alice-Secret-pw-2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteDomain(ctx, DomainRequest{Domain: "example.com"}); !isUserError(err) {
		t.Fatalf("deleting a domain with accounts: %v", err)
	}
	ds, err := a.ListDomains(ctx, Empty{})
	if err != nil || len(ds) != 1 || ds[0].Accounts != 1 {
		t.Fatalf("ListDomains = %+v, %v", ds, err)
	}
	if _, err := a.DeleteUser(ctx, UserRequest{Address: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteDomain(ctx, DomainRequest{Domain: "example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteDomain(ctx, DomainRequest{Domain: "example.com"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a missing domain: %v", err)
	}
}

func TestUsers(t *testing.T) {
	ctx := context.Background()
	a := newAdmin(t)
	auth := &accounts.Service{Store: a.Store}
	if _, err := a.AddUser(ctx, UserRequest{Address: "bob@nowhere.example"}); !isUserError(err) {
		t.Fatalf("user in unknown domain: %v", err)
	}
	if _, err := a.AddDomain(ctx, DomainRequest{Domain: "example.com"}); err != nil {
		t.Fatal(err)
	}
	u, err := a.AddUser(ctx, UserRequest{Address: "bob@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if u.Password == "" {
		t.Fatal("no generated password returned")
	}
	if _, err := auth.Authenticate(ctx, "bob@example.com", u.Password, "imap"); err != nil {
		t.Fatalf("generated password does not authenticate: %v", err)
	}
	if _, err := a.AddUser(ctx, UserRequest{Address: "BOB@example.com"}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate (case-insensitive) user: %v", err)
	}
	u2, err := a.SetPassword(ctx, UserRequest{Address: "bob@example.com", Password: "new secret for bob"})
	if err != nil || u2.Password != "" {
		t.Fatalf("SetPassword = %+v, %v (a given password must not be echoed)", u2, err)
	}
	if _, err := auth.Authenticate(ctx, "bob@example.com", u.Password, "imap"); err == nil {
		t.Fatal("old password still works")
	}
	if _, err := auth.Authenticate(ctx, "Bob@Example.com", "new secret for bob", "smtp"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	us, err := a.ListUsers(ctx, DomainRequest{})
	if err != nil || len(us) != 1 || us[0].Address != "bob@example.com" {
		t.Fatalf("ListUsers = %+v, %v", us, err)
	}
	if _, err := a.SetPassword(ctx, UserRequest{Address: "nobody@example.com"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SetPassword of missing user: %v", err)
	}
}

func TestAliases(t *testing.T) {
	ctx := context.Background()
	a := newAdmin(t)
	if _, err := a.AddDomain(ctx, DomainRequest{Domain: "example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddUser(ctx, UserRequest{Address: "alice@example.com", Password: "alice-Secret-pw-2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddAlias(ctx, AliasRequest{Address: "team@example.com", Targets: []string{"alice@example.com", "friend@remote.example"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddAlias(ctx, AliasRequest{Address: "@example.com", Targets: []string{"alice@example.com"}}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []AliasRequest{
		{Address: "alice@example.com", Targets: []string{"x@y.example"}}, // an account
		{Address: "team@example.com", Targets: []string{"x@y.example"}},  // exists
		{Address: "x@example.com"},                                       // no targets
		{Address: "x@example.com", Targets: []string{"x@example.com"}},   // itself
		{Address: "x@other.example", Targets: []string{"alice@example.com"}},
		{Address: "x@example.com", Targets: []string{"not an address"}},
	} {
		if _, err := a.AddAlias(ctx, bad); !isUserError(err) {
			t.Errorf("AddAlias(%+v) = %v, want a user error", bad, err)
		}
	}
	als, err := a.ListAliases(ctx, DomainRequest{})
	// Two added, and the implicit postmaster@ and abuse@ (alice is the
	// admin account).
	if err != nil || len(als) != 4 || als[0].Implicit || als[1].Implicit || !als[2].Implicit || !als[3].Implicit {
		t.Fatalf("ListAliases = %+v, %v", als, err)
	}
	res, err := (&accounts.Service{Store: a.Store}).Resolve(ctx, addr.MustParseAddress("team@example.com"))
	if err != nil || len(res.Accounts) != 1 || len(res.Remote) != 1 {
		t.Fatalf("Resolve(team) = %+v, %v", res, err)
	}
	if _, err := a.DeleteAlias(ctx, AliasRequest{Address: "@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteAlias(ctx, AliasRequest{Address: "@example.com"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestDomainRecords(t *testing.T) {
	ctx := context.Background()
	a := newAdmin(t)
	if _, err := a.AddDomain(ctx, DomainRequest{Domain: "example.com"}); err != nil {
		t.Fatal(err)
	}
	recs, err := a.DomainRecords(ctx, DomainRequest{Domain: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var zone strings.Builder
	for _, r := range recs {
		zone.WriteString(r.String() + "\n")
	}
	z := zone.String()
	for _, want := range []string{
		"example.com.  ", "IN MX    10 mail.example.com.",
		`IN TXT   "v=spf1 mx ~all"`,
		"._domainkey.example.com.", "k=ed25519; p=", "k=rsa; p=",
		`_dmarc.example.com.`, `"v=DMARC1; p=reject; rua=mailto:postmaster@example.com"`,
		`_mta-sts.example.com.`, `"v=STSv1; id=`, "mta-sts.example.com.", "IN CNAME mail.example.com.",
		`_smtp._tls.example.com.`, `"v=TLSRPTv1; rua=mailto:postmaster@example.com"`,
		"_submissions._tcp.example.com.", "IN SRV   0 1 465 mail.example.com.",
		"_imaps._tcp.example.com.", "IN SRV   0 1 993 mail.example.com.",
		"_submission._tcp.example.com.", "_imap._tcp.example.com.", "_pop3._tcp.example.com.",
		"autoconfig.example.com.", `IN CAA   0 issue "letsencrypt.org"`,
	} {
		if !strings.Contains(z, want) {
			t.Errorf("records lack %q:\n%s", want, z)
		}
	}
	// A 2048-bit RSA key does not fit one TXT string: it must be split.
	for _, r := range recs {
		if strings.Contains(r.Value, "k=rsa") && !strings.HasPrefix(r.Value, `( "`) {
			t.Errorf("RSA DKIM record not split into strings: %s", r.Value)
		}
		for _, part := range strings.Split(r.Value, `" "`) {
			if len(part) > 258 {
				t.Errorf("TXT string longer than 255 octets in %s", r.Name)
			}
		}
	}
	if _, err := a.DomainRecords(ctx, DomainRequest{Domain: "unknown.example"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("records of unknown domain: %v", err)
	}
}

func TestMTASTSIDChangesWithPolicy(t *testing.T) {
	h := addr.MustParseDomain("mail.example.com")
	p1 := MTASTSPolicy("enforce", h, 0)
	p2 := MTASTSPolicy("testing", h, 0)
	if MTASTSID(p1) == MTASTSID(p2) {
		t.Fatal("id did not change with the policy")
	}
	if p3 := MTASTSPolicy("enforce", h, 30*24*time.Hour); MTASTSID(p3) == MTASTSID(p1) || !strings.Contains(p3, "max_age: 2592000\r\n") {
		t.Fatalf("max_age not in the policy or the id: %q", p3)
	}
	id := MTASTSID(p1)
	if len(id) == 0 || len(id) > 32 {
		t.Fatalf("id %q not 1-32 characters", id)
	}
}
