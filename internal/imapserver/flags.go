package imapserver

import (
	"cmp"
	"slices"

	"github.com/posthorn/posthorn/internal/imapwire"
	"github.com/posthorn/posthorn/internal/store"
)

// STORE and UID STORE (RFC 9051 §6.4.6; UNCHANGEDSINCE RFC 7162 §3.1.3).

func (s *session) cmdStore(tag string, p *imapwire.Parser) error    { return s.store(p, false) }
func (s *session) cmdUIDStore(tag string, p *imapwire.Parser) error { return s.store(p, true) }

func (s *session) store(p *imapwire.Parser, uid bool) error {
	a := imapwire.ParseStore(p)
	if err := p.End(); err != nil {
		return err
	}
	flags, kws, err := parseFlags(a.Flags)
	if err != nil {
		return err
	}
	if s.sel.readOnly {
		return no("READ-ONLY", "Mailbox is read-only")
	}
	if a.HasUnchanged {
		s.enableCondstore()
	}
	refs := s.sel.resolve(a.Set, uid)
	if len(refs) == 0 {
		return nil
	}
	op := store.FlagsReplace
	switch a.Op {
	case '+':
		op = store.FlagsAdd
	case '-':
		op = store.FlagsRemove
	}
	var res store.FlagResult
	if a.HasUnchanged && a.UnchangedSince == 0 {
		// RFC 7162 §3.1.3: UNCHANGEDSINCE 0 fails for every message.
		res.Failed = uidsOf(refs)
	} else {
		res, err = s.srv.Store.StoreFlags(s.ctx, store.FlagChange{
			AccountID: s.acct.ID, MailboxID: s.sel.mb.ID, UIDs: uidsOf(refs),
			Op: op, Flags: flags, Keywords: kws, UnchangedSince: a.UnchangedSince,
		})
		if err != nil {
			return err
		}
	}
	for _, m := range res.Changed {
		s.sel.ownMods[m.ModSeq] = true
	}
	if op != store.FlagsRemove {
		s.noteKeywords(kws) // a new keyword joins FLAGS even with .SILENT
	}
	if err := s.storeReport(refs, res, a, uid); err != nil {
		return err
	}
	if len(res.Failed) > 0 {
		return okStatus("MODIFIED "+s.failedSet(res.Failed, uid), "Conditional STORE failed for some messages")
	}
	return nil
}

// storeReport sends the new flags of the messages of the set (all of
// them, changed or not, unless .SILENT; with CONDSTORE, changed ones even
// then, RFC 7162 §3.1.3 so that the client learns their MODSEQ).
func (s *session) storeReport(refs []msgRef, res store.FlagResult, a imapwire.StoreArgs, uid bool) error {
	if a.Silent && !s.condstore {
		return nil
	}
	changed := msgList(res.Changed)
	slices.SortFunc(changed, func(x, y store.Message) int { return cmp.Compare(x.UID, y.UID) })
	failed := slices.Sorted(slices.Values(res.Failed))
	isFailed := func(u uint32) bool { _, ok := slices.BinarySearch(failed, u); return ok }
	var rest msgList
	if !a.Silent {
		// Only the messages the STORE left alone need reading again.
		var others []msgRef
		cur := &msgCursor{l: changed}
		for _, r := range refs {
			if cur.find(r.uid) == nil && !isFailed(r.uid) {
				others = append(others, r)
			}
		}
		if len(others) > 0 {
			var err error
			if rest, err = s.loadMessages(others, 0); err != nil {
				return err
			}
		}
	}
	changedCur, restCur := &msgCursor{l: changed}, &msgCursor{l: rest}
	for _, r := range refs {
		m := changedCur.find(r.uid)
		if m == nil && !a.Silent && !isFailed(r.uid) {
			m = restCur.find(r.uid)
		}
		if m == nil {
			continue
		}
		s.writeStoreFetch(r.seq, m, a.Silent, uid)
	}
	return nil
}

// writeStoreFetch writes the untagged FETCH of one message of a STORE.
func (s *session) writeStoreFetch(seq uint32, m *store.Message, silent, uid bool) {
	if !silent {
		s.noteKeywords(m.Keywords)
	}
	w := s.w
	w.Raw("* ")
	w.Number(uint64(seq))
	w.Raw(" FETCH (")
	if uid || s.condstore {
		// RFC 7162 §3.1: once CONDSTORE is on, every untagged FETCH
		// carries UID and MODSEQ.
		w.Raw("UID ")
		w.Number(uint64(m.UID))
		w.SP()
	}
	if !silent {
		w.Raw("FLAGS ")
		writeFlags(w, m.Flags, m.Keywords, s.recentFlag(m.UID))
	}
	if s.condstore {
		if !silent {
			w.SP()
		}
		w.Raw("MODSEQ (")
		w.Number(m.ModSeq)
		w.Byte(')')
	}
	w.Raw(")\r\n")
}

// failedSet formats the MODIFIED set: UIDs for UID STORE, else sequence
// numbers.
func (s *session) failedSet(uids []uint32, uid bool) string {
	if uid {
		return imapwire.FormatUIDs(uids)
	}
	seqs := make([]uint32, 0, len(uids))
	for _, u := range uids {
		if q := s.sel.seqOf(u); q != 0 {
			seqs = append(seqs, q)
		}
	}
	return imapwire.FormatUIDs(seqs)
}
