package e2e

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestBattery attacks the built MX with swaks and raw sockets: open-relay
// address tricks, SMTP smuggling with bare LF/CR, STARTTLS command
// injection, XCLIENT from an untrusted address, early talkers and
// limits. It complements the in-process battery in internal/smtpserver.
func TestBattery(t *testing.T) {
	need(t, "swaks")
	t.Parallel()
	m := newMailServer(t, mailOptions{greetDelay: "300ms"})
	m.addUser("bob@example.com", bobPW)
	m.admin("domain", "add", "catch.example")
	m.admin("alias", "add", "@catch.example", "bob@example.com")
	m.start()

	t.Run("open relay", func(t *testing.T) {
		sem := make(chan struct{}, 4)
		var wg sync.WaitGroup
		for _, trick := range relayTricks {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				out, code := swaks(t, "--server", m.smtp, "--quit-after", "RCPT",
					"--from", "spammer@remote.example", "--to", trick)
				// 24: the RCPT was refused.
				if code != 24 || !strings.Contains(out, "<** 5") {
					t.Errorf("RCPT TO:<%s>: exit %d, want a 5xx refusal\n%s", trick, code, out)
				}
			}()
		}
		wg.Wait()
		// The bare postmaster is the one bare address accepted (RFC 5321 §4.5.1).
		if out, code := swaks(t, "--server", m.smtp, "--quit-after", "RCPT", "--from", "", "--to", "postmaster"); code != 0 {
			t.Errorf("RCPT TO:<postmaster>: exit %d\n%s", code, out)
		}
		// Mixed case and sub-addresses of local users are local.
		for _, ok := range []string{"BOB@Example.COM", "bob+tag@example.com", "anything@CATCH.example"} {
			if out, code := swaks(t, "--server", m.smtp, "--quit-after", "RCPT", "--from", "a@remote.example", "--to", ok); code != 0 {
				t.Errorf("RCPT TO:<%s>: exit %d\n%s", ok, code, out)
			}
		}
	})

	t.Run("smuggling", func(t *testing.T) {
		// Each message hides a second transaction behind a bare line
		// ending; swaks sends the file as is (--no-data-fixup).
		for name, data := range map[string]string{
			"LF.LF":   "Subject: smuggle 1\r\n\r\nx\n.\nMAIL FROM:<evil@remote.example>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n",
			"CR.CR":   "Subject: smuggle 2\r\n\r\nx\r.\rMAIL FROM:<evil@remote.example>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n",
			"LF.CRLF": "Subject: smuggle 3\r\n\r\nx\n.\r\nMAIL FROM:<evil@remote.example>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n",
			"CR.CRLF": "Subject: smuggle 4\r\n\r\nx\r.\r\nMAIL FROM:<evil@remote.example>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n",
			"bare LF": "Subject: smuggle 5\n\nbare LF only\r\n.\r\n",
		} {
			path := filepath.Join(t.TempDir(), "smuggle.eml")
			// swaks sends CRLF after the file: it ends in the final dot.
			if err := os.WriteFile(path, []byte(strings.TrimSuffix(data, "\r\n")), 0o644); err != nil {
				t.Fatal(err)
			}
			out, code := swaks(t, "--server", m.smtp, "--from", "a@remote.example", "--to", "bob@example.com",
				"--data", "@"+path, "--no-data-fixup")
			// 26: the message was refused after its data.
			if code != 26 || !strings.Contains(out, "550 5.5.2") {
				t.Errorf("%s: exit %d, want 550 5.5.2\n%s", name, code, out)
			}
			if strings.Count(out, " 354 ") > 1 {
				t.Errorf("%s: a smuggled DATA was answered\n%s", name, out)
			}
		}
	})

	t.Run("starttls injection", func(t *testing.T) {
		c := dialSMTP(t, m.smtp)
		c.expect("220 ")
		c.cmd("EHLO inject.example", "250")
		c.send("STARTTLS\r\nMAIL FROM:<evil@remote.example>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
		c.expect("220 2.0.0")
		c.starttls(m.tlsConfig())
		// Had the injected MAIL run, this would be "503 nested MAIL" or a 354.
		c.cmd("MAIL FROM:<a@remote.example>", "503 5.5.1")
		ehlo := c.cmd("EHLO inject.example", "250")
		if strings.Contains(ehlo, "STARTTLS") || !strings.Contains(ehlo, "REQUIRETLS") {
			t.Errorf("EHLO after STARTTLS:\n%s", ehlo)
		}
		c.cmd("DATA", "502")
		c.cmd("MAIL FROM:<a@remote.example> REQUIRETLS", "250")
		c.cmd("RCPT TO:<bob@example.com>", "250")
		c.cmd("DATA", "354")
		c.send("From: <a@remote.example>\r\nSubject: after injection\r\n\r\nlegit\r\n.\r\n")
		c.expect("250 2.0.0 Ok")
		c.cmd("QUIT", "221")
		if !strings.Contains(m.logs(), "discarded input pipelined after STARTTLS") {
			t.Errorf("injection not logged")
		}
	})

	t.Run("raw", func(t *testing.T) {
		// XCLIENT from an address that is not trusted.
		c := dialSMTP(t, m.smtp)
		c.expect("220 ")
		ehlo := c.cmd("EHLO x.example", "250")
		if strings.Contains(ehlo, "XCLIENT") {
			t.Errorf("XCLIENT offered to an untrusted client")
		}
		c.cmd("XCLIENT ADDR=192.0.2.1", "550 5.7.0")
		// REQUIRETLS needs TLS; SIZE over the limit is refused before data.
		c.cmd("MAIL FROM:<a@remote.example> REQUIRETLS", "530 5.7.10")
		c.cmd("MAIL FROM:<a@remote.example> SIZE=999999999", "552 5.3.4")
		// AUTH is not offered or accepted on the MX.
		if strings.Contains(ehlo, "AUTH") {
			t.Errorf("AUTH offered on the MX")
		}
		c.cmd("AUTH PLAIN AGJvYgBib2I=", "503")
		c.cmd("NOOP "+strings.Repeat("a", 9000), "500 5.5.6")

		// An early talker is refused.
		e := dialSMTP(t, m.smtp)
		e.send("EHLO early.example\r\n")
		e.expect("554 5.5.1")

		// Submission on plaintext from loopback offers AUTH (localserve),
		// and TLS from anywhere.
		s := dialSMTP(t, m.submission)
		s.expect("220 ")
		s.cmd("EHLO x.example", "250")
		s.cmd("STARTTLS", "220")
		s.starttls(m.tlsConfig())
		cs := s.c.(*tls.Conn).ConnectionState()
		if cs.Version < tls.VersionTLS12 || cs.DidResume {
			t.Errorf("TLS %x resumed %v", cs.Version, cs.DidResume)
		}
	})

	mustSwaks(t, "--server", m.smtp, "--from", "a@remote.example", "--to", "bob@example.com", "--header", "Subject: battery legit")
	logs := m.stop()
	if !strings.Contains(logs, "bare <CR> or <LF>") {
		t.Errorf("smuggling refusals not logged")
	}
	bob := m.messages("bob@example.com")
	for _, msg := range bob {
		if s := msg.Header("Subject"); strings.Contains(s, "smuggle") || strings.Contains(msg.Body, "evil") {
			t.Errorf("a smuggling attempt was stored: %q", s)
		}
	}
	oneBySubject(t, bob, "battery legit")
	oneBySubject(t, bob, "after injection")
	if len(bob) != 2 {
		t.Errorf("bob has %d messages, want 2", len(bob))
	}
	// Only the postmaster test reached postmaster; nothing else relayed.
	if msgs := m.messages("postmaster@example.com"); len(msgs) != 0 {
		t.Errorf("postmaster has %d messages", len(msgs))
	}
}
