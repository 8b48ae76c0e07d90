package sasl

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xdg-go/scram"
)

// testUser is one account of fakeAuth.
type testUser struct {
	identity string
	password string
	noKeys   bool // has no usable SCRAM keys
}

// fakeAuth is an in-memory Authenticator. Usernames are matched
// case-insensitively, like accounts does.
type fakeAuth struct {
	users      map[string]testUser
	backendErr error // returned for every call when set
	calls      int
}

var _ Authenticator = (*fakeAuth)(nil)

const (
	testIterations = 4096
	alicePassword  = "correct horse"
)

func newFakeAuth() *fakeAuth {
	return &fakeAuth{users: map[string]testUser{
		"alice":  {identity: "alice@example.org", password: alicePassword},
		"nokeys": {identity: "nokeys@example.org", password: "pw", noKeys: true},
		"bob,=x": {identity: "bob@example.org", password: "p,w=d"},
	}}
}

func (a *fakeAuth) CheckPassword(ctx context.Context, username, password string) (string, error) {
	a.calls++
	if a.backendErr != nil {
		return "", a.backendErr
	}
	u, ok := a.users[strings.ToLower(username)]
	if !ok {
		return "", ErrUnknownUser
	}
	if u.password != password {
		return "", ErrAuthFailed
	}
	return u.identity, nil
}

func (a *fakeAuth) SCRAMCredentials(ctx context.Context, username string) (string, SCRAMCredentials, error) {
	a.calls++
	if a.backendErr != nil {
		return "", SCRAMCredentials{}, a.backendErr
	}
	u, ok := a.users[strings.ToLower(username)]
	if !ok {
		return "", SCRAMCredentials{}, ErrUnknownUser
	}
	if u.noKeys {
		return u.identity, SCRAMCredentials{}, nil
	}
	return u.identity, cachedKeys(u.password), nil
}

// cachedKeys memoizes scramKeysFor: PBKDF2 would dominate fuzzing.
var cachedKeys = func() func(string) SCRAMCredentials {
	var mu sync.Mutex
	m := map[string]SCRAMCredentials{}
	return func(password string) SCRAMCredentials {
		mu.Lock()
		defer mu.Unlock()
		c, ok := m[password]
		if !ok {
			c = scramKeysFor(password)
			m[password] = c
		}
		return c
	}
}()

// scramKeysFor derives keys the way xdg-go's client does, with a salt
// fixed per password.
func scramKeysFor(password string) SCRAMCredentials {
	salt := "salt-of-" + password
	c, err := scram.SHA256.NewClient("x", password, "")
	if err != nil {
		panic(err)
	}
	sc, err := c.GetStoredCredentialsWithError(scram.KeyFactors{Salt: salt, Iters: testIterations})
	if err != nil {
		panic(err)
	}
	return SCRAMCredentials{Salt: []byte(salt), Iterations: testIterations, StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}
}

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// successRecorder counts OnSuccess calls.
type successRecorder struct {
	identities []string
}

func (r *successRecorder) options(a Authenticator, cb []byte) Options {
	return Options{
		Authenticator:  a,
		ChannelBinding: cb,
		FakeSecret:     testSecret,
		OnSuccess:      func(id string) { r.identities = append(r.identities, id) },
	}
}

// drive runs an exchange the way go-smtp's handleAuth does: Next(ir), then
// for every challenge, the client's response, until done or an error. It
// returns the number of challenges sent. respond may abort with an error.
func drive(srv Server, ir []byte, respond func(challenge []byte) ([]byte, error)) (challenges int, err error) {
	resp := ir
	for i := 0; i < 10; i++ {
		ch, done, err := srv.Next(resp)
		if err != nil {
			return challenges, err
		}
		if done {
			return challenges, nil
		}
		challenges++
		resp, err = respond(ch)
		if err != nil {
			return challenges, err
		}
		if resp == nil {
			resp = []byte{} // an empty line decodes to a non-nil empty slice
		}
	}
	return challenges, errors.New("exchange did not end")
}

// tlsBindings returns the tls-exporter bindings computed on the server and
// the client ends of a real TLS connection of the given version over
// net.Pipe, with a self-signed certificate.
func tlsBindings(t testing.TB, version uint16) (server, client []byte) {
	t.Helper()
	cert := selfSigned(t)
	sc, cc := net.Pipe()
	defer sc.Close()
	defer cc.Close()
	srv := tls.Server(sc, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: version, MaxVersion: version})
	cli := tls.Client(cc, &tls.Config{InsecureSkipVerify: true, MinVersion: version, MaxVersion: version})
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ss, cs := srv.ConnectionState(), cli.ConnectionState()
	return ChannelBindingFromTLS(&ss), ChannelBindingFromTLS(&cs)
}

func selfSigned(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mail.example.org"},
		DNSNames:     []string{"mail.example.org"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
