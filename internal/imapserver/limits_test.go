package imapserver

import (
	"bufio"
	"encoding/base64"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/guard"
)

// addrConn gives a net.Pipe end a TCP remote address, so that the Guard
// counts it.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// dialFrom connects a client that appears to come from ip and returns it
// with its greeting line.
func (e *testEnv) dialFrom(ip string) (*tconn, string) {
	e.t.Helper()
	cc, sc := net.Pipe()
	done := make(chan struct{})
	go func() {
		e.srv.ServeConn(addrConn{sc, &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}}, false)
		close(done)
	}()
	e.t.Cleanup(func() {
		cc.Close()
		<-done
	})
	c := &tconn{t: e.t, c: cc, br: bufio.NewReader(cc)}
	cc.SetDeadline(time.Now().Add(30 * time.Second))
	return c, c.readLine()
}

func guardedEnv(t *testing.T) (*testEnv, *guard.Guard) {
	e := newEnv(t)
	g := guard.New(guard.Options{
		MaxConnsPerIP: 2, FreeFailures: 1, FirstDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond,
		BlockAfter: 3, Window: time.Hour, BlockFor: time.Hour,
	})
	e.srv.Guard = g
	e.srv.InsecureAuth = true // the fake address is not loopback
	return e, g
}

func TestLimitConnectionsPerIP(t *testing.T) {
	e, _ := guardedEnv(t)
	c1, g1 := e.dialFrom("192.0.2.1")
	_, g2 := e.dialFrom("192.0.2.1")
	_, g3 := e.dialFrom("192.0.2.1")
	_, other := e.dialFrom("192.0.2.2")
	if !strings.HasPrefix(g1, "* OK") || !strings.HasPrefix(g2, "* OK") || !strings.HasPrefix(other, "* OK") {
		t.Fatalf("greetings: %q %q %q", g1, g2, other)
	}
	if want := "* BYE [LIMIT] too many connections from 192.0.2.1 (2)"; g3 != want {
		t.Fatalf("third connection: got %q, want %q", g3, want)
	}
	// A closed connection frees its place.
	c1.ok("LOGOUT")
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, g := e.dialFrom("192.0.2.1")
		if strings.HasPrefix(g, "* OK") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection after LOGOUT: %q", g)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLimitAuthFailures(t *testing.T) {
	e, g := guardedEnv(t)
	c, _ := e.dialFrom("192.0.2.7")
	c.expect("LOGIN "+testUser+" wrong1", "NO [AUTHENTICATIONFAILED]")
	start := time.Now()
	c.expect("LOGIN "+testUser+" wrong2", "NO [AUTHENTICATIONFAILED]") // delayed
	if d := time.Since(start); d < 10*time.Millisecond {
		t.Errorf("second failure answered after %v, want a delay", d)
	}
	// The third failure blocks the address (BlockAfter 3) and, being the
	// session's third, ends it.
	u, st := c.run("LOGIN " + testUser + " wrong3")
	has(t, u, "* BYE [ALERT] Too many failed logins")
	if !strings.HasPrefix(st, "NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("third failure: %q", st)
	}
	if blocked, _ := g.Blocked(mustAddr("192.0.2.7")); !blocked {
		t.Fatal("address not blocked after 3 failures")
	}
	// A new connection from the address is refused with the reason.
	_, greet := e.dialFrom("192.0.2.7")
	if !strings.HasPrefix(greet, "* BYE [ALERT] 192.0.2.7 is blocked until ") || !strings.Contains(greet, "3 failed logins") {
		t.Fatalf("blocked greeting: %q", greet)
	}

	// An address that logged in before may still connect, but the Guard
	// refuses logins to other accounts (and the right password for them
	// does not help).
	e2, g2 := guardedEnv(t)
	c, _ = e2.dialFrom("192.0.2.9")
	c.ok("LOGIN " + testUser + " " + testPass)
	for range 3 {
		g2.AuthFailed(mustAddr("192.0.2.9"), "bob@example.org")
	}
	c, greet = e2.dialFrom("192.0.2.9")
	if !strings.HasPrefix(greet, "* OK") {
		t.Fatalf("greeting of a known address: %q", greet)
	}
	u, st = c.run("LOGIN bob@example.org whatever")
	has(t, u, "* OK [ALERT] Login refused: 192.0.2.9 is blocked until")
	if st != "NO [UNAVAILABLE] Login refused; try again later" {
		t.Fatalf("refused LOGIN: %q", st)
	}
	plain := base64.StdEncoding.EncodeToString([]byte("\x00bob@example.org\x00whatever"))
	u, st = c.run("AUTHENTICATE PLAIN " + plain)
	has(t, u, "* OK [ALERT] Login refused")
	if !strings.HasPrefix(st, "NO [UNAVAILABLE]") {
		t.Fatalf("refused AUTHENTICATE: %q", st)
	}
	c.ok("LOGIN " + testUser + " " + testPass) // the remembered account still works
}

func TestLimitConnectionsPerAccount(t *testing.T) {
	e := newEnv(t)
	e.srv.MaxConnsPerAccount = 2
	c1 := e.login()
	e.login()
	c3 := e.dial()
	c3.expect("LOGIN "+testUser+" "+testPass, "NO [LIMIT] Too many connections for this account (2)")
	c1.ok("LOGOUT")
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, st := c3.run("LOGIN " + testUser + " " + testPass)
		if strings.HasPrefix(st, "OK") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("login after LOGOUT: %q", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAutologout(t *testing.T) {
	e := newEnv(t)
	e.srv.LoginTimeout = 100 * time.Millisecond
	e.srv.IdleTimeout = 200 * time.Millisecond
	c := e.dial()
	if l := c.readLine(); l != "* BYE Autologout; idle for too long" {
		t.Fatalf("not authenticated: %q", l)
	}
	c = e.login()
	c.ok("SELECT INBOX")
	if l := c.readLine(); l != "* BYE Autologout; idle for too long" {
		t.Fatalf("authenticated: %q", l)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
