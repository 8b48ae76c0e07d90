package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// postfixInstance is a Postfix with its own configuration directory,
// its smtpd listening on 127.0.0.2 only, with DNS disabled. (Postfix
// refuses inet_interfaces = 127.0.0.2 unless that address is configured
// on an interface, which we do not change on a shared machine; so
// inet_interfaces names 127.0.0.1, and master.cf binds smtpd to
// 127.0.0.2:PORT explicitly.)
type postfixInstance struct {
	dir  string // config_directory (and, below it, the queue)
	smtp string // 127.0.0.2:PORT
}

// startPostfix writes main.cf and master.cf and starts Postfix. It is
// stopped with "postfix -c DIR stop" when the test ends.
func startPostfix(t *testing.T, mainCF string) *postfixInstance {
	t.Helper()
	return startPostfixAt(t, "127.0.0.2:"+port(freePort(t)), mainCF)
}

// startPostfixAt is startPostfix with smtpd on the given address.
func startPostfixAt(t *testing.T, smtpAddr, mainCF string) *postfixInstance {
	t.Helper()
	postfix := "/usr/sbin/postfix"
	if _, err := os.Stat(postfix); err != nil {
		t.Skip("postfix not installed (.ci/run installs it)")
	}
	if os.Geteuid() != 0 {
		t.Skip("starting Postfix needs root")
	}
	dir, err := os.MkdirTemp("", "posthorn-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // Postfix's daemons run as the postfix user
	if err := os.Mkdir(filepath.Join(dir, "queue"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := &postfixInstance{dir: dir, smtp: smtpAddr}
	main := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = relay.posthorn.test
mydomain = posthorn.test
myorigin = relay.posthorn.test
mydestination =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtp_host_lookup = native
lmtp_host_lookup = native
smtp_tls_security_level = may
smtp_tls_loglevel = 1
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
syslog_name = postfix-e2e
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
%[2]s
`, dir, mainCF)
	master := fmt.Sprintf(`%s inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`, p.smtp)
	writeFile(t, filepath.Join(dir, "main.cf"), main)
	writeFile(t, filepath.Join(dir, "master.cf"), master)
	os.Chmod(filepath.Join(dir, "main.cf"), 0o644)
	os.Chmod(filepath.Join(dir, "master.cf"), 0o644)
	t.Cleanup(func() {
		// Stop with Postfix's own command, then wait for its master
		// process (its PID is in the queue's pid/master.pid) to exit.
		pid, _ := os.ReadFile(filepath.Join(dir, "queue", "pid", "master.pid"))
		exec.Command(postfix, "-c", dir, "stop").Run()
		if p := strings.TrimSpace(string(pid)); p != "" {
			for range 100 {
				if _, err := os.Stat("/proc/" + p); err != nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "maillog")); err == nil {
				t.Logf("Postfix maillog:\n%s", b)
			}
		}
		os.RemoveAll(dir)
	})
	if out, err := exec.Command(postfix, "-c", dir, "start").CombinedOutput(); err != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "maillog"))
		t.Fatalf("postfix start: %v\n%s\n%s", err, out, b)
	}
	// Wait for its smtpd.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := dialTimeout(p.smtp)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "maillog"))
			t.Fatalf("Postfix does not listen on %s: %v\n%s", p.smtp, err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p
}

func (p *postfixInstance) maillog() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "maillog"))
	return string(b)
}

// waitLog waits until re matches the server log.
func waitLog(t *testing.T, m *mailServer, p *postfixInstance, re string, n int) {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(60 * time.Second)
	for len(rx.FindAllString(m.logs(), -1)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %d log lines matching %s in 60s\nposthorn:\n%s\nPostfix:\n%s", n, re, m.logs(), p.maillog())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestPostfixRelaysIntoPosthorn: Debian's Postfix on 127.0.0.2 relays
// mail it receives into posthorn's MX (relayhost, STARTTLS "may") and
// delivers a second domain into posthorn's LMTP listener.
func TestPostfixRelaysIntoPosthorn(t *testing.T) {
	need(t, "swaks")
	t.Parallel()
	m := newMailServer(t, mailOptions{lmtp: true})
	m.addUser("bob@example.com", bobPW)
	m.admin("domain", "add", "lmtp.example")
	m.addUser("carol@lmtp.example", "carol-Lmtp-pw-4821")
	m.addUser("dave@lmtp.example", "dave-Lmtp-pw-4821")
	m.start()
	p := startPostfix(t, fmt.Sprintf("relayhost = [127.0.0.1]:%s\ntransport_maps = inline:{ {lmtp.example = lmtp:inet:%s} }\n",
		port(m.smtp), m.lmtp))

	relayMsg, relayBody := writeMessage(t, "relay.eml", `From: Origin <origin@client.posthorn.test>
To: bob@example.com
Subject: relayed by postfix
Message-ID: <postfix-relay-1@client.posthorn.test>
Date: Mon, 02 Jan 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Postfix relays this.
.a dot line
Grüße
`)
	mustSwaks(t, "--server", p.smtp, "--ehlo", "client.posthorn.test", "--from", "origin@client.posthorn.test",
		"--to", "bob@example.com", "--data", "@"+relayMsg)
	lmtpMsg, lmtpBody := writeMessage(t, "lmtp.eml", `From: origin@client.posthorn.test
To: carol@lmtp.example, dave@lmtp.example
Subject: delivered over LMTP
Message-ID: <postfix-lmtp-1@client.posthorn.test>
Date: Mon, 02 Jan 2026 10:00:00 +0000

Postfix's LMTP client delivers this to two recipients.
`)
	mustSwaks(t, "--server", p.smtp, "--from", "origin@client.posthorn.test",
		"--to", "carol@lmtp.example,dave@lmtp.example", "--data", "@"+lmtpMsg)
	// An unknown LMTP recipient bounces at Postfix, per recipient.
	mustSwaks(t, "--server", p.smtp, "--from", "origin@client.posthorn.test",
		"--to", "nobody@lmtp.example", "--header", "Subject: lmtp unknown")

	waitLog(t, m, p, `msg="message delivered".*listener=smtp.*from=origin@client.posthorn.test`, 1)
	waitLog(t, m, p, `msg="message delivered".*listener=lmtp.*from=origin@client.posthorn.test`, 1)
	waitLog(t, m, p, `msg="recipient rejected".*listener=lmtp.*to=<?nobody@lmtp.example`, 1)
	// Postfix logged the deliveries as sent.
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(p.maillog(), "status=sent") < 3 || !strings.Contains(p.maillog(), "status=bounced") {
		if time.Now().After(deadline) {
			t.Fatalf("Postfix did not log 3 sent and 1 bounced:\n%s", p.maillog())
		}
		time.Sleep(200 * time.Millisecond)
	}
	log := p.maillog()
	if !regexp.MustCompile(`to=<bob@example.com>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*status=sent \(250 2\.0\.0 Ok: stored as`).MatchString(log) {
		t.Errorf("Postfix relay log:\n%s", log)
	}
	if !strings.Contains(log, "Trusted TLS connection established to 127.0.0.1") && !strings.Contains(log, "Anonymous TLS connection established to 127.0.0.1") && !strings.Contains(log, "Untrusted TLS connection established to 127.0.0.1") {
		t.Errorf("Postfix did not use STARTTLS to posthorn:\n%s", log)
	}
	if !regexp.MustCompile(`to=<nobody@lmtp.example>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*status=bounced \(host .* said: 550 5\.1\.1`).MatchString(log) {
		t.Errorf("unknown LMTP recipient not bounced with 550 5.1.1:\n%s", log)
	}
	m.stop()

	bob := oneBySubject(t, m.messages("bob@example.com"), "relayed by postfix")
	// Postfix adds its own Received (and nothing else: the message has
	// Date, From, Message-ID); the body after it is the original.
	if !strings.HasSuffix(bob.Body, relayBody) || !strings.HasPrefix(bob.Body, "Received: from client.posthorn.test") {
		t.Errorf("relayed message:\n%q\nwant suffix %q", bob.Body, relayBody)
	}
	if !regexp.MustCompile(`^Received: from relay\.posthorn\.test \(\[127\.0\.0\.1\]\)\r\n\tby mail\.example\.com \(posthorn\) with ESMTPS id \w+\r\n\t\(version=TLS 1\.[23] cipher=\w+\)\r\n\tfor <bob@example\.com>;`).MatchString(bob.Prefix) {
		t.Errorf("Received of the relayed message:\n%q", bob.Prefix)
	}
	for _, u := range []string{"carol@lmtp.example", "dave@lmtp.example"} {
		msg := oneBySubject(t, m.messages(u), "delivered over LMTP")
		if !strings.HasSuffix(msg.Body, lmtpBody) {
			t.Errorf("%s: LMTP body:\n%q", u, msg.Body)
		}
		if !regexp.MustCompile(`^Received: from relay\.posthorn\.test \(\[127\.0\.0\.1\]\)\r\n\tby mail\.example\.com \(posthorn\) with LMTP id`).MatchString(msg.Prefix) {
			t.Errorf("%s: LMTP Received:\n%q", u, msg.Prefix)
		}
	}
}
