package smtpclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
	"github.com/posthorn/posthorn/internal/mtasts"
	"github.com/posthorn/posthorn/internal/tlsrpt"
)

var dom = addr.MustParseDomain("example.test")

// zone: mx1 (pref 10) at 192.0.2.1 and 2001:db8::1, mx2 (pref 20) at 192.0.2.2.
func testZone() dnstest.Zone {
	return dnstest.Zone{
		"example.test":     {MX: []dnstest.MX{{Pref: 10, Host: "mx1.example.test"}, {Pref: 20, Host: "mx2.example.test"}}},
		"mx1.example.test": {A: []string{"192.0.2.1"}, AAAA: []string{"2001:db8::1"}},
		"mx2.example.test": {A: []string{"192.0.2.2"}},
	}
}

func newClient(t *testing.T, z dnstest.Zone, servers map[string]*fakeServer) (*Client, *mapDialer) {
	t.Helper()
	d := &mapDialer{m: map[string]string{}}
	for ip, s := range servers {
		d.m[ip] = s.ln.Addr().String()
		s.start()
	}
	c := &Client{
		Resolver:  dnstest.NewResolver(z),
		Hostname:  addr.MustParseDomain("out.posthorn.test"),
		Dialer:    d,
		MaxCached: -1,
		Timeouts:  Timeouts{Connect: 2 * time.Second, Greeting: 5 * time.Second, Command: 5 * time.Second},
	}
	t.Cleanup(c.Close)
	return c, d
}

func msg(body string, rcpts ...string) Message {
	m := Message{From: "sender@posthorn.test", Body: strings.NewReader(body), Size: int64(len(body))}
	for _, r := range rcpts {
		m.Recipients = append(m.Recipients, Recipient{Address: r})
	}
	return m
}

const simpleBody = "Subject: hi\r\n\r\nhello\r\n"

func wantDelivered(t *testing.T, res Result) {
	t.Helper()
	for _, r := range res.PerRecipient {
		if !r.Delivered {
			t.Fatalf("%s not delivered: %+v (err %v)", r.Address, r, res.Err)
		}
	}
}

func TestMXOrderAndFallback(t *testing.T) {
	s := startFake(t, "PIPELINING")
	c, d := newClient(t, testZone(), map[string]*fakeServer{"192.0.2.2": s})
	res := c.Deliver(context.Background(), dom, msg(simpleBody, "a@example.test"))
	wantDelivered(t, res)
	// mx1 first, IPv6 before IPv4, then mx2.
	if got := strings.Join(d.Tried(), " "); got != "2001:db8::1 192.0.2.1 192.0.2.2" {
		t.Errorf("dial order %q", got)
	}
	if !strings.HasPrefix(res.MX, "mx2.example.test [192.0.2.2]") {
		t.Errorf("MX = %q", res.MX)
	}
}

func TestEqualPreferenceRandom(t *testing.T) {
	z := dnstest.Zone{"example.test": {MX: []dnstest.MX{{Pref: 10, Host: "a.example.test"}, {Pref: 10, Host: "b.example.test"}}},
		"a.example.test": {A: []string{"192.0.2.1"}}, "b.example.test": {A: []string{"192.0.2.2"}}}
	c, d := newClient(t, z, nil)
	seen := map[string]bool{}
	for range 40 {
		d.tried = nil
		c.Deliver(context.Background(), dom, msg(simpleBody, "a@example.test"))
		seen[d.Tried()[0]] = true
	}
	if len(seen) != 2 {
		t.Errorf("first host tried was always %v", seen)
	}
}

func TestNullMX(t *testing.T) {
	z := dnstest.Zone{"example.test": {MX: []dnstest.MX{{Pref: 0, Host: "."}}}}
	c, d := newClient(t, z, nil)
	res := c.Deliver(context.Background(), dom, msg(simpleBody, "a@example.test", "b@example.test"))
	for _, r := range res.PerRecipient {
		if !r.Permanent || r.Enhanced != "5.1.10" || !strings.Contains(r.Text, "null MX") {
			t.Errorf("%+v", r)
		}
	}
	if len(d.Tried()) != 0 {
		t.Errorf("dialed %v", d.Tried())
	}
}

