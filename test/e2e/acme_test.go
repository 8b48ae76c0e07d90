package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/dns/dnstest"
	"github.com/posthorn/posthorn/internal/mtasts"
	"github.com/posthorn/posthorn/internal/tlsmgr/pebbletest"
)

// acmeNames are the names a fresh "posthorn init" for example.com holds
// certificates for.
var acmeNames = []string{mailHost, "mta-sts.example.com", "autoconfig.example.com", "autodiscover.example.com"}

// TestACME runs the built binary as a new user would: "posthorn init",
// [acme] pointed at Debian's pebble, "posthorn serve". It obtains
// certificates with each challenge type and serves them on IMAPS, SMTP
// STARTTLS and HTTPS (MTA-STS policy, autoconfig). With a 60-second
// certificate (tls-alpn-01) it then sees the certificate renewed without a
// restart and with the same key, stops the CA, and sees every alarm fire:
// the error log line with the CA's error, "posthorn tls status" exiting 1,
// and the mail to the postmaster.
func TestACME(t *testing.T) {
	if why := pebbletest.Available(); why != "" {
		t.Skip("skipping ACME end-to-end test: " + why)
	}
	t.Run("http-01", func(t *testing.T) {
		p := pebbletest.Start(t, pebbletest.Options{})
		a := newACMEServer(t, p, "http-01")
		a.waitIssued(60 * time.Second)
		a.checkServed()
	})
	t.Run("tls-alpn-01", func(t *testing.T) {
		const validity = 60 * time.Second
		p := pebbletest.Start(t, pebbletest.Options{Validity: validity})
		a := newACMEServer(t, p, "tls-alpn-01")
		first := a.waitIssued(60 * time.Second)
		a.checkServed()
		a.checkRenewal(first, validity)
		a.checkAlarm(validity)
	})
}

// acmeServer is a "posthorn serve" of a fresh init directory with ACME
// from pebble; its HTTP and HTTPS listeners are on pebble's challenge
// ports, as they would be on 80 and 443.
type acmeServer struct {
	*mailServer
	p         *pebbletest.Pebble
	https     string // the HTTPS listener (pebble's TLS-ALPN-01 port)
	roots     *x509.CertPool
	challenge string
	began     time.Time
}

func newACMEServer(t *testing.T, p *pebbletest.Pebble, challenge string) *acmeServer {
	t.Helper()
	dir := t.TempDir()
	mustRun(t, "", "init", "--dir", dir, "--data-dir", filepath.Join(dir, "data"), "--domain", "example.com", "--hostname", mailHost)
	m := &mailServer{t: t, dir: dir, config: filepath.Join(dir, "posthorn.toml"),
		smtp: freePort(t), submission: freePort(t), submissions: freePort(t), imap: freePort(t), imaps: freePort(t),
		http: fmt.Sprintf("127.0.0.1:%d", p.HTTPPort)}
	a := &acmeServer{mailServer: m, p: p, https: fmt.Sprintf("127.0.0.1:%d", p.TLSPort), challenge: challenge}
	dnsSrv := dnstest.Start(t, testZone(), dnstest.ServerOptions{})
	m.dns = dnsSrv.Addr
	b, err := os.ReadFile(m.config)
	if err != nil {
		t.Fatal(err)
	}
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	list := func(s string) string { return fmt.Sprintf("[%q]", s) }
	cfg := setKeys(t, string(b), map[string]string{
		"servers":     list(dnsSrv.Addr),
		"user":        `""`,
		"allow_root":  "true",
		"smtp":        list(m.smtp),
		"submission":  list(m.submission),
		"submissions": list(m.submissions),
		"imap":        list(m.imap),
		"imaps":       list(m.imaps),
		"http":        list(m.http),
		"https":       list(a.https),
		"level":       q("debug"),
		"greet_delay": q("100ms"),
		// What a new user changes to use ACME: no certificate files,
		// acme.enabled, and (for a test CA only) its directory, its
		// root and its challenge ports.
		"cert_file":            q(""),
		"key_file":             q(""),
		"enabled":              "true",
		"directory_url":        q(p.DirectoryURL),
		"email":                q("postmaster@example.com"),
		"ca_root":              q(p.APIRootsFile),
		"challenges":           list(challenge),
		"http_port":            fmt.Sprint(p.HTTPPort),
		"tls_port":             fmt.Sprint(p.TLSPort),
		"renew_check_interval": q("1s"),
		"check_interval":       q("1s"),
	})
	writeFile(t, m.config, cfg)
	a.began = time.Now()
	m.start()
	a.roots = x509.NewCertPool()
	if !a.roots.AppendCertsFromPEM(p.IssuerRootPEM()) {
		t.Fatal("no certificate in pebble's /roots/0")
	}
	return a
}

