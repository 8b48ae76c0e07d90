package smtpserver

import (
	"context"
	"errors"
	"io"
	"strings"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/smtp"
)

// session is the go-smtp Session of one connection (the same value for
// the whole connection: STARTTLS and XCLIENT are handled by wireConn).
type session struct {
	srv *Server
	w   *wireConn
	st  *connState
	ctx context.Context
	tx  *transaction
}

// transaction is one MAIL … DATA exchange.
type transaction struct {
	id     string
	from   addr.Address // zero for <>
	opts   gosmtp.MailOptions
	rcpts  []delivery.Recipient
	raw    [][]string // per recipient: the RCPT arguments as go-smtp passed them (LMTP status)
	index  map[string]int
	failed int  // recipients refused
	remote bool // a recipient at another server was accepted (submission)
}

var (
	_ gosmtp.Session     = (*session)(nil)
	_ gosmtp.LMTPSession = (*session)(nil)
	_ gosmtp.AuthSession = (*session)(nil)
)

func newSession(s *Server, w *wireConn) *session {
	return &session{srv: s, w: w, st: w.st, ctx: s.ctx}
}

func (s *session) inTransaction() bool { return s.tx != nil }

// Reset ends the transaction (RSET, EHLO, after DATA).
func (s *session) Reset() { s.tx = nil }

// Logout is called when the connection closes.
func (s *session) Logout() error {
	s.tx = nil
	return nil
}

// Mail starts a transaction (RFC 5321 §4.1.1.2).
func (s *session) Mail(from string, opts *gosmtp.MailOptions) error {
	err := s.mail(from, opts)
	if err != nil {
		s.w.log.Info("sender rejected", "client", s.st.remoteIP, "from", from, "reason", err.Error())
		s.srv.opt.Observer.MessageRejected(s.st.mode.String(), ReasonSender)
	}
	return wireError(err)
}

func (s *session) mail(from string, opts *gosmtp.MailOptions) error {
	if s.st.needEHLO {
		return smtp.Errorf(503, smtp.Enhanced{5, 5, 1}, "Send EHLO first")
	}
	if s.st.mode.submission() && s.st.account == nil {
		return smtp.ErrAuthRequired
	}
	if opts.RequireTLS && s.st.tls == nil {
		return smtp.Errorf(530, smtp.Enhanced{5, 7, 10}, "REQUIRETLS needs a TLS connection") // RFC 8689 §4.1
	}
	if max := s.srv.opt.Limits.MaxMessageSize; opts.Size > max {
		// RFC 1870 §6.1: a declared size over the limit is refused at once.
		return smtp.Errorf(552, smtp.Enhanced{5, 3, 4}, "Message size %d exceeds the limit of %d bytes", opts.Size, max)
	}
	tx := &transaction{id: newID(), opts: *opts, index: map[string]int{}}
	if from != "" {
		a, err := parsePath(from, opts.UTF8)
		if err != nil {
			return err
		}
		tx.from = a
	}
	if s.st.mode.submission() {
		if err := s.checkSender(tx.from, "MAIL FROM"); err != nil {
			return err
		}
	}
	s.tx = tx
	return nil
}

// Rcpt adds a recipient (RFC 5321 §4.1.1.3); policy in rcpt.go.
func (s *session) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	if s.tx == nil {
		return wireError(smtp.ErrBadSequence)
	}
	err := s.rcpt(to, opts)
	if err != nil {
		s.tx.failed++
		s.w.log.Info("recipient rejected", "id", s.tx.id, "client", s.st.remoteIP, "from", s.tx.from.String(), "to", to, "reason", err.Error())
		s.srv.opt.Observer.MessageRejected(s.st.mode.String(), ReasonRecipient)
	}
	return wireError(err)
}

// Data receives the message (DATA or BDAT) and delivers it.
func (s *session) Data(r io.Reader) error {
	errs, err := s.data(r)
	if err == nil {
		for _, e := range errs {
			if e != nil {
				err = e // SMTP has one reply: the first failure fails the message
				break
			}
		}
	}
	if err != nil {
		return wireError(err)
	}
	return s.okReply()
}

// LMTPData is Data with one reply per recipient (RFC 2033 §4.2).
func (s *session) LMTPData(r io.Reader, status gosmtp.StatusCollector) error {
	tx := s.tx
	errs, err := s.data(r)
	if err != nil {
		return wireError(err)
	}
	for i, e := range errs {
		for _, raw := range tx.raw[i] {
			if e != nil {
				status.SetStatus(raw, wireError(e))
			} else {
				status.SetStatus(raw, s.okReplyFor(tx))
			}
		}
	}
	return nil
}

func (s *session) okReply() error { return s.okReplyFor(s.tx) }

func (s *session) okReplyFor(tx *transaction) error {
	id := ""
	if tx != nil {
		id = tx.id
	}
	return &gosmtp.SMTPError{Code: 250, EnhancedCode: gosmtp.EnhancedCode{2, 0, 0}, Message: "Ok: stored as " + id}
}

// wireError converts our errors to go-smtp's reply type; internal causes
// stay out of the reply, and so do internal addresses and paths in a text
// built from one (smtp.Redact): every error reply passes here.
func wireError(err error) error {
	if err == nil {
		return nil
	}
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		if r := smtp.Redact(se.Message); r != se.Message {
			c := *se
			c.Message = r
			return &c
		}
		return se
	}
	e := smtp.AsError(err)
	enh := e.EnhancedCode()
	return &gosmtp.SMTPError{Code: e.Code, EnhancedCode: gosmtp.EnhancedCode{enh[0], enh[1], enh[2]}, Message: smtp.Redact(oneLine(e.Msg))}
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}
