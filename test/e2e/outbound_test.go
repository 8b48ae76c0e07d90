package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

// The outbound topology: every host has its own loopback address with
// port 25, so each is a real MX for the others; DNS for all of them
// comes from one test server.
const (
	ipA        = "127.0.0.5" // posthorn A, mx.a.example: the sender (and backup MX of b.example)
	ipB        = "127.0.0.2" // posthorn B, mx.b.example
	ipC        = "127.0.0.3" // Postfix C, mx.c.example
	ipDead     = "127.0.0.4" // nothing listens: the failing first MX
	ipSTS      = "127.0.0.6" // the HTTPS server of mta-sts.sts.example
	outAlicePW = "alice-Out-pw-4821"
	outBobPW   = "bob-Out-pw-4821"
	smartPW    = "smart-Relay-pw-4821"
)

// outboundNode is a posthorn of the outbound topology.
type outboundNode struct {
	*mailServer
	domain, host, ip string
	dkim             map[string]string // DKIM TXT records init printed: name → value
}

var (
	dkimLine   = regexp.MustCompile(`(?m)^(\S+\._domainkey\.\S+?)\.?\s+\d+ IN TXT\s+(.*)$`)
	quotedPart = regexp.MustCompile(`"([^"]*)"`)
)

// newOutboundNode runs "posthorn init" for domain with host as its
// hostname; SMTP listens on ip:25, the other listeners on free loopback
// ports; kv sets further configuration keys.
func newOutboundNode(t *testing.T, domain, host, ip, dnsAddr string, kv map[string]string) *outboundNode {
	t.Helper()
	dir := t.TempDir()
	out := mustRun(t, "", "init", "--dir", dir, "--data-dir", filepath.Join(dir, "data"), "--domain", domain, "--hostname", host)
	n := &outboundNode{domain: domain, host: host, ip: ip, dkim: map[string]string{}}
	for _, m := range dkimLine.FindAllStringSubmatch(out, -1) {
		var v strings.Builder
		for _, q := range quotedPart.FindAllStringSubmatch(m[2], -1) {
			v.WriteString(q[1])
		}
		n.dkim[m[1]] = v.String()
	}
	if len(n.dkim) == 0 {
		t.Fatalf("no DKIM records in the output of init:\n%s", out)
	}
	m := &mailServer{t: t, dir: dir, config: filepath.Join(dir, "posthorn.toml"),
		smtp: ip + ":25", submission: ip + ":" + port(freePort(t)), submissions: freePort(t), http: freePort(t),
		cert: filepath.Join(dir, "data", "tls", "cert.pem"), dns: dnsAddr}
	b, err := os.ReadFile(m.config)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{
		"servers":     fmt.Sprintf("[%q]", dnsAddr),
		"user":        `""`,
		"allow_root":  "true",
		"smtp":        fmt.Sprintf("[%q]", m.smtp),
		"submission":  fmt.Sprintf("[%q]", m.submission),
		"submissions": fmt.Sprintf("[%q]", m.submissions),
		"imap":        "[]",
		"imaps":       "[]",
		"http":        fmt.Sprintf("[%q]", m.http),
		"https":       "[]",
		"level":       `"debug"`,
		"greet_delay": `"0s"`,
		// The shortest retry the configuration allows; tests do not
		// wait for it but use "posthorn queue retry".
		"retry_initial": `"1m"`,
		"retry_max":     `"2m"`,
	}
	for k, v := range kv {
		keys[k] = v
	}
	writeFile(t, m.config, setKeys(t, string(b), keys))
	n.mailServer = m
	return n
}

// queueList is "posthorn queue list".
func (n *outboundNode) queueList() string {
	n.t.Helper()
	return n.admin("queue", "list")
}