func TestImplicitMX(t *testing.T) {
	s := startFake(t)
	z := dnstest.Zone{"example.test": {A: []string{"192.0.2.9"}}}
	c, _ := newClient(t, z, map[string]*fakeServer{"192.0.2.9": s})
	wantDelivered(t, c.Deliver(context.Background(), dom, msg(simpleBody, "a@example.test")))
}

func TestNoSuchDomain(t *testing.T) {
	c, _ := newClient(t, dnstest.Zone{"other.test": {A: []string{"192.0.2.1"}}}, nil)
	res := c.Deliver(context.Background(), dom, msg(simpleBody, "a@example.test"))
	if r := res.PerRecipient[0]; !r.Permanent || r.Enhanced != "5.1.2" {
		t.Errorf("%+v", r)
	}
}

func TestDNSFailureTemporary(t *testing.T) {
	z := testZone()
	z["example.test"] = dnstest.Records{ServFail: true}
	c, _ := newClient(t, z, nil)
	res := c.Deliver(context.Background(), dom, msg(simpleBody, "a@example.test"))
	if r := res.PerRecipient[0]; r.Permanent || r.Delivered || r.Code != 451 {
		t.Errorf("%+v", r)
	}
}

func TestAllHostsDown(t *testing.T) {
	c, d := newClient(t, testZone(), nil)
	res := c.Deliver(context.Background(), dom, msg(simpleBody, "a@example.test"))
	if r := res.PerRecipient[0]; r.Permanent || r.Delivered || r.Code/100 != 4 || res.Err == nil {
		t.Errorf("%+v %v", r, res.Err)
	}
	if len(d.Tried()) != 3 {
		t.Errorf("tried %v", d.Tried())
	}
}

func perRecipientServer(t *testing.T, ext ...string) *fakeServer {
	s := startFake(t, ext...)
	s.reply = func(cmd string) string {
		switch {
		case strings.Contains(cmd, "<bad@"):
			return "550 5.1.1 no such user"
		case strings.Contains(cmd, "<busy@"):
			return "452 4.2.2 mailbox full"
		}
		return ""
	}
	return s
}

func TestPerRecipientResults(t *testing.T) {
	for _, pipe := range []bool{false, true} {
		var ext []string
		if pipe {
			ext = []string{"PIPELINING", "ENHANCEDSTATUSCODES"}
		}
		s := perRecipientServer(t, ext...)
		c, _ := newClient(t, testZone(), map[string]*fakeServer{"192.0.2.1": s})
		res := c.Deliver(context.Background(), dom, msg(simpleBody, "ok@example.test", "bad@example.test", "busy@example.test"))
		got := res.PerRecipient
		if !got[0].Delivered || got[0].Code != 250 || got[0].Enhanced != "2.0.0" {
			t.Errorf("pipe=%v ok: %+v", pipe, got[0])
		}
		if !got[1].Permanent || got[1].Code != 550 || got[1].Enhanced != "5.1.1" || got[1].Text != "no such user" {
			t.Errorf("pipe=%v bad: %+v", pipe, got[1])
		}
		if got[2].Permanent || got[2].Delivered || got[2].Code != 452 || got[2].Enhanced != "4.2.2" {
			t.Errorf("pipe=%v busy: %+v", pipe, got[2])
		}
		if n := len(s.Data()); n != 1 {
			t.Errorf("pipe=%v: %d messages", pipe, n)
		}
	}
}

func TestPipeliningBatches(t *testing.T) {
	s := startFake(t, "PIPELINING")
	c, _ := newClient(t, testZone(), map[string]*fakeServer{"192.0.2.1": s})
	wantDelivered(t, c.Deliver(context.Background(), dom, msg(simpleBody, "a@example.test", "b@example.test")))
	cmds := strings.Join(s.Commands(), "|")
	if !strings.Contains(cmds, "MAIL FROM:<sender@posthorn.test>|RCPT TO:<a@example.test>|RCPT TO:<b@example.test>|DATA") {
		t.Errorf("commands %s", cmds)
	}
}

func TestTempFailureTriesNextMX(t *testing.T) {
	s1 := startFake(t)
	s1.reply = func(cmd string) string {
		if strings.HasPrefix(cmd, "MAIL") {
			return "451 4.3.0 try later"
		}
		return ""
	}
	s2 := startFake(t)
	c, _ := newClient(t, testZone(), map[string]*fakeServer{"192.0.2.1": s1, "192.0.2.2": s2})
	wantDelivered(t, c.Deliver(context.Background(), dom, msg(simpleBody, "a@example.test")))
	if len(s2.Data()) != 1 {
		t.Error("mx2 got nothing")
	}
}

