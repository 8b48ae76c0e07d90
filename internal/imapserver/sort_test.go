package imapserver

import (
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/store"
)

func TestBaseSubject(t *testing.T) {
	for _, tc := range []struct {
		in   string
		base string
		rf   bool
	}{
		{"", "", false},
		{"Subject", "Subject", false},
		{"Re: Hello", "Hello", true},
		{"RE: [list] Re: hello (fwd)", "hello", true},
		{"[fwd: Re: Meeting]", "Meeting", true},
		{"[Fwd: [fwd: nested]]", "nested", true},
		{"[PATCH] fix the build", "fix the build", false},
		{"[PATCH]", "[PATCH]", false},
		{"[a][b] text", "text", false},
		{"Fwd:   tabs\tand  spaces ", "tabs and spaces", true},
		{"Re[2]: x", "x", true},
		{"Fw: y", "y", true},
		{"re:", "", true},
		{"Re: Re: Re:  ", "", true},
		{"Re : spaced", "spaced", true},
		{"Reply: no", "Reply: no", false},
		{"[x] Re: y (fwd) (FWD)", "y", true},
		{"Café — re: not a leader", "Café — re: not a leader", false},
		{"[unterminated blob", "[unterminated blob", false},
	} {
		base, rf := baseSubject(tc.in)
		if base != tc.base || rf != tc.rf {
			t.Errorf("baseSubject(%q) = %q, %v; want %q, %v", tc.in, base, rf, tc.base, tc.rf)
		}
	}
}

// sortEnv is a mailbox of five messages:
//
//	seq  from              to      cc     subject          date        size
//	1    Zed <zed@..>      b@      —      "Re: banana"     3 Jan       4th
//	2    "Amy" <yy@..>     a@      c@     "apple"          1 Jan       5th
//	3    bob@ (no name)    c@      a@     "[list] Cherry"  2 Jan       2nd
//	4    Amy <amy@..>      —       —      "Fwd: apple"     no Date     3rd
//	5    (no From)         a@      —      ""               4 Jan +0500 smallest
func sortEnv(t *testing.T) *testEnv {
	e := newEnv(t)
	day := func(d int) time.Time { return time.Date(2024, 1, d, 12, 0, 0, 0, time.UTC) }
	e.deliverAt("From: Zed <zed@example.com>\r\nTo: b@example.org\r\nSubject: Re: banana\r\n"+
		"Date: Wed, 3 Jan 2024 10:00:00 +0000\r\n\r\nmedium body "+strings.Repeat("m", 100)+"\r\n", day(1), store.FlagSeen)
	e.deliverAt("From: \"Amy\" <yy@example.com>\r\nTo: a@example.org\r\nCc: c@example.org\r\nSubject: apple\r\n"+
		"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nlarge body "+strings.Repeat("l", 500)+"\r\n", day(5), 0)
	e.deliverAt("From: bob@example.com\r\nTo: c@example.org\r\nCc: a@example.org\r\nSubject: [list] Cherry\r\n"+
		"Date: Tue, 2 Jan 2024 10:00:00 +0000\r\n\r\nsmall\r\n", day(2), store.FlagSeen)
	e.deliverAt("From: Amy <amy@example.com>\r\nSubject: Fwd: apple\r\n\r\nmedium body "+strings.Repeat("m", 100)+"\r\n",
		day(3), 0)
	e.deliverAt("To: a@example.org\r\nDate: Thu, 4 Jan 2024 10:00:00 +0500\r\n\r\nsmall\r\n", day(4), 0)
	return e
}

