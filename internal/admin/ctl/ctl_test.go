package ctl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/admin"
	"github.com/posthorn/posthorn/internal/store"
)

func TestMethodTableCoversAPI(t *testing.T) {
	api := reflect.TypeOf((*admin.API)(nil)).Elem()
	for i := 0; i < api.NumMethod(); i++ {
		if _, ok := methods[api.Method(i).Name]; !ok {
			t.Errorf("admin.API.%s has no control socket handler", api.Method(i).Name)
		}
	}
	if len(methods) != api.NumMethod() {
		t.Errorf("%d handlers for %d API methods", len(methods), api.NumMethod())
	}
}

func startServer(t *testing.T) (*Client, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sock := filepath.Join(dir, "ctl.sock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{API: &admin.Admin{Store: st, Hostname: addr.MustParseDomain("mail.example.com")}}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	c, err := Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	return c, sock
}

func TestSocketMode(t *testing.T) {
	_, sock := startServer(t)
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestRoundTrip drives every admin operation through the socket.
func TestRoundTrip(t *testing.T) {
	c, _ := startServer(t)
	ctx := context.Background()
	d, err := c.AddDomain(ctx, admin.DomainRequest{Domain: "example.com"})
	if err != nil || d.Domain != "example.com" || len(d.DKIMSelectors) != 2 {
		t.Fatalf("AddDomain = %+v, %v", d, err)
	}
	_, err = c.AddDomain(ctx, admin.DomainRequest{Domain: "example.com"})
	var ue *admin.UserError
	if !errors.As(err, &ue) || !strings.Contains(ue.Msg, "already exists") {
		t.Fatalf("duplicate AddDomain over the socket: %v", err)
	}
	u, err := c.AddUser(ctx, admin.UserRequest{Address: "alice@example.com"})
	if err != nil || u.Password == "" {
		t.Fatalf("AddUser = %+v, %v", u, err)
	}
	if _, err := c.SetPassword(ctx, admin.UserRequest{Address: "alice@example.com", Password: "given-Pw-for-alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddAlias(ctx, admin.AliasRequest{Address: "@example.com", Targets: []string{"alice@example.com"}}); err != nil {
		t.Fatal(err)
	}
	us, err := c.ListUsers(ctx, admin.DomainRequest{Domain: "example.com"})
	if err != nil || len(us) != 1 {
		t.Fatalf("ListUsers = %+v, %v", us, err)
	}
	as, err := c.ListAliases(ctx, admin.DomainRequest{})
	if err != nil || len(as) != 3 || as[0].Address != "@example.com" || !as[1].Implicit || as[1].Address != "postmaster@example.com" {
		t.Fatalf("ListAliases = %+v, %v", as, err)
	}
	if u, err := c.SetQuota(ctx, admin.QuotaRequest{Address: "alice@example.com", Size: "500M"}); err != nil || u.QuotaBytes != 500<<20 || !u.Admin {
		t.Fatalf("SetQuota = %+v, %v", u, err)
	}
	if u, err := c.SetAdminUser(ctx, admin.UserRequest{Address: "alice@example.com"}); err != nil || !u.Admin {
		t.Fatalf("SetAdminUser = %+v, %v", u, err)
	}
	p, err := c.AddAppPassword(ctx, admin.AppPasswordRequest{Address: "alice@example.com", Name: "phone", Scope: "smtp"})
	if err != nil || p.Password == "" || p.Scope != "smtp" {
		t.Fatalf("AddAppPassword = %+v, %v", p, err)
	}
	if ps, err := c.ListAppPasswords(ctx, admin.UserRequest{Address: "alice@example.com"}); err != nil || len(ps) != 1 || ps[0].Password != "" {
		t.Fatalf("ListAppPasswords = %+v, %v", ps, err)
	}
	if _, err := c.DeleteAppPassword(ctx, admin.AppPasswordRequest{Address: "alice@example.com", Name: "phone"}); err != nil {
		t.Fatal(err)
	}
	recs, err := c.DomainRecords(ctx, admin.DomainRequest{Domain: "example.com"})
	if err != nil || len(recs) < 10 {
		t.Fatalf("DomainRecords = %d records, %v", len(recs), err)
	}
	ds, err := c.ListDomains(ctx, admin.Empty{})
	if err != nil || len(ds) != 1 || ds[0].Accounts != 1 {
		t.Fatalf("ListDomains = %+v, %v", ds, err)
	}
	for _, f := range []func() error{
		func() error { _, err := c.DeleteAlias(ctx, admin.AliasRequest{Address: "@example.com"}); return err },
		func() error {
			rep, err := c.DeleteUser(ctx, admin.UserRequest{Address: "alice@example.com"})
			if err == nil && (!rep.Deleted || rep.Mailboxes != 6) {
				err = fmt.Errorf("DeleteUser = %+v", rep)
			}
			return err
		},
		func() error { _, err := c.DeleteDomain(ctx, admin.DomainRequest{Domain: "example.com"}); return err },
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
}

func rawCall(t *testing.T, sock, payload string) string {
	t.Helper()
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	go conn.Write([]byte(payload))
	buf := make([]byte, 4096)
	n, _ := conn.Read(buf)
	return string(buf[:n])
}

func TestBadRequests(t *testing.T) {
	_, sock := startServer(t)
	tests := []struct{ payload, want string }{
		{"{\"method\":\"Nope\"}\n", "unknown method"},
		{"not json\n", "bad request"},
		{"{\"method\":\"AddUser\",\"params\":{\"address\":5}}\n", "bad parameters"},
		{"{\"method\":\"AddUser\",\"params\":{\"address\":\"" + strings.Repeat("a", MaxRequestSize) + "\"}}\n", "too large"},
	}
	for _, tc := range tests {
		got := rawCall(t, sock, tc.payload)
		if !strings.Contains(got, tc.want) || !strings.Contains(got, `"user_error":true`) {
			t.Errorf("payload %.40q: answer %q, want %q", tc.payload, got, tc.want)
		}
	}
}

func TestShutdownBeforeServe(t *testing.T) {
	l, err := Listen(filepath.Join(t.TempDir(), "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(l); err != nil {
		t.Fatalf("Serve after Shutdown = %v, want nil", err)
	}
	if _, err := net.Dial("unix", l.Addr().String()); err == nil {
		t.Fatal("listener still accepts after Serve returned")
	}
}
