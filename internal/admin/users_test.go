package admin

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/posthorn/posthorn/internal/accounts"
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
