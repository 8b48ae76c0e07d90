package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	bobPW   = "bob-Secret-pw-1"
	alicePW = "alice-Secret-pw-2"
)

// swaks runs swaks and returns its transcript and exit code.
func swaks(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return run(t, "", need(t, "swaks"), append([]string{"--timeout", "20"}, args...)...)
}

// mustSwaks runs swaks and fails unless it exits 0.
func mustSwaks(t *testing.T, args ...string) string {
	t.Helper()
	out, code := swaks(t, args...)
	if code != 0 {
		t.Fatalf("swaks %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// writeMessage writes a message (given with \n line ends) with CRLF line
// ends and no final line break, the way swaks --data wants it (swaks
// appends CRLF . CRLF), and returns its path and the body the store must
// hold: the file plus the CRLF swaks adds.
func writeMessage(t *testing.T, name, msg string) (path, stored string) {
	t.Helper()
	data := strings.TrimSuffix(crlf(msg), "\r\n")
	path = filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data + "\r\n"
}

// TestSwaks drives the built server with swaks: MX delivery with and
// without STARTTLS and pipelining, submission with STARTTLS and AUTH PLAIN
// and LOGIN, implicit TLS, wrong passwords and the guard, unknown users,
// XCLIENT from a trusted network.
func TestSwaks(t *testing.T) {
	need(t, "swaks")
	t.Parallel()
	m := newMailServer(t, mailOptions{xclient: []string{"127.0.0.1/32"}})
	m.addUser("bob@example.com", bobPW)
	m.addUser("alice@example.com", alicePW)
	m.start()

	// MX, plaintext, pipelined; the body has a leading dot (dot-stuffing),
	// trailing white space and 8-bit text.
	mxMsg, mxStored := writeMessage(t, "mx.eml", `From: Sender <sender@remote.example>
To: Bob <bob@example.com>
Subject: swaks mx pipelined
Message-ID: <swaks-mx-1@remote.example>
Date: Mon, 02 Jan 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

first line
.a line starting with a dot
..two dots
trailing space 
Grüße
`)
	out := mustSwaks(t, "--server", m.smtp, "--ehlo", "client.example", "--pipeline",
		"--from", "sender@remote.example", "--to", "bob@example.com", "--data", "@"+mxMsg)
	if !strings.Contains(out, "PIPELINING") || !regexp.MustCompile(`(?m)^<-  250 2\.0\.0 Ok: stored as \w+`).MatchString(out) {
		t.Errorf("MX pipelined transcript:\n%s", out)
	}

	// MX with STARTTLS.
	tlsMsg, tlsStored := writeMessage(t, "mxtls.eml", `From: sender@remote.example
To: bob@example.com
Subject: swaks mx starttls

over TLS
`)
	mustSwaks(t, "--server", m.smtp, "--ehlo", "tls.client.example", "--tls",
		"--from", "sender@remote.example", "--to", "bob@example.com", "--data", "@"+tlsMsg)

	// Submission with STARTTLS and AUTH PLAIN; the client's software is
	// named in User-Agent and X-Mailer, which must be removed.
	subMsg, _ := writeMessage(t, "sub.eml", `From: Bob <bob@example.com>
To: alice@example.com
Subject: swaks submission plain
User-Agent: SecretClient/1.0
X-Mailer: SecretMailer 2
Content-Type: text/plain

submitted with PLAIN
`)
	out = mustSwaks(t, "--server", m.submission, "--ehlo", "bobs-laptop.home.example", "--tls", "--auth", "PLAIN",
		"--auth-user", "bob@example.com", "--auth-password", bobPW,
		"--from", "bob@example.com", "--to", "alice@example.com", "--data", "@"+subMsg)
	if !strings.Contains(out, "235 2.0.0") {
		t.Errorf("AUTH PLAIN:\n%s", out)
	}
	// AUTH LOGIN with STARTTLS; swaks's own message (it has X-Mailer).
	mustSwaks(t, "--server", m.submission, "--tls", "--auth", "LOGIN",
		"--auth-user", "bob@example.com", "--auth-password", bobPW,
		"--from", "bob@example.com", "--to", "alice@example.com", "--header", "Subject: swaks submission login")
	// Implicit TLS (465) with AUTH PLAIN.
	out = mustSwaks(t, "--server", m.submissions, "--tlsc", "--auth", "PLAIN",
		"--auth-user", "alice@example.com", "--auth-password", alicePW,
		"--from", "alice@example.com", "--to", "bob@example.com", "--header", "Subject: swaks submissions tlsc")
	if !strings.Contains(out, "TLS started") && !strings.Contains(out, "=== TLS") {
		t.Errorf("implicit TLS transcript:\n%s", out)
	}

	// Submission refuses other senders and unauthenticated mail.
	out, code := swaks(t, "--server", m.submission, "--tls", "--auth", "PLAIN",
		"--auth-user", "bob@example.com", "--auth-password", bobPW,
		"--from", "alice@example.com", "--to", "bob@example.com")
	if code == 0 || !strings.Contains(out, "550 5.7.1") || !strings.Contains(out, "not an address of bob@example.com") {
		t.Errorf("sending as another account: exit %d\n%s", code, out)
	}
	out, code = swaks(t, "--server", m.submission, "--tls", "--from", "bob@example.com", "--to", "alice@example.com")
	if code == 0 || !strings.Contains(out, "530 5.7.0") {
		t.Errorf("unauthenticated submission: exit %d\n%s", code, out)
	}

	// Unknown user: 550 5.1.1 at RCPT, never accept-then-bounce.
	out, code = swaks(t, "--server", m.smtp, "--quit-after", "RCPT",
		"--from", "sender@remote.example", "--to", "nobody@example.com")
	if code != 24 || !strings.Contains(out, "550 5.1.1") {
		t.Errorf("unknown user: exit %d\n%s", code, out)
	}
	out, code = swaks(t, "--server", m.smtp, "--quit-after", "RCPT",
		"--from", "sender@remote.example", "--to", "bob@example.com")
	if code != 0 || !strings.Contains(out, "250 2.0.0") {
		t.Errorf("known user, quit after RCPT: exit %d\n%s", code, out)
	}

	// A wrong password: swaks exits 28. From loopback the guard counts the
	// failures but never delays or blocks.
	for i := range 5 {
		out, code = swaks(t, "--server", m.submission, "--tls", "--auth", "PLAIN",
			"--auth-user", "bob@example.com", "--auth-password", "wrong-password",
			"--from", "bob@example.com", "--to", "alice@example.com")
		if code != 28 || !strings.Contains(out, "535 5.7.8") {
			t.Fatalf("wrong password %d: exit %d\n%s", i, code, out)
		}
		if n := authDelays(m, "127.0.0.1"); n > 0 {
			t.Errorf("loopback failure %d: %d logins delayed", i, n)
		}
	}

	t.Run("guard", func(t *testing.T) { testSwaksGuard(t, m) })
	t.Run("xclient", func(t *testing.T) { testSwaksXCLIENT(t, m) })

	logs := m.stop()
	if strings.Contains(logs, "wrong-password") || strings.Contains(logs, bobPW) || strings.Contains(logs, alicePW) {
		t.Error("a password appears in the server log")
	}
	if !regexp.MustCompile(`msg="auth failed".*user=bob@example.com`).MatchString(logs) {
		t.Errorf("no auth failure logged with the user name")
	}

	bob := m.messages("bob@example.com")
	alice := m.messages("alice@example.com")
	mx := oneBySubject(t, bob, "swaks mx pipelined")
	if mx.Body != mxStored {
		t.Errorf("MX body not stored byte for byte:\n got %q\nwant %q", mx.Body, mxStored)
	}
	if mx.Mailbox != "INBOX" {
		t.Errorf("MX message in %s", mx.Mailbox)
	}
	// Received comes first; the message-authentication hooks add their
	// fields (Authentication-Results…) after it.
	if !regexp.MustCompile(`^Received: from client\.example \(\[127\.0\.0\.1\]\)\r\n\tby mail\.example\.com \(posthorn\) with ESMTP id \w+\r\n\tfor <bob@example\.com>;\r\n\t\w{3}, \d\d \w{3} \d{4} [\d:]{8} [+-]\d{4}\r\n`).MatchString(mx.Prefix) {
		t.Errorf("MX Received header:\n%q", mx.Prefix)
	}
	mt := oneBySubject(t, bob, "swaks mx starttls")
	if mt.Body != tlsStored || !regexp.MustCompile(`with ESMTPS id \w+\r\n\t\(version=TLS 1\.3 cipher=TLS_\w+\)`).MatchString(mt.Prefix) {
		t.Errorf("MX over TLS:\n%q\n%q", mt.Prefix, mt.Body)
	}
	sub := oneBySubject(t, alice, "swaks submission plain")
	wantSub := crlf("From: Bob <bob@example.com>\nTo: alice@example.com\nSubject: swaks submission plain\nContent-Type: text/plain\n\nsubmitted with PLAIN\n")
	if sub.Body != wantSub {
		t.Errorf("submitted body:\n got %q\nwant %q", sub.Body, wantSub)
	}
	checkSubmitted(t, sub, "bobs-laptop")
	for _, s := range []string{"swaks submission login"} {
		msg := oneBySubject(t, alice, s)
		checkSubmitted(t, msg, "")
	}
	checkSubmitted(t, oneBySubject(t, bob, "swaks submissions tlsc"), "")
	if n := len(findBySubject(alice, "")); n != 2 {
		t.Errorf("alice has %d messages, want 2", n)
	}

	xc := oneBySubject(t, bob, "swaks xclient")
	if !strings.HasPrefix(xc.Prefix, "Received: from helo.remote.example (client.remote.example [198.51.100.5])\r\n\tby mail.example.com (posthorn) with ESMTP") {
		t.Errorf("XCLIENT Received:\n%q", xc.Prefix)
	}
}

// checkSubmitted checks the privacy rules of submitted mail: no client
// address, HELO name or client software; Message-ID and Date present.
func checkSubmitted(t *testing.T, m storedMessage, helo string) {
	t.Helper()
	if !regexp.MustCompile(`^Received: by mail\.example\.com \(posthorn\) with ESMTPSA id \w+\r\n\t\(version=TLS 1\.[23] cipher=\w+\)`).MatchString(m.Prefix) {
		t.Errorf("submission Received:\n%q", m.Prefix)
	}
	full := m.Full()
	for _, leak := range []string{"127.0.0.1", "User-Agent", "X-Mailer", "SecretClient", "swaks v"} {
		if strings.Contains(full, leak) {
			t.Errorf("submitted message discloses %q:\n%s", leak, full)
		}
	}
	if helo != "" && strings.Contains(full, helo) {
		t.Errorf("submitted message discloses the HELO name %q", helo)
	}
	if m.Header("Message-ID") == "" || m.Header("Date") == "" {
		t.Errorf("submitted message lacks Message-ID or Date:\n%s", full)
	}
}

// testSwaksGuard: failed logins from a non-loopback address (presented by
// XCLIENT) are delayed and then blocked; an address that logged in to the
// account before is never locked out.
func testSwaksGuard(t *testing.T, m *mailServer) {
	auth := func(ip, pw string) (string, int, time.Duration) {
		start := time.Now()
		out, code := swaks(t, "--server", m.submission, "--tls", "--xclient-addr", ip,
			"--auth", "PLAIN", "--auth-user", "bob@example.com", "--auth-password", pw,
			"--from", "bob@example.com", "--to", "alice@example.com", "--quit-after", "AUTH")
		return out, code, time.Since(start)
	}
	// 192.0.2.9 logs in once: it is remembered.
	if out, code, _ := auth("192.0.2.9", bobPW); code != 0 {
		t.Fatalf("login via XCLIENT: exit %d\n%s", code, out)
	}
	// Failures from 192.0.2.7: the first three cost nothing, the fourth
	// is answered after a delay.
	for i := range 4 {
		out, code, d := auth("192.0.2.7", "wrong-password")
		if code != 28 {
			t.Fatalf("failure %d: exit %d\n%s", i, code, out)
		}
		if n := authDelays(m, "192.0.2.7"); i < 3 && n > 0 {
			t.Errorf("failure %d: %d logins delayed", i, n)
		}
		if i == 3 && (d < time.Second || authDelays(m, "192.0.2.7") != 1) {
			t.Errorf("failure %d was not delayed (%v)", i, d)
		}
	}
	// A burst of guesses in parallel reaches the block.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			swaks(t, "--server", m.submission, "--xclient-addr", "192.0.2.7",
				"--auth", "PLAIN", "--auth-user", "bob@example.com", "--auth-password", "wrong-password",
				"--quit-after", "AUTH")
		}()
	}
	wg.Wait()
	out, code, _ := auth("192.0.2.7", bobPW)
	if code != 28 || !strings.Contains(out, "454 4.7.0") {
		t.Errorf("right password from a blocked address: exit %d\n%s", code, out)
	}
	if !strings.Contains(m.logs(), "192.0.2.7") || !strings.Contains(m.logs(), "msg=\"auth refused\"") {
		t.Errorf("block not logged")
	}
	// The remembered address is not locked out by failures of its own.
	for range 4 {
		auth("192.0.2.9", "wrong-password")
	}
	if out, code, _ := auth("192.0.2.9", bobPW); code != 0 || authDelays(m, "192.0.2.9") > 0 {
		t.Errorf("remembered address: exit %d, %d logins delayed\n%s", code, authDelays(m, "192.0.2.9"), out)
	}
	// Another address is unaffected.
	if out, code, _ := auth("192.0.2.8", bobPW); code != 0 {
		t.Errorf("other address: exit %d\n%s", code, out)
	}
}

