package smtpserver

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/accounts"
	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/guard"
	"github.com/posthorn/posthorn/internal/store"
)

// testEnv is a server on a fresh store with:
//
//	example.org: alice, bob, full (quota 10 bytes), sales → alice+bob,
//	             fwd → someone@elsewhere.net, alias2 → alice
//	catch.example: catch-all → bob
type testEnv struct {
	t     testing.TB
	st    *store.SQLite
	srv   *Server
	opt   Options
	ls    map[Mode]*chanListener
	guard *guard.Guard
	logs  *syncBuffer
}

const (
	alicePW = "alice-secret-pw"
	bobPW   = "bob-secret-pw"
)

var testCert = sync.OnceValue(func() tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.example.org"},
		DNSNames: []string{"mx.example.org"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
})

func newEnv(t testing.TB, mod func(*Options)) *testEnv {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"example.org", "catch.example"} {
		must(st.AddDomain(ctx, store.Domain{Name: addr.MustParseDomain(d), SubaddressSep: "+"}))
	}
	for _, u := range []struct{ a, pw string }{{"alice@example.org", alicePW}, {"bob@example.org", bobPW}, {"full@example.org", bobPW}} {
		cred, err := accounts.NewCredentials(u.pw)
		must(err)
		_, err = st.AddAccount(ctx, store.Account{Address: addr.MustParseAddress(u.a)}, cred)
		must(err)
	}
	for _, al := range []struct {
		lp, dom string
		targets []string
	}{
		{"sales", "example.org", []string{"alice@example.org", "bob@example.org"}},
		{"alias2", "example.org", []string{"alice@example.org"}},
		{"fwd", "example.org", []string{"someone@elsewhere.net"}},
		{"postmaster", "catch.example", []string{"alice@example.org"}},
		{"", "catch.example", []string{"bob@example.org"}},
	} {
		var ts []addr.Address
		for _, t := range al.targets {
			ts = append(ts, addr.MustParseAddress(t))
		}
		must(st.AddAlias(ctx, store.Alias{Localpart: addr.Localpart(al.lp), Domain: addr.MustParseDomain(al.dom), Targets: ts}))
	}
	full, err := st.Account(ctx, addr.MustParseAddress("full@example.org"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetQuota(ctx, full.ID, 10); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: levelTrace}))
	if _, fuzz := t.(*testing.F); fuzz {
		logs.discard = true // only remember panics
	}
	g := guard.New(guard.Options{Logger: log})
	svc := &accounts.Service{Store: st}
	host := addr.MustParseDomain("mx.example.org")
	opt := Options{
		Hostname:          host,
		Store:             st,
		Directory:         svc,
		Authenticator:     accounts.SASLAuthenticator{Service: svc, Protocol: "smtp"},
		FakeSecret:        []byte("0123456789abcdef0123456789abcdef"),
		Deliverer:         &delivery.Deliverer{Store: st, Hostname: host},
		Guard:             g,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{testCert()}},
		Limits:            Limits{MaxMessageSize: 1 << 20},
		SpoolDir:          t.TempDir(),
		Logger:            log,
		SubmissionPrivacy: true,
	}
	if mod != nil {
		mod(&opt)
	}
	e := &testEnv{t: t, st: st, opt: opt, ls: map[Mode]*chanListener{}, guard: g, logs: logs}
	e.srv = New(opt)
	for _, m := range []Mode{ModeMX, ModeSubmission, ModeSubmissions, ModeLMTP} {
		l := newChanListener()
		e.ls[m] = l
		go e.srv.Serve(l, m)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.srv.Shutdown(ctx)
		if t.Failed() {
			if testing.Verbose() {
				t.Logf("server log:\n%s", logs.String())
			}
		}
	})
	return e
}

// chanListener hands out connections given to it.
type chanListener struct {
	c    chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{c: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.c:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}
func (l *chanListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 25} }

// addrConn gives a net.Pipe end a TCP remote address.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// client is the test side of a connection.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	wq   chan []byte
}

// dial connects to the listener of mode m as if from ip.
func (e *testEnv) dial(m Mode, ip string) *client { return e.dialTB(e.t, m, ip) }

