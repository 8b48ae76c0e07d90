package sasl

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

// clientKind selects the gs2 channel-binding flag the client sends.
type clientKind int

const (
	flagN clientKind = iota // no channel binding support
	flagY                   // supports it, thinks the server does not
	flagP                   // uses tls-exporter binding
)

type scramCase struct {
	name      string
	mech      string
	serverCB  bool // server has a binding (PLUS advertised)
	flag      clientKind
	otherCB   bool   // client computes its binding on a different connection
	user      string // default alice
	password  string // default alicePassword
	authzID   string
	wantErr   error
	wantID    string
	wantChals int // challenges sent before success or failure
}

func TestSCRAM(t *testing.T) {
	srvCB, cliCB := tlsBindings(t, tls.VersionTLS13)
	_, otherCB := tlsBindings(t, tls.VersionTLS13)
	if len(srvCB) != 32 || !bytes.Equal(srvCB, cliCB) || bytes.Equal(srvCB, otherCB) {
		t.Fatalf("bindings: server %x client %x other %x", srvCB, cliCB, otherCB)
	}
	tests := []scramCase{
		{name: "no TLS", mech: SCRAMSHA256, flag: flagN, wantID: "alice@example.org", wantChals: 2},
		{name: "no TLS, client could bind", mech: SCRAMSHA256, flag: flagY, wantID: "alice@example.org", wantChals: 2},
		{name: "PLUS offered, client cannot bind", mech: SCRAMSHA256, serverCB: true, flag: flagN, wantID: "alice@example.org", wantChals: 2},
		{name: "PLUS", mech: SCRAMSHA256Plus, serverCB: true, flag: flagP, wantID: "alice@example.org", wantChals: 2},
		{name: "PLUS lower case", mech: "scram-sha-256-plus", serverCB: true, flag: flagP, wantID: "alice@example.org", wantChals: 2},
		{name: "escaped username", mech: SCRAMSHA256Plus, serverCB: true, flag: flagP, user: "bob,=x", password: "p,w=d", wantID: "bob@example.org", wantChals: 2},
		{name: "authzid = username", mech: SCRAMSHA256, flag: flagN, authzID: "alice", wantID: "alice@example.org", wantChals: 2},

		{name: "wrong password", mech: SCRAMSHA256, flag: flagN, password: "wrong", wantErr: ErrAuthFailed, wantChals: 1},
		{name: "wrong password PLUS", mech: SCRAMSHA256Plus, serverCB: true, flag: flagP, password: "wrong", wantErr: ErrAuthFailed, wantChals: 1},
		{name: "unknown user", mech: SCRAMSHA256, flag: flagN, user: "carol", wantErr: ErrUnknownUser, wantChals: 1},
		{name: "unknown user PLUS", mech: SCRAMSHA256Plus, serverCB: true, flag: flagP, user: "carol", wantErr: ErrUnknownUser, wantChals: 1},
		{name: "user without keys", mech: SCRAMSHA256, flag: flagN, user: "nokeys", password: "pw", wantErr: ErrAuthFailed, wantChals: 1},
		{name: "binding mismatch", mech: SCRAMSHA256Plus, serverCB: true, flag: flagP, otherCB: true, wantErr: ErrChannelBinding, wantChals: 1},
		{name: "downgrade y", mech: SCRAMSHA256, serverCB: true, flag: flagY, wantErr: ErrChannelBinding},
		{name: "PLUS with n", mech: SCRAMSHA256Plus, serverCB: true, flag: flagN, wantErr: ErrChannelBinding},
		{name: "PLUS with y", mech: SCRAMSHA256Plus, serverCB: true, flag: flagY, wantErr: ErrChannelBinding},
		{name: "p with non-PLUS", mech: SCRAMSHA256, serverCB: true, flag: flagP, wantErr: ErrChannelBinding},
		{name: "p without TLS", mech: SCRAMSHA256, flag: flagP, wantErr: ErrChannelBinding},
		{name: "authzid mismatch", mech: SCRAMSHA256, flag: flagN, authzID: "root", wantErr: ErrAuthzID},
		{name: "authzid mismatch PLUS", mech: SCRAMSHA256Plus, serverCB: true, flag: flagP, authzID: "root", wantErr: ErrAuthzID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cb []byte
			if tc.serverCB {
				cb = srvCB
			}
			clientCB := cliCB
			if tc.otherCB {
				clientCB = otherCB
			}
			runSCRAMCase(t, tc, cb, clientCB)
		})
	}
}

