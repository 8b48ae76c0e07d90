package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The IMAP end-to-end tests share these helpers: a raw IMAP client that
// returns responses as text (for assertions and for the Dovecot
// differential tests), a parser of IMAP response data, and the test
// messages in testdata/imap/.

const imapPW = "imap-bob-password-1"

// newIMAPServer starts a posthorn with IMAP and IMAPS on free loopback
// ports and one account, bob@example.com.
func newIMAPServer(t *testing.T) *mailServer {
	t.Helper()
	m := newMailServer(t, mailOptions{imap: true, logLevel: "info"})
	m.addUser("bob@example.com", imapPW)
	m.start()
	return m
}

// imapClient is a raw IMAP client: commands are sent as written and the
// responses come back as lines with their literals inline.
type imapClient struct {
	t    *testing.T
	c    net.Conn
	r    *bufio.Reader
	tag  int
	name string // for messages: "posthorn", "dovecot"
}

// dialIMAP connects to address; with cfg it runs TLS first (IMAPS). The
// greeting is read and returned.
func dialIMAP(t *testing.T, address string, cfg *tls.Config) (*imapClient, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", address, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		tc := tls.Client(c, cfg)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			c.Close()
			t.Fatalf("TLS to %s: %v", address, err)
		}
		c = tc
	}
	t.Cleanup(func() { c.Close() })
	ic := &imapClient{t: t, c: c, r: bufio.NewReader(c)}
	ic.deadline(30 * time.Second)
	g := ic.line()
	if !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	return ic, g
}

func (c *imapClient) deadline(d time.Duration) { c.c.SetDeadline(time.Now().Add(d)) }

// line reads one response line; a literal ({N} at the end of a line) is
// read and kept in the line, followed by the rest of the response.
func (c *imapClient) line() string {
	c.t.Helper()
	l, err := c.readLine()
	if err != nil {
		c.t.Fatalf("%s: reading a response: %v", c.name, err)
	}
	return l
}

var literalEnd = regexp.MustCompile(`\{(\d+)\+?\}$`)

func (c *imapClient) readLine() (string, error) {
	var b strings.Builder
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			return b.String() + l, err
		}
		l = strings.TrimSuffix(l, "\r\n")
		b.WriteString(l)
		m := literalEnd.FindStringSubmatch(l)
		if m == nil {
			return b.String(), nil
		}
		n, _ := strconv.Atoi(m[1])
		lit := make([]byte, n)
		if _, err := io.ReadFull(c.r, lit); err != nil {
			return b.String(), err
		}
		b.WriteString("\r\n")
		b.Write(lit)
	}
}

func (c *imapClient) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatalf("%s: %v", c.name, err)
	}
}

// cmd sends one command (without tag and CRLF) and returns the untagged
// responses and the tagged one (without the tag).
func (c *imapClient) cmd(command string) (untagged []string, tagged string) {
	c.t.Helper()
	c.tag++
	tag := fmt.Sprintf("a%d", c.tag)
	c.send(tag + " " + command + "\r\n")
	return c.collect(tag)
}

func (c *imapClient) collect(tag string) ([]string, string) {
	c.t.Helper()
	var untagged []string
	for {
		l := c.line()
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return untagged, rest
		}
		untagged = append(untagged, l)
	}
}

// ok is cmd that fails the test unless the command succeeds.
func (c *imapClient) ok(command string) []string {
	c.t.Helper()
	u, st := c.cmd(command)
	if !strings.HasPrefix(st, "OK") {
		c.t.Fatalf("%s: %s: %s\n%s", c.name, command, st, strings.Join(u, "\n"))
	}
	return u
}

// login logs in with LOGIN.
func (c *imapClient) login(user, pass string) {
	c.t.Helper()
	c.ok("LOGIN " + quote(user) + " " + quote(pass))
}

// appendMsg APPENDs msg to mailbox with a synchronizing literal; flags
// and date may be empty.
func (c *imapClient) appendMsg(mailbox, flags, date string, msg []byte) string {
	c.t.Helper()
	c.tag++
	tag := fmt.Sprintf("a%d", c.tag)
	cmd := tag + " APPEND " + quote(mailbox)
	if flags != "" {
		cmd += " (" + flags + ")"
	}
	if date != "" {
		cmd += " " + quote(date)
	}
	c.send(fmt.Sprintf("%s {%d}\r\n", cmd, len(msg)))
	if l := c.line(); !strings.HasPrefix(l, "+") {
		c.t.Fatalf("%s: APPEND: %q", c.name, l)
	}
	c.send(string(msg) + "\r\n")
	u, st := c.collect(tag)
	if !strings.HasPrefix(st, "OK") {
		c.t.Fatalf("%s: APPEND %s: %s %q", c.name, mailbox, st, u)
	}
	return st
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// imapMessage is one test message of testdata/imap.
type imapMessage struct {
	name string
	data []byte // with CRLF line endings
	date string // INTERNALDATE given to APPEND
}

// imapTestMessages reads testdata/imap/*.eml in name order, with CRLF
// line endings, each with its own INTERNALDATE.
func imapTestMessages(t *testing.T) []imapMessage {
	t.Helper()
	files, err := filepath.Glob("testdata/imap/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test messages: %v", err)
	}
	sort.Strings(files)
	var out []imapMessage
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		date := time.Date(2026, 3, 1+i, 10, 30, 0, 0, time.FixedZone("", 3600)).Format("02-Jan-2006 15:04:05 -0700")
		out = append(out, imapMessage{name: filepath.Base(f), data: []byte(crlf(string(b))), date: date})
	}
	return out
}

