package imapserver

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/posthorn/posthorn/internal/imapwire"
	"github.com/posthorn/posthorn/internal/sasl"
	"github.com/posthorn/posthorn/internal/store"
)

// Commands of any state and of the not-authenticated state
// (RFC 9051 §6.1, §6.2) plus ENABLE and NAMESPACE.

// baseCaps are advertised in every state.
const baseCaps = "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT " +
	"CHILDREN LIST-EXTENDED LIST-STATUS SPECIAL-USE CREATE-SPECIAL-USE CONDSTORE QRESYNC BINARY " +
	"STATUS=SIZE MULTIAPPEND SAVEDATE PREVIEW UTF8=ACCEPT ESEARCH SEARCHRES WITHIN " +
	"SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES QUOTA QUOTA=RES-STORAGE METADATA"

func (s *session) capabilities() string {
	caps := baseCaps + " APPENDLIMIT=" + strconv.FormatInt(s.srv.appendLimit(), 10)
	if s.state != stateNotAuth {
		return caps
	}
	if !s.tls && s.srv.tlsReady() {
		caps += " STARTTLS"
	}
	if !s.plaintextOK() {
		caps += " LOGINDISABLED"
	}
	for _, m := range s.mechanisms() {
		caps += " AUTH=" + m
	}
	return caps
}

// plaintextOK reports whether passwords may be sent in the clear here.
func (s *session) plaintextOK() bool {
	return s.tls || s.loopback || s.srv.InsecureAuth
}

func (s *session) mechanisms() []string {
	_, scram := s.srv.Auth.(SCRAMAuthenticator)
	scram = scram && len(s.srv.SCRAMSecret) > 0
	var ms []string
	for _, m := range sasl.Mechanisms(s.plaintextOK(), s.channelBinding() != nil) {
		if strings.HasPrefix(m, "SCRAM") && !scram {
			continue
		}
		ms = append(ms, m)
	}
	return ms
}

func (s *session) channelBinding() []byte {
	if tc, ok := s.conn().(tlsConn); ok {
		cs := tc.ConnectionState()
		return sasl.ChannelBindingFromTLS(&cs)
	}
	return nil
}

func (s *session) cmdCapability(tag string, p *imapwire.Parser) error {
	if err := p.End(); err != nil {
		return err
	}
	s.w.Raw("* CAPABILITY " + s.capabilities() + "\r\n")
	return nil
}

func (s *session) cmdNoop(tag string, p *imapwire.Parser) error { return p.End() }

func (s *session) cmdLogout(tag string, p *imapwire.Parser) error {
	s.w.Raw("* BYE Logging out\r\n" + tag + " OK LOGOUT completed\r\n")
	s.state = stateLogout
	return errTagged
}

// cmdID answers RFC 2971 ID; the client's fields are logged.
func (s *session) cmdID(tag string, p *imapwire.Parser) error {
	fields := imapwire.ParseID(p)
	if err := p.End(); err != nil {
		return err
	}
	if len(fields) > 0 {
		s.log.Debug("imap: client id", "name", fields["name"], "version", fields["version"])
	}
	s.w.Raw(`* ID ("name" "posthorn")` + "\r\n")
	return nil
}

func (s *session) cmdStartTLS(tag string, p *imapwire.Parser) error {
	if err := p.End(); err != nil {
		return err
	}
	if s.tls || s.srv.TLSConfig == nil {
		return bad("STARTTLS not available")
	}
	if !s.srv.tlsReady() {
		return no("UNAVAILABLE", "TLS not available now: no usable certificate")
	}
	s.w.Raw(tag + " OK Begin TLS negotiation now\r\n")
	if err := s.w.Flush(); err != nil {
		return err
	}
	// Anything the client pipelined after STARTTLS stays in the old
	// buffer and is dropped (command injection, CVE-2011-0411 style).
	if err := s.startTLS(); err != nil {
		s.log.Info("imap: STARTTLS handshake failed", "err", err)
		s.state = stateLogout
		return errTagged
	}
	s.state = stateNotAuth
	return errTagged
}