func TestPermanentMailFromNoFallback(t *testing.T) {
	s1 := startFake(t)
	s1.reply = func(cmd string) string {
		if strings.HasPrefix(cmd, "MAIL") {
			return "550 5.7.1 sender rejected"
		}
		return ""
	}
	s2 := startFake(t)
	c, _ := newClient(t, testZone(), map[string]*fakeServer{"192.0.2.1": s1, "192.0.2.2": s2})
	res := c.Deliver(context.Background(), dom, msg(simpleBody, "a@example.test"))
	if r := res.PerRecipient[0]; !r.Permanent || r.Enhanced != "5.7.1" || !r.Remote {
		t.Errorf("%+v", r)
	}
	if s2.Conns() != 0 {
		t.Error("mx2 tried after a permanent failure")
	}
}

func TestDotStuffingAndLineEnds(t *testing.T) {
	s := startFake(t)
	c, _ := newClient(t, testZone(), map[string]*fakeServer{"192.0.2.1": s})
	body := "Subject: dots\n\n.leading dot\r\n..two\nbare\rcr\n.\nend"
	wantDelivered(t, c.Deliver(context.Background(), dom, msg(body, "a@example.test")))
	got := string(s.Data()[0])
	want := "Subject: dots\r\n\r\n..leading dot\r\n...two\r\nbare\r\ncr\r\n..\r\nend\r\n"
	if got != want {
		t.Errorf("wire data\n got %q\nwant %q", got, want)
	}
}

func TestBDAT(t *testing.T) {
	s := startFake(t, "CHUNKING", "PIPELINING", "8BITMIME")
	c, _ := newClient(t, testZone(), map[string]*fakeServer{"192.0.2.1": s})
	body := "Subject: big\n\n.dot\n" + strings.Repeat("x", 200000) + "\nend"
	m := msg(body, "a@example.test")
	m.Body8Bit = true
	wantDelivered(t, c.Deliver(context.Background(), dom, m))
	want := strings.ReplaceAll(body, "\n", "\r\n") + "\r\n"
	if got := s.Data(); len(got) != 1 || string(got[0]) != want {
		t.Fatalf("BDAT data wrong (%d messages)", len(got))
	}
	cmds := strings.Join(s.Commands(), "|")
	if strings.Contains(cmds, "DATA") || !strings.Contains(cmds, "LAST") || !strings.Contains(cmds, "BODY=8BITMIME") {
		t.Errorf("commands %s", cmds)
	}
}

func TestSMTPUTF8Refused(t *testing.T) {
	s := startFake(t, "8BITMIME")
	c, _ := newClient(t, testZone(), map[string]*fakeServer{"192.0.2.1": s, "192.0.2.2": s})
	m := msg(simpleBody, "jöran@example.test")
	m.SMTPUTF8 = true
	res := c.Deliver(context.Background(), dom, m)
	r := res.PerRecipient[0]
	if !r.Permanent || r.Enhanced != "5.6.7" || !strings.Contains(r.Text, "SMTPUTF8") {
		t.Errorf("%+v", r)
	}
}

func TestSMTPUTF8Offered(t *testing.T) {
	s := startFake(t, "8BITMIME", "SMTPUTF8")
	c, _ := newClient(t, testZone(), map[string]*fakeServer{"192.0.2.1": s})
	m := msg(simpleBody, "jöran@example.test")
	m.SMTPUTF8 = true
	wantDelivered(t, c.Deliver(context.Background(), dom, m))
	if cmds := strings.Join(s.Commands(), "|"); !strings.Contains(cmds, "SMTPUTF8") {
		t.Errorf("no SMTPUTF8 param: %s", cmds)
	}
}