func runSCRAMCase(t *testing.T, tc scramCase, serverCB, clientCB []byte) {
	t.Helper()
	if tc.user == "" {
		tc.user = "alice"
	}
	if tc.password == "" {
		tc.password = alicePassword
	}
	var rec successRecorder
	srv, err := NewServer(context.Background(), tc.mech, rec.options(newFakeAuth(), serverCB))
	if err != nil {
		t.Fatal(err)
	}
	conv := newClientConv(t, tc.user, tc.password, tc.authzID, tc.flag, clientCB)
	ir, err := conv.Step("")
	if err != nil {
		t.Fatal(err)
	}
	n, err := drive(srv, []byte(ir), func(ch []byte) ([]byte, error) {
		r, err := conv.Step(string(ch))
		return []byte(r), err
	})
	checkOutcome(t, err, tc.wantErr, &rec, tc.wantID)
	if n != tc.wantChals {
		t.Errorf("%d challenges, want %d", n, tc.wantChals)
	}
	if tc.wantErr == nil && !conv.Valid() {
		t.Error("client did not validate the server signature")
	}
	if _, _, err := srv.Next([]byte{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("Next after the end: %v, want ErrMalformed", err)
	}
}

func newClientConv(t testing.TB, user, password, authzID string, flag clientKind, cb []byte) *scram.ClientConversation {
	t.Helper()
	c, err := scram.SHA256.NewClient(user, password, authzID)
	if err != nil {
		t.Fatal(err)
	}
	switch flag {
	case flagY:
		return c.NewConversationAdvertisingChannelBinding()
	case flagP:
		return c.NewConversationWithChannelBinding(scram.ChannelBinding{Type: scram.ChannelBindingTLSExporter, Data: cb})
	default:
		return c.NewConversation()
	}
}

// TestSCRAMUnknownUserLooksReal checks that an unknown user's server-first
// message has a stable salt and the real iteration count, and that the
// exchange has the same shape as a wrong password.
func TestSCRAMUnknownUserLooksReal(t *testing.T) {
	first := func(user string) (salt, iter string) {
		srv, err := NewServer(context.Background(), SCRAMSHA256, Options{Authenticator: newFakeAuth(), FakeSecret: testSecret})
		if err != nil {
			t.Fatal(err)
		}
		ch, done, err := srv.Next([]byte("n,,n=" + user + ",r=abcdef"))
		if err != nil || done {
			t.Fatalf("%s: %q %v %v", user, ch, done, err)
		}
		fields := strings.Split(string(ch), ",")
		if len(fields) != 3 || !strings.HasPrefix(fields[0], "r=abcdef") {
			t.Fatalf("%s: server-first %q", user, ch)
		}
		return fields[1], fields[2]
	}
	s1, i1 := first("carol")
	s2, i2 := first("carol")
	s3, _ := first("dave")
	_, iReal := first("alice")
	if s1 != s2 || i1 != i2 {
		t.Errorf("fake salt not stable: %s %s / %s %s", s1, i1, s2, i2)
	}
	if s1 == s3 {
		t.Errorf("two unknown users share salt %s", s1)
	}
	if i1 != iReal {
		t.Errorf("fake iterations %s, real %s", i1, iReal)
	}
}

func TestSCRAMNoInitialResponse(t *testing.T) {
	var rec successRecorder
	srv, _ := NewServer(context.Background(), SCRAMSHA256, rec.options(newFakeAuth(), nil))
	conv := newClientConv(t, "alice", alicePassword, "", flagN, nil)
	n, err := drive(srv, nil, func(ch []byte) ([]byte, error) {
		r, err := conv.Step(string(ch))
		return []byte(r), err
	})
	checkOutcome(t, err, nil, &rec, "alice@example.org")
	if n != 3 {
		t.Errorf("%d challenges, want 3", n)
	}
}

// TestSCRAMFinalAck checks the last step: the server-final-message is a
// challenge, and only an empty response completes the exchange.
func TestSCRAMFinalAck(t *testing.T) {
	for _, ack := range [][]byte{{}, nil, []byte("x")} {
		var rec successRecorder
		srv, _ := NewServer(context.Background(), SCRAMSHA256, rec.options(newFakeAuth(), nil))
		conv := newClientConv(t, "alice", alicePassword, "", flagN, nil)
		c1, _ := conv.Step("")
		s1, _, err := srv.Next([]byte(c1))
		if err != nil {
			t.Fatal(err)
		}
		c2, _ := conv.Step(string(s1))
		s2, done, err := srv.Next([]byte(c2))
		if err != nil || done || !strings.HasPrefix(string(s2), "v=") {
			t.Fatalf("server-final: %q %v %v", s2, done, err)
		}
		if len(rec.identities) != 0 {
			t.Fatal("OnSuccess before the client acknowledged")
		}
		_, done, err = srv.Next(ack)
		if len(ack) == 0 {
			if !done || err != nil {
				t.Errorf("ack %q: done %v err %v", ack, done, err)
			}
			checkOutcome(t, err, nil, &rec, "alice@example.org")
		} else if done || !errors.Is(err, ErrMalformed) {
			t.Errorf("ack %q: done %v err %v, want ErrMalformed", ack, done, err)
		}
	}
}

func TestSCRAMMalformed(t *testing.T) {
	long := strings.Repeat("a", maxSCRAMMessage)
	tests := []struct {
		name  string
		first string
		want  error
	}{
		{"empty", "", ErrMalformed},
		{"garbage", "hello", ErrMalformed},
		{"bad flag", "x,,n=alice,r=abc", ErrMalformed},
		{"bad cb type", "p=tls-unique,,n=alice,r=abc", ErrChannelBinding},
		{"extension", "n,,m=ext,n=alice,r=abc", ErrMalformed},
		{"bad escape", "n,,n=al=ice,r=abc", ErrMalformed},
		{"empty user", "n,,n=,r=abc", ErrMalformed},
		{"long user", "n,,n=" + strings.Repeat("a", MaxFieldLen+1) + ",r=abc", ErrMalformed},
		{"too long", "n,,n=alice,r=" + long, ErrMalformed},
		{"not UTF-8", "n,,n=al\xffice,r=abc", ErrMalformed},
		{"SASLprep fails", "n,,n=al\u0007ice,r=abc", ErrMalformed},
		{"missing nonce", "n,,n=alice", ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := NewServer(context.Background(), SCRAMSHA256, Options{Authenticator: newFakeAuth(), FakeSecret: testSecret})
			if _, _, err := srv.Next([]byte(tc.first)); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	finals := []string{"", "garbage", "c=biws,r=wrong,p=AAAA", "c=biws,p=AAAA", "c=!!,r=x,p=AAAA"}
	for _, final := range finals {
		srv, _ := NewServer(context.Background(), SCRAMSHA256, Options{Authenticator: newFakeAuth(), FakeSecret: testSecret})
		if _, _, err := srv.Next([]byte("n,,n=alice,r=abc")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := srv.Next([]byte(final)); !errors.Is(err, ErrMalformed) {
			t.Errorf("final %q: err = %v, want ErrMalformed", final, err)
		}
	}
}

func TestSCRAMBackendError(t *testing.T) {
	auth := newFakeAuth()
	auth.backendErr = errors.New("database is down")
	srv, _ := NewServer(context.Background(), SCRAMSHA256, Options{Authenticator: auth, FakeSecret: testSecret})
	_, _, err := srv.Next([]byte("n,,n=alice,r=abc"))
	if !errors.Is(err, auth.backendErr) || errors.Is(err, ErrAuthFailed) || errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want the backend error alone", err)
	}
}

func TestNewServer(t *testing.T) {
	auth := newFakeAuth()
	ctx := context.Background()
	if _, err := NewServer(ctx, "CRAM-MD5", Options{Authenticator: auth}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("CRAM-MD5: %v", err)
	}
	if _, err := NewServer(ctx, SCRAMSHA256Plus, Options{Authenticator: auth, FakeSecret: testSecret}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("PLUS without binding: %v", err)
	}
	if _, err := NewServer(ctx, SCRAMSHA256, Options{Authenticator: auth}); err == nil {
		t.Error("SCRAM without FakeSecret accepted")
	}
	if _, err := NewServer(ctx, Plain, Options{}); err == nil {
		t.Error("no Authenticator accepted")
	}
}

func TestMechanisms(t *testing.T) {
	tests := []struct {
		secure, cb bool
		want       string
	}{
		{false, false, "SCRAM-SHA-256"},
		{false, true, "SCRAM-SHA-256"},
		{true, false, "SCRAM-SHA-256 PLAIN LOGIN"},
		{true, true, "SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN LOGIN"},
	}
	for _, tc := range tests {
		if got := strings.Join(Mechanisms(tc.secure, tc.cb), " "); got != tc.want {
			t.Errorf("Mechanisms(%v, %v) = %q, want %q", tc.secure, tc.cb, got, tc.want)
		}
	}
}

func TestChannelBindingFromTLS(t *testing.T) {
	if ChannelBindingFromTLS(nil) != nil {
		t.Error("nil state gave a binding")
	}
	s, c := tlsBindings(t, tls.VersionTLS12)
	if s != nil || c != nil {
		t.Errorf("TLS 1.2 gave bindings %x %x", s, c)
	}
	s, c = tlsBindings(t, tls.VersionTLS13)
	if len(s) != 32 || !bytes.Equal(s, c) {
		t.Errorf("TLS 1.3 bindings %x %x", s, c)
	}
}
