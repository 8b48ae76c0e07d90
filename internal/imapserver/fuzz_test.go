package imapserver

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzSession runs a whole logged-in session over net.Pipe with fuzzed
// client input: the server must not panic or hang, whatever it is sent.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"a SELECT INBOX\r\nb FETCH 1:* (FLAGS BODY.PEEK[] BODYSTRUCTURE ENVELOPE BINARY[1] PREVIEW)\r\n",
		"a SELECT INBOX\r\nb STORE 1 +FLAGS (\\Deleted)\r\nc EXPUNGE\r\nd UID FETCH 1:* FLAGS\r\n",
		"a LIST \"\" *\r\nb CREATE x/y\r\nc RENAME x z\r\nd STATUS z/y (MESSAGES SIZE)\r\n",
		"a APPEND INBOX {5+}\r\nhello\r\nb SELECT INBOX\r\nc MOVE 1 Trash\r\n",
		"a ENABLE QRESYNC\r\nb SELECT INBOX (QRESYNC (1 1 1:5))\r\nc IDLE\r\nDONE\r\n",
		"a SELECT INBOX\r\nb SEARCH RETURN (SAVE) OR BODY hello HEADER Subject x\r\nc FETCH $ FLAGS\r\nd UID SEARCH UID $ NOT FROM bob\r\n",
		"a SELECT INBOX\r\nb SEARCH RETURN (MIN MAX COUNT) CHARSET UTF-8 TEXT {2}\r\nhi SENTSINCE 1-Jan-2000 MODSEQ 1\r\n",
		"a SELECT INBOX\r\nb SORT (REVERSE SUBJECT DATE CC) UTF-8 ALL\r\nc UID SORT RETURN (SAVE ALL) (SIZE) UTF-8 1:*\r\nd FETCH $ UID\r\n",
		"a SELECT INBOX\r\nb THREAD REFERENCES UTF-8 ALL\r\nc UID THREAD ORDEREDSUBJECT US-ASCII NOT SEEN\r\n",
		"a GETQUOTAROOT INBOX\r\nb GETQUOTA \"\"\r\nc SETQUOTA \"\" (STORAGE 1)\r\n",
		"a SETMETADATA INBOX (/private/c {1+}\r\nx)\r\nb GETMETADATA (DEPTH 1 MAXSIZE 0) INBOX (/private /shared/c)\r\n",
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f)
	e.deliver("", mimeMsg, 0)
	e.deliver("", simpleMsg, 0)
	f.Fuzz(func(t *testing.T, in []byte) {
		cc, sc := net.Pipe()
		done := make(chan struct{})
		go func() {
			e.srv.ServeConn(sc, false)
			close(done)
		}()
		go io.Copy(io.Discard, cc)
		cc.SetDeadline(time.Now().Add(5 * time.Second))
		cc.Write([]byte("l LOGIN " + testUser + " " + testPass + "\r\n"))
		cc.Write(bytes.ReplaceAll(in, []byte("LOGOUT"), nil))
		cc.Write([]byte("\r\nDONE\r\nz LOGOUT\r\n"))
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("session did not end")
		}
		cc.Close()
	})
}