func TestEightBitDowngradeOnWire(t *testing.T) {
	s := startFake(t)
	c, _ := newClient(t, testZone(), map[string]*fakeServer{"192.0.2.1": s})
	body := "Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße\r\n"
	m := msg(body, "a@example.test")
	m.Body8Bit = true
	wantDelivered(t, c.Deliver(context.Background(), dom, m))
	got := string(s.Data()[0])
	if !strings.Contains(got, "Content-Transfer-Encoding: quoted-printable") || !strings.Contains(got, "Gr=C3=BC=C3=9Fe") || strings.ContainsFunc(got, func(r rune) bool { return r >= 0x80 }) {
		t.Errorf("downgraded: %q", got)
	}
	if strings.Contains(strings.Join(s.Commands(), "|"), "BODY=8BITMIME") {
		t.Error("BODY=8BITMIME sent to a server without 8BITMIME")
	}
}

func TestEightBitHeaderCannotDowngrade(t *testing.T) {
	s := startFake(t)
	c, _ := newClient(t, testZone(), map[string]*fakeServer{"192.0.2.1": s, "192.0.2.2": s})
	m := msg("Subject: Grüße\r\n\r\nbody\r\n", "a@example.test")
	m.Body8Bit = true
	r := c.Deliver(context.Background(), dom, m).PerRecipient[0]
	if !r.Permanent || r.Enhanced != "5.6.3" {
		t.Errorf("%+v", r)
	}
}

func TestDSNParams(t *testing.T) {
	s := startFake(t, "DSN", "SIZE 1000000")
	c, _ := newClient(t, testZone(), map[string]*fakeServer{"192.0.2.1": s})
	m := msg(simpleBody)
	m.Recipients = []Recipient{{Address: "a@example.test", Notify: "SUCCESS,FAILURE", ORcpt: "rfc822;a+b@example.test"}}
	m.EnvID, m.Ret = "id 1", "HDRS"
	res := c.Deliver(context.Background(), dom, m)
	wantDelivered(t, res)
	if !res.DSN {
		t.Error("Result.DSN false for a server offering DSN")
	}
	cmds := strings.Join(s.Commands(), "|")
	for _, want := range []string{"SIZE=22", "RET=HDRS", "ENVID=id+201", "NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;a+2Bb@example.test"} {
		if !strings.Contains(cmds, want) {
			t.Errorf("missing %s in %s", want, cmds)
		}
	}
}

func TestSizeLimit(t *testing.T) {
	s := startFake(t, "SIZE 10")
	c, _ := newClient(t, testZone(), map[string]*fakeServer{"192.0.2.1": s, "192.0.2.2": s})
	r := c.Deliver(context.Background(), dom, msg(simpleBody, "a@example.test")).PerRecipient[0]
	if !r.Permanent || r.Enhanced != "5.3.4" {
		t.Errorf("%+v", r)
	}
}

func tlsServer(t *testing.T, pki *testPKI, ext ...string) *fakeServer {
	s := startFake(t, append([]string{"STARTTLS"}, ext...)...)
	s.cert = &pki.leaf
	return s
}

func TestSTARTTLSOpportunistic(t *testing.T) {
	pki := newPKI(t, "mx1.example.test")
	s := tlsServer(t, pki)
	c, _ := newClient(t, testZone(), map[string]*fakeServer{"192.0.2.1": s})
	res := c.Deliver(context.Background(), dom, msg(simpleBody, "a@example.test"))
	wantDelivered(t, res)
	if res.TLS.Version == "" || res.TLS.Verified || res.TLS.Policy != "opportunistic" {
		t.Errorf("TLS %+v", res.TLS)
	}
	// With the CA trusted, the same server verifies.
	c.TLSConfig = func(string) *tls.Config { return &tls.Config{RootCAs: pki.pool} }
	res = c.Deliver(context.Background(), dom, msg(simpleBody, "a@example.test"))
	wantDelivered(t, res)
	if !res.TLS.Verified {
		t.Errorf("TLS %+v", res.TLS)
	}
	if cmds := strings.Join(s.Commands(), "|"); strings.Count(cmds, "EHLO") != 4 {
		t.Errorf("EHLO not repeated after STARTTLS: %s", cmds)
	}
}