// waitFor polls get until re matches at least count times.
func waitFor(t *testing.T, what string, get func() string, re string, count int, timeout time.Duration, dump func() string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for {
		s := get()
		if len(rx.FindAllString(s, -1)) >= count {
			return s
		}
		if time.Now().After(deadline) {
			extra := ""
			if dump != nil {
				extra = dump()
			}
			t.Fatalf("%s: no %d matches of %s in %v:\n%s\n%s", what, count, re, timeout, s, extra)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// portFree reports whether host:25 can be bound now.
func portFree(address string) bool {
	l, err := net.Listen("tcp4", address)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// stopPostfix and startPostfixAgain stop and start a Postfix of
// startPostfixAt with its own command.
func (p *postfixInstance) stop(t *testing.T) {
	t.Helper()
	pid, _ := os.ReadFile(filepath.Join(p.dir, "queue", "pid", "master.pid"))
	if out, err := exec.Command("/usr/sbin/postfix", "-c", p.dir, "stop").CombinedOutput(); err != nil {
		t.Fatalf("postfix stop: %v\n%s", err, out)
	}
	if s := strings.TrimSpace(string(pid)); s != "" {
		for range 100 {
			if _, err := os.Stat("/proc/" + s); err != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for range 100 {
		if c, err := dialTimeout(p.smtp); err != nil {
			break
		} else {
			c.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *postfixInstance) start(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("/usr/sbin/postfix", "-c", p.dir, "start").CombinedOutput(); err != nil {
		t.Fatalf("postfix start: %v\n%s\n%s", err, out, p.maillog())
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := dialTimeout(p.smtp)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Postfix does not listen on %s: %v\n%s", p.smtp, err, p.maillog())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// spki311 is the TLSA 3 1 1 data of the first certificate of a PEM file.
func spki311(t *testing.T, certFile string) []byte {
	t.Helper()
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", certFile)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return h[:]
}

// submitRaw submits a message over A's submission port with STARTTLS and
// AUTH PLAIN, with raw MAIL FROM parameters (RET, ENVID) swaks lacks.
func submitRaw(t *testing.T, address, user, pass, mailParams, rcpt, msg string) {
	t.Helper()
	c := dialSMTP(t, address)
	c.expect("220")
	c.cmd("EHLO client.test", "250")
	c.cmd("STARTTLS", "220")
	c.starttls(&tls.Config{InsecureSkipVerify: true})
	c.cmd("EHLO client.test", "250")
	plain := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	c.cmd("AUTH PLAIN "+plain, "235")
	c.cmd("MAIL FROM:<"+user+"> "+mailParams, "250")
	c.cmd("RCPT TO:<"+rcpt+">", "250")
	c.cmd("DATA", "354")
	c.send(crlf(msg) + ".\r\n")
	c.expect("250")
	c.cmd("QUIT", "221")
}

// TestOutbound: posthorn A delivers to posthorn B and Debian's Postfix C,
// each a real MX on port 25 of its own loopback address: DKIM-signed
// delivery, retry, bounce, MX fallback, MTA-STS, smarthost, backup MX,
// SRS, DANE.
func TestOutbound(t *testing.T) {
	need(t, "swaks")
	if _, err := os.Stat("/usr/sbin/postfix"); err != nil {
		t.Skip("postfix not installed (.ci/run installs it)")
	}
	if os.Geteuid() != 0 {
		t.Skip("port 25 and Postfix need root")
	}
	for _, a := range []string{ipA + ":25", ipB + ":25", ipC + ":25", ipSTS + ":443"} {
		if !portFree(a) {
			t.Skipf("%s is in use", a)
		}
	}
	start := time.Now()
	zone := dnstest.Zone{
		"a.example":    {MX: []dnstest.MX{{Pref: 10, Host: "mx.a.example."}}, TXT: []string{"v=spf1 ip4:127.0.0.0/8 -all"}},
		"mx.a.example": {A: []string{ipA}},
		// A is the backup MX of b.example.
		"b.example":    {MX: []dnstest.MX{{Pref: 10, Host: "mx.b.example."}, {Pref: 20, Host: "mx.a.example."}}, TXT: []string{"v=spf1 ip4:127.0.0.0/8 -all"}},
		"mx.b.example": {A: []string{ipB}},
		"c.example":    {MX: []dnstest.MX{{Pref: 10, Host: "mx.c.example."}}},
		"mx.c.example": {A: []string{ipC}},
		// Two MXs, the first not listening.
		"multi.example":     {MX: []dnstest.MX{{Pref: 10, Host: "mx1.multi.example."}, {Pref: 20, Host: "mx.b.example."}}},
		"mx1.multi.example": {A: []string{ipDead}},
		"smart.example":     {TXT: []string{"v=spf1 ip4:127.0.0.0/8 -all"}},
	}
	dnsSrv := dnstest.Start(t, zone, dnstest.ServerOptions{})

	a := newOutboundNode(t, "a.example", "mx.a.example", ipA, dnsSrv.Addr, map[string]string{
		"relay_domains": `["b.example", "bdane.example"]`,
	})
	b := newOutboundNode(t, "b.example", "mx.b.example", ipB, dnsSrv.Addr, nil)
	// A trusts B's self-signed certificate (the smarthost: AUTH only over
	// verified TLS) and the CA of the MTA-STS policy server.
	caPEM, stsCert := testCA(t, "mta-sts.sts.example")
	bPEM, err := os.ReadFile(b.cert)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(a.dir, "test-ca.pem")
	writeFile(t, caFile, string(bPEM)+string(caPEM))
	for _, n := range []*outboundNode{a, b} {
		for name, v := range n.dkim {
			zone[name] = dnstest.Records{TXT: []string{v}}
		}
	}
	pwFile := filepath.Join(a.dir, "relay-password")
	writeFile(t, pwFile, smartPW+"\n")
	cfg, _ := os.ReadFile(a.config)
	writeFile(t, a.config, setKeys(t, string(cfg), map[string]string{
		"host":          `"mx.b.example"`,
		"port":          port(b.submission),
		"username":      `"u@smart.example"`,
		"password_file": fmt.Sprintf("%q", pwFile),
		"domains":       `["remote.example"]`,
		"tls_ca_file":   fmt.Sprintf("%q", caFile),
		"mta_sts":       "true",
	}))

	// DANE: TLSA 3 1 1 of B's certificate, served with the AD bit.
	good := spki311(t, b.cert)
	bad := append([]byte(nil), good...)
	bad[0] ^= 0xff
	for _, d := range []struct {
		dom  string
		tlsa []byte
	}{{"dane.example", good}, {"danebad.example", bad}} {
		mx := "mx." + d.dom
		zone[d.dom] = dnstest.Records{MX: []dnstest.MX{{Pref: 10, Host: mx + "."}}, Authentic: true}
		zone[mx] = dnstest.Records{A: []string{ipB}, Authentic: true}
		zone["_25._tcp."+mx] = dnstest.Records{TLSA: []dns.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: d.tlsa}}, Authentic: true}
	}
	// bdane.example: B is the primary, with a wrong signed TLSA; A is
	// the backup MX. A must apply DANE to the primary like any MX.
	zone["bdane.example"] = dnstest.Records{MX: []dnstest.MX{{Pref: 10, Host: "mx.bdane.example."}, {Pref: 20, Host: "mx.a.example."}}, Authentic: true}
	zone["mx.bdane.example"] = dnstest.Records{A: []string{ipB}, Authentic: true}
	zone["_25._tcp.mx.bdane.example"] = dnstest.Records{TLSA: []dns.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: bad}}, Authentic: true}
	// MTA-STS enforce for sts.example, whose MX is B: B's certificate
	// names mx.b.example, not mx.sts.example.
	zone["sts.example"] = dnstest.Records{MX: []dnstest.MX{{Pref: 10, Host: "mx.sts.example."}}}
	zone["mx.sts.example"] = dnstest.Records{A: []string{ipB}}
	zone["_mta-sts.sts.example"] = dnstest.Records{TXT: []string{"v=STSv1; id=20260101"}}
	zone["mta-sts.sts.example"] = dnstest.Records{A: []string{ipSTS}}
	dnsSrv.Set(zone)

	a.addUser("alice@a.example", outAlicePW)
	a.admin("domain", "add", "smart.example")
	a.addUser("u@smart.example", smartPW)
	b.addUser("bob@b.example", outBobPW)
	for _, d := range []string{"multi.example", "smart.example", "dane.example", "danebad.example", "bdane.example"} {
		b.admin("domain", "add", d)
	}
	b.addUser("m@multi.example", "multi-Test-pw-4821")
	b.addUser("u@smart.example", smartPW)
	b.addUser("d@dane.example", "dane-Test-pw-4821")
	b.addUser("d@danebad.example", "dane-Test-pw-4821")
	b.admin("alias", "add", "fwd@b.example", "carol@c.example")
	b.admin("alias", "add", "fwdbad@b.example", "gone@c.example")
	b.admin("alias", "add", "fwdrej@b.example", "nobody@c.example")
	b.addUser("x@bdane.example", "xdane-Test-pw-9316")

	c := startPostfixAt(t, ipC+":25", `myhostname = mx.c.example
relay_domains = c.example
relay_recipient_maps = inline:{ {carol@c.example = ok}, {gone@c.example = ok} }
virtual_alias_maps = inline:{ {gone@c.example = nobody-here@b.example} }
transport_maps = inline:{ {carol@c.example = discard:delivered}, {b.example = smtp:[127.0.0.2]:25} }
`)
	a.start()
	b.start()
	t.Logf("setup: %v", time.Since(start))
	aliceSwaks := func(t *testing.T, to, subject string, extra ...string) string {
		t.Helper()
		return mustSwaks(t, append([]string{"--server", a.submission, "--tls", "--auth", "PLAIN", "--auth-user", "alice@a.example",
			"--auth-password", outAlicePW, "--from", "alice@a.example", "--to", to, "--header", "Subject: " + subject}, extra...)...)
	}
	cSent := func() string { return c.maillog() }

	msg1, body1 := writeMessage(t, "ab.eml", `From: Alice <alice@a.example>
To: bob@b.example
Subject: A to B
Message-ID: <a-to-b-1@a.example>
Date: Mon, 02 Jan 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

From A to B, byte for byte.
.a dot line
`)
	t.Run("AtoB", func(t *testing.T) {
		mustSwaks(t, "--server", a.submission, "--tls", "--auth", "PLAIN", "--auth-user", "alice@a.example",
			"--auth-password", outAlicePW, "--from", "alice@a.example", "--to", "bob@b.example", "--data", "@"+msg1)
		waitFor(t, "B", b.logs, `msg="message delivered".*to=<?bob@b.example`, 1, 30*time.Second, a.logs)
	})

	t.Run("AtoPostfix", func(t *testing.T) {
		aliceSwaks(t, "carol@c.example", "A to C")
		waitFor(t, "C", cSent, `to=<carol@c.example>, relay=none, .*status=sent`, 1, 30*time.Second, a.logs)
	})

	t.Run("Retry", func(t *testing.T) {
		c.stop(t)
		aliceSwaks(t, "carol@c.example", "retried")
		q := waitFor(t, "A's queue", a.queueList, `(?m)^\d+ .*carol@c\.example\s+c\.example\s+1\s+in \S+\s+\S.*$`, 1, 30*time.Second, a.logs)
		if !strings.Contains(q, "refused") && !strings.Contains(q, "connect") {
			t.Errorf("last error does not say why:\n%s", q)
		}
		c.start(t)
		a.admin("queue", "retry")
		waitFor(t, "C", cSent, `to=<carol@c.example>, relay=none, .*status=sent`, 2, 30*time.Second, a.logs)
		waitFor(t, "A's queue", a.queueList, `the queue is empty`, 1, 10*time.Second, nil)
	})

	t.Run("Bounce", func(t *testing.T) {
		submitRaw(t, a.submission, "alice@a.example", outAlicePW, "RET=HDRS ENVID=bounce-envid-1", "nobody@c.example",
			"From: alice@a.example\nTo: nobody@c.example\nSubject: will bounce\n\nsecret body line that RET=HDRS leaves out\n")
		waitFor(t, "A", a.logs, `msg="delivery status notification sent".*to=alice@a.example`, 1, 30*time.Second, c.maillog)
	})

	t.Run("MXFallback", func(t *testing.T) {
		aliceSwaks(t, "m@multi.example", "second MX")
		waitFor(t, "B", b.logs, `msg="message delivered".*to=<?m@multi.example`, 1, 30*time.Second, a.logs)
	})

	t.Run("Smarthost", func(t *testing.T) {
		mustSwaks(t, "--server", a.submission, "--tls", "--auth", "PLAIN", "--auth-user", "u@smart.example",
			"--auth-password", smartPW, "--from", "u@smart.example", "--to", "someone@remote.example", "--header", "Subject: via smarthost")
		waitFor(t, "B", b.logs, `msg="message queued".*from=u@smart.example.*domain=remote.example`, 1, 30*time.Second, nil)
		// A authenticated to the smarthost B before sending: B logs the
		// login and the message under it (issue 12 §6: this was a Logf).
		blog := b.logs()
		if !regexp.MustCompile(`msg=authenticated [^\n]*listener=submission [^\n]*mech=(PLAIN|LOGIN) account=u@smart\.example`).MatchString(blog) {
			t.Errorf("B's log has no AUTH of u@smart.example on submission:\n%s", blog)
		}
		if !regexp.MustCompile(`msg="message accepted" [^\n]*from=u@smart\.example [^\n]*to=someone@remote\.example [^\n]*login=u@smart\.example`).MatchString(blog) {
			t.Errorf("B did not accept the relayed message under the AUTH login:\n%s", blog)
		}
	})

	t.Run("BackupMX", func(t *testing.T) {
		b.stop()
		mustSwaks(t, "--server", a.smtp, "--ehlo", "client.test", "--from", "someone@ext.test", "--to", "bob@b.example",
			"--header", "Subject: held by the backup MX")
		q := waitFor(t, "A's queue", a.queueList, `(?m)^\d+ .*bob@b\.example\s+b\.example\s+1\s`, 1, 30*time.Second, a.logs)
		if strings.Contains(a.logs(), "mx.a.example ["+ipA+"]") {
			t.Errorf("A tried to deliver to itself:\n%s", q)
		}
		b.start()
		a.admin("queue", "retry")
		waitFor(t, "B", b.logs, `msg="message delivered".*from=someone@ext.test.*to=<?bob@b.example`, 1, 30*time.Second, a.logs)
	})

	t.Run("SRS", func(t *testing.T) {
		aliceSwaks(t, "fwd@b.example", "forwarded")
		waitFor(t, "C", cSent, `from=<SRS0=[^>]*=a\.example=alice@b\.example>`, 1, 30*time.Second, b.logs)
		waitFor(t, "C", cSent, `to=<carol@c.example>, relay=none, .*status=sent`, 3, 30*time.Second, b.logs)
		aliceSwaks(t, "fwdbad@b.example", "forwarded and bounced")
		// C accepts gone@c.example, B refuses the address C sends it
		// on to, and C bounces to the SRS address at B, which reverses it
		// to alice@a.example and sends it on to A.
		waitFor(t, "C", cSent, `to=<nobody-here@b.example>, orig_to=<gone@c.example>, .*status=bounced`, 1, 30*time.Second, b.logs)
		waitFor(t, "C", cSent, `to=<SRS0=[^>]*=a\.example=alice@b\.example>, relay=127\.0\.0\.2.*status=sent`, 1, 30*time.Second, b.logs)
		waitFor(t, "B", b.logs, `msg="message queued".*from="?<>"?.*domain=a.example`, 1, 30*time.Second, c.maillog)
		waitFor(t, "A", a.logs, `msg="message delivered".*to=<?alice@a.example`, 1, 30*time.Second, b.logs)
	})

	// B's own queue bounces forwarded mail (C refuses nobody@ at RCPT):
	// the DSN goes to the SRS-reversed sender, alice@a.example, through
	// the queue, not to local delivery of the SRS address (issue 12 §3).
	t.Run("ForwardedBounceFromQueue", func(t *testing.T) {
		aliceSwaks(t, "fwdrej@b.example", "forwarded and refused at RCPT")
		waitFor(t, "B", b.logs, `msg="reporting to the original sender of forwarded mail".*to=alice@a.example`, 1, 30*time.Second, c.maillog)
		waitFor(t, "A", a.logs, `msg="message delivered".*from="?<>"?.*to=<?alice@a.example`, 2, 30*time.Second, b.logs)
		if strings.Contains(b.logs(), "no such recipient: SRS0") {
			t.Errorf("B tried to deliver the DSN to the SRS address locally:\n%s", b.logs())
		}
	})

	// Backup MX to a primary whose signed TLSA does not match: A holds
	// the mail and never sends it to B (issue 12 §3: it used to send).
	t.Run("BackupMXDANE", func(t *testing.T) {
		mustSwaks(t, "--server", a.smtp, "--ehlo", "client.test", "--from", "someone@ext.test", "--to", "x@bdane.example",
			"--header", "Subject: backup MX, wrong TLSA")
		q := waitFor(t, "A's queue", a.queueList, `(?m)^\d+ .*x@bdane\.example\s+bdane\.example\s+1\s.*$`, 1, 30*time.Second, a.logs)
		id := regexp.MustCompile(`(?m)^(\d+) .*x@bdane\.example`).FindStringSubmatch(q)[1]
		if show := a.admin("queue", "show", id); !strings.Contains(show, "TLSA") {
			t.Errorf("the last error does not name DANE:\n%s", show)
		}
		if strings.Contains(b.logs(), "x@bdane.example") {
			t.Errorf("B received mail from the backup MX despite the wrong TLSA:\n%s", b.logs())
		}
	})

	t.Run("DANE", func(t *testing.T) {
		aliceSwaks(t, "d@dane.example", "dane right")
		waitFor(t, "B", b.logs, `msg="message delivered".*to=<?d@dane.example`, 1, 30*time.Second, a.logs)
		aliceSwaks(t, "d@danebad.example", "dane wrong")
		q := waitFor(t, "A's queue", a.queueList, `(?m)^\d+ .*d@danebad\.example\s+danebad\.example\s+1\s.*$`, 1, 30*time.Second, a.logs)
		t.Logf("wrong TLSA:\n%s", q)
		if strings.Contains(b.logs(), "d@danebad.example") {
			t.Errorf("B received mail for the wrong TLSA")
		}
	})

	t.Run("MTASTS", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/.well-known/mta-sts.txt" || r.Host != "mta-sts.sts.example" {
				http.NotFound(w, r)
				return
			}
			io.WriteString(w, "version: STSv1\r\nmode: enforce\r\nmx: mx.sts.example\r\nmax_age: 86400\r\n")
		}))
		l, err := net.Listen("tcp4", ipSTS+":443")
		if err != nil {
			t.Fatal(err)
		}
		srv.Listener.Close()
		srv.Listener = l
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{stsCert}}
		srv.StartTLS()
		defer srv.Close()
		reply := aliceSwaks(t, "x@sts.example", "mta-sts enforce")
		q := waitFor(t, "A's queue", a.queueList, `(?m)^\d+ .*x@sts\.example\s+sts\.example\s+1\s.*$`, 1, 30*time.Second, a.logs)
		// One identity: the id of A's 250 reply names the entry in
		// "queue show" and A's log lines of the attempt (issue 12 §3).
		m := regexp.MustCompile(`250 2\.0\.0 Ok: stored as (\w+)`).FindStringSubmatch(reply)
		if m == nil {
			t.Fatalf("no id in A's 250 reply:\n%s", reply)
		}
		if byID := a.admin("queue", "show", m[1]); !strings.Contains(byID, "x@sts.example") || !strings.Contains(byID, "message id:   "+m[1]) {
			t.Errorf("queue show %s:\n%s", m[1], byID)
		}
		if !regexp.MustCompile(`svc=queue [^\n]*id=` + m[1] + ` [^\n]*to=x@sts\.example`).MatchString(a.logs()) {
			t.Errorf("A's queue log lines do not carry id=%s:\n%s", m[1], a.logs())
		}
		id := regexp.MustCompile(`(?m)^(\d+) .*x@sts\.example`).FindStringSubmatch(q)[1]
		show := a.admin("queue", "show", id)
		if !regexp.MustCompile(`(?i)mta-?sts`).MatchString(show) {
			t.Errorf("the last error does not name MTA-STS:\n%s", show)
		}
		t.Logf("MTA-STS refusal:\n%s", show)
		if strings.Contains(b.logs(), "x@sts.example") {
			t.Errorf("B received mail despite the MTA-STS policy")
		}
	})

	// The stores, with the servers stopped.
	alog, blog := a.stop(), b.stop()
	t.Run("Stores", func(t *testing.T) {
		got := oneBySubject(t, b.messages("bob@b.example"), "A to B")
		if !strings.HasSuffix(got.Body, body1) {
			t.Errorf("B's copy is not the submitted message:\n%q\nwant suffix %q", got.Body, body1)
		}
		if !strings.Contains(got.Body, "DKIM-Signature:") {
			t.Errorf("no DKIM signature:\n%s", got.Body)
		}
		f := filepath.Join(t.TempDir(), "b.eml")
		writeFile(t, f, got.Full())
		out, _, code := posthorn(t, "", "check", "dkim", f, "--dns", dnsSrv.Addr)
		if code != 0 || !strings.HasPrefix(out, "pass") || strings.Contains(out, "fail") {
			t.Errorf("check dkim: exit %d\n%s", code, out)
		}
		if ar := got.Header("Authentication-Results"); !strings.Contains(ar, "dkim=pass") {
			t.Errorf("B's Authentication-Results: %s", ar)
		}
		oneBySubject(t, b.messages("m@multi.example"), "second MX")
		oneBySubject(t, b.messages("bob@b.example"), "held by the backup MX")
		dane := oneBySubject(t, b.messages("d@dane.example"), "dane right")
		if !strings.Contains(dane.Prefix, "with ESMTPS") {
			t.Errorf("DANE delivery without TLS:\n%s", dane.Prefix)
		}

		var dsn, srsBounce []storedMessage
		for _, m := range a.messages("alice@a.example") {
			switch {
			case strings.Contains(m.Body, "bounce-envid-1"):
				dsn = append(dsn, m)
			case strings.Contains(m.Body, "gone@c.example"):
				srsBounce = append(srsBounce, m)
			}
		}
		if len(dsn) != 1 {
			t.Fatalf("%d DSNs with the ENVID in alice's mailboxes\nA's log:\n%s", len(dsn), alog)
		}
		d := dsn[0].Body
		for _, want := range []string{"Original-Envelope-Id: bounce-envid-1", "Final-Recipient: rfc822; nobody@c.example",
			"Action: failed", "User unknown in relay recipient table", "multipart/report", "Subject: will bounce"} {
			if !strings.Contains(d, want) {
				t.Errorf("DSN lacks %q:\n%s", want, d)
			}
		}
		// Postfix's answer, verbatim.
		if !regexp.MustCompile(`550 5\.1\.1 <nobody@c\.example>: Recipient address rejected: User unknown in relay recipient table`).MatchString(d) {
			t.Errorf("DSN does not quote C's answer:\n%s", d)
		}
		if strings.Contains(d, "secret body line") {
			t.Errorf("RET=HDRS: the DSN returns the body:\n%s", d)
		}
		if len(srsBounce) != 1 {
			t.Errorf("%d SRS bounces reversed to alice\nB's log:\n%s", len(srsBounce), blog)
		}
		var queueBounce int
		for _, m := range a.messages("alice@a.example") {
			if strings.Contains(m.Body, "forwarded and refused at RCPT") && strings.Contains(m.Body, "Action: failed") &&
				strings.Contains(m.Body, "nobody@c.example") {
				queueBounce++
			}
		}
		if queueBounce != 1 {
			t.Errorf("%d DSNs of B's queue for forwarded mail reached alice, want 1\nB's log:\n%s", queueBounce, blog)
		}
	})
	t.Logf("TestOutbound: %v", time.Since(start))
}

