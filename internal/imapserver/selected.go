package imapserver

import (
	"slices"
	"sort"
	"strings"

	"github.com/posthorn/posthorn/internal/imapwire"
	"github.com/posthorn/posthorn/internal/store"
)

// selected is a session's view of its selected mailbox: the message
// sequence numbers the client knows (uids[seq-1]) and the changes
// committed by others that it has not been told yet.
//
// Changes arrive through the account's store.Subscription and are folded
// in by absorb at any time; they reach the client only through
// flushUpdates, which the dispatcher calls before a tagged response, and
// IDLE calls as they come. Expunges wait while a FETCH, STORE or SEARCH
// with sequence numbers runs (RFC 9051 §7.5.1): until then the expunged
// message keeps its sequence number, so numbers never go stale.
type selected struct {
	mb       store.Mailbox
	readOnly bool

	uids     []uint32        // the client's view, ascending
	expunged map[uint32]bool // in uids, gone from the store, not yet announced
	newUIDs  []uint32        // committed, not yet announced (EXISTS)
	flagsChg map[uint32]bool // in uids, flags changed by someone else
	ownMods  map[uint64]bool // MODSEQs of our own STOREs, already reported
	maxUID   uint32          // highest UID in uids or newUIDs
	deleted  bool            // the mailbox itself was deleted
	// saved is the SEARCHRES result "$" (RFC 5182): UIDs, ascending. An
	// expunged UID needs no removal: resolve only returns UIDs in the view.
	saved []uint32
	// keywords are those the client was told of in FLAGS: the ones in use
	// at SELECT, then every one a FETCH showed since (RFC 9051 §7.3.5).
	keywords []string
	// recent are the UID ranges [lo, hi) this session claimed as \Recent
	// (IMAP4rev1 only, RFC 3501 §2.3.2; store.ClaimRecent).
	recent [][2]uint32
}

// isRecent reports whether uid is \Recent in this session.
func (sel *selected) isRecent(uid uint32) bool {
	for _, r := range sel.recent {
		if uid >= r[0] && uid < r[1] {
			return true
		}
	}
	return false
}

// recentCount counts the \Recent messages of the view.
func (sel *selected) recentCount() int {
	n := 0
	for _, r := range sel.recent {
		lo, _ := slices.BinarySearch(sel.uids, r[0])
		hi, _ := slices.BinarySearch(sel.uids, r[1])
		n += hi - lo
	}
	return n
}

// claimRecent asks the store for the messages no session has seen as
// \Recent yet (only looking in a read-only session) and makes them recent
// here. IMAP4rev2 has no \Recent: such sessions claim nothing.
func (s *session) claimRecent(sel *selected) error {
	if s.rev2 {
		return nil
	}
	from, to, err := s.srv.Store.ClaimRecent(s.ctx, s.acct.ID, sel.mb.ID, !sel.readOnly)
	if err != nil {
		return err
	}
	if from < to {
		sel.recent = append(sel.recent, [2]uint32{from, to})
	}
	return nil
}

// recentFlag reports whether FLAGS of uid includes \Recent.
func (s *session) recentFlag(uid uint32) bool {
	return !s.rev2 && s.sel != nil && s.sel.isRecent(uid)
}

func newSelected(mb store.Mailbox, readOnly bool, uids []uint32) *selected {
	sel := &selected{
		mb:       mb,
		readOnly: readOnly,
		uids:     uids,
		expunged: map[uint32]bool{},
		flagsChg: map[uint32]bool{},
		ownMods:  map[uint64]bool{},
	}
	if n := len(sel.uids); n > 0 {
		sel.maxUID = sel.uids[n-1]
	}
	return sel
}

// seqOf returns the sequence number of uid, or 0.
func (sel *selected) seqOf(uid uint32) uint32 {
	i, ok := slices.BinarySearch(sel.uids, uid)
	if !ok {
		return 0
	}
	return uint32(i + 1)
}

