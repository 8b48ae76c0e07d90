package smtpserver

import (
	"context"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/smtp"
	"github.com/posthorn/posthorn/internal/srs"
)

// fakeOutbound records what would be queued.
type fakeOutbound struct {
	mu  sync.Mutex
	out []delivery.Outgoing
	msg []string
}

func (f *fakeOutbound) Enqueue(ctx context.Context, m delivery.Outgoing) error {
	b, _ := io.ReadAll(delivery.Reader(m.Message))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.out = append(f.out, m)
	f.msg = append(f.msg, string(b))
	return nil
}

// limiter refuses recipients after max.
type limiter struct{ n, max int }

func (l *limiter) AllowRecipient(account string, first bool) error {
	l.n++
	if l.n > l.max {
		return smtp.Errorf(450, smtp.Enhanced{4, 7, 1}, "Account %s has reached its limit of %d recipients at other domains per hour", account, l.max)
	}
	return nil
}

var testSRS = &srs.Rewriter{Secret: []byte("0123456789abcdef")}

func queueEnv(t *testing.T) (*testEnv, *fakeOutbound) {
	out := &fakeOutbound{}
	e := newEnv(t, func(o *Options) {
		o.Deliverer.Outbound = out
		o.RelayDomains = []RelayDomain{
			{Domain: addr.MustParseDomain("relayed.example")},
			{Domain: addr.MustParseDomain("picky.example"), Recipients: []addr.Address{addr.MustParseAddress("only@picky.example")}},
		}
		o.SRS = testSRS
		o.OutboundLimits = &limiter{max: 3}
	})
	return e, out
}

func TestSubmissionQueuesRemoteRecipients(t *testing.T) {
	e, out := queueEnv(t)
	c := e.dial(ModeSubmission, "127.0.0.1")
	c.greet()
	c.cmd("EHLO client.example", "250")
	c.authPlain("alice@example.org", alicePW, "235")
	c.cmd("MAIL FROM:<alice@example.org>", "250")
	c.cmd("RCPT TO:<someone@elsewhere.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;someone@elsewhere.net", "250")
	c.cmd("RCPT TO:<bob@example.org>", "250")
	c.cmd("RCPT TO:<other@elsewhere.net>", "250")
	c.cmd("RCPT TO:<third@elsewhere.net>", "250")
	c.cmd("RCPT TO:<fourth@elsewhere.net>", "450 4.7.1 Account alice@example.org has reached its limit")
	c.cmd("DATA", "354")
	c.send("From: <alice@example.org>\r\nSubject: out\r\n\r\nhi\r\n.\r\n")
	c.expect("250")
	if len(out.out) != 1 {
		t.Fatalf("%d messages queued", len(out.out))
	}
	o := out.out[0]
	if len(o.Recipients) != 3 || o.Recipients[0].Remote[0].String() != "someone@elsewhere.net" || o.Recipients[0].Forwarded {
		t.Errorf("queued recipients %+v", o.Recipients)
	}
	if strings.Join(o.Recipients[0].Notify, ",") != "SUCCESS,FAILURE" || !strings.EqualFold(o.Recipients[0].ORcpt, "rfc822;someone@elsewhere.net") {
		t.Errorf("DSN parameters %+v", o.Recipients[0])
	}
	if !strings.HasPrefix(out.msg[0], "Received: ") || !strings.Contains(out.msg[0], "Message-ID: <") {
		t.Errorf("queued message:\n%s", out.msg[0])
	}
	if n := len(e.inbox("bob@example.org")); n != 1 {
		t.Errorf("bob has %d messages", n)
	}
}

