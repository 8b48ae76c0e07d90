package smtpclient

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// maxReplyLines bounds a multi-line reply; maxLine one line (RFC 5321
// §4.5.3.1.5 says 512; servers send longer, so allow more).
const (
	maxReplyLines = 100
	maxLine       = 4096
)

// reply is one SMTP reply.
type reply struct {
	Code     int
	Enhanced string   // "5.1.1" when the text starts with one matching the class
	Lines    []string // text of each line, without code and separator
}

// Text is the reply text, lines joined with a space, without the enhanced
// code.
func (r reply) Text() string {
	t := strings.Join(r.Lines, " ")
	if r.Enhanced != "" {
		t = strings.TrimSpace(strings.TrimPrefix(t, r.Enhanced))
	}
	return t
}

func (r reply) String() string {
	s := strconv.Itoa(r.Code)
	if r.Enhanced != "" {
		s += " " + r.Enhanced
	}
	return s + " " + r.Text()
}

func (r reply) ok() bool        { return r.Code/100 == 2 }
func (r reply) permanent() bool { return r.Code/100 == 5 }

// errProtocol: the server said something that is not SMTP.
var errProtocol = errors.New("smtpclient: protocol error")

// conn is one SMTP connection: line I/O with a deadline per step.
type conn struct {
	nc   net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	host string // MX host name, for messages
	ip   string

	ext          map[string]string // EHLO keywords (upper case) → parameters
	esmtp        bool
	tls          *tls.ConnectionState
	verify       bool   // TLS certificate verified
	requireTLSOK bool   // TLS verified under DANE, MTA-STS or for a relay (RFC 8689 §4.1)
	policy       string // TLSInfo.Policy of this connection
	to           Timeouts
	broken       bool // an I/O error happened: do not reuse
}

func newConn(nc net.Conn, host, ip string, t Timeouts) *conn {
	return &conn{nc: nc, r: bufio.NewReaderSize(nc, 4096), w: bufio.NewWriterSize(nc, 32<<10), host: host, ip: ip, to: t}
}

func (c *conn) name() string { return strings.TrimSuffix(c.host, ".") + " [" + c.ip + "]" }

// cmd writes one command line (with CRLF) to the buffer; flush sends.
func (c *conn) cmd(format string, args ...any) {
	fmt.Fprintf(c.w, format, args...)
	c.w.WriteString("\r\n")
}

func (c *conn) flush(d time.Duration) error {
	c.nc.SetWriteDeadline(time.Now().Add(d))
	if err := c.w.Flush(); err != nil {
		c.broken = true
		return fmt.Errorf("smtpclient: writing to %s: %w", c.name(), err)
	}
	return nil
}

// readReply reads one (possibly multi-line) reply within d.
func (c *conn) readReply(d time.Duration) (reply, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	var r reply
	for i := 0; ; i++ {
		line, err := c.readLine()
		if err != nil {
			c.broken = true
			return reply{}, fmt.Errorf("smtpclient: reading from %s: %w", c.name(), err)
		}
		if len(line) < 3 || i >= maxReplyLines {
			c.broken = true
			return reply{}, fmt.Errorf("%w: %s sent %q", errProtocol, c.name(), line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil || code < 200 || code > 599 || i > 0 && code != r.Code || len(line) > 3 && line[3] != ' ' && line[3] != '-' {
			c.broken = true
			return reply{}, fmt.Errorf("%w: %s sent %q", errProtocol, c.name(), line)
		}
		r.Code = code
		text := ""
		if len(line) > 4 {
			text = line[4:]
		}
		r.Lines = append(r.Lines, text)
		if len(line) == 3 || line[3] == ' ' {
			break
		}
	}
	r.Enhanced = parseEnhanced(r.Code, r.Lines[0])
	return r, nil
}

func (c *conn) readLine() (string, error) {
	var b []byte
	for {
		part, more, err := c.r.ReadLine()
		if err != nil {
			return "", err
		}
		b = append(b, part...)
		if len(b) > maxLine {
			return "", fmt.Errorf("reply line longer than %d bytes", maxLine)
		}
		if !more {
			return string(b), nil
		}
	}
}

// parseEnhanced returns the RFC 3463 code at the start of text when its
// class matches the reply code's first digit.
func parseEnhanced(code int, text string) string {
	f, _, _ := strings.Cut(text, " ")
	parts := strings.Split(f, ".")
	if len(parts) != 3 || parts[0] != strconv.Itoa(code/100) {
		return ""
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || i == 1 && n > 999 || i == 2 && n > 999 || p[0] == '+' {
			return ""
		}
	}
	return f
}

// do sends one command and reads its reply.
func (c *conn) do(d time.Duration, format string, args ...any) (reply, error) {
	c.cmd(format, args...)
	if err := c.flush(d); err != nil {
		return reply{}, err
	}
	return c.readReply(d)
}

// hello sends EHLO (and HELO when EHLO is refused) and records the
// extensions.
func (c *conn) hello(name string) (reply, error) {
	r, err := c.do(c.to.Command, "EHLO %s", name)
	if err != nil {
		return r, err
	}
	c.ext = map[string]string{}
	if r.ok() {
		c.esmtp = true
		for _, l := range r.Lines[1:] {
			k, v, _ := strings.Cut(l, " ")
			c.ext[strings.ToUpper(k)] = v
		}
		return r, nil
	}
	if r.Code == 421 {
		return r, nil
	}
	c.esmtp = false
	return c.do(c.to.Command, "HELO %s", name)
}

func (c *conn) has(ext string) bool {
	_, ok := c.ext[ext]
	return ok
}

// startTLS upgrades the connection; the caller then says EHLO again.
func (c *conn) startTLS(cfg *tls.Config) (reply, error) {
	r, err := c.do(c.to.Command, "STARTTLS")
	if err != nil || r.Code != 220 {
		return r, err
	}
	// RFC 3207 §4.2 / STARTTLS injection: nothing may be buffered.
	if c.r.Buffered() > 0 {
		c.broken = true
		return r, fmt.Errorf("%w: %s sent data after 220 to STARTTLS", errProtocol, c.name())
	}
	tc := tls.Client(c.nc, cfg)
	c.nc.SetDeadline(time.Now().Add(c.to.Connect))
	if err := tc.Handshake(); err != nil {
		c.broken = true
		return r, fmt.Errorf("smtpclient: TLS with %s: %w", c.name(), err)
	}
	c.nc.SetDeadline(time.Time{})
	cs := tc.ConnectionState()
	c.tls = &cs
	c.nc = tc
	c.r.Reset(tc)
	c.w.Reset(tc)
	return r, nil
}

func (c *conn) close() {
	if !c.broken {
		c.cmd("QUIT")
		if c.flush(5*time.Second) == nil {
			c.readReply(5 * time.Second)
		}
	}
	c.nc.Close()
}