// certRow is one line of "posthorn tls status".
type certRow struct {
	names, source, issuer, notAfter, attempt, outcome string
}

// tlsStatus runs "posthorn tls status" and returns its rows, the TLSA
// hashes by first name, the whole output and the exit code.
func (a *acmeServer) tlsStatus() (rows map[string]certRow, tlsa map[string]string, out string, code int) {
	a.t.Helper()
	out, errOut, code := posthorn(a.t, "", "tls", "status", "--config", a.config)
	out += errOut
	rows, tlsa = map[string]certRow{}, map[string]string{}
	sep := regexp.MustCompile(`\s{2,}`)
	for _, l := range strings.Split(out, "\n") {
		if h, ok := strings.CutPrefix(l, "TLSA 3 1 1 "); ok {
			hash, names, _ := strings.Cut(h, "  (")
			tlsa[strings.Split(strings.TrimSuffix(names, ")"), ",")[0]] = hash
			continue
		}
		f := sep.Split(strings.TrimSpace(l), 6)
		if len(f) == 6 && f[1] == "acme" {
			r := certRow{f[0], f[1], f[2], f[3], f[4], f[5]}
			rows[strings.Split(r.names, ",")[0]] = r
		}
	}
	return rows, tlsa, out, code
}

// waitIssued waits until every name has a certificate from pebble, with
// "tls status" exiting 0, and returns the rows.
func (a *acmeServer) waitIssued(d time.Duration) map[string]certRow {
	a.t.Helper()
	deadline := time.Now().Add(d)
	for {
		rows, tlsa, out, code := a.tlsStatus()
		done := code == 0 && len(rows) == len(acmeNames)
		for _, n := range acmeNames {
			r := rows[n]
			done = done && r.notAfter != "-" && strings.Contains(r.issuer, "Pebble") && r.outcome == "ok" && len(tlsa[n]) == 64
		}
		if done {
			a.t.Logf("%s: %d certificates issued %v after start", a.challenge, len(rows), time.Since(a.began).Round(100*time.Millisecond))
			return rows
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("no certificates within %v; tls status (exit %d):\n%s\nserver log:\n%s\npebble log:\n%s",
				d, code, out, tail(a.logs(), 60), tail(a.p.Log(), 30))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// verify checks that chain, as served to a client that asked for name
// (or for none), is valid for name under pebble's root, and returns the
// leaf.
func (a *acmeServer) verify(what string, chain []*x509.Certificate, name string) *x509.Certificate {
	a.t.Helper()
	if len(chain) == 0 {
		a.t.Fatalf("%s: no certificate", what)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: name, Roots: a.roots, Intermediates: inter}); err != nil {
		a.t.Fatalf("%s: certificate %v does not verify for %s under pebble's root: %v", what, chain[0].DNSNames, name, err)
	}
	return chain[0]
}

// imapsLeaf connects to IMAPS without SNI (the default name is served),
// reads the greeting and returns the verified leaf.
func (a *acmeServer) imapsLeaf() *x509.Certificate {
	a.t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", a.imaps,
		&tls.Config{InsecureSkipVerify: true}) // verified below, for mail.example.com
	if err != nil {
		a.t.Fatalf("IMAPS: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	greeting := make([]byte, 256)
	n, err := c.Read(greeting)
	if err != nil || !strings.HasPrefix(string(greeting[:n]), "* OK") {
		a.t.Fatalf("IMAPS greeting %q: %v", greeting[:n], err)
	}
	return a.verify("IMAPS", c.ConnectionState().PeerCertificates, mailHost)
}

// httpsGet fetches https://host/path from the HTTPS listener, with SNI
// and Host host, verifying against pebble's root.
func (a *acmeServer) httpsGet(host, path string) (*http.Response, string) {
	a.t.Helper()
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: a.roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, a.https)
		},
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get("https://" + host + path)
	if err != nil {
		a.t.Fatalf("GET https://%s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if got := resp.TLS.PeerCertificates[0].DNSNames; len(got) != 1 || got[0] != host {
		a.t.Errorf("https://%s: served a certificate for %v", host, got)
	}
	return resp, string(b)
}

// checkServed checks the certificates served on IMAPS, SMTP STARTTLS
// and HTTPS, the MTA-STS policy and autoconfig over real HTTPS.
func (a *acmeServer) checkServed() {
	t := a.t
	t.Helper()
	if leaf := a.imapsLeaf(); !strings.Contains(leaf.Issuer.CommonName, "Pebble") {
		t.Errorf("IMAPS: issuer %q", leaf.Issuer.CommonName)
	}

	// SMTP STARTTLS on the MX port, with SNI and, as most SMTP clients,
	// without.
	for _, sni := range []string{mailHost, ""} {
		s := dialSMTP(t, a.smtp)
		s.expect("220 ")
		s.cmd("EHLO client.example.net", "250")
		s.cmd("STARTTLS", "220")
		s.starttls(&tls.Config{ServerName: sni, InsecureSkipVerify: true}) // verified below
		a.verify(fmt.Sprintf("SMTP STARTTLS (SNI %q)", sni), s.c.(*tls.Conn).ConnectionState().PeerCertificates, mailHost)
		s.cmd("EHLO client.example.net", "250")
		s.cmd("QUIT", "221")
	}

	// The MTA-STS policy, as a sender fetches it.
	resp, policy := a.httpsGet("mta-sts.example.com", "/.well-known/mta-sts.txt")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("MTA-STS policy: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), policy)
	}
	pol, err := mtasts.ParsePolicy([]byte(policy))
	if err != nil {
		t.Fatalf("MTA-STS policy %q: %v", policy, err)
	}
	if pol.Mode != mtasts.ModeTesting || len(pol.MX) != 1 || pol.MX[0] != mailHost || pol.MaxAge != 7*24*time.Hour {
		t.Errorf("MTA-STS policy %+v from %q", pol, policy)
	}
	records := a.admin("domain", "records", "example.com")
	sum := sha256.Sum256([]byte(policy))
	if id := hex.EncodeToString(sum[:10]); !strings.Contains(records, `"v=STSv1; id=`+id+`"`) {
		t.Errorf("domain records do not publish the id %s of the served policy:\n%s", id, records)
	}

	// The expiry metric, on the loopback HTTP listener.
	mresp, err := http.Get("http://" + a.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, n := range acmeNames {
		re := regexp.MustCompile(`(?m)^posthorn_certificate_expiry_seconds\{name="` + regexp.QuoteMeta(n) + `"\} [0-9.e+]+$`)
		if !re.Match(metrics) {
			t.Errorf("no certificate expiry metric for %s:\n%s", n, grepLines(string(metrics), "certificate"))
		}
	}

	// Thunderbird autoconfig.
	resp, xml := a.httpsGet("autoconfig.example.com", "/mail/config-v1.1.xml?emailaddress=postmaster%40example.com")
	if resp.StatusCode != 200 || !strings.Contains(xml, "<hostname>"+mailHost+"</hostname>") || !strings.Contains(xml, "<clientConfig") {
		t.Errorf("autoconfig: %d %s", resp.StatusCode, xml)
	}
}

// checkRenewal waits until the certificates are renewed (a new serial
// served on IMAPS) without a restart and checks the key stayed the same.
func (a *acmeServer) checkRenewal(first map[string]certRow, validity time.Duration) {
	t := a.t
	t.Helper()
	_, tlsa1, _, _ := a.tlsStatus()
	leaf1 := a.imapsLeaf()
	began := time.Now()
	deadline := leaf1.NotAfter.Add(5 * time.Second)
	var leaf2 *x509.Certificate
	for {
		leaf2 = a.imapsLeaf()
		if leaf2.SerialNumber.Cmp(leaf1.SerialNumber) != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("IMAPS still serves serial %x (not after %v) at %v\nserver log:\n%s",
				leaf1.SerialNumber, leaf1.NotAfter, time.Now(), tail(a.logs(), 40))
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("renewed: IMAPS serves serial %x instead of %x after %v (old not after %v, left %v)",
		leaf2.SerialNumber, leaf1.SerialNumber, time.Since(began).Round(100*time.Millisecond),
		leaf1.NotAfter.Format(time.TimeOnly), time.Until(leaf1.NotAfter).Round(time.Second))
	if time.Now().After(leaf1.NotAfter) {
		t.Errorf("renewed only after the old certificate expired")
	}
	if !bytes.Equal(leaf1.RawSubjectPublicKeyInfo, leaf2.RawSubjectPublicKeyInfo) {
		t.Errorf("the key changed on renewal")
	}
	spki := sha256.Sum256(leaf2.RawSubjectPublicKeyInfo)
	// Every name renews; then tls status shows the same 3 1 1 hashes.
	deadline = time.Now().Add(validity / 2)
	for {
		rows, tlsa2, out, code := a.tlsStatus()
		renewed := code == 0
		for _, n := range acmeNames {
			renewed = renewed && rows[n].notAfter != first[n].notAfter && rows[n].outcome == "ok"
		}
		if renewed {
			for _, n := range acmeNames {
				if tlsa2[n] != tlsa1[n] {
					t.Errorf("%s: TLSA 3 1 1 changed on renewal: %s -> %s", n, tlsa1[n], tlsa2[n])
				}
			}
			if tlsa2[mailHost] != hex.EncodeToString(spki[:]) {
				t.Errorf("tls status TLSA %s, served key %x", tlsa2[mailHost], spki)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every certificate renewed (exit %d):\n%s", code, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if logs := a.logs(); strings.Contains(logs, "level=ERROR") {
		t.Errorf("errors logged during healthy renewals:\n%s", grepLines(logs, "level=ERROR"))
	}
	// Nothing reached the postmaster.
	if strings.Contains(a.logs(), "expiry alarm mailed") {
		t.Error("an expiry alarm was mailed during healthy renewals")
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// checkAlarm stops the CA and waits for the alarms: the error log line
// with the CA's error, "tls status" exiting 1 with the failure, and the
// postmaster's mail (read from the store once the server stopped).
func (a *acmeServer) checkAlarm(validity time.Duration) {
	t := a.t
	t.Helper()
	a.p.StopCA()
	stopped := time.Now()
	caHost := strings.TrimPrefix(strings.TrimSuffix(a.p.DirectoryURL, "/dir"), "https://")
	deadline := time.Now().Add(validity + 10*time.Second)
	// One mail per certificate; the host name's is checked below.
	mailed := regexp.MustCompile(`tls: expiry alarm mailed.*\[` + regexp.QuoteMeta(mailHost) + `\]`)
	var statusOut string
	for {
		_, _, out, code := a.tlsStatus()
		logs := a.logs()
		failed := grepLines(logs, "certificate renewal failed")
		if code == 1 && strings.Contains(out, "FAILED: ") && strings.Contains(out, "alarm") &&
			strings.Contains(failed, "level=ERROR") && strings.Contains(failed, caHost) &&
			mailed.MatchString(logs) {
			statusOut = out
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alarms did not all fire within %v of stopping the CA; tls status (exit %d):\n%s\nserver log:\n%s",
				validity+10*time.Second, code, out, tail(logs, 60))
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("alarms fired %v after the CA stopped; tls status:\n%s\nfirst error line: %s", time.Since(stopped).Round(100*time.Millisecond),
		statusOut, strings.SplitN(grepLines(a.logs(), "certificate renewal failed"), "\n", 2)[0])
	if !strings.Contains(grepLines(a.logs(), "expires soon and was not renewed"), "level=ERROR") {
		t.Error("no error line for the certificate close to expiry")
	}
	a.stop()

	msgs := findBySubject(a.messages("postmaster@example.com"), "")
	var alarm *storedMessage
	for i, m := range msgs {
		if m.Header("Subject") == "TLS certificate for "+mailHost+" expires in less than an hour" {
			alarm = &msgs[i]
		}
	}
	if alarm == nil {
		var subjects []string
		for _, m := range msgs {
			subjects = append(subjects, m.Header("Subject"))
		}
		t.Fatalf("no alarm mail for %s in postmaster's mailbox; subjects %q", mailHost, subjects)
	}
	if alarm.Mailbox != "INBOX" || !strings.Contains(alarm.Body, "has not been renewed") ||
		!strings.Contains(alarm.Body, "Error: ") || !strings.Contains(alarm.Body, caHost) ||
		!strings.Contains(alarm.Body, "Issuer: Pebble") {
		t.Errorf("alarm mail in %s:\n%s", alarm.Mailbox, alarm.Full())
	}
}
