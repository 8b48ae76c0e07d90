package imapserver

import (
	"strconv"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentExpungeDuringFetch: one session expunges while the other
// fetches by sequence number. The fetching session never sees EXPUNGE
// during FETCH, its sequence numbers stay valid, and both converge.
func TestConcurrentExpungeDuringFetch(t *testing.T) {
	e := newEnv(t)
	const n = 40
	for range n {
		e.deliver("", simpleMsg, 0)
	}
	a, b := e.login(), e.login()
	a.ok("SELECT INBOX")
	b.ok("SELECT INBOX")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i <= n; i += 2 {
			b.ok("UID STORE " + strconv.Itoa(i) + ` +FLAGS.SILENT (\Deleted)`)
			b.ok("UID EXPUNGE " + strconv.Itoa(i))
		}
	}()
	exists := n
	for range 30 {
		u, st := a.run("FETCH 1:* (UID FLAGS)")
		if !strings.HasPrefix(st, "OK") && !strings.HasPrefix(st, "NO [EXPUNGEISSUED]") {
			t.Fatalf("FETCH: %s", st)
		}
		seen := 0
		for _, l := range u {
			if strings.Contains(l, "EXPUNGE") {
				t.Fatalf("EXPUNGE during FETCH: %q", l)
			}
			if strings.Contains(l, " FETCH ") {
				seq, _ := strconv.Atoi(strings.Fields(l)[1])
				if seq < 1 || seq > exists {
					t.Fatalf("sequence number %d outside 1..%d", seq, exists)
				}
				seen++
			}
		}
		u = a.ok("NOOP")
		for _, l := range u {
			if strings.HasSuffix(l, " EXPUNGE") {
				seq, _ := strconv.Atoi(strings.Fields(l)[1])
				if seq < 1 || seq > exists {
					t.Fatalf("EXPUNGE %d outside 1..%d", seq, exists)
				}
				exists--
			}
		}
	}
	wg.Wait()
	for _, l := range a.ok("NOOP") {
		if strings.HasSuffix(l, " EXPUNGE") {
			exists--
		}
	}
	if exists != n/2 {
		t.Fatalf("session A counts %d messages, want %d", exists, n/2)
	}
	u := a.ok("FETCH 1:* (UID)")
	if len(u) != n/2 {
		t.Fatalf("FETCH after sync: %d lines", len(u))
	}
	for i, l := range u {
		want := "* " + strconv.Itoa(i+1) + " FETCH (UID " + strconv.Itoa(2*(i+1)) + ")"
		if l != want {
			t.Fatalf("line %d: %q, want %q", i, l, want)
		}
	}
}
