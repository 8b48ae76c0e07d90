package imapserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/message"
	"github.com/posthorn/posthorn/internal/store"
)

// deliverAt stores a message with an internal date and keywords.
func (e *testEnv) deliverAt(msg string, date time.Time, flags store.Flags, kws ...string) store.Message {
	e.t.Helper()
	body := []byte(msg)
	prefix := []byte("X-Spam-Verdict: ham-marker\r\n")
	served := append(slices.Clip(prefix), body...)
	root, err := message.Parse(bytes.NewReader(served), int64(len(served)))
	if err != nil {
		e.t.Fatal(err)
	}
	ms, err := e.st.Deliver(context.Background(), store.Delivery{
		Body: bytes.NewReader(body), InternalDate: date,
		Targets: []store.Target{{AccountID: e.acct.ID, Flags: flags, Keywords: kws, Structure: root.Marshal(),
			HeaderPrefix: prefix}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.notRecent(ms[0])
	return ms[0]
}

// searchLine runs cmd and returns its one SEARCH or ESEARCH response.
func searchLine(t *testing.T, c *tconn, cmd string) string {
	t.Helper()
	u := c.ok(cmd)
	var found []string
	for _, l := range u {
		if strings.HasPrefix(l, "* SEARCH") || strings.HasPrefix(l, "* ESEARCH") {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d SEARCH responses in %q", cmd, len(found), u)
	}
	// The ESEARCH tag must be this command's; tests compare it as (TAG).
	return strings.Replace(found[0], `(TAG "a`+itoa(c.tag)+`")`, "(TAG)", 1)
}

// searchEnv is a mailbox of four messages:
//
//	1 Bob → alice, "Hello", sent 6 May 2024, internal 6 May 2024, \Seen
//	2 Carol → alice cc dave bcc eve, "Café meeting" (encoded), sent 1 Jan 2023,
//	  internal 2 Jan 2023 23:30 -0500, base64 body, \Flagged \Answered $Important
//	3 HTML, X-Priority: 1, large, sent 1 Jun 2024, internal an hour ago, \Deleted
//	4 a draft with no Date, internal 31 May 2024, \Draft
func searchEnv(t *testing.T) *testEnv {
	e := newEnv(t)
	e.deliverAt(simpleMsg, time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), store.FlagSeen)
	e.deliverAt("From: Carol <carol@example.net>\r\nTo: Alice <alice@example.org>\r\nCc: dave@example.com\r\n"+
		"Bcc: eve@example.com\r\nSubject: =?UTF-8?Q?Caf=C3=A9?= meeting\r\nDate: Sun, 1 Jan 2023 10:00:00 +0100\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"+
		base64.StdEncoding.EncodeToString([]byte("The quarterly numbers are in.\r\n"))+"\r\n",
		time.Date(2023, 1, 2, 23, 30, 0, 0, time.FixedZone("", -5*3600)), store.FlagFlagged|store.FlagAnswered, "$Important")
	e.deliverAt("From: news@example.com\r\nTo: alice@example.org\r\nSubject: Newsletter\r\nX-Priority: 1\r\n"+
		"Date: Sat, 1 Jun 2024 10:00:00 +0000\r\nContent-Type: text/html\r\n\r\n<p>Big <b>news</b></p>"+strings.Repeat("<!-- pad -->", 200)+"\r\n",
		time.Now().Add(-time.Hour), store.FlagDeleted)
	e.deliverAt("From: alice@example.org\r\nSubject: draft\r\n\r\nunfinished ok\r\n",
		time.Date(2024, 5, 31, 0, 0, 0, 0, time.UTC), store.FlagDraft)
	return e
}

func TestSearchKeys(t *testing.T) {
	e := searchEnv(t)
	c := e.login()
	c.ok("SELECT INBOX")
	for _, tt := range []struct{ cmd, want string }{
		{"SEARCH ALL", "* SEARCH 1 2 3 4"},
		{"SEARCH SEEN", "* SEARCH 1"},
		{"SEARCH UNSEEN", "* SEARCH 2 3 4"},
		{"SEARCH ANSWERED", "* SEARCH 2"},
		{"SEARCH UNANSWERED", "* SEARCH 1 3 4"},
		{"SEARCH FLAGGED", "* SEARCH 2"},
		{"SEARCH UNFLAGGED", "* SEARCH 1 3 4"},
		{"SEARCH DELETED", "* SEARCH 3"},
		{"SEARCH UNDELETED", "* SEARCH 1 2 4"},
		{"SEARCH DRAFT", "* SEARCH 4"},
		{"SEARCH UNDRAFT", "* SEARCH 1 2 3"},
		{"SEARCH KEYWORD $important", "* SEARCH 2"},
		{"SEARCH UNKEYWORD $Important", "* SEARCH 1 3 4"},
		{"SEARCH KEYWORD \\Seen", "* SEARCH 1"},
		{"SEARCH NEW", "* SEARCH"},
		{"SEARCH RECENT", "* SEARCH"},
		{"SEARCH OLD", "* SEARCH 1 2 3 4"},
		{"SEARCH FROM bob", "* SEARCH 1"},
		{"SEARCH FROM \"carol <carol@example.NET>\"", "* SEARCH 2"},
		{"SEARCH TO alice", "* SEARCH 1 2 3"},
		{"SEARCH CC dave", "* SEARCH 2"},
		{"SEARCH BCC eve@", "* SEARCH 2"},
		{"SEARCH SUBJECT hello", "* SEARCH 1"},
		{"SEARCH CHARSET UTF-8 SUBJECT {5}\r\ncafé", "* SEARCH 2"},
		{"SEARCH BODY QUARTERLY", "* SEARCH 2"},
		{"SEARCH BODY news", "* SEARCH 3"},
		{"SEARCH BODY pad", "* SEARCH"}, // inside an HTML comment tag
		{"SEARCH BODY meeting", "* SEARCH"},
		{"SEARCH TEXT meeting", "* SEARCH 2"},
		{"SEARCH TEXT ham-marker", "* SEARCH 1 2 3 4"}, // the header prefix
		{"SEARCH BODY ok", "* SEARCH 4"},               // short term: scanned
		{"SEARCH TEXT \"\"", "* SEARCH 1 2 3 4"},
		{"SEARCH HEADER X-Priority 1", "* SEARCH 3"},
		{"SEARCH HEADER x-priority \"\"", "* SEARCH 3"},
		{"SEARCH HEADER Message-ID <1@example.com>", "* SEARCH 1"},
		{"SEARCH HEADER X-Spam-Verdict ham", "* SEARCH 1 2 3 4"},
		{"SEARCH LARGER 1000", "* SEARCH 3"},
		{"SEARCH SMALLER 150", "* SEARCH 4"},
		{"SEARCH BEFORE 6-May-2024", "* SEARCH 2"},
		{"SEARCH ON 2-Jan-2023", "* SEARCH 2"}, // in the internal date's own zone
		{"SEARCH SINCE 31-May-2024", "* SEARCH 3 4"},
		{"SEARCH SENTBEFORE 1-Jun-2024", "* SEARCH 1 2 4"},
		{"SEARCH SENTON 1-Jan-2023", "* SEARCH 2"},
		{"SEARCH SENTSINCE 1-Jun-2024", "* SEARCH 3"},
		{"SEARCH SENTON 31-May-2024", "* SEARCH 4"}, // no Date: the internal date
		{"SEARCH YOUNGER 7200", "* SEARCH 3"},
		{"SEARCH OLDER 7200", "* SEARCH 1 2 4"},
		{"SEARCH SAVEDSINCE 1-Jan-2000", "* SEARCH 1 2 3 4"},
		{"SEARCH SAVEDBEFORE 1-Jan-2000", "* SEARCH"},
		{"SEARCH SAVEDATESUPPORTED", "* SEARCH 1 2 3 4"},
		{"SEARCH OR SEEN FLAGGED", "* SEARCH 1 2"},
		{"SEARCH NOT SEEN", "* SEARCH 2 3 4"},
		{"SEARCH NOT (SEEN OR DELETED DRAFT)", "* SEARCH 1 2 3 4"},
		{"SEARCH NOT (OR SEEN OR DELETED DRAFT)", "* SEARCH 2"},
		{"SEARCH 2:3", "* SEARCH 2 3"},
		{"SEARCH *", "* SEARCH 4"},
		{"SEARCH 3:* UNDELETED", "* SEARCH 4"},
		{"SEARCH UID 3:*", "* SEARCH 3 4"},
		{"SEARCH UID 4,1", "* SEARCH 1 4"},
		{"SEARCH CHARSET US-ASCII FROM bob", "* SEARCH 1"},
		{"UID SEARCH SEEN", "* SEARCH 1"},
	} {
		if got := searchLine(t, c, tt.cmd); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.cmd, got, tt.want)
		}
	}
	c.expect("SEARCH CHARSET ISO-8859-1 FROM bob", "NO [BADCHARSET (UTF-8 US-ASCII)]")
	c.expect("SEARCH BOGUS", "BAD")
	c.expect("SEARCH SUBJECT \"caf\xc3\xa9\"", "BAD") // 8-bit quoted string before UTF8=ACCEPT
	c.expect("SEARCH", "BAD")
	c.ok("UNSELECT")
	c.expect("SEARCH ALL", "BAD")
}

func TestSearchModSeq(t *testing.T) {
	e := searchEnv(t)
	c := e.login()
	c.ok("SELECT INBOX")
	u := c.ok("STORE 2 +FLAGS (\\Seen)")
	var ms string
	for _, l := range u {
		if _, after, ok := strings.Cut(l, "MODSEQ ("); ok {
			ms = strings.TrimSuffix(after, "))")
		}
	}
	if ms == "" {
		// CONDSTORE is not on yet; ask for the MODSEQ.
		u = c.ok("FETCH 2 (MODSEQ)")
		_, after, _ := strings.Cut(u[0], "MODSEQ (")
		ms = strings.TrimSuffix(after, "))")
	}
	if got := searchLine(t, c, "SEARCH MODSEQ "+ms); got != "* SEARCH 2 (MODSEQ "+ms+")" {
		t.Errorf("SEARCH MODSEQ: %q", got)
	}
	if got := searchLine(t, c, `SEARCH MODSEQ "/flags/\\seen" all `+ms+` SEEN`); got != "* SEARCH 2 (MODSEQ "+ms+")" {
		t.Errorf("SEARCH MODSEQ entry: %q", got)
	}
	if got := searchLine(t, c, "UID SEARCH RETURN (COUNT) MODSEQ 1"); got != `* ESEARCH (TAG) UID COUNT 4 MODSEQ `+ms {
		t.Errorf("ESEARCH MODSEQ: %q", got)
	}
	if got := searchLine(t, c, "SEARCH MODSEQ 999999999"); got != "* SEARCH" {
		t.Errorf("SEARCH MODSEQ (none): %q", got)
	}
}

func TestESearchAndSearchRes(t *testing.T) {
	e := searchEnv(t)
	c := e.login()
	has(t, c.ok("CAPABILITY"), " ESEARCH", " SEARCHRES", " WITHIN", " SAVEDATE", " IMAP4rev2")
	c.ok("SELECT INBOX") // a2
	for _, tt := range []struct{ cmd, want string }{
		{"SEARCH RETURN (MIN MAX COUNT) UNSEEN", `* ESEARCH (TAG) MIN 2 MAX 4 COUNT 3`},
		{"SEARCH RETURN () UNSEEN", `* ESEARCH (TAG) ALL 2:4`},
		{"UID SEARCH RETURN (ALL) OR SEEN DRAFT", `* ESEARCH (TAG) UID ALL 1,4`},
		{"SEARCH RETURN (MIN MAX ALL) NEW", `* ESEARCH (TAG)`},
		{"UID SEARCH RETURN (COUNT) NEW", `* ESEARCH (TAG) UID COUNT 0`},
	} {
		if got := searchLine(t, c, tt.cmd); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.cmd, got, tt.want)
		}
	}
	// SAVE alone answers nothing; $ is then usable everywhere.
	if u := c.ok("SEARCH RETURN (SAVE) OR FLAGGED DRAFT"); len(u) != 0 {
		t.Errorf("SEARCH RETURN (SAVE): %q", u)
	}
	has(t, c.ok("FETCH $ (FLAGS)"), `* 2 FETCH (FLAGS (\Answered \Flagged $Important))`, `* 4 FETCH (FLAGS (\Draft))`)
	if got := searchLine(t, c, "SEARCH $"); got != "* SEARCH 2 4" {
		t.Errorf("SEARCH $: %q", got)
	}
	if got := searchLine(t, c, "UID SEARCH UID $ DRAFT"); got != "* SEARCH 4" {
		t.Errorf("UID SEARCH UID $: %q", got)
	}
	c.ok("STORE $ +FLAGS.SILENT (\\Seen)")
	if got := searchLine(t, c, "SEARCH UNSEEN"); got != "* SEARCH 3" {
		t.Errorf("after STORE $: %q", got)
	}
	// SAVE with MIN/MAX and ALL: saves all, answers MIN.
	if got := searchLine(t, c, "SEARCH RETURN (SAVE MIN ALL) SEEN"); got != `* ESEARCH (TAG) MIN 1 ALL 1:2,4` {
		t.Errorf("SAVE MIN ALL: %q", got)
	}
	if got := searchLine(t, c, "SEARCH $"); got != "* SEARCH 1 2 4" {
		t.Errorf("$ after SAVE MIN ALL: %q", got)
	}
	// SAVE with only MAX saves only the maximum.
	c.ok("SEARCH RETURN (SAVE MAX) SEEN")
	if got := searchLine(t, c, "SEARCH $"); got != "* SEARCH 4" {
		t.Errorf("$ after SAVE MAX: %q", got)
	}
	// A failed SEARCH with SAVE empties $.
	c.expect("SEARCH RETURN (SAVE) BOGUS", "BAD")
	if got := searchLine(t, c, "SEARCH $"); got != "* SEARCH" {
		t.Errorf("$ after a failed SAVE: %q", got)
	}
	// UID EXPUNGE $ and COPY $.
	c.ok("SEARCH RETURN (SAVE) DELETED")
	if _, st := c.run("COPY $ Archive"); !strings.Contains(st, "[COPYUID ") {
		t.Errorf("COPY $: %s", st)
	}
	has(t, c.ok("UID EXPUNGE $"), "* 3 EXPUNGE")
	if got := searchLine(t, c, "SEARCH $"); got != "* SEARCH" {
		t.Errorf("$ after expunging it: %q", got)
	}
	// A new SELECT forgets $.
	c.ok("SEARCH RETURN (SAVE) ALL")
	c.ok("SELECT INBOX")
	if got := searchLine(t, c, "SEARCH $"); got != "* SEARCH" {
		t.Errorf("$ after SELECT: %q", got)
	}
	// IMAP4rev2 answers SEARCH with ESEARCH.
	c.ok("ENABLE IMAP4rev2")
	if got := searchLine(t, c, "SEARCH SEEN"); got != `* ESEARCH (TAG) ALL 1:3` {
		t.Errorf("rev2 SEARCH: %q", got)
	}
}

