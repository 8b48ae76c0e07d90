package imapserver

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/posthorn/posthorn/internal/store"
)

// Regressions found by an IMAP conformance suite and its stress mode
// (issue 12 §4), each as a raw transcript.

// TestListTildeAtom: an atom starting with "~" is a pattern, not a literal8.
func TestListTildeAtom(t *testing.T) {
	e := newEnv(t)
	c := e.login()
	c.ok(`CREATE ~foo`)
	u := c.ok(`LIST "" ~foo`)
	if len(u) != 1 || u[0] != `* LIST (\HasNoChildren) "/" ~foo` {
		t.Errorf("LIST \"\" ~foo: %q", u)
	}
}

// TestCondstoreFetchResponses: once CONDSTORE is on, untagged FETCHes
// carry UID and MODSEQ (RFC 7162 §3.1): STORE's, .SILENT ones, those of a
// FETCH that sets \Seen, and those of changes by another session.
func TestCondstoreFetchResponses(t *testing.T) {
	e := newEnv(t)
	m1 := e.deliver("", simpleMsg, 0)
	e.deliver("", simpleMsg, 0)
	c := e.login()
	c.ok("ENABLE CONDSTORE")
	c.ok("SELECT INBOX")
	u := c.ok(`STORE 1 +FLAGS (\Flagged)`)
	ms := modseqOf(t, u, 0)
	if want := fmt.Sprintf(`* 1 FETCH (UID %d FLAGS (\Flagged) MODSEQ (%d))`, m1.UID, ms); len(u) != 1 || u[0] != want {
		t.Errorf("STORE: %q, want %q", u, want)
	}
	u = c.ok(`STORE 1 +FLAGS.SILENT (\Answered)`)
	if len(u) != 1 || !strings.HasPrefix(u[0], fmt.Sprintf("* 1 FETCH (UID %d MODSEQ (", m1.UID)) {
		t.Errorf("STORE .SILENT: %q", u)
	}
	u = c.ok("FETCH 2 BODY[TEXT]")
	if len(u) != 1 || !regexp.MustCompile(`^\* 2 FETCH \(UID 2 FLAGS \(\\Seen\) MODSEQ \(\d+\) BODY\[TEXT\] \{\d+\}`).MatchString(u[0]) {
		t.Errorf("FETCH setting \\Seen: %q", u)
	}
	// RFC 7162 §3.1 leaves a FETCH that asks for neither and sets
	// nothing alone.
	u = c.ok("FETCH 1 RFC822.SIZE")
	if len(u) != 1 || !regexp.MustCompile(`^\* 1 FETCH \(RFC822.SIZE \d+\)$`).MatchString(u[0]) {
		t.Errorf("plain FETCH: %q", u)
	}
	other := e.login()
	other.ok("SELECT INBOX")
	other.ok(`STORE 2 FLAGS (\Deleted)`)
	u = c.ok("NOOP")
	if len(u) != 1 || !regexp.MustCompile(`^\* 2 FETCH \(UID 2 FLAGS \(\\Deleted\) MODSEQ \(\d+\)\)$`).MatchString(u[0]) {
		t.Errorf("unsolicited FETCH: %q", u)
	}
}

