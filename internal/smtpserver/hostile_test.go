package smtpserver

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/guard"
	"github.com/posthorn/posthorn/internal/store"
)

// Long lines in the message are accepted, as Postfix accepts them: only
// the message size bounds them. A 4xx for a permanent condition would make
// senders retry for days.
func TestLongMessageLines(t *testing.T) {
	e := newEnv(t, nil)
	for _, n := range []int{8190, 8193, 10000, 200 << 10} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			line := strings.Repeat("x", n)
			body := "Subject: long " + fmt.Sprint(n) + "\r\n\r\n" + line + "\r\nend\r\n"
			c := e.dial(ModeMX, remoteIP)
			c.greet()
			c.cmd("MAIL FROM:<a@remote.example>", "250")
			c.cmd("RCPT TO:<alice@example.org>", "250")
			c.cmd("DATA", "354")
			c.send(body + ".\r\n")
			c.expect("250")
			c.cmd("MAIL FROM:<a@remote.example>", "250")
			c.cmd("RCPT TO:<alice@example.org>", "250")
			c.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(body), body))
			c.expect("250")
			c.cmd("QUIT", "221")
		})
	}
	msgs := e.inbox("alice@example.org")
	if len(msgs) != 8 {
		t.Fatalf("%d messages stored, want 8", len(msgs))
	}
	for _, m := range msgs {
		if !strings.Contains(m, "\r\n\r\nxxxxxxxx") || !strings.HasSuffix(m, "x\r\nend\r\n") {
			t.Errorf("message altered: %.80q…%q", m, m[max(0, len(m)-20):])
		}
	}
	// A command line is still bounded.
	c := e.dial(ModeMX, remoteIP)
	c.greet()
	c.cmd("NOOP "+strings.Repeat("a", 9000), "500 5.5.6")
}

// Recipients past max_recipients get 452 (RFC 5321 §4.5.3.1.10) and do not
// count as errors: the transaction goes on and delivers to those accepted.
func TestRecipientsBeyondLimitAreNotErrors(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Limits.MaxRecipients = 100
		o.Limits.MaxErrors = 20
	})
	c := e.dial(ModeMX, remoteIP)
	c.greet()
	c.cmd("MAIL FROM:<a@remote.example>", "250")
	for i := range 130 {
		want := "250"
		if i >= 100 {
			want = "452 4.5.3"
		}
		c.cmd("RCPT TO:<alice@example.org>", want)
	}
	c.cmd("DATA", "354")
	c.send("Subject: many\r\n\r\nhi\r\n.\r\n")
	c.expect("250")
	if n := len(e.inbox("alice@example.org")); n != 1 {
		t.Errorf("%d messages stored, want 1", n)
	}
	// Real errors still count.
	c.cmd("MAIL FROM:<a@remote.example>", "250")
	for range 21 {
		c.cmd("RCPT TO:<nobody@example.org>", "550")
	}
	c.send("RCPT TO:<nobody@example.org>\r\n")
	if got := c.reply(); !strings.HasPrefix(got, "421 4.7.0") {
		t.Errorf("after more than 20 errors: %q", got)
	}
}

// A line starting with "." and a bare CR is refused like any bare CR,
// though the reader's dot-unstuffing consumes both bytes.
func TestDotBareCR(t *testing.T) {
	e := newEnv(t, nil)
	for _, data := range []string{
		"Subject: a\r\n\r\n.\rx\r\n",
		"Subject: a\r\n\r\nok\r\n.\r.\r\n",
		".\rSubject: a\r\n\r\nx\r\n",
	} {
		c := e.dial(ModeMX, remoteIP)
		c.greet()
		c.cmd("MAIL FROM:<a@remote.example>", "250")
		c.cmd("RCPT TO:<alice@example.org>", "250")
		c.cmd("DATA", "354")
		c.send(data + ".\r\n")
		c.expect("550 5.5.2")
		c.cmd("NOOP", "250")
		// The next transaction is not affected.
		c.cmd("MAIL FROM:<a@remote.example>", "250")
		c.cmd("RCPT TO:<bob@example.org>", "250")
		c.cmd("DATA", "354")
		c.send("Subject: fine\r\n\r\n..dot stuffed\r\n.\r\n")
		c.expect("250")
	}
	if n := len(e.inbox("alice@example.org")); n != 0 {
		t.Errorf("%d messages with a bare CR stored", n)
	}
	for _, m := range e.inbox("bob@example.org") {
		if !strings.HasSuffix(m, "\r\n.dot stuffed\r\n") {
			t.Errorf("dot-stuffed line: %q", m)
		}
	}
}

