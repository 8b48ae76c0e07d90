package imapserver

import (
	"testing"
)

func TestSelectExamine(t *testing.T) {
	e := newEnv(t)
	e.deliver("", simpleMsg, 1)
	e.deliver("", simpleMsg, 0)
	c := e.login()
	u, st := c.run("SELECT INBOX")
	has(t, u, "* 2 EXISTS", "* 0 RECENT", "* OK [UNSEEN 2]", "* OK [UIDVALIDITY ", "* OK [UIDNEXT 3]", "* OK [HIGHESTMODSEQ ", `* FLAGS (`, `PERMANENTFLAGS (`)
	if st != "OK [READ-WRITE] SELECT completed" {
		t.Fatal(st)
	}
	u, st = c.run("EXAMINE INBOX")
	has(t, u, "* OK [CLOSED]", "* 2 EXISTS")
	if st != "OK [READ-ONLY] EXAMINE completed" {
		t.Fatal(st)
	}
	c.expect("STORE 1 +FLAGS (\\Deleted)", "NO [READ-ONLY]")
	c.expect("EXPUNGE", "NO [READ-ONLY]")
	c.ok("UNSELECT")
	c.expect("FETCH 1 FLAGS", "BAD")
	c.expect("SELECT Nope", "NO [NONEXISTENT]")
}

func TestExpungeAndClose(t *testing.T) {
	e := newEnv(t)
	for range 4 {
		e.deliver("", simpleMsg, 0)
	}
	c := e.login()
	c.ok("SELECT INBOX")
	c.ok(`STORE 2,4 +FLAGS.SILENT (\Deleted)`)
	u := c.ok("EXPUNGE")
	if len(u) != 2 || u[0] != "* 4 EXPUNGE" || u[1] != "* 2 EXPUNGE" {
		t.Fatalf("EXPUNGE: %q", u)
	}
	c.ok(`UID STORE 1,3 +FLAGS.SILENT (\Deleted)`)
	u = c.ok("UID EXPUNGE 3")
	if len(u) != 1 || u[0] != "* 2 EXPUNGE" {
		t.Fatalf("UID EXPUNGE: %q", u)
	}
	c.ok("CLOSE") // expunges UID 1 silently
	has(t, c.ok("STATUS INBOX (MESSAGES)"), "MESSAGES 0")
}

func TestQResync(t *testing.T) {
	e := newEnv(t)
	for range 5 {
		e.deliver("", simpleMsg, 0)
	}
	c := e.login()
	c.ok("ENABLE QRESYNC")
	u := c.ok("SELECT INBOX")
	var uv, hms string
	for _, l := range u {
		if n, ok := cut(l, "* OK [UIDVALIDITY ", "]"); ok {
			uv = n
		}
		if n, ok := cut(l, "* OK [HIGHESTMODSEQ ", "]"); ok {
			hms = n
		}
	}
	c.ok(`STORE 2 +FLAGS (\Flagged)`)
	c.ok(`STORE 3 +FLAGS.SILENT (\Deleted)`)
	u = c.ok("EXPUNGE")
	has(t, u, "* VANISHED 3")
	c.ok("UNSELECT")
	u = c.ok("SELECT INBOX (QRESYNC (" + uv + " " + hms + " 1:5))")
	has(t, u, "* VANISHED (EARLIER) 3", "FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (")
	hasNot(t, u, "UID 1 ")
	u = c.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE " + hms + " VANISHED)")
	has(t, u, "* VANISHED (EARLIER) 3", "UID 2 FLAGS (\\Flagged) MODSEQ")
	hasNot(t, u, "UID 1 ")
	c.expect("SELECT INBOX (QRESYNC (1 1))", "OK") // wrong UIDVALIDITY: plain select
}

func cut(s, prefix, suffix string) (string, bool) {
	if len(s) < len(prefix) || s[:len(prefix)] != prefix {
		return "", false
	}
	rest := s[len(prefix):]
	for i := 0; i < len(rest); i++ {
		if rest[i:i+1] == suffix {
			return rest[:i], true
		}
	}
	return "", false
}
