package smtpserver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/dns"
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
	zone := authZone()
	return newEnv(t, func(o *Options) {
		mo := msgauth.Options{Resolver: dnstest.NewResolver(zone), Hostname: o.Hostname, Enforce: true, Timeout: 5 * time.Second}
		if mod != nil {
			mod(&mo)
		}
		chk := msgauth.NewChecker(mo)
		o.Deliverer.Hooks = []delivery.Hook{&msgauth.Hook{AuthServID: chk.AuthServID(), Checker: chk, Logger: o.Logger}}
	})
}

// authZone is the DNS of authEnv.
func authZone() dnstest.Zone {
	return dnstest.Zone{
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

// sendMXHeader sends a message with the given header fields (each ending
// in CRLF) over the MX from remoteIP, with MAIL FROM at sender.example
// (SPF pass, so sender.example passes DMARC by SPF alignment), and returns
// the reply to the end of DATA.
func sendMXHeader(e *testEnv, header string) string {
	c := e.dial(ModeMX, remoteIP)
	c.expect("220 mx.example.org ESMTP")
	c.cmd("EHLO mail.sender.example", "250")
	c.cmd("MAIL FROM:<bounce@sender.example>", "250")
	c.cmd("RCPT TO:<alice@example.org>", "250")
	c.cmd("DATA", "354")
	c.send(header + "Subject: hostile From\r\n\r\nbody\r\n.\r\n")
	r := c.reply()
	c.cmd("QUIT", "221")
	return r
}

// TestHostileFromMX is the class of messages that name their author in a
// way a reader and DMARC could see differently: several From fields,
// several addresses, groups, and addresses hidden in display names,
// comments and quoted strings, through the real MX path (smtpserver →
// delivery → msgauth.Hook). reject.example publishes p=reject and fails
// here; sender.example passes. Every author domain is evaluated and the
// strictest result applies (RFC 7489 §6.6.1); more or fewer than one From
// field, or a From without an author domain, is refused (RFC 5322 §3.6).
func TestHostileFromMX(t *testing.T) {
	const (
		deliver = ""
		dmarcRj = "550 5.7.1 Message rejected by the DMARC policy of the sender's domain: "
		refused = "550 5.7.1 Message refused: "
	)
	tests := []struct {
		name, header, want, reason string
	}{
		{"one author", "From: a@sender.example\r\n", deliver, ""},
		{"two domains in one From", "From: a@sender.example, v@reject.example\r\n", dmarcRj, "the From field names 2 domains (sender.example, reject.example)"},
		{"two domains, the failing one first", "From: v@reject.example, a@sender.example\r\n", dmarcRj, "From domain reject.example requires aligned SPF or DKIM"},
		{"a domain without a policy and a rejecting one", "From: x@nopolicy.example, v@reject.example\r\n", dmarcRj, "reject.example"},
		{"two addresses of one domain", "From: a@sender.example, b@sender.example\r\n", deliver, ""},
		{"two From fields, different domains", "From: a@sender.example\r\nFrom: v@reject.example\r\n", refused, "2 From header fields (RFC 5322 section 3.6 allows exactly one)"},
		{"two From fields, one domain", "From: a@sender.example\r\nFrom: b@sender.example\r\n", refused, "2 From header fields"},
		{"two From fields, identical", "From: a@sender.example\r\nFrom: a@sender.example\r\n", refused, "2 From header fields"},
		{"two From fields, FROM and from", "FROM: a@sender.example\r\nfrom: v@reject.example\r\n", refused, "2 From header fields"},
		{"two From fields, the second folded", "From: a@sender.example\r\nFrom:\r\n\tv@reject.example\r\n", refused, "2 From header fields"},
		{"two From fields, white space before the colon", "From: a@sender.example\r\nFrom \t : v@reject.example\r\n", refused, "2 From header fields"},
		{"three From fields", "From: a@sender.example\r\nFrom: b@sender.example\r\nFrom: v@reject.example\r\n", refused, "3 From header fields"},
		{"group with two domains", "From: team: a@sender.example, v@reject.example;\r\n", dmarcRj, "reject.example"},
		{"group of one domain", "From: team: a@sender.example, b@sender.example;\r\n", deliver, ""},
		{"group without members", "From: undisclosed:;\r\n", refused, "holds no address"},
		{"encoded word in the display name", "From: =?utf-8?q?v=40reject.example?= <a@sender.example>\r\n", deliver, ""},
		{"encoded display name, two addresses", "From: =?utf-8?q?Boss?= <v@reject.example>, a@sender.example\r\n", dmarcRj, "reject.example"},
		{"address in a comment", "From: a@sender.example (v@reject.example)\r\n", deliver, ""},
		{"real address beside a comment", "From: v@reject.example (a@sender.example)\r\n", dmarcRj, "reject.example"},
		{"quoted display name with @ and comma", "From: \"a@sender.example, b\" <v@reject.example>\r\n", dmarcRj, "reject.example"},
		{"quoted display name hiding the other domain", "From: \"v@reject.example, x\" <a@sender.example>\r\n", deliver, ""},
		{"two unquoted @", "From: v@reject.example@sender.example\r\n", refused, "more than one unquoted @"},
		{"no From", "To: alice@example.org\r\n", refused, "no From header field"},
		{"empty From", "From: \r\n", refused, "holds no address"},
		{"From without a domain", "From: someone\r\n", refused, "<someone> is incomplete"},
		{"From without a domain beside a passing one", "From: a@sender.example, someone\r\n", refused, "incomplete"},
		{"From with an invalid domain", "From: a@bad..example\r\n", refused, "invalid domain"},
		{"From with an address literal", "From: a@[192.0.2.10]\r\n", refused, "address literal"},
		{"six domains", "From: a@a.example, b@b.example, c@c.example, d@d.example, e@e.example, a@sender.example\r\n", refused, "names 6 domains"},
	}
	e := authEnv(t, nil)
	delivered := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sendMXHeader(e, tt.header)
			if tt.want == deliver {
				if !strings.HasPrefix(r, "250 ") {
					t.Fatalf("reply %q, want 250", r)
				}
				delivered++
				return
			}
			if !strings.HasPrefix(r, tt.want) || !strings.Contains(r, tt.reason) {
				t.Fatalf("reply %q\nwant %q…%q", r, tt.want, tt.reason)
			}
			if tt.want == refused && !strings.Contains(r, "DMARC needs one From field naming the author's domain (RFC 7489 section 6.6.1)") {
				t.Errorf("reply %q does not name the rule", r)
			}
		})
	}
	if n := len(e.inbox("alice@example.org")) + len(e.mailbox("alice@example.org", "Junk")); n != delivered {
		t.Errorf("%d messages stored, want the %d accepted", n, delivered)
	}
}