// absorb folds one committed change into the pending state.
func (sel *selected) absorb(ch store.Change) {
	if ch.MailboxID != sel.mb.ID {
		return
	}
	switch ch.Kind {
	case store.ChangeNew:
		for _, u := range ch.UIDs {
			if u > sel.maxUID {
				sel.newUIDs = append(sel.newUIDs, u)
				sel.maxUID = u
			}
		}
	case store.ChangeExpunge:
		for _, u := range ch.UIDs {
			if sel.seqOf(u) != 0 {
				sel.expunged[u] = true
				delete(sel.flagsChg, u)
			} else if i := slices.Index(sel.newUIDs, u); i >= 0 {
				sel.newUIDs = slices.Delete(sel.newUIDs, i, i+1)
			}
		}
	case store.ChangeFlags:
		if sel.ownMods[ch.ModSeq] {
			delete(sel.ownMods, ch.ModSeq)
			return
		}
		for _, u := range ch.UIDs {
			if sel.seqOf(u) != 0 && !sel.expunged[u] {
				sel.flagsChg[u] = true
			}
		}
	case store.ChangeMailboxRename:
		sel.mb.Name = ch.MailboxName
	case store.ChangeMailboxDelete:
		sel.deleted = true
		for _, u := range sel.uids {
			sel.expunged[u] = true
		}
		sel.newUIDs = nil
		clear(sel.flagsChg)
	}
}

// removeExpunged drops the announced expunges from the view and returns
// their sequence numbers, highest first (each stays valid as it is sent).
func (sel *selected) removeExpunged() (seqs []uint32, uids []uint32) {
	if len(sel.expunged) == 0 {
		return nil, nil
	}
	kept := sel.uids[:0]
	for i, u := range sel.uids {
		if sel.expunged[u] {
			seqs = append(seqs, uint32(i+1))
			uids = append(uids, u)
		} else {
			kept = append(kept, u)
		}
	}
	sel.uids = kept
	clear(sel.expunged)
	slices.Reverse(seqs)
	return seqs, uids
}

// msgRef is one message of a command's set: its sequence number and UID.
type msgRef struct {
	seq uint32
	uid uint32
}

