package imapserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/accounts"
	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/message"
	"github.com/posthorn/posthorn/internal/store"
)

const testUser, testPass = "alice@example.org", "secret-pass"

type testEnv struct {
	// keepRecent leaves delivered messages \Recent for the next session.
	keepRecent bool
	t          testing.TB
	st         *store.SQLite
	srv        *Server
	acct       store.Account
}

func newEnv(t testing.TB) *testEnv {
	t.Helper()
	return newEnvIn(t, t.TempDir())
}

// newEnvIn is newEnv with the store in dir.
func newEnvIn(t testing.TB, dir string) *testEnv {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := addr.MustParseAddress(testUser)
	if err := st.AddDomain(ctx, store.Domain{Name: a.Domain, SubaddressSep: "+"}); err != nil {
		t.Fatal(err)
	}
	cred, err := accounts.NewCredentials(testPass)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := st.AddAccount(ctx, store.Account{Address: a}, cred)
	if err != nil {
		t.Fatal(err)
	}
	svc := &accounts.Service{Store: st}
	srv := &Server{
		// A panic the session recovers from fails the test.
		OnPanic: func(v any, stack []byte) { t.Errorf("session panic: %v\n%s", v, stack) },
		Store:   st,
		Auth: AuthenticatorFunc(func(ctx context.Context, u, p string) (store.Account, error) {
			acc, err := svc.Authenticate(ctx, u, p, "imap")
			if errors.Is(err, accounts.ErrAuthFailed) {
				return acc, ErrAuthFailed
			}
			return acc, err
		}),
	}
	return &testEnv{t: t, st: st, srv: srv, acct: acct}
}

// deliver stores a message in mailbox (INBOX if "").
func (e *testEnv) deliver(mailbox, msg string, flags store.Flags) store.Message {
	e.t.Helper()
	body := []byte(msg)
	root, err := message.Parse(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		e.t.Fatal(err)
	}
	ms, err := e.st.Deliver(context.Background(), store.Delivery{
		Body:         bytes.NewReader(body),
		InternalDate: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		Targets:      []store.Target{{AccountID: e.acct.ID, Mailbox: mailbox, Flags: flags, Structure: root.Marshal()}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.notRecent(ms[0])
	return ms[0]
}

// notRecent makes m (and what was delivered before it) \Recent to no
// session, as if another session had seen it: tests see \Recent only
// where they look for it (TestRecentRev1).
func (e *testEnv) notRecent(m store.Message) {
	e.t.Helper()
	if e.keepRecent {
		return
	}
	if _, _, err := e.st.ClaimRecent(context.Background(), e.acct.ID, m.MailboxID, true); err != nil {
		e.t.Fatal(err)
	}
}

// tconn is a scripted client.
type tconn struct {
	t   testing.TB
	c   net.Conn
	br  *bufio.Reader
	tag int
}

// dial connects a client over net.Pipe (which counts as loopback).
func (e *testEnv) dial() *tconn {
	e.t.Helper()
	cc, sc := net.Pipe()
	done := make(chan struct{})
	go func() {
		e.srv.ServeConn(sc, false)
		close(done)
	}()
	e.t.Cleanup(func() {
		cc.Close()
		<-done
	})
	c := &tconn{t: e.t, c: cc, br: bufio.NewReader(cc)}
	cc.SetDeadline(time.Now().Add(30 * time.Second))
	if g := c.readLine(); !strings.HasPrefix(g, "* OK ") {
		e.t.Fatalf("greeting: %q", g)
	}
	return c
}

// login dials and logs in.
func (e *testEnv) login() *tconn {
	c := e.dial()
	c.ok("LOGIN " + testUser + " " + testPass)
	return c
}

// readLine reads one response line, with any literals inline.
func (c *tconn) readLine() string {
	c.t.Helper()
	var sb strings.Builder
	for {
		l, err := c.br.ReadString('\n')
		if err != nil {
			c.t.Fatalf("read: %v (got %q)", err, sb.String()+l)
		}
		l = strings.TrimSuffix(l, "\r\n")
		sb.WriteString(l)
		n, ok := literalLen(l)
		if !ok {
			return sb.String()
		}
		buf := make([]byte, n)
		if _, err := ioReadFull(c.br, buf); err != nil {
			c.t.Fatalf("read literal: %v", err)
		}
		sb.WriteString("\r\n")
		sb.Write(buf)
	}
}

func literalLen(l string) (int, bool) {
	if !strings.HasSuffix(l, "}") {
		return 0, false
	}
	i := strings.LastIndexByte(l, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(l[i+1 : len(l)-1])
	return n, err == nil
}

func (c *tconn) send(s string) {
	c.t.Helper()
	if _, err := c.c.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// run sends a tagged command and returns the untagged lines and the
// tagged status line (without the tag).
func (c *tconn) run(cmd string) (untagged []string, tagged string) {
	c.t.Helper()
	c.tag++
	tag := fmt.Sprintf("a%d", c.tag)
	c.send(tag + " " + cmd + "\r\n")
	for {
		l := c.readLine()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, strings.TrimPrefix(l, tag+" ")
		}
		untagged = append(untagged, l)
	}
}

// ok runs cmd and fails the test unless it completes with OK.
func (c *tconn) ok(cmd string) []string {
	c.t.Helper()
	u, st := c.run(cmd)
	if !strings.HasPrefix(st, "OK") {
		c.t.Fatalf("%s: %s (untagged %q)", cmd, st, u)
	}
	return u
}

// expect runs cmd and checks that the tagged status starts with want.
func (c *tconn) expect(cmd, want string) []string {
	c.t.Helper()
	u, st := c.run(cmd)
	if !strings.HasPrefix(st, want) {
		c.t.Fatalf("%s: got %q, want prefix %q (untagged %q)", cmd, st, want, u)
	}
	return u
}

// has fails unless some line contains each of wants.
func has(t testing.TB, lines []string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		found := false
		for _, l := range lines {
			if strings.Contains(l, w) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no line contains %q in:\n%s", w, strings.Join(lines, "\n"))
		}
	}
}

// hasNot fails if some line contains w.
func hasNot(t testing.TB, lines []string, w string) {
	t.Helper()
	for _, l := range lines {
		if strings.Contains(l, w) {
			t.Errorf("unexpected %q in %q", w, l)
		}
	}
}

const simpleMsg = "From: Bob <bob@example.com>\r\nTo: alice@example.org\r\nSubject: Hello\r\nDate: Mon, 6 May 2024 07:08:09 +0000\r\nMessage-ID: <1@example.com>\r\n\r\nHi Alice,\r\nhow are you?\r\n"
