package smtpserver

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
)

// relayTricks are recipient addresses that could make a server relay to
// elsewhere.net, or accept mail for a domain it does not serve.
var relayTricks = []string{
	"<user@elsewhere.net>",
	"<user@ELSEWHERE.NET>",
	"<user%elsewhere.net@example.org>",
	"<user%elsewhere.net@catch.example>", // even where a catch-all would accept it
	"<elsewhere.net!user@example.org>",
	"<elsewhere.net!user@catch.example>",
	"<\"user@elsewhere.net\"@example.org>",
	"<\"user@elsewhere.net\"@catch.example>",
	"<@example.org:user@elsewhere.net>",
	"<@example.org,@mx.example.org:user@elsewhere.net>",
	"<user@elsewhere.net@example.org>",
	"<user@example.org.>",
	"<user@elsewhere.net.>",
	"<user@[192.0.2.1]>",
	"<user@[127.0.0.1]>",
	"<user@[IPv6:::1]>",
	"<user>",
	"<user@>",
	"<@>",
	"user@elsewhere.net",
	"<alice@example.org@elsewhere.net>",
	"<alice@elsewhere.net%example.org>",
	"<nobody@example.org>",
	// Routing through a relay domain (Postfix: allow_untrusted_routing
	// = no), and names that only look like one.
	"<user%elsewhere.net@relayed.example>",
	"<elsewhere.net!user@relayed.example>",
	"<\"user@elsewhere.net\"@relayed.example>",
	"<@relayed.example:user@elsewhere.net>",
	"<user@elsewhere.net@relayed.example>",
	"<user@sub.relayed.example>",
	"<user@relayed.example.elsewhere.net>",
	"<user@xrelayed.example>",
	"<other@picky.example>",
	"<only%elsewhere.net@picky.example>",
	// SRS addresses this server did not make.
	"<SRS0=AAAAAA=TT=elsewhere.net=user@example.org>",
	"<SRS1=AAAAAA=other.example==AAAAAA=TT=elsewhere.net=user@example.org>",
	"<srs0+AAAAAA=TT=elsewhere.net=user@example.org>",
	"<SRS0=AAAAAA=TT=elsewhere.net=user%evil.example@example.org>",
}

// TestOpenRelayTricks: an unauthenticated client gets 5xx at RCPT for
// every address trick, on a plain MX, with relay domains, with SRS and
// forwarding, with all of them, and over LMTP.
func TestOpenRelayTricks(t *testing.T) {
	relay := func(o *Options) {
		o.RelayDomains = []RelayDomain{
			{Domain: addr.MustParseDomain("relayed.example")},
			{Domain: addr.MustParseDomain("picky.example"), Recipients: []addr.Address{addr.MustParseAddress("only@picky.example")}},
		}
	}
	forwarding := func(o *Options, out *fakeOutbound) {
		o.Deliverer.Outbound = out
		o.SRS = testSRS
	}
	for _, cfg := range []struct {
		name string
		mode Mode
		ip   string
		mod  func(*Options, *fakeOutbound)
	}{
		{"plain MX", ModeMX, remoteIP, nil},
		{"relay domains", ModeMX, remoteIP, func(o *Options, _ *fakeOutbound) { relay(o) }},
		{"SRS and forwarding", ModeMX, remoteIP, forwarding},
		{"relay domains, SRS and forwarding", ModeMX, remoteIP, func(o *Options, out *fakeOutbound) {
			relay(o)
			forwarding(o, out)
		}},
		{"LMTP", ModeLMTP, "127.0.0.1", func(o *Options, out *fakeOutbound) {
			relay(o)
			forwarding(o, out)
		}},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			out := &fakeOutbound{}
			e := newEnv(t, func(o *Options) {
				if cfg.mod != nil {
					cfg.mod(o, out)
				}
			})
			dial := func() *client {
				c := e.dial(cfg.mode, cfg.ip)
				if cfg.mode == ModeLMTP {
					c.expect("220 ")
					c.cmd("LHLO client.example", "250")
				} else {
					c.greet()
				}
				return c
			}
			tricks := relayTricks
			if cfg.mod != nil && cfg.name != "relay domains" {
				// With SRS on, a forged SRS address is refused even
				// where a catch-all would take it (without SRS it is
				// just a local part for the catch-all).
				tricks = append(tricks[:len(tricks):len(tricks)], "<SRS0=AAAAAA=TT=elsewhere.net=user@catch.example>")
			}
			c := dial()
			for i, trick := range tricks {
				if i > 0 && i%10 == 0 { // stay under max_errors
					c.cmd("QUIT", "221")
					c = dial()
				}
				c.cmd("MAIL FROM:<spammer@remote.example>", "250")
				c.send("RCPT TO:" + trick + "\r\n")
				if got := c.reply(); got[0] != '5' {
					t.Errorf("RCPT TO:%s: got %q, want 5xx", trick, got)
				}
				c.cmd("RSET", "250")
			}
			// An alias to a remote address forwards only when forwarding
			// is set up.
			c.cmd("MAIL FROM:<spammer@remote.example>", "250")
			c.send("RCPT TO:<fwd@example.org>\r\n")
			if got := c.reply(); cfg.mod == nil && got[0] == '2' {
				t.Errorf("RCPT TO:<fwd@example.org> without forwarding: %q", got)
			}
			c.cmd("RSET", "250")
			if cfg.mode == ModeMX {
				// The bare postmaster is accepted (RFC 5321 §4.5.1);
				// others are not.
				c.cmd("MAIL FROM:<>", "250")
				c.cmd("RCPT TO:<Postmaster>", "250")
				c.cmd("RCPT TO:<abuse>", "501")
			}
			if len(out.out) != 0 {
				t.Errorf("queued %+v", out.out)
			}
		})
	}
}

