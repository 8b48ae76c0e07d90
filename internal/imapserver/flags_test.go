package imapserver

import (
	"strings"
	"testing"
)

func TestStore(t *testing.T) {
	e := newEnv(t)
	for range 3 {
		e.deliver("", simpleMsg, 0)
	}
	c := e.login()
	c.ok("SELECT INBOX")
	u := c.ok(`STORE 1:2 +FLAGS (\Flagged $Work)`)
	has(t, u, `* 1 FETCH (FLAGS (\Flagged $Work))`, `* 2 FETCH (FLAGS (\Flagged $Work))`)
	u = c.ok(`STORE 1 -FLAGS ($Work)`)
	has(t, u, `* 1 FETCH (FLAGS (\Flagged))`)
	u = c.ok(`UID STORE 3 FLAGS (\Seen)`)
	has(t, u, `* 3 FETCH (UID 3 FLAGS (\Seen))`)
	if u := c.ok(`STORE 3 +FLAGS.SILENT (\Answered)`); len(u) != 0 {
		t.Fatalf("silent: %q", u)
	}
	c.expect(`STORE 1 +FLAGS (\Recent)`, "BAD")
	c.expect(`STORE 1 +FLAGS (\Bogus)`, "BAD")
	// CONDSTORE: UNCHANGEDSINCE.
	u = c.ok("FETCH 1:3 (MODSEQ)")
	var m1 string
	for _, l := range u {
		if strings.HasPrefix(l, "* 1 FETCH") {
			m1, _ = cut(l[strings.Index(l, "MODSEQ (")+8:], "", ")")
		}
	}
	c.ok(`STORE 2 +FLAGS.SILENT (\Deleted)`) // bumps 2 past m1
	u, st := c.run(`STORE 1:2 (UNCHANGEDSINCE ` + m1 + `) +FLAGS (\Seen)`)
	if !strings.HasPrefix(st, "OK [MODIFIED 2]") {
		t.Fatalf("UNCHANGEDSINCE: %s %q", st, u)
	}
	has(t, u, `* 1 FETCH (UID 1 FLAGS (\Seen \Flagged) MODSEQ (`)
	_, st = c.run(`UID STORE 1 (UNCHANGEDSINCE 0) +FLAGS (\Draft)`)
	if !strings.HasPrefix(st, "OK [MODIFIED 1]") {
		t.Fatal(st)
	}
}
