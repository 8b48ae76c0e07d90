package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

// mailServer is a "posthorn serve" on a fresh "posthorn init" configuration
// whose listeners are rewritten to free loopback ports.
type mailServer struct {
	t      *testing.T
	dir    string // the init directory
	config string // DIR/posthorn.toml
	// Listening addresses.
	smtp, submission, submissions, http, lmtp string
	imap, imaps                               string // with mailOptions.imap
	cert                                      string // the self-signed certificate (PEM), for mail.example.com
	dns                                       string // the test DNS server's address
	srv                                       *server
}

// mailOptions change the generated configuration beyond the ports.
type mailOptions struct {
	// greetDelay replaces smtp.greet_delay (default "100ms": the
	// early-talker check stays on but tests do not wait a second per
	// connection).
	greetDelay string
	xclient    []string // smtp.xclient_networks
	lmtp       bool     // also listen for LMTP on a loopback port
	// imap also listens for IMAP (STARTTLS) and IMAPS on loopback ports,
	// with a certificate for localhost, 127.0.0.1 and mail.example.com
	// (m.cert) instead of init's, which names only mail.example.com.
	imap     bool
	logLevel string       // default "debug"
	zone     dnstest.Zone // records served besides testZone's
}

const mailHost = "mail.example.com"

// newMailServer runs "posthorn init" for example.com and rewrites the
// configuration: loopback ports, no privilege drop, HTTPS off and IMAP
// off unless o.imap.
func newMailServer(t *testing.T, o mailOptions) *mailServer {
	t.Helper()
	dir := t.TempDir()
	mustRun(t, "", "init", "--dir", dir, "--data-dir", filepath.Join(dir, "data"), "--domain", "example.com", "--hostname", mailHost)
	m := &mailServer{t: t, dir: dir, config: filepath.Join(dir, "posthorn.toml"),
		smtp: freePort(t), submission: freePort(t), submissions: freePort(t), http: freePort(t),
		cert: filepath.Join(dir, "data", "tls", "cert.pem")}
	if o.greetDelay == "" {
		o.greetDelay = "100ms"
	}
	if o.logLevel == "" {
		o.logLevel = "debug"
	}
	lmtp := "[]"
	if o.lmtp {
		m.lmtp = freePort(t)
		lmtp = fmt.Sprintf("[%q]", m.lmtp)
	}
	imap, imaps := "[]", "[]"
	certFile, keyFile := m.cert, filepath.Join(dir, "data", "tls", "key.pem")
	if o.imap {
		m.imap, m.imaps = freePort(t), freePort(t)
		imap, imaps = fmt.Sprintf("[%q]", m.imap), fmt.Sprintf("[%q]", m.imaps)
		certFile, keyFile = selfSignedPEM(t, filepath.Join(dir, "data", "tls"))
		m.cert = certFile
	}
	xclient := "[]"
	if len(o.xclient) > 0 {
		xclient = `["` + strings.Join(o.xclient, `", "`) + `"]`
	}
	b, err := os.ReadFile(m.config)
	if err != nil {
		t.Fatal(err)
	}
	// DNS answers come from a test server on loopback: no query leaves
	// the machine, and unknown names are NXDOMAIN at once.
	zone := testZone()
	for name, recs := range o.zone {
		zone[name] = recs
	}
	dnsSrv := dnstest.Start(t, zone, dnstest.ServerOptions{})
	m.dns = dnsSrv.Addr
	cfg := setKeys(t, string(b), map[string]string{
		"servers":          fmt.Sprintf("[%q]", dnsSrv.Addr),
		"user":             `""`,
		"allow_root":       "true",
		"smtp":             fmt.Sprintf("[%q]", m.smtp),
		"submission":       fmt.Sprintf("[%q]", m.submission),
		"submissions":      fmt.Sprintf("[%q]", m.submissions),
		"imap":             imap,
		"imaps":            imaps,
		"http":             fmt.Sprintf("[%q]", m.http),
		"https":            "[]",
		"lmtp":             lmtp,
		"level":            fmt.Sprintf("%q", o.logLevel),
		"greet_delay":      fmt.Sprintf("%q", o.greetDelay),
		"xclient_networks": xclient,
		"cert_file":        fmt.Sprintf("%q", certFile),
		"key_file":         fmt.Sprintf("%q", keyFile),
	})
	writeFile(t, m.config, cfg)
	return m
}