func TestRecipients(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(ModeMX, remoteIP)
	c.greet()
	c.cmd("MAIL FROM:<a@remote.example> SIZE=100", "250")
	c.cmd("RCPT TO:<nobody@example.org>", "550 5.1.1")
	c.cmd("RCPT TO:<full@example.org>", "452 4.2.2")
	c.cmd("RCPT TO:<ALICE@Example.ORG>", "250")
	c.cmd("RCPT TO:<alice+tag@example.org>", "250")
	c.cmd("RCPT TO:<sales@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;sales@example.org", "250")
	c.cmd("RCPT TO:<whatever@catch.example>", "250")
	c.cmd("RCPT TO:<alice@example.org>", "250") // duplicate: accepted once
	c.cmd("DATA", "354")
	c.send("Subject: x\r\n\r\nbody\r\n.\r\n")
	c.expect("250")
	if n := len(e.inbox("alice@example.org")); n != 1 {
		t.Errorf("alice has %d messages, want 1 (stored once)", n)
	}
	if n := len(e.inbox("bob@example.org")); n != 1 {
		t.Errorf("bob has %d messages, want 1", n)
	}
	// Several recipients: Received does not name them.
	if m := e.inbox("bob@example.org")[0]; strings.Contains(m, "for <") {
		t.Errorf("Received names a recipient:\n%s", m)
	}
}

func TestSizeAndLimits(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Limits.MaxRecipients = 2
		o.Limits.MaxCommandsBeforeMail = 5
		o.Limits.MaxErrors = 3
	})
	c := e.dial(ModeMX, remoteIP)
	c.greet()
	c.cmd("MAIL FROM:<a@remote.example> SIZE=2000000", "552 5.3.4")
	c.cmd("MAIL FROM:<a@remote.example>", "250")
	c.cmd("RCPT TO:<alice@example.org>", "250")
	c.cmd("RCPT TO:<bob@example.org>", "250")
	c.cmd("RCPT TO:<sales@example.org>", "452 4.5.3")
	c.cmd("DATA", "354")
	c.send(strings.Repeat("x", 1000) + "\r\n")
	big := strings.Repeat(strings.Repeat("y", 998)+"\r\n", 1100)
	c.send(big + ".\r\n")
	c.expect("552 5.3.4")
	c.cmd("NOOP", "250")

	// Commands without MAIL.
	c2 := e.dial(ModeMX, remoteIP)
	c2.greet()
	for range 4 {
		c2.cmd("NOOP", "250")
	}
	c2.cmd("NOOP", "421 4.7.0")

	// Too many errors.
	c3 := e.dial(ModeMX, remoteIP)
	c3.greet()
	c3.cmd("MAIL FROM:<a@remote.example>", "250")
	for range 4 {
		c3.cmd("RCPT TO:<nobody@example.org>", "550")
	}
	c3.send("RCPT TO:<nobody@example.org>\r\n")
	if got := c3.reply(); !strings.HasPrefix(got, "421 4.7.0") {
		t.Errorf("after too many errors: %q", got)
	}

	// Line too long.
	c4 := e.dial(ModeMX, remoteIP)
	c4.greet()
	c4.cmd("NOOP "+strings.Repeat("a", 9000), "500 5.5.6")
}

