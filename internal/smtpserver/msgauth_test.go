package smtpserver

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
	"github.com/posthorn/posthorn/internal/msgauth"
)

// authEnv is a server whose delivery runs the message-authentication hook
// over a fake DNS:
//
//	sender.example  SPF allows 192.0.2.10, p=reject (SPF-aligned mail passes)
//	reject.example  SPF -all, p=reject
//	quar.example    SPF -all, p=quarantine
//	temp.example    _dmarc SERVFAIL
func authEnv(t *testing.T, mod func(*msgauth.Options)) *testEnv {
	zone := dnstest.Zone{
		dnstest.ReverseName(netip.MustParseAddr(remoteIP)): {PTR: []string{"mail.sender.example."}},
		"mail.sender.example":                              {A: []string{remoteIP}},
		"sender.example":                                   {TXT: []string{"v=spf1 ip4:" + remoteIP + " -all"}},
		"_dmarc.sender.example":                            {TXT: []string{"v=DMARC1; p=reject"}},
		"reject.example":                                   {TXT: []string{"v=spf1 -all"}},
		"_dmarc.reject.example":                            {TXT: []string{"v=DMARC1; p=reject"}},
		"quar.example":                                     {TXT: []string{"v=spf1 -all"}},
		"_dmarc.quar.example":                              {TXT: []string{"v=DMARC1; p=quarantine"}},
		"temp.example":                                     {TXT: []string{"v=spf1 -all"}},
		"_dmarc.temp.example":                              {ServFail: true},
	}
	return newEnv(t, func(o *Options) {
		mo := msgauth.Options{Resolver: dnstest.NewResolver(zone), Hostname: o.Hostname, Enforce: true, Timeout: 5 * time.Second}
		if mod != nil {
			mod(&mo)
		}
		chk := msgauth.NewChecker(mo)
		o.Deliverer.Hooks = []delivery.Hook{&msgauth.Hook{AuthServID: chk.AuthServID(), Checker: chk, Logger: o.Logger}}
	})
}

// sendMX sends one message over the MX from remoteIP and returns the reply
// to the end of DATA.
func sendMX(e *testEnv, mailFrom, from, rcpt string) string {
	c := e.dial(ModeMX, remoteIP)
	c.expect("220 mx.example.org ESMTP")
	c.cmd("EHLO mail.sender.example", "250")
	c.cmd("MAIL FROM:<"+mailFrom+">", "250")
	c.cmd("RCPT TO:<"+rcpt+">", "250")
	c.cmd("DATA", "354")
	c.send("From: <" + from + ">\r\nAuthentication-Results: mx.example.org; dmarc=pass header.from=" + from[strings.IndexByte(from, '@')+1:] +
		"\r\nAuthentication-Results: other.example; spf=pass\r\nSubject: auth test\r\n\r\nbody\r\n.\r\n")
	r := c.reply()
	c.cmd("QUIT", "221")
	return r
}

func TestDMARCPassToInbox(t *testing.T) {
	e := authEnv(t, nil)
	if r := sendMX(e, "bounce@sender.example", "a@sender.example", "alice@example.org"); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("reply %q", r)
	}
	msgs := e.inbox("alice@example.org")
	if len(msgs) != 1 {
		t.Fatalf("%d messages in INBOX", len(msgs))
	}
	m := msgs[0]
	ar := strings.Index(m, "\r\nAuthentication-Results: mx.example.org;\r\n\tiprev=pass")
	if !strings.HasPrefix(m, "Received: ") || ar < 0 {
		t.Fatalf("no Authentication-Results after Received:\n%s", m)
	}
	for _, want := range []string{"spf=pass", "smtp.mailfrom=bounce@sender.example", "dkim=none", "arc=none",
		"dmarc=pass", "header.from=sender.example", "\r\nReceived-SPF: pass", "Authentication-Results: other.example; spf=pass"} {
		if !strings.Contains(m, want) {
			t.Errorf("stored message lacks %q:\n%s", want, m)
		}
	}
	// The forged field claiming our authserv-id is gone; ours is the only one.
	if n := strings.Count(m, "Authentication-Results: mx.example.org"); n != 1 {
		t.Errorf("%d Authentication-Results claim mx.example.org:\n%s", n, m)
	}
}