func (s *session) cmdLogin(tag string, p *imapwire.Parser) error {
	user := p.AString()
	p.SP()
	pass := p.AString()
	if err := p.End(); err != nil {
		return err
	}
	if !s.plaintextOK() {
		return no("PRIVACYREQUIRED", "LOGIN is disabled without TLS; use STARTTLS")
	}
	lg := &loginGuard{s: s}
	if err := lg.check(user); err != nil {
		return s.authFailed(lg, user, err)
	}
	acct, err := s.srv.Auth.Authenticate(s.ctx, user, pass)
	if err != nil {
		return s.authFailed(lg, user, err)
	}
	return s.loggedIn(lg, acct)
}

// authFailed reports a failed login to the Guard and the client; the
// third failure ends the session.
func (s *session) authFailed(lg *loginGuard, user string, err error) error {
	if lg.refused != "" {
		return lg.refusal()
	}
	if !errors.Is(err, ErrAuthFailed) && !errors.Is(err, sasl.ErrAuthFailed) &&
		!errors.Is(err, sasl.ErrMalformed) && !errors.Is(err, sasl.ErrAuthzID) && !errors.Is(err, sasl.ErrChannelBinding) {
		s.log.Error("imap: authentication error", "user", user, "err", err)
		return no("UNAVAILABLE", "Authentication temporarily unavailable")
	}
	if !errors.Is(err, sasl.ErrMalformed) {
		lg.failed()
	}
	s.authFailures++
	s.log.Warn("imap: login failed", "user", user, "reason", err.Error())
	if s.authFailures >= DefaultMaxAuthErrors {
		s.w.Raw("* BYE [ALERT] Too many failed logins\r\n")
		s.state = stateLogout
	}
	return no("AUTHENTICATIONFAILED", "Invalid credentials")
}

// loggedIn completes a successful login, unless the account already has
// MaxConnsPerAccount sessions.
func (s *session) loggedIn(lg *loginGuard, acct store.Account) error {
	lg.succeeded()
	release, ok := s.srv.claimAccount(acct.ID)
	if !ok {
		s.log.Warn("imap: login refused", "user", lg.user, "reason", "too many connections for the account")
		return no("LIMIT", fmt.Sprintf("Too many connections for this account (%d); close another client first",
			s.srv.maxConnsPerAccount()))
	}
	s.release = append(s.release, release)
	s.acct = acct
	s.state = stateAuth
	s.rd.SetLimits(s.srv.readerLimits(s.state))
	s.sub = s.srv.Store.Notifier().Subscribe(acct.ID)
	s.log = s.log.With("account", acct.Address.String())
	s.log.Info("imap: logged in", "tls", s.tls)
	return okStatus("CAPABILITY "+s.capabilities(), "Logged in")
}

func (s *session) cmdAuthenticate(tag string, p *imapwire.Parser) error {
	mech := p.Atom()
	var initial []byte
	hasInitial := false
	if p.Accept(' ') {
		ir := p.Atom()
		hasInitial = true
		if ir != "=" {
			b, err := base64.StdEncoding.DecodeString(ir)
			if err != nil {
				return bad("Invalid base64 initial response")
			}
			initial = b
		} else {
			initial = []byte{}
		}
	}
	if err := p.End(); err != nil {
		return err
	}
	if !containsFold(s.mechanisms(), mech) {
		if !s.plaintextOK() && (strings.EqualFold(mech, "PLAIN") || strings.EqualFold(mech, "LOGIN")) {
			return no("PRIVACYREQUIRED", "Plaintext authentication needs TLS")
		}
		return no("CANNOT", "Unsupported mechanism")
	}
	var acct store.Account
	var identity string
	lg := &loginGuard{s: s}
	srv, err := sasl.NewServer(s.ctx, mech, sasl.Options{
		Authenticator:  saslAuth{s: s, acct: &acct, lg: lg},
		ChannelBinding: s.channelBinding(),
		FakeSecret:     s.srv.SCRAMSecret,
		OnSuccess:      func(id string) { identity = id },
	})
	if err != nil {
		return no("CANNOT", "Unsupported mechanism")
	}
	if !hasInitial {
		initial = nil
	}
	var st *status
	if err := s.saslExchange(srv, initial); errors.As(err, &st) {
		return err // cancelled, or a response line over the limit
	} else if err != nil {
		return s.authFailed(lg, orStr(identity, lg.user), err)
	}
	if acct.ID == 0 {
		sa := s.srv.Auth.(SCRAMAuthenticator)
		if acct, err = sa.Account(s.ctx, identity); err != nil {
			return s.authFailed(lg, identity, err)
		}
	}
	return s.loggedIn(lg, acct)
}