func TestRequireTLSRefused(t *testing.T) {
	pki := newPKI(t, "mx1.example.test", "mx2.example.test")
	s := tlsServer(t, pki, "REQUIRETLS")
	c, _ := newClient(t, testZone(), map[string]*fakeServer{"192.0.2.1": s, "192.0.2.2": s})
	c.TLSConfig = func(string) *tls.Config { return &tls.Config{RootCAs: pki.pool} }
	m := msg(simpleBody, "a@example.test")
	m.RequireTLS = true
	// Verified TLS but no MTA-STS or DANE: refused.
	r := c.Deliver(context.Background(), dom, m).PerRecipient[0]
	if !r.Permanent || r.Enhanced != "5.7.30" {
		t.Errorf("%+v", r)
	}
	// With an MTA-STS policy listing the hosts it goes through.
	c.Policy = func(context.Context, addr.Domain) (Policy, error) {
		return Policy{MTASTS: &mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"*.example.test"}, MaxAge: time.Hour}}, nil
	}
	res := c.Deliver(context.Background(), dom, m)
	wantDelivered(t, res)
	if res.TLS.Policy != "mta-sts" || !res.TLS.Verified {
		t.Errorf("TLS %+v", res.TLS)
	}
	if cmds := strings.Join(s.Commands(), "|"); !strings.Contains(cmds, " REQUIRETLS") {
		t.Errorf("no REQUIRETLS param: %s", cmds)
	}
}

func TestMTASTSEnforce(t *testing.T) {
	pki := newPKI(t, "mx1.example.test") // not valid for mx2
	s1 := startFake(t)                   // no STARTTLS
	s2 := tlsServer(t, pki)
	rec := &tlsrpt.Recorder{}
	c, _ := newClient(t, testZone(), map[string]*fakeServer{"192.0.2.1": s1, "192.0.2.2": s2})
	c.TLSConfig = func(string) *tls.Config { return &tls.Config{RootCAs: pki.pool} }
	c.TLSRPT = rec
	pol := &mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"mx1.example.test", "mx2.example.test"}, MaxAge: time.Hour}
	c.Policy = func(context.Context, addr.Domain) (Policy, error) { return Policy{MTASTS: pol}, nil }
	res := c.Deliver(context.Background(), dom, msg(simpleBody, "a@example.test"))
	if r := res.PerRecipient[0]; r.Delivered || r.Permanent {
		t.Fatalf("enforce delivered or bounced: %+v", r)
	}
	if len(s1.Data())+len(s2.Data()) != 0 {
		t.Error("message sent despite policy")
	}
	snap := rec.Snapshot(true)
	if len(snap) != 1 || snap[0].Policy.Type != "sts" || len(snap[0].Failures) != 2 {
		t.Errorf("tlsrpt %+v", snap)
	}
	// Testing mode: delivered, failures reported.
	pol.Mode = mtasts.ModeTesting
	wantDelivered(t, c.Deliver(context.Background(), dom, msg(simpleBody, "a@example.test")))
	if snap := rec.Snapshot(false); len(snap) != 1 || len(snap[0].Failures) == 0 {
		t.Errorf("tlsrpt %+v", snap)
	}
}

func daneZone(tlsa ...dns.TLSA) dnstest.Zone {
	z := testZone()
	for k, r := range z {
		r.Authentic = true
		z[k] = r
	}
	z["_25._tcp.mx1.example.test"] = dnstest.Records{TLSA: tlsa, Authentic: true}
	return z
}

func TestDANE(t *testing.T) {
	pki := newPKI(t, "mx1.example.test")
	spki := sha256.Sum256(pki.leafX.RawSubjectPublicKeyInfo)
	s := tlsServer(t, pki)

	// 3 1 1 matching: delivered with DANE, no roots needed.
	c, _ := newClient(t, daneZone(dns.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: spki[:]}), map[string]*fakeServer{"192.0.2.1": s})
	res := c.Deliver(context.Background(), dom, msg(simpleBody, "a@example.test"))
	wantDelivered(t, res)
	if res.TLS.Policy != "dane" || !res.TLS.Verified {
		t.Errorf("TLS %+v", res.TLS)
	}
	// Wrong digest: mx1 refused; mx2 (no TLSA, plaintext) gets the mail.
	bad := bytes.Repeat([]byte{1}, 32)
	s2 := startFake(t)
	c, _ = newClient(t, daneZone(dns.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: bad}), map[string]*fakeServer{"192.0.2.1": s, "192.0.2.2": s2})
	res = c.Deliver(context.Background(), dom, msg(simpleBody, "a@example.test"))
	wantDelivered(t, res)
	if !strings.HasPrefix(res.MX, "mx2") || len(s.Data()) != 1 {
		t.Errorf("MX %s, mx1 got %d", res.MX, len(s.Data()))
	}
	// Same TLSA but not authentic: ignored, opportunistic.
	z := daneZone(dns.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: bad})
	r := z["example.test"]
	r.Authentic = false
	z["example.test"] = r
	c, _ = newClient(t, z, map[string]*fakeServer{"192.0.2.1": s})
	res = c.Deliver(context.Background(), dom, msg(simpleBody, "a@example.test"))
	wantDelivered(t, res)
	if res.TLS.Policy != "opportunistic" {
		t.Errorf("TLS %+v", res.TLS)
	}
}

