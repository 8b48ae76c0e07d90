package sasl_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"

	gosasl "github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	"github.com/xdg-go/scram"

	"github.com/posthorn/posthorn/internal/sasl"
)

// Server has go-sasl's method set, so go-smtp's AuthSession can return it.
var _ gosasl.Server = sasl.Server(nil)

// keyAuth knows one user, "alice", with password "pw".
type keyAuth struct{ keys sasl.SCRAMCredentials }

func (a keyAuth) CheckPassword(ctx context.Context, u, p string) (string, error) {
	return "", sasl.ErrAuthFailed
}

func (a keyAuth) SCRAMCredentials(ctx context.Context, u string) (string, sasl.SCRAMCredentials, error) {
	if u != "alice" {
		return "", sasl.SCRAMCredentials{}, sasl.ErrUnknownUser
	}
	return "alice@example.org", a.keys, nil
}

// smtpSession is the smallest go-smtp session offering SCRAM.
type smtpSession struct {
	auth     sasl.Authenticator
	identity chan string
}

func (s *smtpSession) AuthMechanisms() []string { return sasl.Mechanisms(false, false) }

func (s *smtpSession) Auth(mech string) (gosasl.Server, error) {
	return sasl.NewServer(context.Background(), mech, sasl.Options{
		Authenticator: s.auth,
		FakeSecret:    []byte("secret"),
		OnSuccess:     func(id string) { s.identity <- id },
	})
}

func (s *smtpSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *smtpSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (s *smtpSession) Data(io.Reader) error                   { return nil }
func (s *smtpSession) Reset()                                 {}
func (s *smtpSession) Logout() error                          { return nil }

// TestGoSMTPTranscript runs SCRAM-SHA-256 through go-smtp's real AUTH
// handling: the server-final-message arrives as a 334 challenge, the
// client's empty line completes the exchange with 235.
func TestGoSMTPTranscript(t *testing.T) {
	c, err := scram.SHA256.NewClient("alice", "pw", "")
	if err != nil {
		t.Fatal(err)
	}
	kf := scram.KeyFactors{Salt: "0123456789abcdef", Iters: 4096}
	sc, err := c.GetStoredCredentialsWithError(kf)
	if err != nil {
		t.Fatal(err)
	}
	auth := keyAuth{sasl.SCRAMCredentials{Salt: []byte(kf.Salt), Iterations: kf.Iters, StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}}

	for _, tc := range []struct {
		user, password string
		wantCode       int
	}{
		{"alice", "pw", 235},
		{"alice", "wrong", 454}, // the smtpserver adapter turns this into 535
		{"carol", "pw", 454},
	} {
		t.Run(tc.user+"/"+tc.password, func(t *testing.T) {
			identity := make(chan string, 2)
			srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
				return &smtpSession{auth: auth, identity: identity}, nil
			}))
			srv.Domain = "mail.example.org"
			srv.AllowInsecureAuth = true
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go srv.Serve(l)
			defer srv.Close()

			code := smtpSCRAM(t, l.Addr().String(), tc.user, tc.password)
			if code != tc.wantCode {
				t.Fatalf("final reply %d, want %d", code, tc.wantCode)
			}
			close(identity)
			var ids []string
			for id := range identity {
				ids = append(ids, id)
			}
			if want := tc.wantCode == 235; want != (len(ids) == 1) || len(ids) > 1 {
				t.Fatalf("OnSuccess identities %q", ids)
			}
		})
	}
}

// smtpSCRAM authenticates with SCRAM-SHA-256 over SMTP and returns the
// final reply code; it fails the test if a successful server's signature
// does not verify.
func smtpSCRAM(t *testing.T, addr, user, password string) int {
	t.Helper()
	tc, err := textproto.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if _, _, err := tc.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	if err := tc.PrintfLine("EHLO client.example.org"); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := tc.ReadResponse(250); err != nil || !strings.Contains(msg, "AUTH SCRAM-SHA-256") {
		t.Fatalf("EHLO: %q %v", msg, err)
	}
	c, _ := scram.SHA256.NewClient(user, password, "")
	conv := c.NewConversation()
	c1, _ := conv.Step("")
	tc.PrintfLine("AUTH SCRAM-SHA-256 %s", base64.StdEncoding.EncodeToString([]byte(c1)))
	for {
		code, msg, err := tc.ReadResponse(0)
		var perr *textproto.Error
		if err != nil && !errors.As(err, &perr) {
			t.Fatal(err)
		}
		if code != 334 {
			if code == 235 && !conv.Valid() {
				t.Fatal("235 before the client verified the server signature")
			}
			return code
		}
		ch, err := base64.StdEncoding.DecodeString(msg)
		if err != nil {
			t.Fatalf("334 %q: %v", msg, err)
		}
		resp, err := conv.Step(string(ch))
		if err != nil {
			t.Fatalf("client rejects %q: %v", ch, err)
		}
		tc.PrintfLine("%s", base64.StdEncoding.EncodeToString([]byte(resp)))
	}
}
