package e2e

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

// TestSCRAM: a SCRAM-SHA-256 client (xdg-go/scram, not our sasl package)
// logs in to the built server over real sockets on submission with
// STARTTLS, submissions, IMAP with STARTTLS and IMAPS: with the right
// password it is accepted and the server proves it knows the password
// too; a wrong password, a tls-exporter channel binding of another
// connection (SCRAM-SHA-256-PLUS) and a client saying it would have bound
// the channel when the server offers -PLUS (a downgrade) are refused.
func TestSCRAM(t *testing.T) {
	t.Parallel()
	m := newMailServer(t, mailOptions{imap: true, logLevel: "info"})
	m.addUser("bob@example.com", bobPW)
	m.start()
	cfg := m.tlsConfig()
	cfg.MinVersion = tls.VersionTLS13 // -PLUS is offered with TLS 1.3 (tls-exporter)

	type dialer struct {
		name string
		dial func(t *testing.T) saslConn
	}
	dialers := []dialer{
		{"submission STARTTLS", func(t *testing.T) saslConn { return smtpSASL(t, m.submission, cfg, false) }},
		{"submissions", func(t *testing.T) saslConn { return smtpSASL(t, m.submissions, cfg, true) }},
		{"imap STARTTLS", func(t *testing.T) saslConn { return imapSASL(t, m.imap, cfg, false) }},
		{"imaps", func(t *testing.T) saslConn { return imapSASL(t, m.imaps, cfg, true) }},
	}
	// A channel binding of a connection that is not the one
	// authenticating: what a man in the middle would present.
	other := imapSASL(t, m.imaps, cfg, true)
	otherCB, err := scram.NewTLSExporterBinding(other.tlsState())
	if err != nil {
		t.Fatal(err)
	}

	for _, d := range dialers {
		t.Run(d.name, func(t *testing.T) {
			c := d.dial(t)
			for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"} {
				if !c.offers(mech) {
					t.Fatalf("%s not offered", mech)
				}
			}
			own := func(cl *scram.Client, cb scram.ChannelBinding) *scram.ClientConversation {
				return cl.NewConversationWithChannelBinding(cb)
			}
			for _, tc := range []struct {
				name, mech, password string
				conv                 func(*scram.Client, scram.ChannelBinding) *scram.ClientConversation
				ok                   bool
			}{
				{"right password", "SCRAM-SHA-256", bobPW, noBinding, true},
				{"wrong password", "SCRAM-SHA-256", "not-" + bobPW, noBinding, false},
				{"PLUS right password", "SCRAM-SHA-256-PLUS", bobPW, own, true},
				{"PLUS wrong password", "SCRAM-SHA-256-PLUS", "not-" + bobPW, own, false},
				{"PLUS other connection's binding", "SCRAM-SHA-256-PLUS", bobPW, func(cl *scram.Client, _ scram.ChannelBinding) *scram.ClientConversation {
					return cl.NewConversationWithChannelBinding(otherCB)
				}, false},
				{"downgrade from PLUS", "SCRAM-SHA-256", bobPW, func(cl *scram.Client, _ scram.ChannelBinding) *scram.ClientConversation {
					return cl.NewConversationAdvertisingChannelBinding()
				}, false},
			} {
				// A fresh connection per attempt: a success ends the
				// unauthenticated state.
				if tc.name != "right password" {
					c = d.dial(t)
				}
				cb, err := scram.NewTLSExporterBinding(c.tlsState())
				if err != nil {
					t.Fatal(err)
				}
				cl, err := scram.SHA256.NewClient("bob@example.com", tc.password, "")
				if err != nil {
					t.Fatal(err)
				}
				conv := tc.conv(cl, cb)
				ok, detail := c.auth(tc.mech, conv)
				if ok != tc.ok {
					t.Errorf("%s: accepted %v, want %v (%s)", tc.name, ok, tc.ok, detail)
				}
				if ok && !conv.Valid() {
					t.Errorf("%s: accepted without a valid server signature (%s)", tc.name, detail)
				}
			}
		})
	}
	if strings.Contains(m.logs(), bobPW) {
		t.Errorf("a password is in the log")
	}
}

func noBinding(cl *scram.Client, _ scram.ChannelBinding) *scram.ClientConversation {
	return cl.NewConversation()
}

// saslConn is an SMTP or IMAP connection before authentication.
type saslConn interface {
	offers(mech string) bool
	tlsState() *tls.ConnectionState
	// auth runs one SASL exchange and reports whether the server
	// accepted it, with the server's final answer.
	auth(mech string, conv *scram.ClientConversation) (bool, string)
}

type smtpSASLConn struct {
	t    *testing.T
	c    *smtpConn
	ehlo string
}