// testCA returns a fresh CA's certificate (PEM) and a certificate it
// issued for name.
func testCA(t *testing.T, name string) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "posthorn outbound test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// daemon runs a program until the test ends (stopped by its PID).
func daemon(t *testing.T, name string, args ...string) *syncBuffer {
	t.Helper()
	out := &syncBuffer{}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s:\n%s", name, out.String())
		}
	})
	return out
}

// TestOutboundDANE: knot signs dane.test (dnssec-signing: on), unbound
// validates it with the zone's KSK as trust anchor and forwards every
// other name to the test DNS; A resolves through unbound. A right TLSA
// 3 1 1 for B's MX: delivered; a wrong one: refused and kept queued.
func TestOutboundDANE(t *testing.T) {
	need(t, "swaks")
	knotd, unbound, dig := need(t, "knotd"), need(t, "unbound"), need(t, "dig")
	if os.Geteuid() != 0 {
		t.Skip("port 25 needs root")
	}
	for _, a := range []string{ipA + ":25", ipB + ":25"} {
		if !portFree(a) {
			t.Skipf("%s is in use", a)
		}
	}
	start := time.Now()
	zone := dnstest.Zone{
		"a.example":    {MX: []dnstest.MX{{Pref: 10, Host: "mx.a.example."}}, TXT: []string{"v=spf1 ip4:127.0.0.0/8 -all"}},
		"mx.a.example": {A: []string{ipA}},
		"mx.b.example": {A: []string{ipB}},
	}
	dnsSrv := dnstest.Start(t, zone, dnstest.ServerOptions{})
	b := newOutboundNode(t, "b.example", "mx.b.example", ipB, dnsSrv.Addr, nil)

	// knot: dane.test, signed.
	kdir := t.TempDir()
	knotAddr := freePort(t)
	good := fmt.Sprintf("%x", spki311(t, b.cert))
	bad := "00" + good[2:]
	if good[:2] == "00" {
		bad = "ff" + good[2:]
	}
	writeFile(t, filepath.Join(kdir, "dane.test.zone"), fmt.Sprintf(`$ORIGIN dane.test.
$TTL 300
@ SOA ns.dane.test. hostmaster.dane.test. 1 3600 900 604800 300
@ NS ns.dane.test.
ns A 127.0.0.1
@ MX 10 mx.dane.test.
mx A %[1]s
_25._tcp.mx TLSA 3 1 1 %[2]s
bad MX 10 mxbad.dane.test.
mxbad A %[1]s
_25._tcp.mxbad TLSA 3 1 1 %[3]s
`, ipB, good, bad))
	writeFile(t, filepath.Join(kdir, "knot.conf"), fmt.Sprintf(`server:
    rundir: "%[1]s"
    listen: %[2]s
log:
  - target: stderr
    any: info
database:
    storage: "%[1]s"
template:
  - id: default
    storage: "%[1]s"
    file: "%%s.zone"
zone:
  - domain: dane.test
    dnssec-signing: on
`, kdir, strings.Replace(knotAddr, ":", "@", 1)))
	daemon(t, knotd, "-c", filepath.Join(kdir, "knot.conf"))
	kh, kp, _ := net.SplitHostPort(knotAddr)
	var anchor string
	deadline := time.Now().Add(20 * time.Second)
	for anchor == "" {
		out, _ := run(t, "", dig, "@"+kh, "-p", kp, "+short", "+time=1", "+tries=1", "dane.test", "DNSKEY")
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "257 ") {
				anchor = "dane.test. DNSKEY " + strings.TrimSpace(l)
			}
		}
		if anchor == "" {
			if time.Now().After(deadline) {
				t.Fatalf("knot serves no KSK for dane.test: %s", out)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// unbound: validating, dane.test from knot, the rest from the test DNS.
	udir := t.TempDir()
	unboundAddr := freePort(t)
	uh, up, _ := net.SplitHostPort(unboundAddr)
	writeFile(t, filepath.Join(udir, "unbound.conf"), fmt.Sprintf(`server:
  interface: %[1]s
  port: %[2]s
  do-ip6: no
  do-not-query-localhost: no
  username: ""
  chroot: ""
  directory: "%[3]s"
  pidfile: "%[3]s/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 1
  access-control: 127.0.0.0/8 allow
  local-zone: "test." nodefault
  module-config: "validator iterator"
  trust-anchor: "%[4]s"
  qname-minimisation: no
  cache-max-ttl: 5
remote-control:
  control-enable: no
stub-zone:
  name: "dane.test."
  stub-addr: %[5]s
forward-zone:
  name: "."
  forward-addr: %[6]s
`, uh, up, udir, anchor, strings.Replace(knotAddr, ":", "@", 1), strings.Replace(dnsSrv.Addr, ":", "@", 1)))
	daemon(t, unbound, "-d", "-c", filepath.Join(udir, "unbound.conf"))
	deadline = time.Now().Add(20 * time.Second)
	for {
		out, _ := run(t, "", dig, "@"+uh, "-p", up, "+dnssec", "+time=1", "+tries=1", "_25._tcp.mx.dane.test", "TLSA")
		if regexp.MustCompile(`flags:[^;]* ad[ ;]`).MatchString(out) && strings.Contains(out, "TLSA") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("unbound does not validate the TLSA record (no ad flag):\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	a := newOutboundNode(t, "a.example", "mx.a.example", ipA, unboundAddr, nil)
	for name, v := range a.dkim {
		zone[name] = dnstest.Records{TXT: []string{v}}
	}
	dnsSrv.Set(zone)
	a.addUser("alice@a.example", outAlicePW)
	for _, d := range []string{"dane.test", "bad.dane.test"} {
		b.admin("domain", "add", d)
		b.addUser("d@"+d, "dane-Test-pw-4821")
	}
	a.start()
	b.start()
	send := func(to, subject string) {
		mustSwaks(t, "--server", a.submission, "--tls", "--auth", "PLAIN", "--auth-user", "alice@a.example",
			"--auth-password", outAlicePW, "--from", "alice@a.example", "--to", to, "--header", "Subject: "+subject)
	}
	send("d@dane.test", "right TLSA")
	waitFor(t, "B", b.logs, `msg="message delivered".*to=<?d@dane.test`, 1, 30*time.Second, a.logs)
	send("d@bad.dane.test", "wrong TLSA")
	q := waitFor(t, "A's queue", a.queueList, `(?m)^\d+ .*d@bad\.dane\.test\s+bad\.dane\.test\s+1\s.*$`, 1, 30*time.Second, a.logs)
	id := regexp.MustCompile(`(?m)^(\d+) .*d@bad\.dane\.test`).FindStringSubmatch(q)[1]
	show := a.admin("queue", "show", id)
	if !regexp.MustCompile(`(?i)tlsa|dane`).MatchString(show) {
		t.Errorf("the wrong TLSA's error does not say DANE:\n%s", show)
	}
	if strings.Contains(b.logs(), "d@bad.dane.test") {
		t.Errorf("B received mail despite the wrong TLSA")
	}
	a.stop()
	b.stop()
	msg := oneBySubject(t, b.messages("d@dane.test"), "right TLSA")
	if !strings.Contains(msg.Prefix, "with ESMTPS") {
		t.Errorf("DANE delivery without TLS:\n%s", msg.Prefix)
	}
	t.Logf("TestOutboundDANE: %v; wrong TLSA: %s", time.Since(start), regexp.MustCompile(`last error:.*`).FindString(show))
}