// splitResolver answers the TXT names in real from real, everything else
// from fake.
type splitResolver struct {
	fake, real dns.Resolver
	names      map[string]bool
}

func (r splitResolver) LookupTXT(ctx context.Context, name string) ([]string, dns.Result, error) {
	if r.names[strings.TrimSuffix(name, ".")] {
		return r.real.LookupTXT(ctx, name)
	}
	return r.fake.LookupTXT(ctx, name)
}
func (r splitResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, dns.Result, error) {
	return r.fake.LookupMX(ctx, name)
}
func (r splitResolver) LookupIP(ctx context.Context, network, host string) ([]netip.Addr, dns.Result, error) {
	return r.fake.LookupIP(ctx, network, host)
}
func (r splitResolver) LookupAddr(ctx context.Context, ip netip.Addr) ([]string, dns.Result, error) {
	return r.fake.LookupAddr(ctx, ip)
}
func (r splitResolver) LookupCNAME(ctx context.Context, name string) (string, dns.Result, error) {
	return r.fake.LookupCNAME(ctx, name)
}
func (r splitResolver) LookupTLSA(ctx context.Context, port int, proto, host string) ([]dns.TLSA, dns.Result, error) {
	return r.fake.LookupTLSA(ctx, port, proto, host)
}

// TestRepliesHideInternalAddresses: DNS errors name the resolver's socket
// ("read udp 127.0.0.1:51716->127.0.0.1:53: connection refused"); a reply
// built from one (DMARC temperror, a DMARC failure whose reason notes a
// failed lookup) must not show it to the remote sender, while the log line
// keeps it. The failing lookups go to posthorn's real DNS client pointed
// at a closed loopback port.
func TestRepliesHideInternalAddresses(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := pc.LocalAddr().String()
	pc.Close()
	failing, err := dns.New(dns.Options{Servers: []string{closed}, Timeout: 2 * time.Second, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	e := authEnv(t, func(o *msgauth.Options) {
		// _dmarc.temp.example: the policy lookup fails (temperror, 451);
		// _dmarc.example: the tree walk above reject.example fails, which
		// the reason of its DMARC failure notes (550).
		o.Resolver = splitResolver{fake: o.Resolver, real: failing, names: map[string]bool{"_dmarc.temp.example": true, "_dmarc.example": true}}
	})
	for _, tc := range []struct{ mailFrom, from, want string }{
		{"x@temp.example", "a@temp.example", "451 4.4.3 DMARC could not be checked for the From domain temp.example because a DNS lookup failed temporarily; try again later"},
		// Alignment of sender.example walks up to _dmarc.example.
		{"bounce@sender.example", "a@reject.example", "550 5.7.1 Message rejected by the DMARC policy of the sender's domain: From domain reject.example requires aligned SPF or DKIM"},
	} {
		r := sendMX(e, tc.mailFrom, tc.from, "alice@example.org")
		if !strings.HasPrefix(r, tc.want) {
			t.Errorf("reply %q, want %q…", r, tc.want)
		}
		for _, leak := range []string{"127.0.0.1", closed, "udp"} {
			if strings.Contains(r, leak) {
				t.Errorf("reply %q shows %q", r, leak)
			}
		}
	}
	if logs := e.logs.String(); !strings.Contains(logs, closed) {
		t.Errorf("the log lacks the failing DNS server %s:\n%s", closed, logs)
	}
	// Accepted despite the temperror ([auth] dmarc_temperror = "accept"):
	// the stored Authentication-Results, which travels on with forwarded
	// mail, does not name the resolver either.
	e = authEnv(t, func(o *msgauth.Options) {
		o.DMARCTempError = msgauth.Deliver
		o.Resolver = splitResolver{fake: o.Resolver, real: failing, names: map[string]bool{"_dmarc.temp.example": true}}
	})
	if r := sendMX(e, "x@temp.example", "a@temp.example", "alice@example.org"); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("reply %q", r)
	}
	m := e.inbox("alice@example.org")
	if len(m) != 1 || !strings.Contains(m[0], "dmarc=temperror") || strings.Contains(m[0], "127.0.0.1") || strings.Contains(m[0], closed) {
		t.Errorf("stored message:\n%s", m)
	}
}

// TestHostileFromLMTP: LMTP (an MTA in front relaying remote mail) gets
// the same author rules as the MX: two From fields are refused for every
// recipient, and a second author domain's p=reject applies.
func TestHostileFromLMTP(t *testing.T) {
	e := authEnv(t, nil)
	c := e.dial(ModeLMTP, "127.0.0.1")
	c.expect("220 mx.example.org LMTP")
	c.cmd("LHLO front.example", "250")
	for _, tc := range []struct{ header, want string }{
		{"From: a@sender.example\r\nFrom: v@reject.example\r\n", "550 5.7.1 <%s> Message refused: the message has 2 From header fields"},
		{"From: a@quar.example, v@reject.example\r\n", "550 5.7.1 <%s> Message rejected by the DMARC policy of the sender's domain: the From field names 2 domains"},
	} {
		c.cmd("MAIL FROM:<x@sender.example>", "250")
		c.cmd("RCPT TO:<alice@example.org>", "250")
		c.cmd("RCPT TO:<bob@example.org>", "250")
		c.cmd("DATA", "354")
		c.send(tc.header + "Subject: lmtp\r\n\r\nx\r\n.\r\n")
		for _, rcpt := range []string{"alice@example.org", "bob@example.org"} {
			c.expect(fmt.Sprintf(tc.want, rcpt))
		}
	}
	if n := len(e.inbox("alice@example.org")) + len(e.mailbox("alice@example.org", "Junk")); n != 0 {
		t.Errorf("%d messages stored", n)
	}
}

// TestHostileFromRelayAndForward: mail for a relay domain (backup MX) and
// for an alias that forwards elsewhere goes through the same author rules
// and DMARC as local mail: nothing is queued for the next hop when the
// message is refused.
func TestHostileFromRelayAndForward(t *testing.T) {
	out := &fakeOutbound{}
	e := newEnv(t, func(o *Options) {
		o.Deliverer.Outbound = out
		o.RelayDomains = []RelayDomain{{Domain: addr.MustParseDomain("relayed.example")}}
		o.SRS = testSRS
		mo := msgauth.Options{Resolver: dnstest.NewResolver(authZone()), Hostname: o.Hostname, Enforce: true, Timeout: 5 * time.Second}
		chk := msgauth.NewChecker(mo)
		o.Deliverer.Hooks = []delivery.Hook{&msgauth.Hook{AuthServID: chk.AuthServID(), Checker: chk, Logger: o.Logger}}
	})
	for _, tc := range []struct{ header, want string }{
		{"From: a@sender.example\r\nFrom: v@reject.example\r\n", "550 5.7.1 Message refused: the message has 2 From header fields"},
		{"From: a@sender.example, v@reject.example\r\n", "550 5.7.1 Message rejected by the DMARC policy of the sender's domain: the From field names 2 domains"},
		{"Subject: no author\r\n", "550 5.7.1 Message refused: the message has no From header field"},
		{"From: a@sender.example\r\n", "250 "},
	} {
		c := e.dial(ModeMX, remoteIP)
		c.greet()
		c.cmd("EHLO mail.sender.example", "250")
		c.cmd("MAIL FROM:<bounce@sender.example>", "250")
		c.cmd("RCPT TO:<anyone@relayed.example>", "250")
		c.cmd("RCPT TO:<fwd@example.org>", "250")
		c.cmd("DATA", "354")
		c.send(tc.header + "Subject: relayed\r\n\r\nhi\r\n.\r\n")
		c.expect(tc.want)
		c.cmd("QUIT", "221")
	}
	if len(out.out) != 1 || len(out.out[0].Recipients) != 2 {
		t.Fatalf("queued %+v, want only the legitimate message", out.out)
	}
}
