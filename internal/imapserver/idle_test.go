package imapserver

import (
	"strings"
	"testing"
	"time"
)

func TestIdleNewMessage(t *testing.T) {
	e := newEnv(t)
	e.deliver("", simpleMsg, 0)
	c := e.login()
	c.ok("SELECT INBOX")
	c.send("i1 IDLE\r\n")
	if l := c.readLine(); !strings.HasPrefix(l, "+ ") {
		t.Fatal(l)
	}
	start := time.Now()
	e.keepRecent = true // the idling session is the first to see it
	go e.deliver("", simpleMsg, 0)
	if l := c.readLine(); l != "* 2 EXISTS" {
		t.Fatalf("got %q", l)
	}
	if l := c.readLine(); l != "* 1 RECENT" {
		t.Fatalf("got %q", l)
	}
	// IDLE does not poll: the EXISTS can only come from the delivery's
	// notification (the connection's deadline bounds the wait).
	t.Logf("delivery reported after %v", time.Since(start))
	other := e.login()
	other.ok("SELECT INBOX")
	other.ok(`STORE 1 +FLAGS (\Flagged)`)
	if l := c.readLine(); !strings.HasPrefix(l, `* 1 FETCH (UID 1 FLAGS (\Flagged)`) {
		t.Fatalf("got %q", l)
	}
	other.ok(`STORE 2 +FLAGS.SILENT (\Deleted)`)
	if l := c.readLine(); !strings.HasPrefix(l, `* 2 FETCH (UID 2 FLAGS (\Recent \Deleted)`) {
		t.Fatalf("got %q", l)
	}
	other.ok("EXPUNGE")
	if l := c.readLine(); l != "* 2 EXPUNGE" {
		t.Fatalf("got %q", l)
	}
	c.send("DONE\r\n")
	if l := c.readLine(); !strings.HasPrefix(l, "i1 OK") {
		t.Fatalf("got %q", l)
	}
}
