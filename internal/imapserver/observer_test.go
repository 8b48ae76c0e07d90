package imapserver

import (
	"slices"
	"sync"
	"testing"
)

type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) Connection(service string) { r.add("conn " + service) }
func (r *recorder) AuthFailed(service string) { r.add("authfail " + service) }

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, s)
}

func TestObserver(t *testing.T) {
	e := newEnv(t)
	rec := &recorder{}
	e.srv.Observer = rec
	c := e.dial()
	c.expect("LOGIN "+testUser+" wrong", "NO [AUTHENTICATIONFAILED]")
	c.ok("LOGIN " + testUser + " " + testPass)
	c.ok("LOGOUT")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if want := []string{"conn imap", "authfail imap"}; !slices.Equal(rec.events, want) {
		t.Errorf("observed %q, want %q", rec.events, want)
	}
}