func TestSmuggling(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct{ name, data string }{
		{"LF.LF", "Subject: a\r\n\r\nx\n.\nMAIL FROM:<evil@remote.example>\r\n"},
		{"CR.CR", "Subject: a\r\n\r\nx\r.\rMAIL FROM:<evil@remote.example>\r\n"},
		{"LF.CRLF", "Subject: a\r\n\r\nx\n.\r\nMAIL FROM:<evil@remote.example>\r\n"},
		{"CRLF.LF", "Subject: a\r\n\r\nx\r\n.\nMAIL FROM:<evil@remote.example>\r\n"},
		{"CR.CRLF", "Subject: a\r\n\r\nx\r.\r\nRCPT TO:<bob@example.org>\r\n"},
		{"bare LF", "Subject: a\n\nbody\r\n"},
		{"bare CR", "Subject: a\r\n\r\nbo\rdy\r\n"},
		{"CRCRLF", "Subject: a\r\n\r\nx\r\r\n.\r\nRCPT TO:<bob@example.org>\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dial(ModeMX, remoteIP)
			c.greet()
			c.cmd("MAIL FROM:<a@remote.example>", "250")
			c.cmd("RCPT TO:<alice@example.org>", "250")
			c.cmd("DATA", "354")
			c.send(tc.data + ".\r\n")
			// One reply only: the smuggled commands are part of the message.
			c.expect("550 5.5.2")
			c.cmd("NOOP", "250")
		})
	}
	if n := len(e.inbox("alice@example.org")); n != 0 {
		t.Errorf("%d messages stored", n)
	}
	// BDAT content is checked too.
	c := e.dial(ModeMX, remoteIP)
	c.greet()
	c.cmd("MAIL FROM:<a@remote.example>", "250")
	c.cmd("RCPT TO:<alice@example.org>", "250")
	data := "Subject: a\r\n\r\nx\n.\nmore\r\n"
	c.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(data), data))
	c.expect("550 5.5.2")
	// BINARYMIME content is binary: not checked.
	c.cmd("MAIL FROM:<a@remote.example> BODY=BINARYMIME", "250")
	c.cmd("RCPT TO:<alice@example.org>", "250")
	bin := "Subject: b\r\nContent-Type: application/octet-stream\r\n\r\n\x00\n\r\xff"
	c.send(fmt.Sprintf("BDAT %d LAST\r\n%s", len(bin), bin))
	c.expect("250")
	if m := e.inbox("alice@example.org"); len(m) != 1 || !strings.HasSuffix(m[0], "\r\n"+bin) {
		t.Errorf("BINARYMIME message: %q", m)
	}
}

func TestBDAT(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(ModeMX, remoteIP)
	c.greet()
	// Pipelined: commands and chunks in one write.
	p1, p2 := "Subject: chunked\r\n\r\nMAIL FROM:<x@y.example>\r\n", "RCPT TO:<bob@example.org>\r\nend\r\n"
	c.send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\n" +
		fmt.Sprintf("BDAT %d\r\n%sBDAT %d LAST\r\n%s", len(p1), p1, len(p2), p2) + "NOOP\r\n")
	for _, want := range []string{"250", "250", "250 2.0.0 Continue", "250 2.0.0 Ok", "250"} {
		c.expect(want)
	}
	if m := e.inbox("alice@example.org"); len(m) != 1 || !strings.HasSuffix(m[0], "\r\n"+p1+p2) {
		t.Errorf("stored: %q", m)
	}
	if n := len(e.inbox("bob@example.org")); n != 0 {
		t.Errorf("chunk content executed as commands")
	}
	// A chunk after a refused transaction is skipped, not executed.
	chunk := "RCPT TO:<bob@example.org>\r\n\r\n"
	c.send(fmt.Sprintf("BDAT %d LAST\r\n%sNOOP\r\n", len(chunk), chunk))
	c.expect("502")
	c.expect("250")
}

