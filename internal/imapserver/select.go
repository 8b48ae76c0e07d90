package imapserver

import (
	"errors"
	"slices"

	"github.com/posthorn/posthorn/internal/imapwire"
	"github.com/posthorn/posthorn/internal/store"
)

// SELECT, EXAMINE, CLOSE, UNSELECT, EXPUNGE, UID EXPUNGE
// (RFC 9051 §6.3.2, §6.3.3, §6.4.1, §6.4.2, §6.4.3; RFC 7162 §3.2.5).

func (s *session) cmdSelect(tag string, p *imapwire.Parser) error  { return s.doSelect(tag, p, false) }
func (s *session) cmdExamine(tag string, p *imapwire.Parser) error { return s.doSelect(tag, p, true) }

const systemFlags = `\Answered \Flagged \Deleted \Seen \Draft`

func (s *session) doSelect(tag string, p *imapwire.Parser, readOnly bool) error {
	a := imapwire.ParseSelect(p)
	if err := p.End(); err != nil {
		return err
	}
	if a.QResync != nil && !s.qresync {
		return bad("QRESYNC parameter needs ENABLE QRESYNC first")
	}
	if a.CondStore {
		s.condstore = true
	}
	if s.sel != nil {
		// RFC 9051 §6.3.2, RFC 7162 §3.2.11: the old mailbox is closed.
		s.sel, s.state = nil, stateAuth
		s.w.Raw("* OK [CLOSED] Previous mailbox closed\r\n")
	}
	s.sub.Next() // changes to other mailboxes are of no interest now
	mb, err := s.srv.Store.MailboxByName(s.ctx, s.acct.ID, a.Mailbox)
	if err != nil {
		return mailboxErr(err)
	}
	list, err := s.srv.Store.MailboxUIDs(s.ctx, s.acct.ID, mb.ID)
	if err != nil {
		return err
	}
	sel := newSelected(mb, readOnly, list.UIDs)
	if err := s.claimRecent(sel); err != nil {
		return err
	}
	if sel.keywords, err = s.srv.Store.MailboxKeywords(s.ctx, s.acct.ID, mb.ID); err != nil {
		return err
	}
	s.writeSelectData(sel, list.FirstUnseen)
	if a.QResync != nil && a.QResync.UIDValidity == mb.UIDValidity {
		if err := s.qresyncReport(sel, a.QResync); err != nil {
			return err
		}
	}
	s.sel, s.state = sel, stateSelected
	if readOnly {
		return okStatus("READ-ONLY", "EXAMINE completed")
	}
	return okStatus("READ-WRITE", "SELECT completed")
}

// writeSelectData writes the untagged responses of SELECT. HIGHESTMODSEQ
// is the one read before the messages, so nothing later is hidden behind
// it; UIDNEXT is raised past any message the view already has.
func (s *session) writeSelectData(sel *selected, firstUnseen uint32) {
	w := s.w
	s.writeFlagsList(sel)
	w.Raw("* ")
	w.Number(uint64(len(sel.uids)))
	w.Raw(" EXISTS\r\n")
	if !s.rev2 {
		w.Raw("* ")
		w.Number(uint64(sel.recentCount()))
		w.Raw(" RECENT\r\n")
		if seq := sel.seqOf(firstUnseen); seq != 0 {
			w.Raw("* OK [UNSEEN ")
			w.Number(uint64(seq))
			w.Raw("] First unseen\r\n")
		}
	}
	w.Raw("* OK [UIDVALIDITY ")
	w.Number(uint64(sel.mb.UIDValidity))
	w.Raw("] UIDs valid\r\n* OK [UIDNEXT ")
	w.Number(uint64(max(sel.mb.UIDNext, sel.maxUID+1)))
	w.Raw("] Predicted next UID\r\n* OK [HIGHESTMODSEQ ")
	w.Number(sel.mb.HighestModSeq)
	w.Raw("] Highest\r\n")
	if s.rev2 || s.utf8 {
		w.Raw("* LIST () \"/\" ")
		w.Mailbox(sel.mb.Name)
		w.Raw("\r\n")
	}
}

