package e2e

// Account administration through the built binary and real clients:
// the password policy, quotas, app passwords, deleting an account, and
// the implicit postmaster@ and abuse@ of every local domain.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const acctPW = "bob-Accounts-pw-4821"

// imaplibAccount logs in with Python's imaplib over IMAPS and returns
// what testdata/accounts/imaplib_account.py reported.
func imaplibAccount(t *testing.T, m *mailServer, user, password string) map[string]any {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("Debian's python3 not installed")
	}
	script, _ := filepath.Abs("testdata/accounts/imaplib_account.py")
	out, code := run(t, "", py, script, "localhost", port(m.imaps), m.cert, user, password)
	if code != 0 {
		t.Fatalf("imaplib_account.py: exit %d\n%s", code, out)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(lastLine(out)), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return r
}

// swaksAuth submits a message on 587 with AUTH PLAIN and returns swaks's
// transcript and exit code.
func swaksAuth(t *testing.T, m *mailServer, user, password string) (string, int) {
	t.Helper()
	return swaks(t, "--server", m.submission, "--tls", "--auth", "PLAIN", "--auth-user", user, "--auth-password", password,
		"--from", user, "--to", "postmaster@example.com", "--header", "Subject: app password test")
}

var secretRE = regexp.MustCompile(`: ([a-z0-9]{5}(?:-[a-z0-9]{5}){3})\n`)

