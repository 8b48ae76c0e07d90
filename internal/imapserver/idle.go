package imapserver

import (
	"strings"

	"github.com/posthorn/posthorn/internal/imapwire"
)

// IDLE (RFC 2177, RFC 9051 §6.3.13): changes are pushed as the store's
// notifier reports them, until the client sends DONE.

func (s *session) cmdIdle(tag string, p *imapwire.Parser) error {
	if err := p.End(); err != nil {
		return err
	}
	s.w.Raw("+ idling\r\n")
	if err := s.w.Flush(); err != nil {
		return err
	}
	type lineResult struct {
		line []byte
		err  error
	}
	lines := make(chan lineResult, 1)
	s.conn().SetReadDeadline(s.srv.now().Add(durOr(s.srv.IdleTimeout, DefaultIdleTimeout)))
	s.setWaiting(true)
	defer s.setWaiting(false)
	go func() {
		l, err := s.rd.ReadLine()
		lines <- lineResult{l, err}
	}()
	var notify <-chan struct{}
	if s.sub != nil {
		notify = s.sub.C
	}
	for {
		if s.sel != nil {
			s.flushUpdates(true)
		}
		if err := s.w.Flush(); err != nil {
			return err
		}
		select {
		case <-notify:
		case r := <-lines:
			if r.err != nil {
				s.readFailed(r.err)
				s.state = stateLogout
				return errTagged
			}
			if !strings.EqualFold(string(r.line), "DONE") {
				return bad("Expected DONE")
			}
			return nil
		}
	}
}
