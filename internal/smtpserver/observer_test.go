package smtpserver

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

// recorder is an Observer that remembers what it was told.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func (r *recorder) Connection(service string)              { r.add("conn %s", service) }
func (r *recorder) MessageAccepted(service string, n int)  { r.add("accepted %s %d", service, n) }
func (r *recorder) MessageRejected(service, reason string) { r.add("rejected %s %s", service, reason) }
func (r *recorder) AuthFailed(service string)              { r.add("authfail %s", service) }

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func TestObserver(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, func(o *Options) { o.Observer = rec })
	c := e.dial(ModeMX, remoteIP)
	c.greet()
	c.cmd("MAIL FROM:<sender@remote.example>", "250")
	c.cmd("RCPT TO:<nobody@example.org>", "550")
	c.cmd("RCPT TO:<sales@example.org>", "250")
	c.cmd("DATA", "354")
	c.send(simpleMsg + ".\r\n")
	c.expect("250 ")
	c.cmd("QUIT", "221")

	s := e.dial(ModeSubmissions, remoteIP)
	s.handshake()
	s.greet()
	s.authPlain("alice@example.org", "wrong", "535")
	s.cmd("QUIT", "221")

	want := []string{"conn smtp", "rejected smtp recipient", "accepted smtp 1", "conn submissions", "authfail submissions"}
	if got := rec.list(); !slices.Equal(got, want) {
		t.Errorf("observed %q, want %q", got, want)
	}
}