func TestMXRelayDomainsAndForwarding(t *testing.T) {
	e, out := queueEnv(t)
	c := e.dial(ModeMX, remoteIP)
	c.greet()
	c.cmd("EHLO mail.sender.example", "250")
	c.cmd("MAIL FROM:<x@sender.example>", "250")
	c.cmd("RCPT TO:<someone@elsewhere.net>", "550 5.7.1")
	c.cmd("RCPT TO:<anyone@relayed.example>", "250")
	c.cmd("RCPT TO:<other@picky.example>", "550 5.1.1")
	c.cmd("RCPT TO:<only@picky.example>", "250")
	c.cmd("RCPT TO:<fwd@example.org>", "250")
	c.cmd("DATA", "354")
	c.send("From: <x@sender.example>\r\nSubject: in\r\n\r\nhi\r\n.\r\n")
	c.expect("250")
	if len(out.out) != 1 || len(out.out[0].Recipients) != 3 {
		t.Fatalf("queued %+v", out.out)
	}
	fwd := out.out[0].Recipients[2]
	if !fwd.Forwarded || fwd.Remote[0].String() != "someone@elsewhere.net" {
		t.Errorf("forwarded recipient %+v", fwd)
	}
}

func TestSRSBounces(t *testing.T) {
	e, out := queueEnv(t)
	srs0, err := testSRS.Forward(addr.MustParseAddress("orig@sender.example"), addr.MustParseDomain("example.org"))
	if err != nil {
		t.Fatal(err)
	}
	c := e.dial(ModeMX, remoteIP)
	c.greet()
	c.cmd("EHLO mail.elsewhere.net", "250")
	c.cmd("MAIL FROM:<>", "250")
	lp := string(srs0.Localpart)
	c.cmd("RCPT TO:<"+lp[:5]+"AAAAAA"+lp[11:]+"@example.org>", "550 5.1.1")
	old := &srs.Rewriter{Secret: testSRS.Secret, Now: func() time.Time { return time.Now().Add(-30 * 24 * time.Hour) }}
	expired, _ := old.Forward(addr.MustParseAddress("orig@sender.example"), addr.MustParseDomain("example.org"))
	if r := c.cmd("RCPT TO:<"+expired.String()+">", "550 5.1.1"); !strings.Contains(r, "expired") {
		t.Errorf("expired SRS: %s", r)
	}
	c.cmd("RCPT TO:<"+srs0.String()+">", "250")
	c.cmd("DATA", "354")
	c.send("From: MAILER-DAEMON@elsewhere.net\r\nSubject: bounce\r\n\r\nsorry\r\n.\r\n")
	c.expect("250")
	if len(out.out) != 1 || out.out[0].Recipients[0].Remote[0].String() != "orig@sender.example" {
		t.Fatalf("queued %+v", out.out)
	}
}

// Submitted mail for other servers is only queued at DATA: the log says
// "message queued", not "message delivered" (the queue logs the delivery).
func TestSubmissionLogsQueued(t *testing.T) {
	e, _ := queueEnv(t)
	c := e.dial(ModeSubmission, "127.0.0.1")
	c.greet()
	c.cmd("EHLO client.example", "250")
	c.authPlain("alice@example.org", alicePW, "235")
	c.cmd("MAIL FROM:<alice@example.org>", "250")
	c.cmd("RCPT TO:<someone@elsewhere.net>", "250")
	c.cmd("DATA", "354")
	c.send("From: <alice@example.org>\r\nSubject: out\r\n\r\nhi\r\n.\r\n")
	c.expect("250")
	c.cmd("MAIL FROM:<alice@example.org>", "250")
	c.cmd("RCPT TO:<bob@example.org>", "250")
	c.cmd("RCPT TO:<other@elsewhere.net>", "250")
	c.cmd("DATA", "354")
	c.send("From: <alice@example.org>\r\nSubject: both\r\n\r\nhi\r\n.\r\n")
	c.expect("250")
	logs := e.logs.String()
	if !regexp.MustCompile(`msg="message queued".*to=someone@elsewhere.net.*delivered=0 queued=1`).MatchString(logs) {
		t.Errorf("no queued line for the remote recipient:\n%s", logs)
	}
	if !regexp.MustCompile(`msg="message delivered and queued".*delivered=1 queued=1`).MatchString(logs) {
		t.Errorf("no mixed line:\n%s", logs)
	}
	if regexp.MustCompile(`msg="message delivered".*someone@elsewhere.net`).MatchString(logs) {
		t.Errorf("queued mail logged as delivered:\n%s", logs)
	}
}
