package imapserver

import (
	"context"
	"strings"
	"testing"
)

func TestCopyMove(t *testing.T) {
	e := newEnv(t)
	for range 3 {
		e.deliver("", simpleMsg, 0)
	}
	c := e.login()
	c.ok("SELECT INBOX")
	_, st := c.run("COPY 1:2 Archive")
	if !strings.HasPrefix(st, "OK [COPYUID ") || !strings.Contains(st, " 1:2 1:2]") {
		t.Fatal(st)
	}
	c.expect("COPY 1 Nope", "NO [TRYCREATE]")
	u, st := c.run("UID MOVE 2 Trash")
	has(t, u, "* OK [COPYUID ", " 2 1]", "* 2 EXPUNGE")
	if !strings.HasPrefix(st, "OK") {
		t.Fatal(st)
	}
	u = c.ok("MOVE 1:* Archive")
	has(t, u, " 1,3 3:4]", "* 2 EXPUNGE", "* 1 EXPUNGE")
	has(t, c.ok("STATUS Archive (MESSAGES)"), "MESSAGES 4")
	has(t, c.ok("STATUS INBOX (MESSAGES)"), "MESSAGES 0")
}

func TestAppend(t *testing.T) {
	e := newEnv(t)
	c := e.login()
	c.ok("SELECT INBOX")
	msg := "Subject: appended\r\n\r\nbody\r\n"
	u, st := c.run(`APPEND INBOX (\Seen $Label) "14-Jul-2023 02:44:25 +0200" {` + itoa(len(msg)) + "+}\r\n" + msg)
	if !strings.HasPrefix(st, "OK [APPENDUID ") || !strings.HasSuffix(strings.Fields(st)[3], "1]") {
		t.Fatalf("%s %q", st, u)
	}
	has(t, u, "* 1 EXISTS")
	u = c.ok("FETCH 1 (FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	// RFC 9051 §2.3.3: the zone given is kept.
	// Appended while selected: \Recent here (RFC 3501 §2.3.2).
	has(t, u, `FLAGS (\Recent \Seen $Label) INTERNALDATE "14-Jul-2023 02:44:25 +0200"`, "Subject: appended")
	// MULTIAPPEND, synchronizing literals.
	c.send("m1 APPEND Drafts {" + itoa(len(msg)) + "}\r\n")
	if l := c.readLine(); !strings.HasPrefix(l, "+ ") {
		t.Fatal(l)
	}
	c.send(msg + " (\\Draft) {" + itoa(len(msg)) + "}\r\n")
	if l := c.readLine(); !strings.HasPrefix(l, "+ ") {
		t.Fatal(l)
	}
	c.send(msg + "\r\n")
	if l := c.readLine(); !strings.Contains(l, " 1:2] ") {
		t.Fatalf("multiappend: %q", l)
	}
	c.expect("APPEND Nope {1+}\r\nx", "NO [TRYCREATE]")
	e.srv.AppendLimit = 10
	c = e.login()
	c.expect("APPEND INBOX {11}", "NO [TOOBIG]")
	c.expect("NOOP", "OK") // still in sync
}

func itoa(n int) string { return u64(uint64(n)) }

// TestMultiAppendAtomic: RFC 3502 §3: a MULTIAPPEND that fails on its
// second message stores neither.
func TestMultiAppendAtomic(t *testing.T) {
	e := newEnv(t)
	c := e.login()
	msg := "Subject: m\r\n\r\n" + strings.Repeat("x", 1000) + "\r\n"
	if err := e.st.SetQuota(context.Background(), e.acct.ID, int64(len(msg)+10)); err != nil {
		t.Fatal(err)
	}
	lit := "{" + itoa(len(msg)) + "+}\r\n" + msg
	c.expect("APPEND INBOX "+lit+" "+lit, "NO [OVERQUOTA]")
	has(t, c.ok("STATUS INBOX (MESSAGES UIDNEXT)"), "MESSAGES 0 UIDNEXT 1")
	c.ok("APPEND INBOX " + lit)
	has(t, c.ok("STATUS INBOX (MESSAGES UIDNEXT)"), "MESSAGES 1 UIDNEXT 2")
}

// TestJunkTraining: with JunkTraining, MOVE and COPY into Junk record a
// spam event per message, MOVE out of Junk a ham event, except into Trash;
// APPEND into Junk records none; without JunkTraining nothing is recorded.
func TestJunkTraining(t *testing.T) {
	e := newEnv(t)
	e.srv.JunkTraining = true
	for range 4 {
		e.deliver("", simpleMsg, 0)
	}
	ctx := context.Background()
	events := func() []string {
		t.Helper()
		es, err := e.st.JunkEvents(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ev := range es {
			out = append(out, string(ev.Verdict)+" "+ev.From+">"+ev.To)
		}
		_, err = e.st.DeleteJunkEvents(ctx, 1<<62)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := func(what string, got []string, w ...string) {
		t.Helper()
		if strings.Join(got, ",") != strings.Join(w, ",") {
			t.Errorf("%s: events %q, want %q", what, got, w)
		}
	}
	c := e.login()
	c.ok("SELECT INBOX")
	has(t, c.ok("MOVE 1:2 Junk"), "* OK [COPYUID ", "* 1 EXPUNGE")
	want("MOVE into Junk", events(), "spam INBOX>Junk", "spam INBOX>Junk")
	c.ok("UID COPY 3 Junk")
	want("COPY into Junk", events(), "spam INBOX>Junk")
	c.ok("COPY 1 Archive")
	want("COPY into Archive", events())
	msg := "Subject: appended\r\n\r\nbody\r\n"
	c.ok("APPEND Junk {" + itoa(len(msg)) + "+}\r\n" + msg)
	want("APPEND into Junk", events())

	c.ok("SELECT Junk")
	c.ok("MOVE 1 INBOX")
	want("MOVE Junk to INBOX", events(), "ham Junk>INBOX")
	c.ok("UID MOVE 2 Trash")
	want("MOVE Junk to Trash", events())
	c.ok("COPY 1 Archive")
	want("COPY Junk to Archive", events(), "ham Junk>Archive")

	plain := newEnv(t) // JunkTraining false
	plain.deliver("", simpleMsg, 0)
	c = plain.login()
	c.ok("SELECT INBOX")
	c.ok("MOVE 1 Junk")
	if es, err := plain.st.JunkEvents(ctx, 0, 100); err != nil || len(es) != 0 {
		t.Errorf("without JunkTraining: events %+v, %v", es, err)
	}
}
