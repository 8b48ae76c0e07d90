package smtpserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	gosasl "github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/sasl"
	"github.com/posthorn/posthorn/internal/smtp"
)

// AuthMechanisms lists the mechanisms advertised in EHLO: none on the MX
// and LMTP; on submission SCRAM always, PLAIN and LOGIN only over TLS or
// on loopback, SCRAM-SHA-256-PLUS with TLS 1.3 (sasl.Mechanisms).
func (s *session) AuthMechanisms() []string {
	if !s.st.mode.submission() || s.srv.opt.Authenticator == nil || s.st.account != nil {
		return nil
	}
	if !s.st.secure() {
		return nil // AUTH is offered only over TLS (loopback excepted)
	}
	return sasl.Mechanisms(true, sasl.ChannelBindingFromTLS(s.st.tls) != nil)
}

// Auth starts an exchange (RFC 4954). Every credential check goes through
// the Guard: refused or delayed per address and account, failures counted.
func (s *session) Auth(mech string) (gosasl.Server, error) {
	switch {
	case !s.st.mode.submission() || s.srv.opt.Authenticator == nil:
		return nil, wireError(smtp.Errorf(503, smtp.Enhanced{5, 5, 1}, "AUTH not available on this port"))
	case s.st.account != nil:
		return nil, wireError(smtp.Errorf(503, smtp.Enhanced{5, 5, 1}, "Already authenticated"))
	case s.tx != nil:
		return nil, wireError(smtp.Errorf(503, smtp.Enhanced{5, 5, 1}, "AUTH not allowed during a mail transaction"))
	case !s.st.secure():
		return nil, wireError(smtp.ErrEncryptionRequired)
	}
	cb := sasl.ChannelBindingFromTLS(s.st.tls)
	ga := &guardedAuth{s: s}
	srv, err := sasl.NewServer(s.ctx, mech, sasl.Options{
		Authenticator:  ga,
		ChannelBinding: cb,
		FakeSecret:     s.srv.opt.FakeSecret,
		OnSuccess:      ga.succeeded,
	})
	if err != nil {
		return nil, wireError(smtp.Errorf(504, smtp.Enhanced{5, 5, 4}, "Unsupported authentication mechanism %q", mech))
	}
	return &authExchange{srv: srv, ga: ga, mech: strings.ToUpper(mech)}, nil
}

// guardedAuth wraps the Authenticator with the Guard and remembers the
// username tried, for the log and the failure count.
type guardedAuth struct {
	s       *session
	user    string
	refused string // the Guard's reason when it refused
}

var _ sasl.Authenticator = (*guardedAuth)(nil)

func (g *guardedAuth) check(ctx context.Context, user string) error {
	g.user = user
	gd := g.s.srv.opt.Guard
	if gd == nil {
		return nil
	}
	d := gd.CheckAuth(g.s.st.remoteIP, user)
	if !d.Allowed {
		g.refused = d.Reason
		return fmt.Errorf("%w: %s", sasl.ErrAuthFailed, d.Reason)
	}
	if d.Delay > 0 {
		g.s.w.log.Info("auth delayed", "client", g.s.st.remoteIP, "user", user, "delay", d.Delay, "reason", d.Reason)
		t := time.NewTimer(d.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (g *guardedAuth) CheckPassword(ctx context.Context, user, password string) (string, error) {
	if err := g.check(ctx, user); err != nil {
		return "", err
	}
	return g.s.srv.opt.Authenticator.CheckPassword(ctx, user, password)
}

func (g *guardedAuth) SCRAMCredentials(ctx context.Context, user string) (string, sasl.SCRAMCredentials, error) {
	if err := g.check(ctx, user); err != nil {
		return "", sasl.SCRAMCredentials{}, err
	}
	return g.s.srv.opt.Authenticator.SCRAMCredentials(ctx, user)
}

// succeeded looks the account up and marks the session authenticated.
func (g *guardedAuth) succeeded(identity string) {
	s := g.s
	a, err := addr.ParseAddress(identity)
	if err == nil {
		acc, lerr := s.srv.opt.Store.Account(s.ctx, a)
		if lerr == nil {
			s.st.account = &acc
		}
	}
}

// authExchange turns sasl errors into SMTP replies and reports outcomes to
// the Guard and the log (never the password).
type authExchange struct {
	srv  sasl.Server
	ga   *guardedAuth
	mech string
}

func (x *authExchange) Next(response []byte) ([]byte, bool, error) {
	ch, done, err := x.srv.Next(response)
	s := x.ga.s
	gd := s.srv.opt.Guard
	ip := s.st.remoteIP
	switch {
	case err == nil && done && s.st.account == nil:
		err = fmt.Errorf("%w: account vanished", sasl.ErrAuthFailed)
	case err == nil && done:
		if gd != nil {
			gd.AuthSucceeded(ip, x.ga.user)
		}
		s.w.log.Info("authenticated", "client", ip, "mech", x.mech, "account", s.st.account.Address.String())
		return ch, true, nil
	case err == nil:
		return ch, false, nil
	}
	reason := err.Error()
	switch {
	case x.ga.refused != "":
		s.w.log.Warn("auth refused", "client", ip, "mech", x.mech, "user", x.ga.user, "reason", x.ga.refused)
		return nil, false, wireError(smtp.Errorf(454, smtp.Enhanced{4, 7, 0}, "Temporary authentication failure: %s", x.ga.refused))
	case errors.Is(err, sasl.ErrAuthFailed), errors.Is(err, sasl.ErrChannelBinding), errors.Is(err, sasl.ErrAuthzID):
		if gd != nil && x.ga.user != "" {
			gd.AuthFailed(ip, x.ga.user)
		}
		s.w.log.Warn("auth failed", "client", ip, "mech", x.mech, "user", x.ga.user, "reason", reason)
		s.srv.opt.Observer.AuthFailed(s.st.mode.String())
		return nil, false, wireError(smtp.ErrAuthFailed)
	case errors.Is(err, sasl.ErrMalformed):
		s.w.log.Info("auth failed", "client", ip, "mech", x.mech, "reason", reason)
		return nil, false, wireError(smtp.Errorf(501, smtp.Enhanced{5, 5, 2}, "Malformed authentication exchange"))
	}
	s.w.log.Error("auth error", "client", ip, "mech", x.mech, "err", err)
	return nil, false, wireError(smtp.Errorf(454, smtp.Enhanced{4, 7, 0}, "Temporary authentication failure"))
}

var _ gosmtp.AuthSession = (*session)(nil)