// qresyncReport sends VANISHED (EARLIER) and the FETCHes of messages
// changed since the client's MODSEQ (RFC 7162 §3.2.5.1).
func (s *session) qresyncReport(sel *selected, q *imapwire.QResyncParams) error {
	vanished, err := s.srv.Store.Vanished(s.ctx, s.acct.ID, sel.mb.ID, q.ModSeq)
	if err != nil {
		return err
	}
	if q.KnownUIDs != nil {
		vanished = slices.DeleteFunc(vanished, func(u uint32) bool { return !q.KnownUIDs.Contains(u, sel.maxUID) })
	}
	if len(vanished) > 0 {
		s.w.Raw("* VANISHED (EARLIER) " + imapwire.FormatUIDs(vanished) + "\r\n")
	}
	changed, err := s.srv.Store.ChangedSince(s.ctx, s.acct.ID, sel.mb.ID, q.ModSeq)
	if err != nil {
		return err
	}
	for _, m := range changed {
		if seq := sel.seqOf(m.UID); seq != 0 {
			s.writeFlagsFetch(seq, m)
		}
	}
	return nil
}

func mailboxErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return no("NONEXISTENT", "No such mailbox")
	}
	return err
}

func (s *session) cmdClose(tag string, p *imapwire.Parser) error {
	if err := p.End(); err != nil {
		return err
	}
	if !s.sel.readOnly {
		// RFC 9051 §6.4.1: expunge silently.
		if _, err := s.srv.Store.Expunge(s.ctx, s.acct.ID, s.sel.mb.ID, nil); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	s.sel, s.state = nil, stateAuth
	return nil
}

func (s *session) cmdUnselect(tag string, p *imapwire.Parser) error {
	if err := p.End(); err != nil {
		return err
	}
	s.sel, s.state = nil, stateAuth
	return nil
}

func (s *session) cmdExpunge(tag string, p *imapwire.Parser) error {
	if err := p.End(); err != nil {
		return err
	}
	return s.expunge(nil)
}

// cmdUIDExpunge is RFC 4315 §2.1 UID EXPUNGE: only the given UIDs that
// have \Deleted.
func (s *session) cmdUIDExpunge(tag string, p *imapwire.Parser) error {
	set := p.SeqSet()
	if err := p.End(); err != nil {
		return err
	}
	if s.sel.readOnly {
		return no("READ-ONLY", "Mailbox is read-only")
	}
	refs := s.sel.resolve(set, true)
	if len(refs) == 0 {
		return s.expungeDone()
	}
	return s.expunge(uidsOf(refs))
}

// expunge removes the \Deleted messages among uids (all of them if nil);
// the store checks \Deleted in the same transaction, so a flag another
// session clears meanwhile is respected.
func (s *session) expunge(uids []uint32) error {
	if s.sel.readOnly {
		return no("READ-ONLY", "Mailbox is read-only")
	}
	removed, err := s.srv.Store.ExpungeDeleted(s.ctx, s.acct.ID, s.sel.mb.ID, uids)
	if err != nil {
		return err
	}
	s.sel.absorb(store.Change{Kind: store.ChangeExpunge, MailboxID: s.sel.mb.ID, UIDs: removed})
	return s.expungeDone()
}

// expungeDone completes EXPUNGE with HIGHESTMODSEQ (RFC 7162 §3.1.10)
// once CONDSTORE is on.
func (s *session) expungeDone() error {
	if !s.condstore {
		return nil
	}
	mb, err := s.srv.Store.MailboxByID(s.ctx, s.acct.ID, s.sel.mb.ID)
	if err != nil {
		return err
	}
	s.flushUpdates(true)
	return okStatus("HIGHESTMODSEQ "+u64(mb.HighestModSeq), "EXPUNGE completed")
}

// enableCondstore turns CONDSTORE on (RFC 7162 §3.1, a "CONDSTORE
// enabling command"). The first time, with a mailbox selected, the
// command ends with an untagged OK [HIGHESTMODSEQ], since the client could
// not have seen one at SELECT.
func (s *session) enableCondstore() {
	if s.condstore {
		return
	}
	s.condstore = true
	s.announceModSeq = s.sel != nil
}

// sendHighestModSeq writes the OK [HIGHESTMODSEQ] enableCondstore asked
// for, after the pending updates so that it covers everything announced.
func (s *session) sendHighestModSeq() {
	if !s.announceModSeq || s.sel.deleted || len(s.sel.expunged) > 0 {
		// Expunges not yet announced would be behind the value: wait for
		// a command that may announce them.
		return
	}
	s.announceModSeq = false
	mb, err := s.srv.Store.MailboxByID(s.ctx, s.acct.ID, s.sel.mb.ID)
	if err != nil {
		s.log.Warn("imap: reading HIGHESTMODSEQ", "err", err)
		return
	}
	s.w.Raw("* OK [HIGHESTMODSEQ ")
	s.w.Number(mb.HighestModSeq)
	s.w.Raw("] Highest\r\n")
}
