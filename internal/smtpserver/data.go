package smtpserver

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/smtp"
)

// errBareLineEnding rejects a message with a bare CR or LF: current Postfix
// practice (smtpd_forbid_bare_newline = reject, Postfix ≥ 3.9), so no
// server behind us can be fooled into ending the message early (SMTP
// smuggling). RFC 5321 §2.3.8 allows CR and LF only together.
var errBareLineEnding = smtp.Errorf(550, smtp.Enhanced{5, 5, 2},
	"Message refused: bare <CR> or <LF> found; lines must end with <CR><LF> (RFC 5321 section 2.3.8)")

// data spools the message and delivers it. It returns one error per
// recipient of the transaction, or err for the whole message.
func (s *session) data(r io.Reader) ([]error, error) {
	tx := s.tx
	if tx == nil || len(tx.rcpts) == 0 {
		return nil, smtp.Errorf(503, smtp.Enhanced{5, 5, 1}, "No valid recipients")
	}
	lim := s.srv.opt.Limits
	spool := delivery.NewSpool(s.srv.opt.SpoolDir, 0, lim.MaxMessageSize)
	defer spool.Close()
	var dst io.Writer = spool
	if tx.opts.Body != gosmtp.BodyBinaryMIME {
		dst = &lineEndingChecker{w: spool}
	}
	if err := copyData(dst, r); err != nil {
		return nil, s.dataError(tx, err)
	}
	if c, ok := dst.(*lineEndingChecker); ok && (c.endsInCR() || s.w.dotBareCR) {
		return nil, s.dataError(tx, errBareLineEnding)
	}
	env := &delivery.Envelope{
		ID: tx.id, Sender: tx.from, Recipients: tx.rcpts,
		Body: string(tx.opts.Body), SMTPUTF8: tx.opts.UTF8, RequireTLS: tx.opts.RequireTLS,
		Ret: string(tx.opts.Return), EnvID: tx.opts.EnvelopeID,
		Client: s.st.client(s.st.mode.submission() && s.srv.opt.SubmissionPrivacy),
	}
	var msg delivery.Message = spool
	var extra []byte
	if s.st.mode.submission() {
		var err error
		msg, extra, err = s.prepareSubmission(tx, spool)
		if err != nil {
			return nil, s.dataError(tx, err)
		}
	}
	if s.w.log.Enabled(s.ctx, slog.LevelInfo) {
		s.w.log.Info("message accepted", s.logAttrs(tx, msg.Size())...)
	}
	res, err := s.srv.opt.Deliverer.Deliver(s.ctx, env, msg, extra)
	var se *smtp.Error
	switch {
	case errors.As(err, &se):
		// A hook's verdict (DMARC reject, temporary DNS failure): the
		// reply says why, and so does the log line.
		attrs := append(s.logAttrs(tx, msg.Size()), "code", se.Code, "reason", se.Msg)
		if se.Err != nil {
			attrs = append(attrs, "cause", se.Err.Error()) // kept out of the reply
		}
		s.w.log.Info("message rejected", attrs...)
		s.srv.opt.Observer.MessageRejected(s.st.mode.String(), ReasonPolicy)
		return nil, err
	case err != nil:
		s.w.log.Error("delivery failed", append(s.logAttrs(tx, msg.Size()), "err", err)...)
		s.srv.opt.Observer.MessageRejected(s.st.mode.String(), ReasonLocalError)
		return nil, err
	}
	for i, e := range res.Errors {
		if e != nil {
			s.w.log.Info("recipient not delivered", "id", tx.id, "to", tx.rcpts[i].Address.String(), "reason", e.Error())
		}
	}
	if s.w.log.Enabled(s.ctx, slog.LevelInfo) {
		// Recipients at other servers are only queued here: the queue
		// logs their delivery (queue_id) later.
		local, queued := 0, 0
		for i, e := range res.Errors {
			if e != nil {
				continue
			}
			if len(tx.rcpts[i].Remote) > 0 {
				queued++
			}
			if len(tx.rcpts[i].Remote) == 0 || len(tx.rcpts[i].Accounts) > 0 {
				local++
			}
		}
		attrs := append(s.logAttrs(tx, msg.Size()), "delivered", local, "queued", queued)
		if res.Verdict.Junk {
			attrs = append(attrs, "junk", res.Verdict.Reason)
		}
		what := "message delivered"
		switch {
		case queued > 0 && local == 0:
			what = "message queued"
		case queued > 0:
			what = "message delivered and queued"
		}
		s.w.log.Info(what, attrs...)
	}
	s.srv.opt.Observer.MessageAccepted(s.st.mode.String(), res.Delivered())
	return res.Errors, nil
}

// copyBufs are the buffers DATA and BDAT content is copied through:
// io.Copy would allocate 32 KiB per message (neither go-smtp's reader nor
// the spool offers a shortcut).
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 8<<10); return &b }}

// copyData copies r to dst through a pooled buffer. The buffer never
// escapes: dst copies what it is given (Spool appends, the checker passes
// the slice on).
func copyData(dst io.Writer, r io.Reader) error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	_, err := io.CopyBuffer(onlyWriter{dst}, onlyReader{r}, *bp)
	return err
}

// onlyWriter and onlyReader hide ReadFrom and WriteTo so io.CopyBuffer
// uses the buffer it is given.
type onlyWriter struct{ io.Writer }
type onlyReader struct{ io.Reader }

// dataError maps a failure while receiving to a reply and logs it.
func (s *session) dataError(tx *transaction, err error) error {
	var se *gosmtp.SMTPError
	switch {
	case errors.Is(err, delivery.ErrSpoolTooBig):
		err = smtp.ErrMessageTooBig
	case errors.As(err, &se):
	case errors.Is(err, gosmtp.ErrDataReset):
	default:
		if _, ok := err.(*smtp.Error); !ok && !errors.Is(err, errBareLineEnding) {
			err = smtp.AsError(err) // a full disk is 452 4.3.1, anything else 451
		}
	}
	s.w.log.Info("message rejected", append(s.logAttrs(tx, -1), "reason", err.Error())...)
	s.srv.opt.Observer.MessageRejected(s.st.mode.String(), ReasonData)
	return err
}

func (s *session) logAttrs(tx *transaction, size int64) []any {
	rcpts := make([]string, len(tx.rcpts))
	for i, r := range tx.rcpts {
		rcpts[i] = r.Address.String()
	}
	from := tx.from.String()
	if from == "" {
		from = "<>"
	}
	a := []any{"id", tx.id, "client", s.st.remoteIP, "helo", s.st.helo, "from", from,
		"to", strings.Join(rcpts, ","), "tls", s.st.tlsSummary()}
	if size >= 0 {
		a = append(a, "size", size)
	}
	if s.st.account != nil {
		a = append(a, "login", s.st.account.Address.String())
	}
	return a
}

// lineEndingChecker passes bytes through and fails at the first bare CR
// or LF (a CR not followed by LF, an LF not preceded by CR).
type lineEndingChecker struct {
	w      io.Writer
	lastCR bool
}

func (c *lineEndingChecker) Write(p []byte) (int, error) {
	for _, b := range p {
		switch {
		case c.lastCR && b != '\n':
			return 0, errBareLineEnding
		case !c.lastCR && b == '\n':
			return 0, errBareLineEnding
		}
		c.lastCR = b == '\r'
	}
	return c.w.Write(p)
}

// endsInCR reports a final bare CR (the message ended right after it).
func (c *lineEndingChecker) endsInCR() bool { return c.lastCR }