// resolve turns a sequence set (uid false) or UID set into the messages
// of the view it names, in sequence order. Numbers beyond the view are
// ignored (RFC 9051 §6.4.8 for UIDs; sequence numbers the same, leniently).
func (sel *selected) resolve(set imapwire.SeqSet, uid bool) []msgRef {
	n := len(sel.uids)
	if n == 0 {
		return nil
	}
	if set.Saved {
		// RFC 5182 §2.1: "$" is the saved UIDs, whatever the command.
		var refs []msgRef
		for _, u := range sel.saved {
			if q := sel.seqOf(u); q != 0 {
				refs = append(refs, msgRef{q, u})
			}
		}
		return refs
	}
	var idx []int
	for _, r := range set.Ranges {
		var lo, hi int
		if uid {
			l, h := r.Resolve(sel.uids[n-1])
			lo = sort.Search(n, func(i int) bool { return sel.uids[i] >= l })
			hi = sort.Search(n, func(i int) bool { return sel.uids[i] > h })
		} else {
			l, h := r.Resolve(uint32(n))
			lo, hi = int(l)-1, min(int(h), n)
		}
		for i := lo; i < hi; i++ {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	refs := make([]msgRef, len(idx))
	for k, i := range idx {
		refs[k] = msgRef{uint32(i + 1), sel.uids[i]}
	}
	return refs
}

// uidsOf lists the UIDs of refs.
func uidsOf(refs []msgRef) []uint32 {
	u := make([]uint32, len(refs))
	for i, r := range refs {
		u[i] = r.uid
	}
	return u
}

// flushUpdates tells the client what changed in the selected mailbox:
// expunges (unless a sequence-number FETCH/STORE/SEARCH is running), new
// messages, flag changes. It must only be called while a command is in
// progress (RFC 9051 §7.4.1).
func (s *session) flushUpdates(allowExpunge bool) {
	if s.sub == nil || s.sel == nil {
		return
	}
	sel := s.sel
	for _, ch := range s.sub.Next() {
		sel.absorb(ch)
	}
	if allowExpunge {
		seqs, uids := sel.removeExpunged()
		if len(uids) > 0 && s.qresync {
			// RFC 7162 §3.2.10: VANISHED replaces EXPUNGE once QRESYNC is on.
			s.w.Raw("* VANISHED " + imapwire.FormatUIDs(uids) + "\r\n")
		} else {
			for _, q := range seqs {
				s.w.Raw("* ")
				s.w.Number(uint64(q))
				s.w.Raw(" EXPUNGE\r\n")
			}
		}
	}
	if len(sel.newUIDs) > 0 {
		sel.uids = append(sel.uids, sel.newUIDs...)
		sel.newUIDs = sel.newUIDs[:0]
		s.w.Raw("* ")
		s.w.Number(uint64(len(sel.uids)))
		s.w.Raw(" EXISTS\r\n")
		if !s.rev2 && !sel.readOnly {
			// RFC 3501 §7.3.2: the new messages are recent here unless
			// another session saw them first.
			if err := s.claimRecent(sel); err != nil {
				s.log.Warn("imap: claiming \\Recent", "err", err)
			}
			s.w.Raw("* ")
			s.w.Number(uint64(sel.recentCount()))
			s.w.Raw(" RECENT\r\n")
		}
	}
	if len(sel.flagsChg) > 0 {
		s.flushFlags()
	}
}

// flushFlags sends FETCH (UID FLAGS [MODSEQ]) for messages whose flags
// others changed.
func (s *session) flushFlags() {
	sel := s.sel
	uids := make([]uint32, 0, len(sel.flagsChg))
	for u := range sel.flagsChg {
		uids = append(uids, u)
	}
	clear(sel.flagsChg)
	slices.Sort(uids)
	msgs, err := s.srv.Store.MessageFieldsByUID(s.ctx, s.acct.ID, sel.mb.ID, uids, 0)
	if err != nil {
		s.log.Warn("imap: reading changed flags", "err", err)
		return
	}
	for _, m := range msgs {
		seq := sel.seqOf(m.UID)
		if seq == 0 {
			continue
		}
		s.writeFlagsFetch(seq, m)
	}
}

// noteKeywords announces the keywords of kws the client has not been
// told of: a new FLAGS (and PERMANENTFLAGS) response must come before a
// FETCH that shows a keyword FLAGS lacks (RFC 9051 §7.3.5, §7.5.2). The
// list only grows while the mailbox is selected.
func (s *session) noteKeywords(kws []string) {
	sel := s.sel
	if sel == nil {
		return
	}
	added := false
	for _, k := range kws {
		if !slices.ContainsFunc(sel.keywords, func(x string) bool { return strings.EqualFold(x, k) }) {
			sel.keywords = append(sel.keywords, k)
			added = true
		}
	}
	if added {
		slices.Sort(sel.keywords)
		s.writeFlagsList(sel)
	}
}

// writeFlagsList writes FLAGS and PERMANENTFLAGS for sel.
func (s *session) writeFlagsList(sel *selected) {
	w := s.w
	kws := ""
	for _, k := range sel.keywords {
		kws += " " + k
	}
	w.Raw("* FLAGS (" + systemFlags + kws + ")\r\n")
	if sel.readOnly {
		w.Raw("* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n")
	} else {
		w.Raw("* OK [PERMANENTFLAGS (" + systemFlags + kws + ` \*)] Flags permitted` + "\r\n")
	}
}

// writeFlagsFetch writes "* seq FETCH (UID u FLAGS (...) [MODSEQ (m)])".
func (s *session) writeFlagsFetch(seq uint32, m store.Message) {
	s.noteKeywords(m.Keywords)
	s.w.Raw("* ")
	s.w.Number(uint64(seq))
	s.w.Raw(" FETCH (UID ")
	s.w.Number(uint64(m.UID))
	s.w.Raw(" FLAGS ")
	writeFlags(s.w, m.Flags, m.Keywords, s.recentFlag(m.UID))
	if s.condstore {
		s.w.Raw(" MODSEQ (")
		s.w.Number(m.ModSeq)
		s.w.Byte(')')
	}
	s.w.Raw(")\r\n")
}