func TestSTARTTLSInjection(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(ModeMX, remoteIP)
	c.greet()
	// The injected commands come in the same packet as STARTTLS.
	c.send("STARTTLS\r\nMAIL FROM:<evil@remote.example>\r\nRCPT TO:<alice@example.org>\r\n")
	c.expect("220 2.0.0")
	cs := c.handshake()
	if cs.Version < 0x0303 {
		t.Errorf("TLS version %x", cs.Version)
	}
	// Had the injected MAIL been executed, this would be a second MAIL.
	c.cmd("MAIL FROM:<a@remote.example>", "503 5.5.1") // EHLO required again
	ehlo := c.cmd("EHLO client.example", "250")
	if strings.Contains(ehlo, "STARTTLS") || !strings.Contains(ehlo, "REQUIRETLS") {
		t.Errorf("EHLO after TLS:\n%s", ehlo)
	}
	c.cmd("DATA", "502") // no transaction survived
	c.cmd("MAIL FROM:<a@remote.example> REQUIRETLS", "250")
	c.cmd("RCPT TO:<alice@example.org>", "250")
	c.cmd("DATA", "354")
	c.send("Subject: tls\r\n\r\nx\r\n.\r\n")
	c.expect("250")
	m := e.inbox("alice@example.org")
	if len(m) != 1 || !strings.Contains(m[0], "with ESMTPS id") || !strings.Contains(m[0], "(version=TLS 1.3 cipher=TLS_") {
		t.Errorf("Received: %q", m)
	}
	if !strings.Contains(e.logs.String(), "discarded input pipelined after STARTTLS") {
		t.Errorf("injection not logged")
	}
	c.cmd("STARTTLS", "503")
	// REQUIRETLS on plaintext is refused.
	c2 := e.dial(ModeMX, remoteIP)
	c2.greet()
	c2.cmd("MAIL FROM:<a@remote.example> REQUIRETLS", "530 5.7.10")
}

func TestSubmission(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(ModeSubmission, remoteIP)
	ehlo := c.greet()
	if strings.Contains(ehlo, "AUTH") {
		t.Errorf("AUTH offered without TLS from a remote address:\n%s", ehlo)
	}
	c.authPlain("alice@example.org", alicePW, "538 5.7.11")
	c.cmd("MAIL FROM:<alice@example.org>", "530 5.7.0")
	c.startTLS()
	ehlo = c.cmd("EHLO client.example", "250")
	if !strings.Contains(ehlo, "AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN LOGIN") {
		t.Errorf("EHLO over TLS:\n%s", ehlo)
	}
	c.authPlain("alice@example.org", "wrong", "535 5.7.8")
	c.authPlain("alice@example.org", alicePW, "235")
	c.cmd("MAIL FROM:<bob@example.org>", "550 5.7.1 MAIL FROM <bob@example.org> is not an address of alice@example.org")
	c.cmd("MAIL FROM:<alice+lists@example.org>", "250")
	c.cmd("RCPT TO:<someone@elsewhere.net>", "451 4.4.3")
	c.cmd("RCPT TO:<bob@example.org>", "250")
	c.cmd("DATA", "354")
	c.send("From: Bob <bob@example.org>\r\nSubject: x\r\n\r\nhi\r\n.\r\n")
	c.expect("550 5.7.1 From: <bob@example.org> is not an address of alice@example.org")
	for _, from := range []string{"alice@example.org", "ALICE@example.org", "alias2@example.org", "sales@example.org"} {
		c.cmd("MAIL FROM:<"+from+">", "250")
		c.cmd("RCPT TO:<bob@example.org>", "250")
		c.cmd("DATA", "354")
		c.send("From: A <" + from + ">\r\nSubject: x\r\nUser-Agent: Secret/1.0\r\nX-Mailer: also\r\n  folded\r\n\r\nhi\r\n.\r\n")
		c.expect("250")
	}
	c.cmd("MAIL FROM:<bob+x@example.org>", "550 5.7.1")
	msgs := e.inbox("bob@example.org")
	if len(msgs) != 4 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	for _, bad := range []string{"192.0.2.10", "User-Agent", "X-Mailer", "client.example"} {
		if strings.Contains(m, bad) {
			t.Errorf("submitted message discloses %q:\n%s", bad, m)
		}
	}
	for _, want := range []string{"Received: by mx.example.org (posthorn) with ESMTPSA id ", "\r\nMessage-ID: <", "\r\nDate: ", "Subject: x\r\n\r\nhi\r\n"} {
		if !strings.Contains(m, want) {
			t.Errorf("submitted message lacks %q:\n%s", want, m)
		}
	}
}