// testSwaksXCLIENT: a trusted front end presents the real client. The
// proxy repeats the client's HELO name in the EHLO it must send after
// XCLIENT, which is what the Received header then names.
func testSwaksXCLIENT(t *testing.T, m *mailServer) {
	out := mustSwaks(t, "--server", m.smtp, "--xclient-addr", "198.51.100.5", "--xclient-name", "client.remote.example",
		"--xclient-helo", "helo.remote.example", "--ehlo", "helo.remote.example", "--from", "sender@remote.example", "--to", "bob@example.com",
		"--header", "Subject: swaks xclient")
	if !strings.Contains(out, "XCLIENT ADDR=198.51.100.5") || !strings.Contains(out, "250-XCLIENT") {
		t.Errorf("XCLIENT transcript:\n%s", out)
	}
	if !strings.Contains(m.logs(), fmt.Sprintf("client=%s", "198.51.100.5")) {
		t.Errorf("XCLIENT address not in the log")
	}
}

// authDelays counts the logins from ip the server delayed (its log says
// so: no timing in the test).
func authDelays(m *mailServer, ip string) int {
	n := 0
	for _, l := range strings.Split(m.logs(), "\n") {
		if strings.Contains(l, `msg="auth delayed"`) && strings.Contains(l, "client="+ip+" ") {
			n++
		}
	}
	return n
}