// testZone is the DNS the e2e servers see: example.com's MX and SPF;
// every other name does not exist.
func testZone() dnstest.Zone {
	return dnstest.Zone{
		"example.com":      {MX: []dnstest.MX{{Pref: 10, Host: mailHost + "."}}, TXT: []string{"v=spf1 ip4:127.0.0.0/8 -all"}},
		"mail.example.com": {A: []string{"127.0.0.1"}},
	}
}

// localDNS starts a test DNS server for localserve and returns its address.
func localDNS(t *testing.T) string {
	t.Helper()
	return dnstest.Start(t, testZone(), dnstest.ServerOptions{}).Addr
}

// setKeys replaces the value of each "key = value" line of a generated
// configuration; every key must occur exactly once.
func setKeys(t *testing.T, cfg string, kv map[string]string) string {
	t.Helper()
	for k, v := range kv {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(k) + ` = .*$`)
		if n := len(re.FindAllStringIndex(cfg, -1)); n != 1 {
			t.Fatalf("config key %s occurs %d times", k, n)
		}
		cfg = re.ReplaceAllLiteralString(cfg, k+" = "+v)
	}
	return cfg
}

// addUser creates an account (over the control socket while the server
// runs, directly on the store otherwise).
func (m *mailServer) addUser(address, password string) {
	m.t.Helper()
	mustRun(m.t, password+"\n", "user", "add", address, "--password-stdin", "--config", m.config)
}

func (m *mailServer) admin(args ...string) string {
	m.t.Helper()
	return mustRun(m.t, "", append(args, "--config", m.config)...)
}

// start runs the server and waits until it is healthy.
func (m *mailServer) start() {
	m.t.Helper()
	m.srv = startServer(m.t, io.Discard, "serve", "--config", m.config)
	waitHealthy(m.t, m.srv, "http://"+m.http+"/healthz")
}

// stop stops the server with SIGTERM and returns its log.
func (m *mailServer) stop() string {
	m.t.Helper()
	m.srv.stop(m.t)
	return m.srv.stderr.String()
}

func (m *mailServer) logs() string { return m.srv.stderr.String() }

// tlsConfig trusts the server's self-signed certificate.
func (m *mailServer) tlsConfig() *tls.Config {
	m.t.Helper()
	pem, err := os.ReadFile(m.cert)
	if err != nil {
		m.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool, ServerName: mailHost}
}

// storedMessage is one message as the store serves it.
type storedMessage struct {
	Mailbox string
	Prefix  string // the header prefix posthorn added (Received, …)
	Body    string // the stored blob: the message as received (after edits for submission)
	Flags   store.Flags
}

// Header returns the first value of a header field of prefix+body.
func (s storedMessage) Header(name string) string {
	for _, f := range headerFields(s.Prefix + s.Body) {
		if k, v, ok := strings.Cut(f, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(unfold(v))
		}
	}
	return ""
}

func (s storedMessage) Full() string { return s.Prefix + s.Body }

func headerFields(msg string) []string {
	head, _, _ := strings.Cut(msg, "\r\n\r\n")
	var fields []string
	for _, l := range strings.Split(head, "\r\n") {
		if len(fields) > 0 && (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) {
			fields[len(fields)-1] += "\r\n" + l
			continue
		}
		fields = append(fields, l)
	}
	return fields
}

func unfold(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\r\n", " ")), " ")
}