// modseqOf returns the MODSEQ of line i of u.
func modseqOf(t *testing.T, u []string, i int) uint64 {
	t.Helper()
	if i >= len(u) {
		t.Fatalf("no line %d in %q", i, u)
	}
	m := regexp.MustCompile(`MODSEQ \((\d+)\)`).FindStringSubmatch(u[i])
	if m == nil {
		t.Fatalf("no MODSEQ in %q", u[i])
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// TestCondstoreEnableAnnouncesHighestModSeq: the first CONDSTORE enabling
// command with a mailbox selected ends with OK [HIGHESTMODSEQ] (RFC 7162
// §3.1), whichever command it is; later ones do not repeat it.
func TestCondstoreEnableAnnouncesHighestModSeq(t *testing.T) {
	for _, cmd := range []string{
		"ENABLE CONDSTORE",
		"FETCH 1 (FLAGS MODSEQ)",
		"UID FETCH 1:* FLAGS (CHANGEDSINCE 1)",
		"SEARCH MODSEQ 1",
		"STORE 1 (UNCHANGEDSINCE 100) +FLAGS (x)",
		"STATUS INBOX (HIGHESTMODSEQ)",
	} {
		t.Run(cmd, func(t *testing.T) {
			e := newEnv(t)
			e.deliver("", simpleMsg, 0)
			c := e.login()
			c.ok("SELECT INBOX")
			mb, err := e.st.MailboxByName(context.Background(), e.acct.ID, "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			u := c.ok(cmd)
			mb2, _ := e.st.MailboxByName(context.Background(), e.acct.ID, "INBOX")
			hm := fmt.Sprintf("* OK [HIGHESTMODSEQ %d] ", mb2.HighestModSeq)
			if len(u) == 0 || !strings.HasPrefix(u[len(u)-1], hm) {
				t.Errorf("%s: %q, want last %q (was %d before)", cmd, u, hm, mb.HighestModSeq)
			}
			hasNot(t, c.ok("NOOP"), "HIGHESTMODSEQ")
			hasNot(t, c.ok(cmd), "[HIGHESTMODSEQ")
		})
	}
	// Not selected: nothing to announce; SELECT reports it.
	e := newEnv(t)
	c := e.login()
	hasNot(t, c.ok("ENABLE CONDSTORE"), "HIGHESTMODSEQ")
	has(t, c.ok("SELECT INBOX"), "* OK [HIGHESTMODSEQ ")
	hasNot(t, c.ok("NOOP"), "HIGHESTMODSEQ")
}

// TestCreateInvalidLeavesNothing: a CREATE that fails for its name creates
// none of its parents.
func TestCreateInvalidLeavesNothing(t *testing.T) {
	e := newEnv(t)
	c := e.login()
	c.expect(`CREATE "q1//y"`, "NO")
	c.expect(`CREATE "q2/a//b/c"`, "NO")
	c.expect(`CREATE "q4/`+strings.Repeat("x", 2000)+`"`, "NO")
	u := c.ok(`LIST "" q*`)
	if len(u) != 0 {
		t.Errorf("failed CREATEs left %q", u)
	}
}

// expungingStore expunges some messages (as another session would) just
// before the first OpenAll, after FETCH has read their index records.
type expungingStore struct {
	store.Store
	once    sync.Once
	expunge func()
}

func (s *expungingStore) OpenAll(ctx context.Context, msgs []store.Message) ([]store.Content, error) {
	s.once.Do(s.expunge)
	return s.Store.OpenAll(ctx, msgs)
}

// TestFetchRacingExpunge: a FETCH whose messages another session expunges
// while it runs returns the others and says some were expunged, never
// that the mailbox is gone (RFC 2180 §4.1.2).
func TestFetchRacingExpunge(t *testing.T) {
	e := newEnv(t)
	for i := range 3 {
		e.deliver("", fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i+1, i+1), 0)
	}
	mb, err := e.st.MailboxByName(context.Background(), e.acct.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Store = &expungingStore{Store: e.st, expunge: func() {
		if _, err := e.st.Expunge(context.Background(), e.acct.ID, mb.ID, []uint32{2}); err != nil {
			t.Error(err)
		}
	}}
	c := e.login()
	c.ok("SELECT INBOX")
	u, st := c.run("FETCH 1:3 BODY.PEEK[TEXT]")
	if !strings.HasPrefix(st, "NO [EXPUNGEISSUED]") {
		t.Errorf("tagged %q", st)
	}
	if len(u) != 2 || !strings.HasPrefix(u[0], "* 1 FETCH (BODY[TEXT] {8}\r\nbody 1") || !strings.HasPrefix(u[1], "* 3 FETCH (BODY[TEXT] {8}\r\nbody 3") {
		t.Errorf("untagged %q", u)
	}
	has(t, c.ok("NOOP"), "* 2 EXPUNGE")
}

// TestFlagsListKeywords: FLAGS and PERMANENTFLAGS list the keywords in
// use, and a keyword new to the client is announced with a new FLAGS
// before the FETCH that shows it, whoever set it (RFC 9051 §7.3.5).
func TestFlagsListKeywords(t *testing.T) {
	e := newEnv(t)
	e.deliver("", simpleMsg, 0)
	e.deliver("", simpleMsg, 0)
	c := e.login()
	c.ok("SELECT INBOX")
	c.ok("STORE 1 +FLAGS ($Forwarded)")
	u := c.ok("SELECT INBOX")
	has(t, u, `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)`,
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded \*)]`)
	has(t, c.ok("EXAMINE INBOX"), `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded)`, `[PERMANENTFLAGS ()]`)
	c.ok("SELECT INBOX")

	// Our own STORE, plain and silent.
	u = c.ok("STORE 2 +FLAGS (Work)")
	want := []string{
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded Work)`,
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded Work \*)] Flags permitted`,
		`* 2 FETCH (FLAGS (Work))`,
	}
	if strings.Join(u, "\n") != strings.Join(want, "\n") {
		t.Errorf("STORE new keyword:\n%s\nwant\n%s", strings.Join(u, "\n"), strings.Join(want, "\n"))
	}
	hasNot(t, c.ok("STORE 1 +FLAGS (work)"), "* FLAGS") // keywords are case-insensitive
	has(t, c.ok("STORE 1 +FLAGS.SILENT (Later)"), `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Forwarded Later Work)`)

	// Another session's STORE: FLAGS comes before the unsolicited FETCH.
	other := e.login()
	other.ok("SELECT INBOX")
	other.ok("STORE 2 +FLAGS (Urgent)")
	u = c.ok("NOOP")
	if len(u) != 3 || !strings.HasPrefix(u[0], "* FLAGS (") || !strings.Contains(u[0], " Urgent ") ||
		!strings.HasPrefix(u[1], "* OK [PERMANENTFLAGS (") || !strings.HasPrefix(u[2], "* 2 FETCH (UID 2 FLAGS (Urgent Work)") {
		t.Errorf("unsolicited keyword: %q", u)
	}
	// A keyword already announced is not announced again.
	other.ok("STORE 1 +FLAGS (Urgent)")
	u = c.ok("NOOP")
	if len(u) != 1 || !strings.HasPrefix(u[0], "* 1 FETCH ") {
		t.Errorf("known keyword: %q", u)
	}
	// APPENDed with a keyword, seen through FETCH.
	c.ok("APPEND INBOX (Fresh) {" + strconv.Itoa(len(simpleMsg)) + "+}\r\n" + simpleMsg)
	u = c.ok("FETCH 3 FLAGS")
	if len(u) != 3 || !strings.Contains(u[0], " Fresh ") || !strings.HasPrefix(u[2], `* 3 FETCH (FLAGS (\Recent Fresh))`) {
		t.Errorf("FETCH of a new keyword: %q", u)
	}
}

// TestListSubscriptions: LSUB's \Noselect parents (RFC 3501 §6.3.9),
// subscriptions that outlive their mailbox (RFC 9051 §6.3.7), and
// RECURSIVEMATCH with CHILDINFO (RFC 5258 §3.1, §3.5).
func TestListSubscriptions(t *testing.T) {
	e := newEnv(t)
	c := e.login()
	for _, n := range []string{"rr/b", "rr/c", "s", "t/u/v"} {
		c.ok("CREATE " + n)
	}
	c.ok("SUBSCRIBE rr/b")
	c.ok("SUBSCRIBE t/u/v")
	c.ok("SUBSCRIBE t")
	same := func(cmd string, want ...string) {
		t.Helper()
		if got := c.ok(cmd); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\n%s\nwant\n%s", cmd, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	same(`LSUB "" r%`, `* LSUB (\HasChildren \Noselect) "/" rr`)
	same(`LSUB "" rr/%`, `* LSUB (\HasNoChildren) "/" rr/b`)
	same(`LSUB "" t%`, `* LSUB (\HasChildren) "/" t`)
	same(`LIST (SUBSCRIBED) "" r%`)
	same(`LIST (SUBSCRIBED RECURSIVEMATCH) "" r%`, `* LIST (\HasChildren) "/" rr ("CHILDINFO" ("SUBSCRIBED"))`)
	same(`LIST (SUBSCRIBED RECURSIVEMATCH) "" %`,
		`* LIST (\HasNoChildren \Subscribed) "/" INBOX`,
		`* LIST (\HasNoChildren \Archive \Subscribed) "/" Archive`,
		`* LIST (\HasNoChildren \Drafts \Subscribed) "/" Drafts`,
		`* LIST (\HasNoChildren \Junk \Subscribed) "/" Junk`,
		`* LIST (\HasNoChildren \Sent \Subscribed) "/" Sent`,
		`* LIST (\HasNoChildren \Trash \Subscribed) "/" Trash`,
		`* LIST (\HasChildren) "/" rr ("CHILDINFO" ("SUBSCRIBED"))`,
		`* LIST (\HasChildren \Subscribed) "/" t ("CHILDINFO" ("SUBSCRIBED"))`)
	// The matching descendant is listed itself: no CHILDINFO.
	same(`LIST (SUBSCRIBED RECURSIVEMATCH) "" rr*`, `* LIST (\HasNoChildren \Subscribed) "/" rr/b`)

	// DELETE keeps the subscription: \NonExistent in LIST (SUBSCRIBED).
	c.ok("DELETE rr/b")
	same(`LIST (SUBSCRIBED) "" rr*`, `* LIST (\NonExistent \HasNoChildren \Subscribed \Noselect) "/" rr/b`)
	same(`LSUB "" rr/*`, `* LSUB (\HasNoChildren \Noselect) "/" rr/b`)
	same(`LIST "" rr*`, `* LIST (\HasChildren) "/" rr`, `* LIST (\HasNoChildren) "/" rr/c`)
	same(`LIST "" rr* RETURN (SUBSCRIBED)`, `* LIST (\HasChildren) "/" rr`, `* LIST (\HasNoChildren) "/" rr/c`)
	c.ok("CREATE rr/b")
	same(`LIST (SUBSCRIBED) "" rr*`, `* LIST (\HasNoChildren \Subscribed) "/" rr/b`)
	c.ok("DELETE rr/b")
	c.ok("UNSUBSCRIBE rr/b")
	same(`LIST (SUBSCRIBED) "" rr*`)
	c.expect("UNSUBSCRIBE rr/b", "NO [NONEXISTENT]")
}

// TestListExtendedOptions: unknown selection or return options, and
// RECURSIVEMATCH alone, are BAD (RFC 5258 §3).
func TestListExtendedOptions(t *testing.T) {
	e := newEnv(t)
	c := e.login()
	for _, cmd := range []string{
		`LIST (BOGUS) "" *`,
		`LIST (RECURSIVEMATCH) "" *`,
		`LIST (REMOTE RECURSIVEMATCH) "" *`,
		`LIST "" * RETURN (BOGUS)`,
		`LIST "" * RETURN (CHILDREN BOGUS)`,
		`LIST (SUBSCRIBED) "" * RETURN (MYRIGHTS)`,
	} {
		c.expect(cmd, "BAD")
	}
	for _, cmd := range []string{
		`LIST () "" INBOX RETURN ()`,
		`LIST (subscribed remote recursivematch) "" INBOX RETURN (children subscribed special-use)`,
		`LIST (SPECIAL-USE) "" * RETURN (STATUS (MESSAGES))`,
	} {
		c.ok(cmd)
	}
}

// TestEnvelopeCommentName: in "user@example.org (Real Name)" the comment
// is the display name, for ENVELOPE and SORT DISPLAYFROM/DISPLAYTO.
func TestEnvelopeCommentName(t *testing.T) {
	e := newEnv(t)
	e.deliver("", "From: zed@example.org (Alice Archer)\r\nTo: a@example.org (Zoe)\r\nSubject: 1\r\n\r\nx\r\n", 0)
	e.deliver("", "From: Bob Baker <bob@example.org>\r\nTo: Mia <m@example.org>\r\nSubject: 2\r\n\r\nx\r\n", 0)
	c := e.login()
	c.ok("SELECT INBOX")
	has(t, c.ok("FETCH 1 ENVELOPE"), `(("Alice Archer" NIL "zed" "example.org"))`, `(("Zoe" NIL "a" "example.org"))`)
	has(t, c.ok("SORT (DISPLAYFROM) UTF-8 ALL"), "* SORT 1 2")
	has(t, c.ok("SORT (DISPLAYTO) UTF-8 ALL"), "* SORT 2 1")
}

// TestNoNULInLiterals: a message APPENDed as a literal8 with NUL bytes is
// served by BODY[] with each NUL replaced (a literal may not hold NUL, RFC
// 9051 §4.3) and by BINARY[] unchanged in a literal8 (RFC 3516 §4.2).
func TestNoNULInLiterals(t *testing.T) {
	e := newEnv(t)
	c := e.login()
	msg := "Subject: nul\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\na\x00b\x00c\r\n--b--\r\n"
	c.ok(fmt.Sprintf("APPEND INBOX ~{%d+}\r\n%s", len(msg), msg))
	c.ok("SELECT INBOX")
	u := c.ok("FETCH 1 BODY.PEEK[1]")
	if len(u) != 1 || u[0] != "* 1 FETCH (BODY[1] {5}\r\na\x80b\x80c)" {
		t.Errorf("BODY[1]: %q", u)
	}
	u = c.ok("FETCH 1 BODY.PEEK[]")
	if len(u) != 1 || strings.Contains(u[0], "\x00") || !strings.Contains(u[0], "a\x80b\x80c") {
		t.Errorf("BODY[]: %q", u)
	}
	u = c.ok("FETCH 1 BINARY.PEEK[1]")
	if len(u) != 1 || u[0] != "* 1 FETCH (BINARY[1] ~{5}\r\na\x00b\x00c)" {
		t.Errorf("BINARY[1]: %q", u)
	}
}

// TestRecentRev1: IMAP4rev1 sessions see \Recent as RFC 3501 §2.3.2 has
// it: a new message is recent in exactly one session, the first to select
// the mailbox or be told of the message; EXAMINE and STATUS only look;
// IMAP4rev2 sessions never see it.
func TestRecentRev1(t *testing.T) {
	e := newEnv(t)
	e.keepRecent = true
	e.deliver("", simpleMsg, 0)
	a, b := e.login(), e.login()
	has(t, a.ok("STATUS INBOX (RECENT)"), "* STATUS INBOX (RECENT 1)")
	has(t, a.ok("EXAMINE INBOX"), "* 1 RECENT")
	has(t, a.ok("SELECT INBOX"), "* 1 RECENT")
	has(t, b.ok("SELECT INBOX"), "* 0 RECENT")
	has(t, a.ok("STATUS INBOX (RECENT)"), "* STATUS INBOX (RECENT 0)")
	has(t, a.ok("FETCH 1 FLAGS"), `* 1 FETCH (FLAGS (\Recent))`)
	has(t, b.ok("FETCH 1 FLAGS"), `* 1 FETCH (FLAGS ())`)

	e.deliver("", simpleMsg, 0)
	u := b.ok("NOOP") // b is told first this time
	if strings.Join(u, "|") != "* 2 EXISTS|* 1 RECENT" {
		t.Errorf("b: %q", u)
	}
	u = a.ok("NOOP")
	if strings.Join(u, "|") != "* 2 EXISTS|* 1 RECENT" {
		t.Errorf("a: %q", u)
	}
	has(t, a.ok("SEARCH RECENT"), "* SEARCH 1")
	has(t, b.ok("SEARCH RECENT"), "* SEARCH 2")
	has(t, b.ok("SEARCH OLD"), "* SEARCH 1")
	b.ok(`STORE 2 +FLAGS.SILENT (\Seen)`)
	has(t, b.ok("SEARCH NEW"), "* SEARCH")
	hasNot(t, b.ok("SEARCH NEW"), "* SEARCH 2")
	has(t, b.ok("FETCH 2 FLAGS"), `* 2 FETCH (FLAGS (\Recent \Seen))`)
	c := e.login()
	has(t, c.ok("SELECT INBOX"), "* 0 RECENT")

	// IMAP4rev2: no \Recent anywhere.
	d := e.login()
	d.ok("ENABLE IMAP4rev2")
	e.deliver("", simpleMsg, 0)
	u = d.ok("SELECT INBOX")
	hasNot(t, u, "RECENT")
	hasNot(t, d.ok("FETCH 1:* FLAGS"), `\Recent`)
	has(t, a.ok("NOOP"), "* 3 EXISTS", "* 2 RECENT") // d did not claim it
}