// A message of exactly the advertised SIZE is accepted; one byte more is
// refused, by MAIL SIZE= and at the end of the data.
func TestExactSizeLimit(t *testing.T) {
	const limit = 64 << 10
	e := newEnv(t, func(o *Options) { o.Limits.MaxMessageSize = limit })
	message := func(size int) string {
		h := "Subject: size\r\n\r\n"
		line := strings.Repeat("z", 98) + "\r\n"
		b := strings.Repeat(line, (size-len(h))/len(line))
		pad := size - len(h) - len(b)
		if pad > 0 {
			b += strings.Repeat("p", pad-2) + "\r\n"
		}
		return h + b
	}
	c := e.dial(ModeMX, remoteIP)
	if got := c.greet(); !strings.Contains(got, fmt.Sprintf("SIZE %d", limit)) {
		t.Fatalf("EHLO does not advertise SIZE %d:\n%s", limit, got)
	}
	c.cmd(fmt.Sprintf("MAIL FROM:<a@remote.example> SIZE=%d", limit+1), "552 5.3.4")
	for _, tc := range []struct {
		size int
		want string
	}{{limit, "250"}, {limit + 1, "552 5.3.4"}, {limit - 1, "250"}} {
		m := message(tc.size)
		if len(m) != tc.size {
			t.Fatalf("built %d bytes, want %d", len(m), tc.size)
		}
		c.cmd(fmt.Sprintf("MAIL FROM:<a@remote.example> SIZE=%d", tc.size), map[bool]string{true: "250", false: "552"}[tc.size <= limit])
		if tc.size > limit {
			c.cmd("MAIL FROM:<a@remote.example>", "250")
		}
		c.cmd("RCPT TO:<alice@example.org>", "250")
		c.cmd("DATA", "354")
		c.send(m + ".\r\n")
		c.expect(tc.want)
		c.cmd("MAIL FROM:<a@remote.example>", "250")
		c.cmd("RCPT TO:<alice@example.org>", "250")
		c.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(m), m))
		c.expect(tc.want)
	}
	if n := len(e.inbox("alice@example.org")); n != 4 {
		t.Errorf("%d messages stored, want 4", n)
	}
}

// fullStore fails every delivery as a full disk does.
type fullStore struct {
	store.Store
	err error
}

func (f fullStore) Deliver(context.Context, store.Delivery) ([]store.Message, error) {
	return nil, f.err
}

// A full disk is said as such, 452 4.3.1, so senders retry; nothing
// internal (paths, errno text) reaches the client.
func TestFullDisk(t *testing.T) {
	for _, cause := range []error{
		fmt.Errorf("store: write blob: %w", syscall.ENOSPC),
		// SQLite's SQLITE_FULL wraps no errno: the store marks it.
		fmt.Errorf("store: deliver: %w", errors.Join(store.ErrNoSpace, errors.New("database or disk is full (13)"))),
	} {
		e := newEnv(t, func(o *Options) {
			o.Deliverer = &delivery.Deliverer{Store: fullStore{o.Store, cause}, Hostname: o.Hostname}
		})
		c := e.dial(ModeMX, remoteIP)
		c.greet()
		c.cmd("MAIL FROM:<a@remote.example>", "250")
		c.cmd("RCPT TO:<alice@example.org>", "250")
		c.cmd("DATA", "354")
		c.send("Subject: x\r\n\r\nbody\r\n.\r\n")
		got := c.expect("452 4.3.1")
		if strings.Contains(got, "no space") || strings.Contains(got, "blob") || strings.Contains(got, "disk is full") {
			t.Errorf("the reply shows internals: %q", got)
		}
	}
}

// While no usable certificate exists, STARTTLS is neither offered nor
// started, and port 465 closes the connection instead of failing a
// handshake; once there is one, both work.
func TestTLSOnlyWithUsableCertificate(t *testing.T) {
	var ready atomic.Bool
	e := newEnv(t, func(o *Options) { o.TLSReady = ready.Load })
	c := e.dial(ModeMX, remoteIP)
	if got := c.greet(); strings.Contains(got, "STARTTLS") {
		t.Errorf("STARTTLS advertised without a certificate:\n%s", got)
	}
	c.cmd("STARTTLS", "454 4.7.0")
	c.cmd("MAIL FROM:<a@remote.example>", "250") // mail still flows, in clear
	c.cmd("RCPT TO:<alice@example.org>", "250")

	s := e.dial(ModeSubmissions, remoteIP)
	s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(s.conn); len(b) != 0 || err != nil {
		t.Errorf("port 465 without a certificate: read %q, %v; want a closed connection", b, err)
	}

	ready.Store(true)
	c = e.dial(ModeMX, remoteIP)
	if got := c.greet(); !strings.Contains(got, "STARTTLS") {
		t.Errorf("STARTTLS not advertised with a certificate:\n%s", got)
	}
	c.startTLS()
	c.cmd("EHLO client.example", "250")
	s = e.dial(ModeSubmissions, remoteIP)
	s.handshake()
	s.expect("220 mx.example.org")
}

