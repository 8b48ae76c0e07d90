package imapserver

import (
	"strconv"
	"strings"
	"testing"
)

const mimeMsg = "From: =?utf-8?q?J=C3=B6rg?= <jorg@example.com>\r\n" +
	"To: alice@example.org, \"Team\" <team@example.net>\r\n" +
	"Subject: Report\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=XX\r\n" +
	"\r\n" +
	"preamble\r\n" +
	"--XX\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Gr=C3=BC=C3=9Fe   aus\r\n  Berlin\r\n" +
	"--XX\r\n" +
	"Content-Type: application/octet-stream; name=a.bin\r\n" +
	"Content-Disposition: attachment; filename=a.bin\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"AAECAwQ=\r\n" +
	"--XX--\r\n"

func TestFetch(t *testing.T) {
	e := newEnv(t)
	e.deliver("", simpleMsg, 0)
	e.deliver("", mimeMsg, 0)
	c := e.login()
	c.ok("EXAMINE INBOX")
	u := c.ok("FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)")
	has(t, u, `* 1 FETCH (FLAGS () INTERNALDATE " 6-May-2024 07:08:09 +0000" RFC822.SIZE 162 ENVELOPE ("Mon, 6 May 2024 07:08:09 +0000" "Hello" (("Bob" NIL "bob" "example.com")) (("Bob" NIL "bob" "example.com")) (("Bob" NIL "bob" "example.com")) ((NIL NIL "alice" "example.org")) NIL NIL NIL "<1@example.com>"))`)
	u = c.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)] BODY.PEEK[TEXT]<0.3> BODY[1])")
	has(t, u, "BODY[HEADER.FIELDS (SUBJECT)] {18}\r\nSubject: Hello\r\n\r\n", "BODY[TEXT]<0> {3}\r\nHi ", "BODY[1] {25}\r\nHi Alice,\r\nhow are you?\r\n")
	u = c.ok("FETCH 2 (BODYSTRUCTURE)")
	has(t, u, `BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "QUOTED-PRINTABLE" 31 2 NIL NIL NIL NIL)("application" "octet-stream" ("name" "a.bin") NIL NIL "BASE64" 8 NIL ("attachment" ("filename" "a.bin")) NIL NIL) "mixed" ("boundary" "XX") NIL NIL NIL)`)
	u = c.ok("FETCH 2 (ENVELOPE)")
	has(t, u, `(("=?utf-8?b?SsO2cmc=?=" NIL "jorg" "example.com"))`)
	u = c.ok("FETCH 2 (BINARY.SIZE[1] BINARY.PEEK[1] BINARY.PEEK[2] BINARY.SIZE[2] PREVIEW)")
	has(t, u, "BINARY.SIZE[1] 23", "BINARY[1] {23}\r\nGrüße   aus\r\n  Berlin ", "BINARY[2] ~{5}\r\n\x00\x01\x02\x03\x04", "BINARY.SIZE[2] 5", "PREVIEW {18}\r\nGrüße aus Berlin")
	u = c.ok("FETCH 2 (BODY.PEEK[2.MIME] RFC822.HEADER)")
	has(t, u, "BODY[2.MIME] {138}\r\nContent-Type: application/octet-stream", "RFC822.HEADER {")
	// EXAMINE: BODY[] does not set \Seen.
	u = c.ok("FETCH 1 (BODY[])")
	hasNot(t, u, `\Seen`)
	c.ok("SELECT INBOX")
	u = c.ok("FETCH 1 (BODY[])")
	has(t, u, `FLAGS (\Seen)`, "BODY[] {162}\r\nFrom: Bob")
	u = c.ok("FETCH 1:* (FLAGS MODSEQ)")
	has(t, u, `* 1 FETCH (UID 1 FLAGS (\Seen) MODSEQ (`, `* 2 FETCH (UID 2 FLAGS () MODSEQ (`)
	u = c.ok("UID FETCH 2:* FAST")
	if len(u) != 1 || !strings.HasPrefix(u[0], "* 2 FETCH (UID 2 FLAGS () INTERNALDATE") {
		t.Fatalf("UID FETCH: %q", u)
	}
	c.expect("FETCH 1 (BODY[HEADER.FIELDS ()])", "BAD")
	c.expect("FETCH 1 BOGUS", "BAD")
	c.expect("FETCH 0 FLAGS", "BAD")
	u = c.ok("FETCH 1 (BODY.PEEK[5] BINARY.PEEK[7])")
	has(t, u, `BODY[5] ""`, "BINARY[7] NIL")
}

// TestFetchBatches fetches more messages than one fetchBatch, with BODY[]
// setting \Seen, and a sparse UID set.
func TestFetchBatches(t *testing.T) {
	e := newEnv(t)
	n := fetchBatch + 6
	for i := range n {
		e.deliver("", strings.Replace(simpleMsg, "Subject: Hello", "Subject: Msg "+strconv.Itoa(i+1), 1), 0)
	}
	c := e.login()
	c.ok("SELECT INBOX")
	u := c.ok("FETCH 1:* (BODY[HEADER.FIELDS (SUBJECT)])")
	if len(u) != n {
		t.Fatalf("%d responses, want %d", len(u), n)
	}
	for i, l := range u {
		want := "* " + strconv.Itoa(i+1) + " FETCH ("
		if !strings.HasPrefix(l, want) || !strings.Contains(l, "Subject: Msg "+strconv.Itoa(i+1)+"\r\n") || !strings.Contains(l, `\Seen`) {
			t.Errorf("response %d: %q", i+1, l)
		}
	}
	u = c.ok("UID FETCH 2,40," + strconv.Itoa(n) + " (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	has(t, u, "Subject: Msg 2\r\n", "Subject: Msg 40\r\n", "Subject: Msg "+strconv.Itoa(n)+"\r\n")
	if len(u) != 3 {
		t.Errorf("sparse UID FETCH: %d responses", len(u))
	}
}
