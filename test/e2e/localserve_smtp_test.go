package e2e

import (
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// TestLocalserveSMTP tries SMTP as a newcomer would with "posthorn
// localserve": any recipient at any domain lands in you@localhost, over
// the MX (1025), submission with STARTTLS (1587) and implicit TLS (1465),
// where the signed-in account may send as anyone. localserve's ports are
// fixed, so this test does not run in parallel and skips when they are
// taken.
func TestLocalserveSMTP(t *testing.T) {
	need(t, "swaks")
	for _, p := range []string{"127.0.0.1:1025", "127.0.0.1:1587", "127.0.0.1:1465", "127.0.0.1:1080"} {
		l, err := net.Listen("tcp4", p)
		if err != nil {
			t.Skipf("localserve port %s busy: %v", p, err)
		}
		l.Close()
	}
	dir := t.TempDir()
	s := startServer(t, io.Discard, "localserve", "--dir", dir, "--password", "dev-pass", "--dns", localDNS(t))
	waitHealthy(t, s, "http://127.0.0.1:1080/healthz")

	msg, stored := writeMessage(t, "local.eml", "From: app@myapp.example\nTo: customer@gmail.example\nSubject: localserve MX\n\nHello from my application\n")
	mustSwaks(t, "--server", "127.0.0.1:1025", "--from", "app@myapp.example", "--to", "customer@gmail.example",
		"--data", "@"+msg)
	mustSwaks(t, "--server", "127.0.0.1:1587", "--tls", "--auth", "PLAIN", "--auth-user", "you@localhost",
		"--auth-password", "dev-pass", "--from", "someone@anywhere.example", "--to", "friend@remote.example",
		"--header", "Subject: localserve submission", "--header", "From: someone@anywhere.example")
	mustSwaks(t, "--server", "127.0.0.1:1465", "--tlsc", "--auth", "LOGIN", "--auth-user", "you@localhost",
		"--auth-password", "dev-pass", "--from", "you@localhost", "--to", "a@b.example,c@d.example",
		"--header", "Subject: localserve submissions")
	// Plaintext AUTH works on loopback, for local tools.
	mustSwaks(t, "--server", "127.0.0.1:1587", "--auth", "PLAIN", "--auth-user", "you@localhost",
		"--auth-password", "dev-pass", "--from", "you@localhost", "--to", "x@y.example",
		"--header", "Subject: localserve plaintext loopback")
	if out, code := swaks(t, "--server", "127.0.0.1:1587", "--tls", "--auth", "PLAIN", "--auth-user", "you@localhost",
		"--auth-password", "wrong", "--from", "you@localhost", "--to", "x@y.example"); code != 28 {
		t.Errorf("wrong password: exit %d\n%s", code, out)
	}
	s.stop(t)

	msgs := readMessages(t, filepath.Join(dir, "data", "store"), "you@localhost")
	mx := oneBySubject(t, msgs, "localserve MX")
	if mx.Body != stored || !strings.Contains(mx.Prefix, "by localhost (posthorn) with ESMTP") {
		t.Errorf("localserve MX message:\n%q\n%q", mx.Prefix, mx.Body)
	}
	for _, subj := range []string{"localserve submission", "localserve submissions", "localserve plaintext loopback"} {
		m := oneBySubject(t, msgs, subj)
		if !strings.HasPrefix(m.Prefix, "Received: by localhost (posthorn) with ESMTP") || strings.Contains(m.Full(), "127.0.0.1") {
			t.Errorf("%s: %q", subj, m.Prefix)
		}
	}
	if len(msgs) != 4 {
		t.Errorf("you@localhost has %d messages, want 4 (one per message, even with two recipients)", len(msgs))
	}
}
