package imapserver

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

func testTLSConfig(t *testing.T) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// nonLoopback makes a pipe look like a remote client.
type nonLoopback struct{ net.Conn }

func (nonLoopback) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 1} }

func TestStartTLS(t *testing.T) {
	e := newEnv(t)
	e.srv.TLSConfig = testTLSConfig(t)
	// A socket, not a net.Pipe: a response to the injected command below
	// must reach the client (and fail the test) rather than block the
	// server's write.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if sc, err := l.Accept(); err == nil {
			e.srv.ServeConn(nonLoopback{sc}, false)
		}
	}()
	cc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	cc.SetDeadline(time.Now().Add(30 * time.Second))
	c := &tconn{t: t, c: cc, br: bufio.NewReader(cc)}
	g := c.readLine()
	if !strings.Contains(g, "STARTTLS") || !strings.Contains(g, "LOGINDISABLED") || strings.Contains(g, "AUTH=PLAIN") {
		t.Fatalf("greeting: %q", g)
	}
	c.expect("LOGIN "+testUser+" "+testPass, "NO [PRIVACYREQUIRED]")
	// A command pipelined after STARTTLS must be dropped, not run after
	// the handshake (CVE-2011-0411 style): no response to s2 ever, and
	// the session is still not authenticated.
	c.send("s1 STARTTLS\r\ns2 LOGIN " + testUser + " " + testPass + "\r\n")
	if l := c.readLine(); !strings.HasPrefix(l, "s1 OK") {
		t.Fatal(l)
	}
	if n := c.br.Buffered(); n > 0 {
		b, _ := c.br.Peek(n)
		t.Fatalf("plaintext after the STARTTLS response: %q", b)
	}
	tc := tls.Client(cc, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake after STARTTLS: %v", err)
	}
	c = &tconn{t: t, c: tc, br: bufio.NewReader(tc), tag: 10}
	u := c.ok("CAPABILITY")
	for _, l := range u {
		if strings.HasPrefix(l, "s2 ") {
			t.Fatalf("the command pipelined after STARTTLS ran after the handshake: %q", l)
		}
	}
	has(t, u, "AUTH=PLAIN")
	hasNot(t, u, "STARTTLS")
	hasNot(t, u, "LOGINDISABLED")
	c.ok("LOGIN " + testUser + " " + testPass)
}

func TestImplicitTLSAndShutdown(t *testing.T) {
	e := newEnv(t)
	e.srv.TLSConfig = testTLSConfig(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- e.srv.ServeTLS(l) }()
	conn, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &tconn{t: t, c: conn, br: bufio.NewReader(conn)}
	if g := c.readLine(); !strings.HasPrefix(g, "* OK [CAPABILITY") {
		t.Fatal(g)
	}
	c.ok("LOGIN " + testUser + " " + testPass)
	ctx, cancel := contextWithTimeout(2 * time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if l := c.readLine(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("shutdown: %q", l)
	}
	if err := <-errc; err != ErrServerClosed {
		t.Fatalf("Serve: %v", err)
	}
}
