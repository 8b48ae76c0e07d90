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
	res, err := s.copyMessages(store.CopyRequest{AccountID: s.acct.ID, SrcMailboxID: s.sel.mb.ID,
		UIDs: uidsOf(refs), DstMailboxID: dst.ID, Move: move})
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

// copyMessages copies or moves; with Server.JunkTraining a copy into or
// out of \Junk also records junk-training events (store.TrainingVerdict:
// spam into \Junk, ham out of it unless into \Trash), atomically with it.
func (s *session) copyMessages(r store.CopyRequest) (store.CopyResult, error) {
	switch {
	case s.srv.JunkTraining:
		return s.srv.Store.TrainingCopy(s.ctx, r)
	case r.Move:
		return s.srv.Store.Move(s.ctx, r.AccountID, r.SrcMailboxID, r.UIDs, r.DstMailboxID)
	}
	return s.srv.Store.Copy(s.ctx, r.AccountID, r.SrcMailboxID, r.UIDs, r.DstMailboxID)
}
