package imapserver

import (
	"strings"
	"testing"
	"time"
)

// tm is a crafted message for the threading table tests: seq (= UID),
// Message-ID, References (space-separated, without brackets), subject and
// sent date (minutes after a base time).
type tm struct {
	seq     uint32
	id      string
	refs    string
	subject string
	minute  int
}

func threadMsgs(ms []tm) []threadMsg {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]threadMsg, len(ms))
	for i, m := range ms {
		b, rf := baseSubject(m.subject)
		out[i] = threadMsg{
			msgInfo: msgInfo{hit: hit{seq: m.seq, uid: m.seq}, sent: base.Add(time.Duration(m.minute) * time.Minute),
				base: foldASCII(b), replyFwd: rf},
			id:   m.id,
			refs: strings.Fields(m.refs),
		}
	}
	return out
}

func TestThreadReferences(t *testing.T) {
	for _, tc := range []struct {
		name string
		msgs []tm
		want string
	}{
		{"chain", []tm{{1, "a", "", "s1", 1}, {2, "b", "a", "s2", 2}, {3, "c", "a b", "s3", 3}}, "(1 2 3)"},
		{"siblings sorted by date", []tm{{1, "a", "", "s1", 1}, {2, "b", "a", "s2", 5}, {3, "c", "a", "s3", 3}},
			"(1 (3)(2))"},
		// A missing parent with two children stays as a dummy at the root.
		{"missing parent", []tm{{1, "b", "a", "s1", 1}, {2, "c", "a", "s2", 2}}, "((1)(2))"},
		// A dummy with one child at the root is replaced by the child.
		{"missing parent one child", []tm{{1, "b", "a", "s1", 1}, {2, "x", "", "s2", 2}}, "(1)(2)"},
		// Dummies inside a thread are replaced by their children.
		{"missing middle", []tm{{1, "a", "", "s1", 1}, {2, "c", "a b", "s2", 2}, {3, "d", "a b", "s3", 3}},
			"(1 (2)(3))"},
		{"missing chain", []tm{{1, "c", "a b", "s1", 1}}, "(1)"},
		// A truncated References field does not move an existing parent.
		{"truncated references", []tm{{1, "a", "", "s1", 1}, {2, "b", "a", "s2", 2}, {3, "c", "b", "s3", 3},
			{4, "d", "x c", "s4", 4}}, "(1 2 3 4)"},
		// The last reference wins over an earlier guess (step 1.B).
		{"reparent", []tm{{1, "a", "", "s1", 1}, {2, "b", "", "s2", 2}, {3, "c", "a", "s3", 3},
			{4, "d", "b c", "s4", 4}}, "(1 3 4)(2)"},
		{"cycle", []tm{{1, "a", "b", "s1", 1}, {2, "b", "a", "s2", 2}}, "(2 1)"},
		{"self reference", []tm{{1, "a", "a", "s1", 1}}, "(1)"},
		{"loop in references", []tm{{1, "a", "", "s1", 1}, {2, "b", "a b a", "s2", 2}}, "(1 2)"},
		// A duplicate (or missing) Message-ID makes a message of its own.
		{"duplicate id", []tm{{1, "a", "", "s1", 1}, {2, "a", "", "s2", 2}, {3, "c", "a", "s3", 3}}, "(1 3)(2)"},
		{"no ids", []tm{{1, "", "", "s1", 2}, {2, "", "", "s2", 1}}, "(2)(1)"},
		// Step 5: a reply joins the thread of the original...
		{"subject reply", []tm{{1, "a", "", "Hello", 1}, {2, "b", "", "Re: hello", 2}}, "(1 2)"},
		// ...even when it came first.
		{"subject reply first", []tm{{1, "b", "", "Re: hello", 1}, {2, "a", "", "Hello", 2}}, "(2 1)"},
		// Two originals with the same subject get a dummy parent.
		{"subject same", []tm{{1, "a", "", "Other", 1}, {2, "b", "", "other", 2}, {3, "c", "", "Re: other", 3}},
			"((1)(2)(3))"},
		// A dummy (missing parent) attracts messages with its subject.
		{"subject dummy", []tm{{1, "b", "a", "Re: topic", 2}, {2, "c", "a", "Re: topic", 3}, {3, "d", "", "topic", 1}},
			"((3)(1)(2))"},
		{"subject two dummies", []tm{{1, "b", "a", "Re: t", 1}, {2, "c", "a", "Re: t", 2},
			{3, "e", "d", "Re: t", 3}, {4, "f", "d", "Re: t", 4}}, "((1)(2)(3)(4))"},
		// Empty base subjects are never merged.
		{"empty subjects", []tm{{1, "a", "", "", 1}, {2, "b", "", "Re:", 2}}, "(1)(2)"},
		{"forward", []tm{{1, "a", "", "[Fwd: plan]", 1}, {2, "b", "", "plan", 2}}, "(2 1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := formatThreads(threadReferences(threadMsgs(tc.msgs)), false)
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestThreadOrderedSubject(t *testing.T) {
	for _, tc := range []struct {
		name string
		msgs []tm
		want string
	}{
		{"one", []tm{{1, "", "", "x", 1}}, "(1)"},
		{"pair", []tm{{1, "", "", "x", 1}, {2, "", "", "Re: X", 2}}, "(1 2)"},
		{"groups", []tm{{1, "", "", "Hello", 3}, {2, "", "", "Re: hello", 1}, {3, "", "", "Other", 2},
			{4, "", "", "Hello", 4}}, "(2 (1)(4))(3)"},
		{"ties by seq", []tm{{2, "", "", "a", 1}, {1, "", "", "b", 1}}, "(1)(2)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := threadMsgs(tc.msgs)
			infos := make([]msgInfo, len(ms))
			for i := range ms {
				infos[i] = ms[i].msgInfo
			}
			got := formatThreads(threadOrderedSubject(infos), false)
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestThreadCommand(t *testing.T) {
	e := newEnv(t)
	msg := func(id, refs, irt, subject, date string) string {
		var b strings.Builder
		b.WriteString("From: bob@example.com\r\nSubject: " + subject + "\r\nDate: " + date + "\r\n")
		if id != "" {
			b.WriteString("Message-ID: <" + id + ">\r\n")
		}
		if refs != "" {
			b.WriteString("References: " + refs + "\r\n")
		}
		if irt != "" {
			b.WriteString("In-Reply-To: " + irt + "\r\n")
		}
		b.WriteString("\r\nbody\r\n")
		return b.String()
	}
	e.deliver("", msg("a@x", "", "", "Plan", "Mon, 1 Jan 2024 10:00:00 +0000"), 0)
	e.deliver("", msg("b@x", "<a@x>", "<a@x>", "Re: Plan", "Mon, 1 Jan 2024 11:00:00 +0000"), 0)
	e.deliver("", msg("c@x", "", "<b@x> (comment)", "Re: Plan", "Mon, 1 Jan 2024 12:00:00 +0000"), 0)
	e.deliver("", msg("d@x", "", "", "Other", "Sun, 31 Dec 2023 10:00:00 +0000"), 0)
	e.deliver("", msg("e@x", "<zz@x>\r\n <a@x>", "", "Re: Plan", "Mon, 1 Jan 2024 09:00:00 +0000"), 0)
	e.deliver("", msg("", "", "", "Re: Other", "Tue, 2 Jan 2024 10:00:00 +0000"), 0)
	c := e.login()
	c.ok("SELECT INBOX")
	for _, tc := range []struct{ cmd, want string }{
		{"THREAD REFERENCES UTF-8 ALL", "* THREAD (4 6)(1 (5)(2 3))"},
		{"UID THREAD REFERENCES US-ASCII ALL", "* THREAD (4 6)(1 (5)(2 3))"},
		{"THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (4 6)(5 (1)(2)(3))"},
		{"THREAD REFERENCES UTF-8 NOT SUBJECT other", "* THREAD (1 (5)(2 3))"},
		{"THREAD REFERENCES UTF-8 SUBJECT nothing", "* THREAD"},
	} {
		if got := sortLine(t, c, tc.cmd, "* THREAD"); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.cmd, got, tc.want)
		}
	}
	c.ok("STORE 2 +FLAGS (\\Deleted)")
	c.ok("EXPUNGE")
	if got, want := sortLine(t, c, "THREAD REFERENCES UTF-8 ALL", "* THREAD"), "* THREAD (3 5)(1 (4)(2))"; got != want {
		t.Errorf("after expunge: got %q, want %q", got, want)
	}
	if got, want := sortLine(t, c, "UID THREAD REFERENCES UTF-8 ALL", "* THREAD"), "* THREAD (4 6)(1 (5)(3))"; got != want {
		t.Errorf("UID THREAD after expunge: got %q, want %q", got, want)
	}
	c.expect("THREAD JWZ UTF-8 ALL", "BAD")
	c.expect("THREAD REFERENCES ALL", "BAD")
	c.expect("THREAD REFERENCES ISO-2022-JP ALL", "NO [BADCHARSET")
}