// smtpSASL connects to a submission port, with implicit TLS or STARTTLS,
// and sends EHLO.
func smtpSASL(t *testing.T, address string, cfg *tls.Config, implicit bool) *smtpSASLConn {
	t.Helper()
	c := dialSMTP(t, address)
	if implicit {
		c.starttls(cfg)
		c.expect("220 ")
	} else {
		c.expect("220 ")
		c.cmd("EHLO client.example", "250")
		c.cmd("STARTTLS", "220")
		c.starttls(cfg)
	}
	return &smtpSASLConn{t: t, c: c, ehlo: c.cmd("EHLO client.example", "250")}
}

func (s *smtpSASLConn) offers(mech string) bool {
	for _, l := range strings.Split(s.ehlo, "\r\n") {
		if f := strings.Fields(strings.ToUpper(l)); len(f) > 0 && strings.HasSuffix(f[0], "AUTH") {
			for _, m := range f[1:] {
				if m == mech {
					return true
				}
			}
		}
	}
	return false
}

func (s *smtpSASLConn) tlsState() *tls.ConnectionState {
	st := s.c.c.(*tls.Conn).ConnectionState()
	return &st
}

// auth: RFC 4954 §4, the client's first message as the initial response.
func (s *smtpSASLConn) auth(mech string, conv *scram.ClientConversation) (bool, string) {
	s.t.Helper()
	first, err := conv.Step("")
	if err != nil {
		s.t.Fatal(err)
	}
	s.c.send("AUTH " + mech + " " + base64.StdEncoding.EncodeToString([]byte(first)) + "\r\n")
	for {
		r := strings.TrimSpace(s.c.reply())
		switch {
		case strings.HasPrefix(r, "235 "):
			return true, r
		case !strings.HasPrefix(r, "334 "):
			return false, r
		}
		challenge, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r[4:]))
		if err != nil {
			s.t.Fatalf("challenge %q: %v", r, err)
		}
		resp, err := conv.Step(string(challenge))
		if err != nil {
			// The server's proof did not verify: cancel.
			s.c.send("*\r\n")
			return false, r + " (" + err.Error() + ")"
		}
		s.c.send(base64.StdEncoding.EncodeToString([]byte(resp)) + "\r\n")
	}
}

type imapSASLConn struct {
	t    *testing.T
	c    *imapClient
	caps string
}

// imapSASL connects to an IMAP port, with implicit TLS or STARTTLS, and
// asks for the capabilities.
func imapSASL(t *testing.T, address string, cfg *tls.Config, implicit bool) *imapSASLConn {
	t.Helper()
	var c *imapClient
	if implicit {
		c, _ = dialIMAP(t, address, cfg)
	} else {
		c, _ = dialIMAP(t, address, nil)
		c.ok("STARTTLS")
		tc := tls.Client(c.c, cfg)
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		c.c, c.r = tc, bufio.NewReader(tc)
	}
	return &imapSASLConn{t: t, c: c, caps: strings.Join(c.ok("CAPABILITY"), " ")}
}

func (s *imapSASLConn) offers(mech string) bool {
	for _, f := range strings.Fields(s.caps) {
		if strings.EqualFold(f, "AUTH="+mech) {
			return true
		}
	}
	return false
}

func (s *imapSASLConn) tlsState() *tls.ConnectionState {
	st := s.c.c.(*tls.Conn).ConnectionState()
	return &st
}

// auth: AUTHENTICATE with SASL-IR (RFC 4959).
func (s *imapSASLConn) auth(mech string, conv *scram.ClientConversation) (bool, string) {
	s.t.Helper()
	first, err := conv.Step("")
	if err != nil {
		s.t.Fatal(err)
	}
	s.c.tag++
	tag := fmt.Sprintf("s%d", s.c.tag)
	s.c.send(tag + " AUTHENTICATE " + mech + " " + base64.StdEncoding.EncodeToString([]byte(first)) + "\r\n")
	for {
		l := s.c.line()
		switch {
		case strings.HasPrefix(l, tag+" OK"):
			return true, l
		case strings.HasPrefix(l, tag+" "):
			return false, l
		case !strings.HasPrefix(l, "+"):
			continue // untagged
		}
		challenge, err := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.TrimPrefix(l, "+")))
		if err != nil {
			s.t.Fatalf("challenge %q: %v", l, err)
		}
		resp, err := conv.Step(string(challenge))
		if err != nil {
			s.c.send("*\r\n")
			return false, l + " (" + err.Error() + ")"
		}
		s.c.send(base64.StdEncoding.EncodeToString([]byte(resp)) + "\r\n")
	}
}