func (e *testEnv) dialTB(tb testing.TB, m Mode, ip string) *client {
	tb.Helper()
	cc, sc := net.Pipe()
	ap := netip.MustParseAddrPort(ip + ":40000")
	if strings.Contains(ip, ":") {
		ap = netip.MustParseAddrPort("[" + ip + "]:40000")
	}
	e.ls[m].c <- addrConn{sc, net.TCPAddrFromAddrPort(ap)}
	c := &client{t: tb, conn: cc, r: bufio.NewReader(cc), wq: make(chan []byte, 1024)}
	go writer(c.wq, cc)
	tb.Cleanup(func() { c.close() })
	return c
}

// writer writes what is queued on q to w, in order.
func writer(q chan []byte, w net.Conn) {
	for b := range q {
		if _, err := w.Write(b); err != nil {
			for range q {
			}
			return
		}
	}
}

func (c *client) close() {
	defer func() { recover() }()
	close(c.wq)
	c.conn.Close()
}

// send writes raw bytes (asynchronously, so pipelining cannot deadlock).
func (c *client) send(s string) { c.wq <- []byte(s) }

// reply reads one (possibly multi-line) reply.
func (c *client) reply() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var lines []string
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			if len(lines) == 0 {
				return "EOF"
			}
			return strings.Join(lines, "\n") + "\nEOF"
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

// cmd sends a line and checks that the reply starts with want.
func (c *client) cmd(line, want string) string {
	c.t.Helper()
	c.send(line + "\r\n")
	return c.expect(want)
}

func (c *client) expect(want string) string {
	c.t.Helper()
	got := c.reply()
	if !strings.HasPrefix(got, want) {
		c.t.Fatalf("after %q: got %q, want %q…", "", got, want)
	}
	return got
}

// greet reads the greeting and sends EHLO.
func (c *client) greet() string {
	c.t.Helper()
	c.expect("220 mx.example.org ESMTP")
	return c.cmd("EHLO client.example", "250")
}

// startTLS upgrades the client connection.
func (c *client) startTLS() *tls.ConnectionState {
	c.t.Helper()
	c.cmd("STARTTLS", "220 2.0.0")
	return c.handshake()
}

func (c *client) handshake() *tls.ConnectionState {
	c.t.Helper()
	// The writer goroutine keeps writing to the pipe; swap in the TLS conn.
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true, ServerName: "mx.example.org"})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	old := c.wq
	c.wq = make(chan []byte, 1024)
	close(old)
	go writer(c.wq, tc)
	c.conn = tc
	c.r = bufio.NewReader(tc)
	cs := tc.ConnectionState()
	return &cs
}

// authPlain authenticates with PLAIN.
func (c *client) authPlain(user, pw, want string) string {
	c.t.Helper()
	ir := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pw))
	return c.cmd("AUTH PLAIN "+ir, want)
}

// inbox returns the messages in the INBOX of an account, as served.
func (e *testEnv) inbox(address string) []string {
	return e.mailbox(address, "INBOX")
}

func (e *testEnv) mailbox(address, name string) []string {
	e.t.Helper()
	ctx := context.Background()
	acc, err := e.st.Account(ctx, addr.MustParseAddress(address))
	if err != nil {
		e.t.Fatal(err)
	}
	mb, err := e.st.MailboxByName(ctx, acc.ID, name)
	if err != nil {
		e.t.Fatal(err)
	}
	msgs, err := e.st.Messages(ctx, acc.ID, mb.ID, 1, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		c, err := e.st.Open(ctx, m)
		if err != nil {
			e.t.Fatal(err)
		}
		b, _ := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
		c.Close()
		out = append(out, string(b))
	}
	return out
}

// syncBuffer is a goroutine-safe log buffer.
type syncBuffer struct {
	mu      sync.Mutex
	b       strings.Builder
	discard bool // keep only lines that mention a panic
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.discard && !strings.Contains(string(p), "panic") {
		return len(p), nil
	}
	return b.b.Write(p)
}

func (b *syncBuffer) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Reset()
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

var _ = os.Stderr

func mustPrefixes(ss ...string) []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range ss {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}