// TestSearchPendingExpunge: SEARCH must not renumber messages while another
// session's expunge is pending (RFC 9051 §7.5.1); the expunged message is
// not found, and the EXPUNGE comes with the next command that allows it.
func TestSearchPendingExpunge(t *testing.T) {
	e := searchEnv(t)
	c1, c2 := e.login(), e.login()
	c1.ok("SELECT INBOX")
	c2.ok("SELECT INBOX")
	c2.ok("UID EXPUNGE 3")
	u := c1.ok("SEARCH UNSEEN")
	hasNot(t, u, "EXPUNGE")
	has(t, u, "* SEARCH 2 4")
	u = c1.ok("UID SEARCH UNSEEN")
	has(t, u, "* SEARCH 2 4", "* 3 EXPUNGE")
	if got := searchLine(t, c1, "SEARCH UNSEEN"); got != "* SEARCH 2 3" {
		t.Errorf("after the expunge: %q", got)
	}
}

// TestSearchSignatureFields: the index leaves out the b= and bh= values of
// DKIM/ARC signature fields; SEARCH HEADER on those fields stays exact by
// testing the header itself, the other tags stay searchable by TEXT.
func TestSearchSignatureFields(t *testing.T) {
	e := newEnv(t)
	e.deliverAt(simpleMsg, time.Now(), 0)
	e.deliverAt("DKIM-Signature: v=1; a=rsa-sha256; d=signer.example; s=sel2026;\r\n"+
		"\th=From:To:Subject; bh=QmFzZTY0Qm9keUhhc2g=;\r\n\tb=Zm9vYmFyU2lnbmF0dXJlVmFsdWU=\r\n"+
		"From: a@signer.example\r\nTo: alice@example.org\r\nSubject: signed\r\n\r\nsigned body\r\n", time.Now(), 0)
	c := e.login()
	c.ok("SELECT INBOX")
	for _, tt := range []struct{ cmd, want string }{
		{"SEARCH TEXT signer.example", "* SEARCH 2"},
		{"SEARCH TEXT sel2026", "* SEARCH 2"},
		{"SEARCH TEXT YmFyU2lnbmF0", "* SEARCH"}, // inside b=: not indexed (docs/imap.md)
		{"SEARCH HEADER DKIM-Signature YmFyU2lnbmF0", "* SEARCH 2"},
		{"SEARCH HEADER dkim-signature Qm9keUhh", "* SEARCH 2"}, // inside bh=
		{"SEARCH HEADER DKIM-Signature sel2026", "* SEARCH 2"},
		{"SEARCH HEADER DKIM-Signature nowhere", "* SEARCH"},
		{"SEARCH HEADER DKIM-Signature \"\"", "* SEARCH 2"},
	} {
		if got := searchLine(t, c, tt.cmd); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.cmd, got, tt.want)
		}
	}
}