func TestSubmissionsAndSCRAMUnavailableWithoutTLS(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(ModeSubmissions, remoteIP)
	c.handshake()
	c.expect("220 mx.example.org ESMTP")
	ehlo := c.cmd("EHLO client.example", "250")
	if strings.Contains(ehlo, "STARTTLS") || !strings.Contains(ehlo, "AUTH ") {
		t.Errorf("EHLO on implicit TLS:\n%s", ehlo)
	}
	// LOGIN, with the password never in the log.
	c.cmd("AUTH LOGIN", "334")
	c.cmd(base64.StdEncoding.EncodeToString([]byte("alice@example.org")), "334")
	c.cmd(base64.StdEncoding.EncodeToString([]byte(alicePW)), "235")
	c.cmd("MAIL FROM:<alice@example.org>", "250")
	if logs := e.logs.String(); strings.Contains(logs, alicePW) || strings.Contains(logs, base64.StdEncoding.EncodeToString([]byte(alicePW))) {
		t.Errorf("password in the log")
	}
}

func TestAuthGuard(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(ModeSubmissions, remoteIP)
	c.handshake()
	c.greet()
	start := time.Now()
	for range 3 {
		c.authPlain("alice@example.org", "bad", "535 5.7.8")
	}
	c.authPlain("alice@example.org", "bad", "535 5.7.8") // delayed 1s by the guard
	if d := time.Since(start); d < time.Second {
		t.Errorf("4th failure not delayed (%v)", d)
	}
	if !strings.Contains(e.logs.String(), "auth delayed") {
		t.Errorf("delay not logged")
	}
}

func TestMXRefusesAuthAndEarlyTalker(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Limits.GreetDelay = 200 * time.Millisecond })
	c := e.dial(ModeMX, remoteIP)
	c.send("EHLO early.example\r\n")
	c.expect("554 5.5.1")
	c = e.dial(ModeMX, remoteIP)
	c.greet()
	c.authPlain("alice@example.org", alicePW, "503 5.5.1")
}

func TestLMTP(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(ModeLMTP, "127.0.0.1")
	c.expect("220 mx.example.org LMTP")
	c.cmd("LHLO front.example", "250")
	c.cmd("MAIL FROM:<a@remote.example>", "250")
	c.cmd("RCPT TO:<alice@example.org>", "250")
	c.cmd("RCPT TO:<nobody@example.org>", "550 5.1.1")
	c.cmd("RCPT TO:<bob@example.org>", "250")
	c.cmd("RCPT TO:<Bob@example.org>", "250")
	c.cmd("DATA", "354")
	c.send("Subject: lmtp\r\n\r\nx\r\n.\r\n")
	for _, want := range []string{"250 2.0.0 <alice@example.org>", "250 2.0.0 <bob@example.org>", "250 2.0.0 <Bob@example.org>"} {
		c.expect(want)
	}
	// Per-recipient status: quota reached between RCPT and DATA fails
	// only that recipient.
	c.cmd("MAIL FROM:<a@remote.example>", "250")
	c.cmd("RCPT TO:<alice@example.org>", "250")
	c.cmd("RCPT TO:<full@example.org>", "250")
	c.cmd("DATA", "354")
	c.send("Subject: lmtp2\r\n\r\nthis is longer than ten bytes\r\n.\r\n")
	c.expect("250 2.0.0 <alice@example.org>")
	c.expect("452 4.2.2 <full@example.org>")
	if n := len(e.inbox("alice@example.org")); n != 2 {
		t.Errorf("alice: %d messages", n)
	}
}