// messages opens the store of the stopped server and returns every
// message of the account, in all mailboxes, by mailbox then UID.
func (m *mailServer) messages(account string) []storedMessage {
	m.t.Helper()
	return readMessages(m.t, filepath.Join(m.dir, "data", "store"), account)
}

func readMessages(t *testing.T, storeDir, account string) []storedMessage {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, storeDir, store.Options{})
	if err != nil {
		t.Fatalf("opening the store (is the server stopped?): %v", err)
	}
	defer st.Close()
	a, err := addr.ParseAddress(account)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := st.Account(ctx, a)
	if err != nil {
		t.Fatalf("account %s: %v", account, err)
	}
	mbs, err := st.Mailboxes(ctx, acc.ID)
	if err != nil {
		t.Fatal(err)
	}
	var out []storedMessage
	for _, mb := range mbs {
		msgs, err := st.Messages(ctx, acc.ID, mb.ID, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range msgs {
			c, err := st.Open(ctx, msg)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(b), string(msg.HeaderPrefix)) {
				t.Fatalf("stored message does not start with its prefix")
			}
			out = append(out, storedMessage{Mailbox: mb.Name, Prefix: string(msg.HeaderPrefix),
				Body: string(b[len(msg.HeaderPrefix):]), Flags: msg.Flags})
		}
	}
	return out
}

// findBySubject returns the stored messages whose Subject is s ("": all).
func findBySubject(msgs []storedMessage, s string) []storedMessage {
	var out []storedMessage
	for _, m := range msgs {
		if s == "" || m.Header("Subject") == s {
			out = append(out, m)
		}
	}
	return out
}

// oneBySubject is findBySubject that expects exactly one message.
func oneBySubject(t *testing.T, msgs []storedMessage, s string) storedMessage {
	t.Helper()
	found := findBySubject(msgs, s)
	if len(found) != 1 {
		var subjects []string
		for _, m := range msgs {
			subjects = append(subjects, m.Header("Subject"))
		}
		t.Fatalf("%d stored messages with subject %q, want 1; subjects: %q", len(found), s, subjects)
	}
	return found[0]
}

// need skips the test when a program is not installed.
func need(t *testing.T, prog string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		t.Skipf("%s not installed (.ci/run installs it)", prog)
	}
	return p
}

// run runs a program and returns its combined output and exit code.
func run(t *testing.T, stdin string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out), code
}

// crlf turns a message written with \n into one with CRLF line endings.
func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// smtpConn is a raw SMTP client for what real clients will not send.
type smtpConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialSMTP(t *testing.T, address string) *smtpConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", address, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &smtpConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (s *smtpConn) send(data string) {
	s.t.Helper()
	if _, err := io.WriteString(s.c, data); err != nil {
		s.t.Fatal(err)
	}
}

// reply reads one (possibly multi-line) reply.
func (s *smtpConn) reply() string {
	s.t.Helper()
	var b strings.Builder
	for {
		l, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("reading reply: %v (so far %q)", err, b.String())
		}
		b.WriteString(l)
		if len(l) < 4 || l[3] != '-' {
			return b.String()
		}
	}
}

// expect reads a reply and fails unless it starts with prefix.
func (s *smtpConn) expect(prefix string) string {
	s.t.Helper()
	r := s.reply()
	if !strings.HasPrefix(r, prefix) {
		s.t.Fatalf("got %q, want %s…", r, prefix)
	}
	return r
}

func (s *smtpConn) cmd(line, want string) string {
	s.t.Helper()
	s.send(line + "\r\n")
	return s.expect(want)
}

// starttls upgrades the connection.
func (s *smtpConn) starttls(cfg *tls.Config) {
	s.t.Helper()
	tc := tls.Client(s.c, cfg)
	if err := tc.Handshake(); err != nil {
		s.t.Fatal(err)
	}
	s.c, s.r = tc, bufio.NewReader(tc)
}