func TestGreetingTimeout(t *testing.T) {
	s := startFake(t)
	s.noGreet = true
	c, _ := newClient(t, testZone(), map[string]*fakeServer{"192.0.2.1": s})
	c.Timeouts.Greeting = 150 * time.Millisecond
	start := time.Now()
	res := c.Deliver(context.Background(), dom, msg(simpleBody, "a@example.test"))
	if r := res.PerRecipient[0]; r.Delivered || r.Permanent || r.Code/100 != 4 {
		t.Errorf("%+v", r)
	}
	// The 150ms timeout, not the default of 5 minutes, ended the wait.
	if time.Since(start) > time.Minute {
		t.Errorf("took %v", time.Since(start))
	}
}

func TestContextCancel(t *testing.T) {
	s := startFake(t)
	s.noGreet = true
	c, _ := newClient(t, testZone(), map[string]*fakeServer{"192.0.2.1": s})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res := c.Deliver(ctx, dom, msg(simpleBody, "a@example.test"))
	if r := res.PerRecipient[0]; r.Delivered || r.Permanent {
		t.Errorf("%+v", r)
	}
}

func TestConnectionReuse(t *testing.T) {
	s := startFake(t, "PIPELINING")
	c, _ := newClient(t, testZone(), map[string]*fakeServer{"192.0.2.1": s})
	c.MaxCached = 0
	for range 3 {
		wantDelivered(t, c.Deliver(context.Background(), dom, msg(simpleBody, "a@example.test")))
	}
	if s.Conns() != 1 || len(s.Data()) != 3 {
		t.Errorf("%d connections, %d messages", s.Conns(), len(s.Data()))
	}
	if cmds := strings.Join(s.Commands(), "|"); strings.Count(cmds, "RSET") != 2 {
		t.Errorf("commands %s", cmds)
	}
}

func TestRelayAuth(t *testing.T) {
	pki := newPKI(t, "relay.example.test")
	s := tlsServer(t, pki, "AUTH LOGIN PLAIN")
	z := dnstest.Zone{"relay.example.test": {A: []string{"192.0.2.50"}}}
	c, _ := newClient(t, z, map[string]*fakeServer{"192.0.2.50": s})
	relay := Relay{Host: "relay.example.test", Port: 587, Username: "u", Password: "p"}
	// Untrusted certificate: no credentials sent.
	res := c.DeliverVia(context.Background(), relay, msg(simpleBody, "x@elsewhere.test"))
	if r := res.PerRecipient[0]; r.Delivered || r.Permanent {
		t.Errorf("%+v", r)
	}
	if strings.Contains(strings.Join(s.Commands(), "|"), "AUTH") {
		t.Fatal("AUTH sent over unverified TLS")
	}
	c.TLSConfig = func(string) *tls.Config { return &tls.Config{RootCAs: pki.pool} }
	res = c.DeliverVia(context.Background(), relay, msg(simpleBody, "x@elsewhere.test"))
	wantDelivered(t, res)
	if cmds := strings.Join(s.Commands(), "|"); !strings.Contains(cmds, "AUTH PLAIN AHUAcA==") {
		t.Errorf("commands %s", cmds)
	}
}

func TestHELOFallback(t *testing.T) {
	s := startFake(t)
	s.reply = func(cmd string) string {
		if strings.HasPrefix(cmd, "EHLO") {
			return "502 5.5.2 what"
		}
		return ""
	}
	c, _ := newClient(t, testZone(), map[string]*fakeServer{"192.0.2.1": s})
	wantDelivered(t, c.Deliver(context.Background(), dom, msg(simpleBody, "a@example.test")))
	if cmds := strings.Join(s.Commands(), "|"); !strings.Contains(cmds, "HELO out.posthorn.test") {
		t.Errorf("commands %s", cmds)
	}
}