var errCancelled = &status{"BAD", "", "AUTHENTICATE cancelled"}

// saslExchange runs the challenge/response loop (RFC 9051 §6.2.2).
func (s *session) saslExchange(srv sasl.Server, resp []byte) error {
	for {
		chal, done, err := srv.Next(resp)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		s.w.Raw("+ " + base64.StdEncoding.EncodeToString(chal) + "\r\n")
		if err := s.w.Flush(); err != nil {
			return err
		}
		line, err := s.rd.ReadLine()
		var we *imapwire.Error
		if errors.As(err, &we) {
			return &status{"BAD", we.Code, we.Text}
		} else if err != nil {
			return err
		}
		if string(line) == "*" {
			return errCancelled
		}
		if resp, err = base64.StdEncoding.DecodeString(string(line)); err != nil {
			return sasl.ErrMalformed
		}
	}
}

// saslAuth adapts the Server's Authenticator to sasl.Authenticator; every
// credential check goes through the Guard first.
type saslAuth struct {
	s    *session
	acct *store.Account
	lg   *loginGuard
}

func (a saslAuth) CheckPassword(ctx context.Context, user, pass string) (string, error) {
	if err := a.lg.check(user); err != nil {
		return "", err
	}
	acct, err := a.s.srv.Auth.Authenticate(ctx, user, pass)
	if err != nil {
		if errors.Is(err, ErrAuthFailed) {
			return "", sasl.ErrAuthFailed
		}
		return "", err
	}
	*a.acct = acct
	return acct.Address.String(), nil
}

func (a saslAuth) SCRAMCredentials(ctx context.Context, user string) (string, sasl.SCRAMCredentials, error) {
	sa, ok := a.s.srv.Auth.(SCRAMAuthenticator)
	if !ok {
		return "", sasl.SCRAMCredentials{}, sasl.ErrUnknownUser
	}
	if err := a.lg.check(user); err != nil {
		return "", sasl.SCRAMCredentials{}, err
	}
	return sa.SCRAMCredentials(ctx, user)
}

// cmdEnable is RFC 5161 ENABLE.
func (s *session) cmdEnable(tag string, p *imapwire.Parser) error {
	caps := imapwire.ParseAtoms(p)
	if err := p.End(); err != nil {
		return err
	}
	var enabled []string
	for _, c := range caps {
		switch c {
		case "CONDSTORE":
			if !s.condstore {
				s.enableCondstore()
				enabled = append(enabled, c)
			}
		case "QRESYNC":
			if !s.qresync {
				s.qresync = true
				s.enableCondstore()
				enabled = append(enabled, c)
			}
		case "IMAP4REV2":
			if !s.rev2 {
				s.rev2 = true
				s.setUTF8()
				enabled = append(enabled, "IMAP4rev2")
			}
		case "UTF8=ACCEPT":
			if !s.utf8 {
				s.setUTF8()
				enabled = append(enabled, c)
			}
		}
	}
	s.w.Raw("* ENABLED")
	for _, e := range enabled {
		s.w.Raw(" " + e)
	}
	s.w.Raw("\r\n")
	return nil
}

func (s *session) setUTF8() {
	s.utf8 = true
	s.w.UTF8 = true
}

func (s *session) cmdNamespace(tag string, p *imapwire.Parser) error {
	if err := p.End(); err != nil {
		return err
	}
	s.w.Raw(`* NAMESPACE (("" "/")) NIL NIL` + "\r\n")
	return nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

type tlsConn interface{ ConnectionState() tls.ConnectionState }
