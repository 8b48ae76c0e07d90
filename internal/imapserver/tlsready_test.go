package imapserver

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/imapwire"
)

// While no usable certificate exists, STARTTLS is neither advertised nor
// started and port 993 closes connections without a failing handshake.
func TestTLSOnlyWithUsableCertificate(t *testing.T) {
	e := newEnv(t)
	e.srv.TLSConfig = testTLSConfig(t)
	var ready atomic.Bool
	e.srv.TLSReady = ready.Load

	cc, sc := net.Pipe()
	go e.srv.ServeConn(nonLoopback{sc}, false)
	defer cc.Close()
	c := &tconn{t: t, c: cc, br: bufio.NewReader(cc)}
	if g := c.readLine(); strings.Contains(g, "STARTTLS") {
		t.Errorf("STARTTLS advertised without a certificate: %q", g)
	}
	c.expect("STARTTLS", "NO [UNAVAILABLE]")
	c.expect("NOOP", "OK")

	ic, is := net.Pipe()
	go e.srv.ServeConn(nonLoopback{is}, true)
	ic.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(ic); len(b) != 0 || err != nil {
		t.Errorf("port 993 without a certificate: read %q, %v; want a closed connection", b, err)
	}

	ready.Store(true)
	cc2, sc2 := net.Pipe()
	go e.srv.ServeConn(nonLoopback{sc2}, false)
	defer cc2.Close()
	c2 := &tconn{t: t, c: cc2, br: bufio.NewReader(cc2)}
	if g := c2.readLine(); !strings.Contains(g, "STARTTLS") {
		t.Errorf("STARTTLS not advertised with a certificate: %q", g)
	}
}

// Credentials never reach the transcript, however the command is spelled.
func TestRedactLoginInAnyForm(t *testing.T) {
	for _, name := range []string{"LOGIN", "login", "AUTHENTICATE", "Authenticate", "LOGIN{5}", "XAUTH", "UID"} {
		got := redact(&imapwire.Command{Name: name, Args: []byte(`user "hunter2"`)})
		if want := name == "UID"; strings.Contains(got, "hunter2") != want {
			t.Errorf("redact(%s) = %q", name, got)
		}
	}
}