// TestAccountCommands runs the account commands of issue 12 through the
// built binary, with the server stopped and running, and checks their
// effect with real clients: weak passwords refused, app passwords (IMAP
// with imaplib, submission with swaks) inside and outside their scope,
// a quota enforced on RCPT and APPEND and shown by GETQUOTA, and user
// del's confirmation and report.
func TestAccountCommands(t *testing.T) {
	need(t, "swaks")
	t.Parallel()
	m := newMailServer(t, mailOptions{imap: true, logLevel: "info"})

	// Stopped: the CLI opens the store itself.
	for _, weak := range []string{"secret", "password1234"} {
		_, errOut, code := posthorn(t, weak+"\n", "user", "add", "bob@example.com", "--password-stdin", "--config", m.config)
		if code == 0 || !strings.Contains(errOut, "refused") {
			t.Errorf("user add with %q (server stopped): exit %d, %q", weak, code, errOut)
		}
	}
	m.addUser("bob@example.com", acctPW)
	if out := m.admin("user", "quota", "bob@example.com", "none"); !strings.Contains(out, "quota none") {
		t.Errorf("user quota none: %q", out)
	}
	m.start()

	// Running: the same through the control socket.
	_, errOut, code := posthorn(t, "secret\n", "user", "passwd", "bob@example.com", "--password-stdin", "--config", m.config)
	if code == 0 || !strings.Contains(errOut, "too short") || !strings.Contains(errOut, "bob@example.com") {
		t.Errorf("user passwd secret (server running): exit %d, %q", code, errOut)
	}

	addApp := func(name, scope string) string {
		t.Helper()
		out := m.admin("user", "app-password", "add", "bob@example.com", "--scope", scope, "--name", name)
		s := secretRE.FindStringSubmatch(out)
		if s == nil || !strings.Contains(out, "shown once") {
			t.Fatalf("app-password add printed no secret: %q", out)
		}
		return s[1]
	}
	imapApp, smtpApp, allApp := addApp("phone", "imap"), addApp("laptop-smtp", "smtp"), addApp("tablet", "all")

	if r := imaplibAccount(t, m, "bob@example.com", imapApp); r["login"] != "OK" {
		t.Errorf("imaplib with the imap app password: %v", r["login"])
	}
	if r := imaplibAccount(t, m, "bob@example.com", smtpApp); r["login"] == "OK" {
		t.Errorf("imaplib with the smtp app password logged in")
	}
	if r := imaplibAccount(t, m, "bob@example.com", allApp); r["login"] != "OK" {
		t.Errorf("imaplib with the all app password: %v", r["login"])
	}
	if out, code := swaksAuth(t, m, "bob@example.com", smtpApp); code != 0 || !strings.Contains(out, "235 ") {
		t.Errorf("swaks with the smtp app password: exit %d\n%s", code, out)
	}
	if out, code := swaksAuth(t, m, "bob@example.com", imapApp); code == 0 || !strings.Contains(out, "535 ") {
		t.Errorf("swaks with the imap app password: exit %d\n%s", code, out)
	}
	list := m.admin("user", "app-password", "list", "bob@example.com")
	for _, s := range []string{imapApp, smtpApp, allApp} {
		if strings.Contains(list, s) {
			t.Fatalf("app-password list shows a secret:\n%s", list)
		}
	}
	if !regexp.MustCompile(`(?m)^\d+\s+phone\s+imap\s+\S+Z\s+\d{4}-`).MatchString(list) ||
		!regexp.MustCompile(`(?m)^\d+\s+laptop-smtp\s+smtp\s+\S+Z\s+\d{4}-`).MatchString(list) {
		t.Errorf("app-password list (name, scope, created, last used):\n%s", list)
	}
	m.admin("user", "app-password", "del", "bob@example.com", "phone")
	if r := imaplibAccount(t, m, "bob@example.com", imapApp); r["login"] == "OK" {
		t.Errorf("a deleted app password still logs in")
	}

	// Quota: bob holds the message swaks submitted and more; a quota
	// below that refuses RCPT and APPEND and shows in GETQUOTA.
	m.smtpDeliver("alice@example.org", "bob@example.com", testMail("filler", strings.Repeat("x", 3000)))
	if out := m.admin("user", "quota", "bob@example.com", "2K"); !strings.Contains(out, "quota 2K") {
		t.Errorf("user quota 2K: %q", out)
	}
	if list := m.admin("user", "list"); !regexp.MustCompile(`(?m)^bob@example.com\s+\d+\s+2K\s`).MatchString(list) {
		t.Errorf("user list does not show the quota:\n%s", list)
	}
	c := dialSMTP(t, m.smtp)
	c.expect("220")
	c.cmd("EHLO client.example.org", "250")
	c.cmd("MAIL FROM:<alice@example.org>", "250")
	if r := c.cmd("RCPT TO:<bob@example.com>", "452"); !strings.Contains(r, "4.2.2") {
		t.Errorf("RCPT over quota: %q", r)
	}
	c.cmd("QUIT", "221")
	r := imaplibAccount(t, m, "bob@example.com", acctPW)
	if q := strings.Join(toStrings(r["getquota"]), " "); !regexp.MustCompile(`^OK "?"?\s*\(STORAGE \d+ 2\)`).MatchString(q) {
		t.Errorf("GETQUOTA: %q", q)
	}
	if a := strings.Join(toStrings(r["append"]), " "); !strings.HasPrefix(a, "NO [OVERQUOTA]") {
		t.Errorf("APPEND over quota: %q", a)
	}
	m.admin("user", "quota", "bob@example.com", "0")
	if r := imaplibAccount(t, m, "bob@example.com", acctPW); !strings.HasPrefix(strings.Join(toStrings(r["append"]), " "), "OK") {
		t.Errorf("APPEND after quota 0 (unlimited): %v", r["append"])
	}

	// user del: refused without --yes on a non-terminal stdin, then
	// deleted with a report naming the alias that points to it.
	m.admin("alias", "add", "team@example.com", "bob@example.com")
	_, errOut, code = posthorn(t, "y\n", "user", "del", "bob@example.com", "--config", m.config)
	if code == 0 || !strings.Contains(errOut, "--yes") || !strings.Contains(errOut, "not deleting bob@example.com") {
		t.Errorf("user del without --yes: exit %d, %q", code, errOut)
	}
	out := m.admin("user", "del", "bob@example.com", "--yes")
	if !regexp.MustCompile(`deleted bob@example.com: [1-9]\d* messages \(\S+\) in 6 mailboxes, 2 app passwords`).MatchString(out) ||
		!strings.Contains(out, "team@example.com") {
		t.Errorf("user del --yes: %q", out)
	}
	if list := m.admin("user", "list"); strings.Contains(list, "bob@example.com") {
		t.Errorf("bob still listed:\n%s", list)
	}
	logs := m.stop()
	for _, secret := range []string{imapApp, smtpApp, allApp, acctPW} {
		if strings.Contains(logs, secret) {
			t.Errorf("a password appears in the server log")
		}
	}

	// Stopped again: the new commands work on the store directly.
	out = m.admin("user", "app-password", "add", "postmaster@example.com", "--scope", "smtp")
	if secretRE.FindStringSubmatch(out) == nil || !strings.Contains(out, `"app1"`) {
		t.Errorf("app-password add (server stopped): %q", out)
	}
	m.admin("user", "quota", "postmaster@example.com", "1.5G")
	if list := m.admin("user", "list"); !regexp.MustCompile(`(?m)^postmaster@example.com\s+\d+\s+1.5G\s+admin$`).MatchString(list) {
		t.Errorf("user list (server stopped):\n%s", list)
	}
}

func toStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestPostmasterAbuseOverMX checks RFC 5321 §4.5.1 on the path an outside
// sender takes: RCPT TO postmaster@ and abuse@ of every local domain over
// port 25, a domain added after init included, in any case, and the bare
// postmaster, all reach the admin account; alias list shows the implicit
// aliases; an explicit alias replaces one.
func TestPostmasterAbuseOverMX(t *testing.T) {
	t.Parallel()
	m := newMailServer(t, mailOptions{})
	m.addUser("bob@example.com", acctPW)
	m.start()
	m.admin("domain", "add", "example.org")
	aliases := m.admin("alias", "list")
	for _, want := range []string{"postmaster@example.org -> postmaster@example.com", "abuse@example.org -> postmaster@example.com",
		"abuse@example.com -> postmaster@example.com"} {
		if !strings.Contains(aliases, want) {
			t.Errorf("alias list lacks %q:\n%s", want, aliases)
		}
	}
	rcpts := []string{"postmaster@example.org", "POSTMASTER@example.org", "Abuse@example.org", "abuse@example.com",
		"ABUSE@EXAMPLE.COM", "postmaster@example.com", "postmaster"}
	for _, rcpt := range rcpts {
		c := dialSMTP(t, m.smtp)
		c.expect("220")
		c.cmd("EHLO sender.example.net", "250")
		c.cmd("MAIL FROM:<reporter@sender.example.net>", "250")
		c.cmd("RCPT TO:<"+rcpt+">", "250")
		c.cmd("DATA", "354")
		c.send(crlf("From: reporter@sender.example.net\nTo: "+rcpt+"\nSubject: to "+rcpt+"\n\nreport\n") + ".\r\n")
		c.expect("250")
		c.cmd("QUIT", "221")
	}
	// An explicit alias wins over the implicit one.
	m.admin("alias", "add", "abuse@example.org", "bob@example.com")
	c := dialSMTP(t, m.smtp)
	c.expect("220")
	c.cmd("EHLO sender.example.net", "250")
	c.cmd("MAIL FROM:<reporter@sender.example.net>", "250")
	c.cmd("RCPT TO:<abuse@example.org>", "250")
	c.cmd("DATA", "354")
	c.send(crlf("From: reporter@sender.example.net\nSubject: explicit abuse\n\nreport\n") + ".\r\n")
	c.expect("250")
	c.cmd("RSET", "250")
	c.cmd("MAIL FROM:<reporter@sender.example.net>", "250")
	c.cmd("RCPT TO:<hostmaster@example.org>", "550")
	c.cmd("QUIT", "221")
	// Another admin account takes the implicit aliases at once (the
	// running server's recipient cache is told).
	if out := m.admin("user", "admin", "bob@example.com"); !strings.Contains(out, "bob@example.com is the admin account") {
		t.Errorf("user admin: %q", out)
	}
	m.smtpDeliver("reporter@sender.example.net", "postmaster@example.org", "From: reporter@sender.example.net\nSubject: after user admin\n\nreport\n")
	m.stop()

	got := map[string]bool{}
	for _, msg := range m.messages("postmaster@example.com") {
		got[msg.Header("Subject")] = true
	}
	for _, rcpt := range rcpts {
		if !got["to "+rcpt] {
			t.Errorf("the admin account did not receive the message to %s (got %v)", rcpt, got)
		}
	}
	if got["explicit abuse"] {
		t.Errorf("the explicit abuse@example.org alias did not replace the implicit one")
	}
	var bob []string
	for _, msg := range m.messages("bob@example.com") {
		bob = append(bob, msg.Header("Subject"))
	}
	if strings.Join(bob, ",") != "explicit abuse,after user admin" {
		t.Errorf("bob received %q, want the explicit abuse@ message, then the one to postmaster@ after user admin", bob)
	}
}