// A client refused on port 465 (connection limit, blocked address) gets no
// plaintext reply where it expects a TLS handshake.
func TestImplicitTLSRefusalIsNotPlaintext(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Guard = guard.New(guard.Options{MaxConnsPerIP: 1})
	})
	first := e.dial(ModeSubmissions, remoteIP)
	first.handshake()
	first.expect("220")
	s := e.dial(ModeSubmissions, remoteIP)
	s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(s.conn); len(b) != 0 || err != nil {
		t.Errorf("refused on 465: read %q, %v; want a closed connection", b, err)
	}
	if !strings.Contains(e.logs.String(), "connection refused") {
		t.Errorf("refusal not logged:\n%s", e.logs.String())
	}
}

// Credentials never reach the trace, however the AUTH line is spelled.
func TestTraceRedactsAuthInAnyForm(t *testing.T) {
	e := newEnv(t, nil)
	secret := "hunter2-very-secret"
	ir := base64.StdEncoding.EncodeToString([]byte("\x00alice@example.org\x00" + secret))
	for _, line := range []string{
		"AUTH PLAIN " + ir,
		"AUTH PLAIN=" + ir,
		"auth\tplain\t" + ir,
		"  AUTH  PLAIN  " + ir,
		"AUTH " + ir,
		"AUTHPLAIN " + ir,
		"Auth Plain " + ir + " extra",
		"AUTH LOGIN " + base64.StdEncoding.EncodeToString([]byte(secret)),
	} {
		c := e.dial(ModeSubmission, "127.0.0.1")
		c.greet()
		c.send(line + "\r\n")
		c.reply()
		c.send("*\r\n") // cancels an exchange in progress; else an unknown command
		c.reply()
		c.cmd("QUIT", "221")
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "C: AUTH") {
		t.Fatalf("no trace logged:\n%s", logs)
	}
	for _, s := range []string{ir, secret, base64.StdEncoding.EncodeToString([]byte(secret))} {
		if strings.Contains(logs, s) {
			t.Errorf("trace contains %q:\n%s", s, logs)
		}
	}
}

func TestRedactAuth(t *testing.T) {
	for in, want := range map[string]string{
		"AUTH PLAIN":              "AUTH PLAIN",
		"AUTH PLAIN AGFAYg==":     "AUTH PLAIN <redacted>",
		"AUTH PLAIN=AGFAYg==":     "AUTH <redacted>",
		"auth\tscram-sha-256 x":   "AUTH scram-sha-256 <redacted>",
		"AUTHPLAIN x":             "AUTH <redacted>",
		"AUTH":                    "AUTH",
		"MAIL FROM:<a@b.example>": "MAIL FROM:<a@b.example>",
		" AUTH LOGIN dXNlcg==":    "AUTH LOGIN <redacted>",
	} {
		if got := redactAuth(in); got != want {
			t.Errorf("redactAuth(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzRedactAuth: whatever follows AUTH, at most a mechanism name of 20
// characters survives; other lines are unchanged.
func FuzzRedactAuth(f *testing.F) {
	for _, s := range []string{"AUTH PLAIN AGFAYg==", "AUTH PLAIN=AGFAYg==", "auth\tlogin x", " AUTH", "AUTHX y", "MAIL FROM:<a@b>", "AUTH SCRAM-SHA-256-PLUS biws"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		got := redactAuth(line)
		t2 := strings.TrimLeft(line, " \t")
		if len(t2) < 4 || !strings.EqualFold(t2[:4], "AUTH") {
			if got != line {
				t.Fatalf("redactAuth(%q) = %q, want it unchanged", line, got)
			}
			return
		}
		if len(got) > len("AUTH ")+20+len(" <redacted>") || strings.ContainsAny(got, "=+/\x00") {
			t.Fatalf("redactAuth(%q) = %q lets data through", line, got)
		}
	})
}
