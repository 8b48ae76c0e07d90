package imapserver

import "testing"

// Differences to Dovecot found by test/e2e's differential test, fixed.

// A parameter that RFC 2231 decoded to non-ASCII text goes back to an
// IMAP4rev1 client RFC 2231-encoded, never as 8-bit text in a quoted
// string; after ENABLE UTF8=ACCEPT it is sent as UTF-8.
func TestBodyStructureParamsStay7Bit(t *testing.T) {
	e := newEnv(t)
	e.deliver("", "From: a@example.org\r\nSubject: p\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: application/octet-stream; name*=utf-8''%C3%BCbersicht%20%E2%82%AC.bin\r\n"+
		"Content-Disposition: attachment; filename*=utf-8''caf%C3%A9.txt\r\n\r\nAA==\r\n", 0)
	c := e.login()
	c.ok("SELECT INBOX")
	has(t, c.ok("FETCH 1 BODYSTRUCTURE"),
		`("name*" "utf-8''%C3%BCbersicht%20%E2%82%AC.bin")`, `("attachment" ("filename*" "utf-8''caf%C3%A9.txt"))`)
	c2 := e.login()
	c2.ok("ENABLE UTF8=ACCEPT")
	c2.ok("SELECT INBOX")
	has(t, c2.ok("FETCH 1 BODYSTRUCTURE"), `("name" "übersicht €.bin")`)
}

// SEARCH CC/TO/BCC match the name of a group: it is part of the envelope
// field (Dovecot does the same), of that field only.
func TestSearchGroupName(t *testing.T) {
	e := newEnv(t)
	e.deliver("", "From: a@example.org\r\nTo: b@example.org\r\nCc: undisclosed-recipients:;\r\nSubject: g\r\n\r\nx\r\n", 0)
	e.deliver("", "From: a@example.org\r\nTo: b@example.org\r\nSubject: undisclosed plans\r\n\r\nx\r\n", 0)
	e.deliver("", "From: a@example.org\r\nTo: undisclosed-recipients:;\r\nSubject: h\r\n\r\nx\r\n", 0)
	c := e.login()
	c.ok("SELECT INBOX")
	for cmd, want := range map[string]string{
		"SEARCH CC undisclosed":  "* SEARCH 1",
		"SEARCH TO undisclosed":  "* SEARCH 3",
		"SEARCH BCC undisclosed": "* SEARCH",
		"SEARCH TO b@example":    "* SEARCH 1 2",
	} {
		if got := searchLine(t, c, cmd); got != want {
			t.Errorf("%s: %q, want %q", cmd, got, want)
		}
	}
}
