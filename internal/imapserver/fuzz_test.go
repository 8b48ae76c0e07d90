package imapserver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/store"
)

// FuzzSession runs a whole logged-in session over net.Pipe with fuzzed
// client input and checks what the server sends back:
//   - no panic, recovered or not (Server.OnPanic), and no hang;
//   - every response is a well-formed line ("* ", "+ " or a tagged
//     OK/NO/BAD), literals announce their exact length, and only a
//     literal8 carries NUL (RFC 9051 §4.3);
//   - tagged completions come in the order of the input's tags, none
//     invented or repeated (checkTagged);
//   - the LOGIN before and the LOGOUT after the fuzzed input each get
//     exactly one completion, unless the server closed the session with
//     BYE: the server is in sync with the client at the end.
func FuzzSession(f *testing.F) {
	for _, s := range sessionSeeds {
		f.Add([]byte(s))
	}
	e := newEnv(f)
	e.deliver("", mimeMsg, 0)
	e.deliver("", simpleMsg, 0)
	var mu sync.Mutex
	var panics []string
	e.srv.OnPanic = func(v any, stack []byte) {
		mu.Lock()
		panics = append(panics, fmt.Sprintf("%v\n%s", v, stack))
		mu.Unlock()
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		in = bytes.ReplaceAll(in, []byte("LOGOUT"), nil)
		out := runSession(t, e, in)
		mu.Lock()
		p := panics
		panics = nil
		mu.Unlock()
		if len(p) > 0 {
			t.Fatalf("session panicked: %s", p[0])
		}
		checkResponses(t, in, out)
	})
}

// sessionSeeds are FuzzSession's seeds beyond testdata/fuzz/FuzzSession.
var sessionSeeds = []string{
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
	"a APPEND INBOX ~{8+}\r\nx\x00\r\n\r\ny\x00\r\nb SELECT INBOX\r\nc FETCH 3 (BODY.PEEK[] BINARY.PEEK[] BODY.PEEK[TEXT])\r\n",
	"a ENABLE CONDSTORE\r\nb SELECT INBOX\r\nc STORE 1 +FLAGS (kw1 \\Flagged)\r\nd FETCH 1:* (FLAGS BODY[TEXT])\r\n",
	"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" % RETURN (CHILDREN)\r\nb LSUB \"\" %\r\nc LIST \"\" ~x\r\n",
}

// runSession runs one session with in between a LOGIN and a LOGOUT and
// returns all the server sent.
func runSession(t *testing.T, e *testEnv, in []byte) []byte {
	cc, sc := net.Pipe()
	done := make(chan struct{})
	go func() {
		e.srv.ServeConn(sc, false)
		close(done)
	}()
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() {
		io.Copy(&out, cc)
		close(copied)
	}()
	cc.SetDeadline(time.Now().Add(5 * time.Second))
	cc.Write([]byte("l LOGIN " + testUser + " " + testPass + "\r\n"))
	cc.Write(in)
	cc.Write([]byte("\r\nDONE\r\nz LOGOUT\r\n"))
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("session did not end")
	}
	cc.Close()
	<-copied
	return out.Bytes()
}

var (
	taggedRE = regexp.MustCompile(`^([^ *+]+) (OK|NO|BAD)( |$)`)
	litRE    = regexp.MustCompile(`(~?)\{(\d+)\}$`)
)

// checkResponses checks the server's output for a session whose fuzzed
// input was in (see FuzzSession).
func checkResponses(t *testing.T, in, out []byte) {
	t.Helper()
	var tags []string
	bye := false
	for len(out) > 0 {
		i := bytes.Index(out, []byte("\r\n"))
		if i < 0 {
			t.Fatalf("response without CRLF: %q", out)
		}
		line := out[:i]
		out = out[i+2:]
		if bytes.ContainsAny(line, "\r\n\x00") {
			t.Fatalf("CR, LF or NUL in a response line: %q", line)
		}
		first := line
		// A line ending in a literal continues after its bytes.
		for {
			m := litRE.FindSubmatch(line)
			if m == nil {
				break
			}
			n, err := strconv.Atoi(string(m[2]))
			if err != nil || n > len(out) {
				t.Fatalf("literal of %s bytes with %d left: %q", m[2], len(out), line)
			}
			if len(m[1]) == 0 && bytes.IndexByte(out[:n], 0) >= 0 {
				t.Fatalf("NUL in a literal (not a literal8): %q", line)
			}
			out = out[n:]
			i := bytes.Index(out, []byte("\r\n"))
			if i < 0 {
				t.Fatalf("no CRLF after a literal: %q", out)
			}
			line = out[:i]
			out = out[i+2:]
			if bytes.ContainsAny(line, "\r\n\x00") {
				t.Fatalf("CR, LF or NUL in a response line: %q", line)
			}
		}
		line = first
		switch {
		case bytes.HasPrefix(line, []byte("* BYE")):
			bye = true
		case bytes.HasPrefix(line, []byte("* ")), bytes.HasPrefix(line, []byte("+ ")):
		default:
			m := taggedRE.FindSubmatch(line)
			if m == nil {
				t.Fatalf("malformed response line %q", line)
			}
			tags = append(tags, string(m[1]))
		}
	}
	checkTagged(t, in, tags, bye)
}

// checkTagged checks that the tagged completions follow the order of the
// tags that begin input lines (each at most once per line), and that the
// LOGIN ("l") and LOGOUT ("z") the harness sends around in are each
// completed once unless the session ended early with BYE.
func checkTagged(t *testing.T, in []byte, tags []string, bye bool) {
	t.Helper()
	var starts []string
	for _, l := range bytes.Split(in, []byte("\n")) {
		if i := bytes.IndexByte(l, ' '); i > 0 {
			starts = append(starts, string(l[:i]))
		}
	}
	starts = append([]string{"l"}, append(starts, "z")...)
	k := 0
	for _, tag := range tags {
		for k < len(starts) && starts[k] != tag {
			k++
		}
		if k == len(starts) {
			t.Fatalf("tagged completion %q out of order or invented (tags %q)", tag, tags)
		}
		k++
	}
	if bye {
		return
	}
	if len(tags) < 2 || tags[0] != "l" || tags[len(tags)-1] != "z" {
		t.Fatalf("LOGIN and LOGOUT not each completed once: tags %q", tags)
	}
}

// panickingStore panics in AccountByID (GETQUOTA, GETQUOTAROOT).
type panickingStore struct{ store.Store }

func (panickingStore) AccountByID(context.Context, int64) (store.Account, error) {
	panic("injected panic")
}

// TestRecoveredPanicReported: a panic the session recovers from reaches
// Server.OnPanic, so tests and FuzzSession see it.
func TestRecoveredPanicReported(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var got []any
	e.srv.OnPanic = func(v any, _ []byte) {
		mu.Lock()
		got = append(got, v)
		mu.Unlock()
	}
	e.srv.Store = panickingStore{e.st}
	out := runSession(t, e, []byte("a GETQUOTA \"\"\r\n"))
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != "injected panic" {
		t.Errorf("OnPanic got %v; output %q", got, out)
	}
}
