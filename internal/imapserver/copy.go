package imapserver

import (
	"errors"

	"github.com/posthorn/posthorn/internal/imapwire"
	"github.com/posthorn/posthorn/internal/store"
)

// COPY, MOVE and their UID forms (RFC 9051 §6.4.7, §6.4.8; MOVE RFC 6851;
// COPYUID RFC 4315).

func (s *session) cmdCopy(tag string, p *imapwire.Parser) error    { return s.copyMove(p, false, false) }
func (s *session) cmdUIDCopy(tag string, p *imapwire.Parser) error { return s.copyMove(p, true, false) }
func (s *session) cmdMove(tag string, p *imapwire.Parser) error    { return s.copyMove(p, false, true) }
func (s *session) cmdUIDMove(tag string, p *imapwire.Parser) error { return s.copyMove(p, true, true) }

func (s *session) copyMove(p *imapwire.Parser, uid, move bool) error {
	set := p.SeqSet()
	p.SP()
	name := p.Mailbox()
	if err := p.End(); err != nil {
		return err
	}
	if move && s.sel.readOnly {
		return no("READ-ONLY", "Mailbox is read-only")
	}
	dst, err := s.srv.Store.MailboxByName(s.ctx, s.acct.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return no("TRYCREATE", "No such mailbox")
	} else if err != nil {
		return err
	}
	refs := s.sel.resolve(set, uid)
	if len(refs) == 0 {
		return nil
	}
	op := s.srv.Store.Copy
	if move {
		op = s.srv.Store.Move
	}
	res, err := op(s.ctx, s.acct.ID, s.sel.mb.ID, uidsOf(refs), dst.ID)
	if err != nil {
		return err
	}
	if len(res.SrcUIDs) == 0 {
		return nil
	}
	code := "COPYUID " + u64(uint64(res.UIDValidity)) + " " + imapwire.FormatOrdered(res.SrcUIDs) + " " + imapwire.FormatOrdered(res.DstUIDs)
	if !move {
		return okStatus(code, "COPY completed")
	}
	// RFC 6851 §4.3: COPYUID in an untagged OK before the expunges.
	s.w.Raw("* OK [" + code + "] Moved\r\n")
	s.sel.absorb(store.Change{Kind: store.ChangeExpunge, MailboxID: s.sel.mb.ID, UIDs: res.SrcUIDs})
	s.flushUpdates(true)
	return nil
}