// imapValue is one parsed piece of IMAP response data: an atom (or
// number, or NIL), a string (quoted or literal, which mean the same), or
// a parenthesized list.
type imapValue struct {
	kind byte // 'a' atom, 's' string, 'l' list
	s    string
	list []imapValue
}

// String renders v canonically: strings always quoted (escaped), atoms
// as they are, lists in parentheses.
func (v imapValue) String() string {
	switch v.kind {
	case 's':
		return strconv.Quote(v.s)
	case 'l':
		parts := make([]string, len(v.list))
		for i, x := range v.list {
			parts[i] = x.String()
		}
		return "(" + strings.Join(parts, " ") + ")"
	}
	return v.s
}

// parseIMAP parses response data (after "* "), e.g. `3 FETCH (UID 7 ...)`.
func parseIMAP(s string) ([]imapValue, error) {
	p := &imapParser{s: s}
	var out []imapValue
	for {
		p.space()
		if p.i >= len(p.s) {
			return out, nil
		}
		v, err := p.value()
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
}

type imapParser struct {
	s string
	i int
}

func (p *imapParser) space() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *imapParser) value() (imapValue, error) {
	switch c := p.s[p.i]; {
	case c == '(':
		p.i++
		var l []imapValue
		for {
			p.space()
			if p.i >= len(p.s) {
				return imapValue{}, fmt.Errorf("unterminated list in %q", p.s)
			}
			if p.s[p.i] == ')' {
				p.i++
				return imapValue{kind: 'l', list: l}, nil
			}
			v, err := p.value()
			if err != nil {
				return v, err
			}
			l = append(l, v)
		}
	case c == '"':
		var b strings.Builder
		for p.i++; p.i < len(p.s); p.i++ {
			switch p.s[p.i] {
			case '\\':
				p.i++
				if p.i < len(p.s) {
					b.WriteByte(p.s[p.i])
				}
			case '"':
				p.i++
				return imapValue{kind: 's', s: b.String()}, nil
			default:
				b.WriteByte(p.s[p.i])
			}
		}
		return imapValue{}, fmt.Errorf("unterminated string in %q", p.s)
	case c == '{' || c == '~' && p.i+1 < len(p.s) && p.s[p.i+1] == '{':
		if c == '~' {
			p.i++ // literal8 (RFC 3516)
		}
		end := strings.Index(p.s[p.i:], "}\r\n")
		if end < 0 {
			return imapValue{}, fmt.Errorf("bad literal in %q", p.s)
		}
		n, err := strconv.Atoi(strings.TrimSuffix(p.s[p.i+1:p.i+end], "+"))
		if err != nil {
			return imapValue{}, err
		}
		start := p.i + end + 3
		if start+n > len(p.s) {
			return imapValue{}, fmt.Errorf("short literal in %q", p.s)
		}
		p.i = start + n
		return imapValue{kind: 's', s: p.s[start : start+n]}, nil
	}
	// An atom; a [ ... ] inside it (BODY[HEADER.FIELDS (A B)], resp
	// codes) is part of it.
	start, depth := p.i, 0
	for ; p.i < len(p.s); p.i++ {
		c := p.s[p.i]
		if c == '[' {
			depth++
		} else if c == ']' && depth > 0 {
			depth--
		} else if depth == 0 && (c == ' ' || c == '(' || c == ')') {
			break
		}
	}
	return imapValue{kind: 'a', s: p.s[start:p.i]}, nil
}

// fetchItems parses "* N FETCH (K V ...)" into its sequence number and
// items by upper-case name.
func fetchItems(t *testing.T, line string) (int, map[string]imapValue) {
	t.Helper()
	vs, err := parseIMAP(strings.TrimPrefix(line, "* "))
	if err != nil || len(vs) != 3 || !strings.EqualFold(vs[1].s, "FETCH") || vs[2].kind != 'l' {
		t.Fatalf("not a FETCH response (%v): %q", err, line)
	}
	n, _ := strconv.Atoi(vs[0].s)
	items := map[string]imapValue{}
	l := vs[2].list
	for i := 0; i+1 < len(l); i += 2 {
		items[strings.ToUpper(l[i].s)] = l[i+1]
	}
	return n, items
}

// smtpDeliver sends one message to rcpt through the server's MX port.
func (m *mailServer) smtpDeliver(from, rcpt, msg string) {
	m.t.Helper()
	c := dialSMTP(m.t, m.smtp)
	c.expect("220")
	c.cmd("EHLO client.example.org", "250")
	c.cmd("MAIL FROM:<"+from+">", "250")
	c.cmd("RCPT TO:<"+rcpt+">", "250")
	c.cmd("DATA", "354")
	c.send(strings.ReplaceAll(crlf(msg), "\r\n.", "\r\n..") + ".\r\n")
	c.expect("250")
	c.cmd("QUIT", "221")
}

// testMail is a small message with a subject and a body line.
func testMail(subject, body string) string {
	return "From: Alice <alice@example.org>\nTo: bob@example.com\nSubject: " + subject +
		"\nDate: Mon, 02 Feb 2026 10:00:00 +0100\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") +
		"@client.example.org>\n\n" + body + "\n"
}

// selfSignedPEM writes a self-signed certificate for localhost,
// 127.0.0.1 and mail.example.com (clients such as mbsync match names,
// not IP addresses) to dir/imap-cert.pem and dir/imap-key.pem.
func selfSignedPEM(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		DNSNames:              []string{"localhost", mailHost},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "imap-cert.pem"), filepath.Join(dir, "imap-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})))
	return certFile, keyFile
}
