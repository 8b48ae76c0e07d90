package e2e

import (
	"os"
	"strings"
	"testing"
)

// relayTricks are recipient addresses that could make the server relay
// to elsewhere.net or accept mail for a domain it does not serve; the
// server of TestBattery and TestOpenRelayConfigs serves example.com and
// the catch-all catch.example, and in TestOpenRelayConfigs is the backup
// MX of relayed.example and of only@picky.example.
var relayTricks = []string{
	"user@elsewhere.net",
	"USER@ELSEWHERE.NET",
	"user%elsewhere.net@example.com",
	"user%elsewhere.net@catch.example", // even where a catch-all would take it
	"elsewhere.net!user@example.com",
	"elsewhere.net!user@catch.example",
	`"user@elsewhere.net"@example.com`,
	`"user@elsewhere.net"@catch.example`,
	"@example.com:user@elsewhere.net",
	"@example.com,@mail.example.com:user@elsewhere.net",
	"user@elsewhere.net@example.com",
	"bob@example.com.",
	"user@elsewhere.net.",
	"user@[192.0.2.1]",
	"user@[127.0.0.1]",
	"user@[IPv6:::1]",
	"bob",
	"bob@",
	"bob@example.com@elsewhere.net",
	"bob@elsewhere.net%example.com",
	"nobody@example.com",
	// Routing through a relay domain, and names that only look like one.
	"user%elsewhere.net@relayed.example",
	"elsewhere.net!user@relayed.example",
	`"user@elsewhere.net"@relayed.example`,
	"@relayed.example:user@elsewhere.net",
	"user@elsewhere.net@relayed.example",
	"user@sub.relayed.example",
	"user@relayed.example.elsewhere.net",
	"user@xrelayed.example",
	"other@picky.example",
	"only%elsewhere.net@picky.example",
	// SRS addresses the server did not make (SRS is always on).
	"SRS0=AAAAAA=TT=elsewhere.net=user@example.com",
	"SRS0=AAAAAA=TT=elsewhere.net=user@catch.example",
	"SRS1=AAAAAA=other.example==AAAAAA=TT=elsewhere.net=user@example.com",
	"srs0+AAAAAA=TT=elsewhere.net=user@example.com",
}

// TestOpenRelayConfigs: the built server, as the backup MX of relay
// domains, with SRS and an alias forwarding to another server, refuses
// every trick of relayTricks on its MX port and over LMTP, and still
// takes what it should.
func TestOpenRelayConfigs(t *testing.T) {
	t.Parallel()
	m := newMailServer(t, mailOptions{lmtp: true})
	b, err := os.ReadFile(m.config)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, m.config, setKeys(t, string(b), map[string]string{
		"relay_domains":    `["relayed.example", "picky.example"]`,
		"relay_recipients": `["only@picky.example"]`,
	}))
	m.addUser("bob@example.com", bobPW)
	m.admin("domain", "add", "catch.example")
	m.admin("alias", "add", "@catch.example", "bob@example.com")
	m.admin("alias", "add", "fwd@example.com", "someone@elsewhere.net")
	m.start()

	for _, l := range []struct {
		name, addr, hello string
	}{
		{"MX", m.smtp, "EHLO"},
		{"LMTP", m.lmtp, "LHLO"},
	} {
		t.Run(l.name, func(t *testing.T) {
			var c *smtpConn
			dial := func() {
				c = dialSMTP(t, l.addr)
				c.expect("220 ")
				c.cmd(l.hello+" client.example", "250")
			}
			dial()
			for i, trick := range relayTricks {
				if i > 0 && i%8 == 0 { // stay under max_errors
					c.cmd("QUIT", "221")
					dial()
				}
				c.cmd("MAIL FROM:<spammer@remote.example>", "250")
				if r := c.cmd("RCPT TO:<"+trick+">", ""); !strings.HasPrefix(r, "5") {
					t.Errorf("RCPT TO:<%s>: %q, want 5xx", trick, strings.TrimSpace(r))
				}
				c.cmd("RSET", "250")
			}
			// What a backup MX and a forwarder take.
			c.cmd("QUIT", "221")
			dial()
			c.cmd("MAIL FROM:<sender@remote.example>", "250")
			for _, ok := range []string{"anyone@relayed.example", "only@picky.example", "fwd@example.com", "bob@example.com", "x@catch.example"} {
				c.cmd("RCPT TO:<"+ok+">", "250")
			}
			c.cmd("RSET", "250")
		})
	}
	if strings.Contains(m.logs(), "queued") {
		t.Errorf("something was queued:\n%s", m.logs())
	}
}