func TestDMARCRejectAtEndOfData(t *testing.T) {
	e := authEnv(t, nil)
	r := sendMX(e, "x@reject.example", "a@reject.example", "alice@example.org")
	if !strings.HasPrefix(r, "550 5.7.1 ") || !strings.Contains(r, "From domain reject.example requires aligned SPF or DKIM") {
		t.Fatalf("reply %q", r)
	}
	if n := len(e.inbox("alice@example.org")); n != 0 {
		t.Errorf("%d messages delivered", n)
	}
	if !strings.Contains(e.logs.String(), "message rejected") {
		t.Errorf("no rejection log line:\n%s", e.logs.String())
	}
}

func TestDMARCRejectAsJunk(t *testing.T) {
	e := authEnv(t, func(o *msgauth.Options) { o.DMARCReject = msgauth.Junk })
	if r := sendMX(e, "x@reject.example", "a@reject.example", "alice@example.org"); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("reply %q", r)
	}
	if n, j := len(e.inbox("alice@example.org")), len(e.mailbox("alice@example.org", "Junk")); n != 0 || j != 1 {
		t.Errorf("INBOX %d, Junk %d", n, j)
	}
}

func TestDMARCQuarantineToJunk(t *testing.T) {
	e := authEnv(t, nil)
	if r := sendMX(e, "x@quar.example", "a@quar.example", "alice@example.org"); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("reply %q", r)
	}
	junk := e.mailbox("alice@example.org", "Junk")
	if n := len(e.inbox("alice@example.org")); n != 0 || len(junk) != 1 {
		t.Fatalf("INBOX %d, Junk %d", n, len(junk))
	}
	if !strings.Contains(junk[0], "dmarc=fail") || !strings.Contains(junk[0], "policy.dmarc=quarantine") {
		t.Errorf("junk message:\n%s", junk[0])
	}
}

func TestDMARCTempErrorDefers(t *testing.T) {
	e := authEnv(t, nil)
	r := sendMX(e, "x@temp.example", "a@temp.example", "alice@example.org")
	if !strings.HasPrefix(r, "451 4.4.3 ") {
		t.Fatalf("reply %q", r)
	}
}

// TestLMTPDMARCReject: LMTP answers each recipient; from loopback, SPF and
// iprev are not checked, so only DKIM could align.
func TestLMTPDMARCReject(t *testing.T) {
	e := authEnv(t, nil)
	c := e.dial(ModeLMTP, "127.0.0.1")
	c.expect("220 mx.example.org LMTP")
	c.cmd("LHLO front.example", "250")
	c.cmd("MAIL FROM:<x@reject.example>", "250")
	c.cmd("RCPT TO:<alice@example.org>", "250")
	c.cmd("RCPT TO:<bob@example.org>", "250")
	c.cmd("DATA", "354")
	c.send("From: a@reject.example\r\nSubject: lmtp\r\n\r\nx\r\n.\r\n")
	c.expect("550 5.7.1 <alice@example.org> Message rejected by the DMARC policy")
	c.expect("550 5.7.1 <bob@example.org> Message rejected by the DMARC policy")
	// p=quarantine: both delivered to Junk, with spf=none (local client).
	c.cmd("MAIL FROM:<x@quar.example>", "250")
	c.cmd("RCPT TO:<alice@example.org>", "250")
	c.cmd("RCPT TO:<bob@example.org>", "250")
	c.cmd("DATA", "354")
	c.send("From: a@quar.example\r\nSubject: lmtp\r\n\r\nx\r\n.\r\n")
	c.expect("250 2.0.0 <alice@example.org>")
	c.expect("250 2.0.0 <bob@example.org>")
	for _, u := range []string{"alice@example.org", "bob@example.org"} {
		j := e.mailbox(u, "Junk")
		if len(j) != 1 || !strings.Contains(j[0], "spf=none (not checked") {
			t.Errorf("%s Junk: %q", u, j)
		}
	}
}