func TestSort(t *testing.T) {
	e := sortEnv(t)
	c := e.login()
	c.ok("SELECT INBOX")
	for _, tc := range []struct{ cmd, want string }{
		{"SORT (ARRIVAL) UTF-8 ALL", "* SORT 1 3 4 5 2"},
		{"SORT (REVERSE ARRIVAL) UTF-8 ALL", "* SORT 2 5 4 3 1"},
		// Message 4 has no Date: its INTERNALDATE (3 Jan 12:00) counts;
		// message 5's date is 4 Jan 05:00 UTC.
		{"SORT (DATE) UTF-8 ALL", "* SORT 2 3 1 4 5"},
		// Base subjects: "", apple, apple, banana, Cherry (case-insensitive).
		{"SORT (SUBJECT) UTF-8 ALL", "* SORT 5 2 4 1 3"},
		{"SORT (SUBJECT REVERSE DATE) UTF-8 ALL", "* SORT 5 4 2 1 3"},
		// Local parts: "" (none), amy, bob, yy, zed.
		{"SORT (FROM) UTF-8 ALL", "* SORT 5 4 3 2 1"},
		{"SORT (TO) UTF-8 ALL", "* SORT 4 2 5 1 3"},
		{"SORT (CC) UTF-8 ALL", "* SORT 1 4 5 3 2"},
		// Display names: "" (none), amy, amy, bob@example.com, zed.
		{"SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 5 2 4 3 1"},
		{"SORT (DISPLAYTO) UTF-8 ALL", "* SORT 4 2 5 1 3"},
		{"SORT (SIZE) UTF-8 ALL", "* SORT 5 3 4 1 2"},
		{"SORT (REVERSE SIZE ARRIVAL) UTF-8 UNSEEN", "* SORT 2 4 5"},
		{"UID SORT (SUBJECT) US-ASCII SEEN", "* SORT 1 3"},
		{"SORT (SUBJECT) UTF-8 FROM nobody", "* SORT"},
	} {
		got := sortLine(t, c, tc.cmd, "* SORT")
		if got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.cmd, got, tc.want)
		}
	}
	// ESORT (RFC 5267): ALL keeps the sort order.
	got := sortLine(t, c, "SORT RETURN (MIN MAX COUNT ALL) (REVERSE ARRIVAL) UTF-8 ALL", "* ESEARCH")
	if want := `* ESEARCH (TAG) MIN 2 MAX 1 COUNT 5 ALL 2,5,4,3,1`; got != want {
		t.Errorf("ESORT: got %q, want %q", got, want)
	}
	got = sortLine(t, c, "UID SORT RETURN () (ARRIVAL) UTF-8 ALL", "* ESEARCH")
	if want := `* ESEARCH (TAG) UID ALL 1,3:5,2`; got != want {
		t.Errorf("ESORT: got %q, want %q", got, want)
	}
	// SAVE keeps the result for $ (RFC 5182), in UID order.
	c.ok("SORT RETURN (SAVE) (REVERSE SIZE) UTF-8 UNSEEN")
	if got := sortLine(t, c, "UID SEARCH UID $", "* SEARCH"); got != "* SEARCH 2 4 5" {
		t.Errorf("$ after SORT SAVE: %q", got)
	}
	// MODSEQ (RFC 7162 §3.1.5) adds the highest MODSEQ.
	if got := sortLine(t, c, "SORT (ARRIVAL) UTF-8 MODSEQ 1", "* SORT"); !strings.Contains(got, "(MODSEQ ") {
		t.Errorf("SORT MODSEQ: %q", got)
	}
	c.expect("SORT (SUBJECT) KOI8-R ALL", "NO [BADCHARSET (UTF-8 US-ASCII)]")
	c.expect("SORT (SUBJECT) ALL", "BAD")
	c.expect("SORT (NAME) UTF-8 ALL", "BAD")
	c.expect("SORT () UTF-8 ALL", "BAD")
	c.expect("SORT (REVERSE) UTF-8 ALL", "BAD")
	caps := c.ok("CAPABILITY")
	has(t, caps, " SORT ", " SORT=DISPLAY ", " ESORT ", " THREAD=ORDEREDSUBJECT", " THREAD=REFERENCES")
}

// sortLine runs cmd and returns its one response starting with prefix,
// with the ESEARCH tag replaced by (TAG).
func sortLine(t *testing.T, c *tconn, cmd, prefix string) string {
	t.Helper()
	u := c.ok(cmd)
	var found []string
	for _, l := range u {
		if l == prefix || strings.HasPrefix(l, prefix+" ") {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d %s responses in %q", cmd, len(found), prefix, u)
	}
	return strings.Replace(found[0], `(TAG "a`+itoa(c.tag)+`")`, "(TAG)", 1)
}