func TestXCLIENTAndPROXY(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.XCLIENTNetworks = mustPrefixes("10.0.0.0/8")
		o.TrustedProxies = mustPrefixes("10.9.9.9/32")
	})
	// Untrusted: refused, not executed.
	c := e.dial(ModeMX, remoteIP)
	ehlo := c.greet()
	if strings.Contains(ehlo, "XCLIENT") {
		t.Errorf("XCLIENT offered to an untrusted client")
	}
	c.cmd("XCLIENT ADDR=203.0.113.5", "550 5.7.0")
	// Trusted front end.
	c = e.dial(ModeMX, "10.1.2.3")
	ehlo = c.greet()
	if !strings.Contains(ehlo, "XCLIENT ADDR") {
		t.Errorf("XCLIENT not offered:\n%s", ehlo)
	}
	c.cmd("XCLIENT ADDR=203.0.113.5 NAME=real.example HELO=real-helo.example PROTO=ESMTP", "220 mx.example.org ESMTP")
	c.cmd("EHLO real-helo.example", "250")
	c.cmd("MAIL FROM:<a@remote.example>", "250")
	c.cmd("XCLIENT ADDR=203.0.113.6", "503")
	c.cmd("RCPT TO:<alice@example.org>", "250")
	c.cmd("DATA", "354")
	c.send("Subject: x\r\n\r\nx\r\n.\r\n")
	c.expect("250")
	if m := e.inbox("alice@example.org"); len(m) != 1 || !strings.HasPrefix(m[0], "Received: from real-helo.example (real.example [203.0.113.5])") {
		t.Errorf("Received: %q", m)
	}
	// XCLIENT LOGIN on submission authenticates.
	c = e.dial(ModeSubmission, "10.1.2.3")
	c.greet()
	c.cmd("XCLIENT LOGIN=bob@example.org ADDR=IPV6:2001:db8::1", "220")
	c.cmd("EHLO x.example", "250")
	c.cmd("MAIL FROM:<bob@example.org>", "250")

	// PROXY v1 from the trusted proxy.
	c = e.dial(ModeMX, "10.9.9.9")
	c.send("PROXY TCP4 198.51.100.7 192.0.2.1 5555 25\r\n")
	c.greet()
	c.cmd("MAIL FROM:<a@remote.example>", "250")
	c.cmd("RCPT TO:<bob@example.org>", "250")
	c.cmd("DATA", "354")
	c.send("Subject: p\r\n\r\nx\r\n.\r\n")
	c.expect("250")
	if m := e.inbox("bob@example.org"); len(m) != 1 || !strings.Contains(m[0], "[198.51.100.7]") {
		t.Errorf("PROXY v1 address not used: %q", m)
	}
	// PROXY v2.
	c = e.dial(ModeMX, "10.9.9.9")
	v2 := append([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c"), 198, 51, 100, 8, 192, 0, 2, 1, 0x15, 0xb3, 0, 25)
	c.send(string(v2))
	c.greet()
	if !strings.Contains(e.logs.String(), "client=198.51.100.8") {
		t.Errorf("PROXY v2 address not used")
	}
	// A PROXY header from anyone else is a command (an unknown one).
	c = e.dial(ModeMX, remoteIP)
	c.expect("220")
	c.cmd("PROXY TCP4 198.51.100.9 192.0.2.1 5555 25", "501")
	// The trusted proxy must send a header.
	c = e.dial(ModeMX, "10.9.9.9")
	c.send("EHLO x\r\n\r\n\r\n\r\n")
	if got := c.reply(); got != "EOF" {
		t.Errorf("no PROXY header: %q", got)
	}
}

func TestShutdown(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(ModeMX, remoteIP)
	c.greet()
	done := make(chan error)
	go func() { done <- e.srv.Shutdown(t.Context()) }()
	c.expect("421 4.3.2")
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestSubmissionHostileFrom: an authenticated account sends only as
// itself, whatever the From field's shape: several fields, several
// addresses, groups, addresses in display names and comments, and MAIL
// FROM at a foreign domain, through the real submission server. alice owns
// alice@, alice+tag@, alias2@ and sales@example.org.
func TestSubmissionHostileFrom(t *testing.T) {
	e := newEnv(t, nil)
	c := e.dial(ModeSubmission, remoteIP)
	c.greet()
	c.startTLS()
	c.cmd("EHLO client.example", "250")
	c.authPlain("alice@example.org", alicePW, "235")
	for _, from := range []string{"alice@elsewhere.net", "alice@example.org.evil.example", "bob@example.org", "x@catch.example"} {
		c.cmd("MAIL FROM:<"+from+">", "550 5.7.1 MAIL FROM <"+from+"> is not an address of alice@example.org")
	}
	const (
		notOwned = "550 5.7.1 From: <bob@example.org> is not an address of alice@example.org"
		refused  = "550 5.6.0 Message refused: "
	)
	tests := []struct{ name, header, want string }{
		{"own address", "From: Alice <alice@example.org>\r\n", "250 "},
		{"several owned addresses", "From: alice@example.org, alias2@example.org\r\n", "250 "},
		{"a foreign address beside an owned one", "From: alice@example.org, bob@example.org\r\n", notOwned},
		{"a foreign domain", "From: alice@elsewhere.net\r\n", "550 5.7.1 From: <alice@elsewhere.net> is not an address of alice@example.org"},
		{"two From fields, one foreign", "From: alice@example.org\r\nFrom: bob@example.org\r\n", refused + "the message has 2 From header fields"},
		{"two From fields, both owned", "From: alice@example.org\r\nFrom: alice@example.org\r\n", refused + "the message has 2 From header fields"},
		{"two From fields, FROM and from", "FROM: alice@example.org\r\nfrom: bob@example.org\r\n", refused + "the message has 2 From header fields"},
		{"two From fields, folded", "From: alice@example.org\r\nFrom:\r\n bob@example.org\r\n", refused + "the message has 2 From header fields"},
		{"two From fields, space before the colon", "From: alice@example.org\r\nFrom\t : bob@example.org\r\n", refused + "the message has 2 From header fields"},
		{"group with a foreign member", "From: team: alice@example.org, bob@example.org;\r\n", notOwned},
		{"group of own addresses", "From: me: alice@example.org;\r\n", "250 "},
		{"group without members", "From: undisclosed-recipients:;\r\n", refused + "the From header field holds no address"},
		{"empty From", "From:\r\n", refused + "the From header field holds no address"},
		{"no From", "Subject: none\r\n", refused + "the message has no From header field"},
		{"From without a domain", "From: alice\r\n", refused + "the From address <alice> is incomplete"},
		{"own address in the display name", "From: \"alice@example.org, x\" <bob@example.org>\r\n", notOwned},
		{"own address in an encoded word", "From: =?utf-8?q?alice=40example.org?= <bob@example.org>\r\n", notOwned},
		{"own address in a comment", "From: bob@example.org (alice@example.org)\r\n", notOwned},
		{"two unquoted @", "From: alice@example.org@elsewhere.net\r\n", refused + "the From address <alice@example.org@elsewhere.net> has more than one unquoted @"},
	}
	stored := 0
	for _, tt := range tests {
		c.cmd("MAIL FROM:<alice@example.org>", "250")
		c.cmd("RCPT TO:<bob@example.org>", "250")
		c.cmd("DATA", "354")
		c.send(tt.header + "Subject: x\r\n\r\nhi\r\n.\r\n")
		if r := c.reply(); !strings.HasPrefix(r, tt.want) {
			t.Errorf("%s: reply %q, want %q…", tt.name, r, tt.want)
		} else if tt.want == "250 " {
			stored++
		}
	}
	if n := len(e.inbox("bob@example.org")); n != stored {
		t.Errorf("%d messages stored, want %d", n, stored)
	}
}
