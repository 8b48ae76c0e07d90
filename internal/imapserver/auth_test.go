package imapserver

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestCapabilityAndLogin(t *testing.T) {
	e := newEnv(t)
	c := e.dial()
	u := c.ok("CAPABILITY")
	has(t, u, "IMAP4rev2", "IMAP4rev1", "AUTH=PLAIN", "SASL-IR", "LITERAL+", "APPENDLIMIT=")
	hasNot(t, u, "LOGINDISABLED") // loopback
	c.expect("SELECT INBOX", "BAD")
	c.expect("LOGIN "+testUser+" wrong", "NO [AUTHENTICATIONFAILED]")
	_, st := c.run("LOGIN " + testUser + " " + testPass)
	if !strings.HasPrefix(st, "OK [CAPABILITY ") {
		t.Fatalf("login: %s", st)
	}
	c.expect("LOGIN x y", "BAD")
	has(t, c.ok("NAMESPACE"), `* NAMESPACE (("" "/")) NIL NIL`)
	has(t, c.ok(`ID ("name" "test")`), `* ID ("name" "posthorn")`)
	has(t, c.ok("ENABLE CONDSTORE IMAP4rev2 FOO"), "* ENABLED CONDSTORE IMAP4rev2")
	c.ok("NOOP")
	u, st = c.run("LOGOUT")
	has(t, u, "* BYE")
	if !strings.HasPrefix(st, "OK") {
		t.Fatal(st)
	}
}

func TestLoginLiteral(t *testing.T) {
	e := newEnv(t)
	c := e.dial()
	c.send("a1 LOGIN {17}\r\n")
	if l := c.readLine(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("continuation: %q", l)
	}
	c.send(testUser + " {11+}\r\n" + testPass + "\r\n")
	if l := c.readLine(); !strings.HasPrefix(l, "a1 OK") {
		t.Fatalf("login: %q", l)
	}
}

func TestTooManyFailures(t *testing.T) {
	e := newEnv(t)
	c := e.dial()
	c.expect("LOGIN a@example.org x", "NO")
	c.expect("LOGIN a@example.org x", "NO")
	u, _ := c.run("LOGIN a@example.org x")
	has(t, u, "* BYE")
}

func TestAuthenticatePlain(t *testing.T) {
	e := newEnv(t)
	ir := base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00" + testPass))
	c := e.dial()
	c.ok("AUTHENTICATE PLAIN " + ir) // SASL-IR
	c2 := e.dial()
	c2.send("b1 AUTHENTICATE PLAIN\r\n")
	if l := c2.readLine(); l != "+ " {
		t.Fatalf("challenge: %q", l)
	}
	c2.send(ir + "\r\n")
	if l := c2.readLine(); !strings.HasPrefix(l, "b1 OK") {
		t.Fatalf("auth: %q", l)
	}
	c3 := e.dial()
	c3.send("c1 AUTHENTICATE PLAIN\r\n")
	c3.readLine()
	c3.send("*\r\n")
	if l := c3.readLine(); !strings.HasPrefix(l, "c1 BAD") {
		t.Fatalf("cancel: %q", l)
	}
	bad := base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00nope"))
	c3.expect("AUTHENTICATE PLAIN "+bad, "NO [AUTHENTICATIONFAILED]")
}
