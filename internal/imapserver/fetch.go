package imapserver

import (
	"cmp"
	"errors"
	"slices"

	"github.com/posthorn/posthorn/internal/imapwire"
	"github.com/posthorn/posthorn/internal/message"
	"github.com/posthorn/posthorn/internal/store"
)

// FETCH and UID FETCH (RFC 9051 §6.4.5, §6.4.9; CONDSTORE/QRESYNC
// RFC 7162 §3.1.4, §3.2.6; BINARY RFC 3516; SAVEDATE RFC 8514; PREVIEW
// RFC 8970). Message bodies are streamed from the store's ReaderAt;
// ENVELOPE and BODYSTRUCTURE come from the stored part tree.

func (s *session) cmdFetch(tag string, p *imapwire.Parser) error    { return s.fetch(p, false) }
func (s *session) cmdUIDFetch(tag string, p *imapwire.Parser) error { return s.fetch(p, true) }

// fetchPlan is what a FETCH needs per message.
type fetchPlan struct {
	attrs     []imapwire.FetchAttr
	uid       bool // UID command: UID is always returned
	modseq    bool
	structure bool // needs the part tree
	content   bool // needs the bytes
	setSeen   bool // some item sets \Seen
	flags     bool
}

func planFetch(a imapwire.FetchArgs, uid bool) fetchPlan {
	pl := fetchPlan{attrs: a.Attrs, uid: uid, modseq: a.ChangedSince > 0}
	for _, at := range a.Attrs {
		switch at.Name {
		case imapwire.FetchModSeq:
			pl.modseq = true
		case imapwire.FetchUID:
			pl.uid = true
		case imapwire.FetchFlags:
			pl.flags = true
		case imapwire.FetchEnvelope, imapwire.FetchBodyStructure, imapwire.FetchBody:
			pl.structure = true
		case imapwire.FetchBodySection, imapwire.FetchBinary, imapwire.FetchBinarySize, imapwire.FetchPreview,
			imapwire.FetchRFC822Header, imapwire.FetchRFC822Text:
			pl.structure, pl.content = true, true
			if !at.Peek && at.Name != imapwire.FetchBinarySize && at.Name != imapwire.FetchPreview && at.Name != imapwire.FetchRFC822Header {
				pl.setSeen = true
			}
		case imapwire.FetchRFC822:
			pl.content, pl.setSeen = true, true
		}
	}
	return pl
}

func (s *session) fetch(p *imapwire.Parser, uid bool) error {
	a := imapwire.ParseFetch(p)
	if err := p.End(); err != nil {
		return err
	}
	if a.Vanished && (!uid || !s.qresync) {
		return bad("VANISHED needs UID FETCH and ENABLE QRESYNC")
	}
	pl := planFetch(a, uid)
	if pl.modseq {
		s.enableCondstore() // RFC 7162 §3.1: using a CONDSTORE feature enables it
		pl.uid = true       // and then MODSEQ comes with UID
	}
	if pl.setSeen && s.sel.readOnly {
		pl.setSeen = false
	}
	refs := s.sel.resolve(a.Set, uid)
	if a.Vanished {
		if err := s.fetchVanished(a, refs); err != nil {
			return err
		}
	}
	if len(refs) == 0 {
		return nil
	}
	var changed msgList
	if a.ChangedSince > 0 {
		var err error
		if changed, err = s.loadChanged(refs, a.ChangedSince); err != nil {
			return err
		}
	}
	missing := false
	for len(refs) > 0 {
		n := min(len(refs), fetchChunk)
		if err := s.fetchChunk(refs[:n], changed, &pl, &missing); err != nil {
			return err
		}
		refs = refs[n:]
	}
	if missing && a.ChangedSince == 0 {
		// RFC 9051 §7.5.1 keeps the sequence numbers of messages another
		// session expunged until we may announce it; their data is gone.
		return no("EXPUNGEISSUED", "Some messages were expunged")
	}
	return nil
}

// fetchChunk is how many messages' index records a FETCH reads at once:
// a FETCH 1:* of a large mailbox holds a chunk in memory, not the mailbox.
const fetchChunk = 2000

// fetchChunk writes the FETCH responses of refs, reading their index
// records (unless changed, the CHANGEDSINCE list, has them all) and
// setting \Seen first if the items do.
func (s *session) fetchChunk(refs []msgRef, changed msgList, pl *fetchPlan, missing *bool) error {
	msgs := changed
	if msgs == nil {
		var err error
		if msgs, err = s.loadMessages(refs, pl.fields()); err != nil {
			return err
		}
	}
	if pl.setSeen {
		if err := s.markSeen(msgs); err != nil {
			return err
		}
	}
	cur := &msgCursor{l: msgs}
	for len(refs) > 0 {
		n := min(len(refs), fetchBatch)
		if err := s.fetchBatch(refs[:n], cur, pl, missing); err != nil {
			return err
		}
		refs = refs[n:]
	}
	return nil
}

// fields is what the store must read for the plan's items.
func (pl *fetchPlan) fields() store.MessageFields {
	var f store.MessageFields
	if pl.structure {
		f |= store.FieldStructure
	}
	if pl.content {
		f |= store.FieldContent
	}
	for _, at := range pl.attrs {
		if at.Name == imapwire.FetchInternalDate || at.Name == imapwire.FetchSaveDate {
			f |= store.FieldDates
		}
	}
	return f
}

// msgList is index records ordered by UID.
type msgList []store.Message

// find returns the record of uid, or nil.
func (l msgList) find(uid uint32) *store.Message {
	i, ok := slices.BinarySearchFunc(l, uid, func(m store.Message, u uint32) int { return cmp.Compare(m.UID, u) })
	if !ok {
		return nil
	}
	return &l[i]
}

// msgCursor finds the records of ascending UIDs in a msgList by walking
// it once, for the sets of FETCH and STORE (in sequence order, so UIDs
// ascend).
type msgCursor struct {
	l msgList
	i int
}

// find returns the record of uid, or nil; uid must not be below the last
// one asked for.
func (c *msgCursor) find(uid uint32) *store.Message {
	for c.i < len(c.l) && c.l[c.i].UID < uid {
		c.i++
	}
	if c.i < len(c.l) && c.l[c.i].UID == uid {
		return &c.l[c.i]
	}
	return nil
}

// fetchBatch is how many messages' contents a FETCH opens at once.
const fetchBatch = 64

// fetchBatch writes the FETCH responses of refs, opening their contents
// with one store read if the items need them. It sets *missing if some
// message is gone.
func (s *session) fetchBatch(refs []msgRef, msgs *msgCursor, pl *fetchPlan, missing *bool) error {
	batch := make([]store.Message, 0, len(refs))
	brefs := make([]msgRef, 0, len(refs))
	for _, r := range refs {
		if m := msgs.find(r.uid); m != nil {
			batch = append(batch, *m)
			brefs = append(brefs, r)
		} else {
			*missing = true
		}
	}
	if len(batch) == 0 {
		return nil
	}
	var contents []store.Content
	if pl.content {
		var err error
		if contents, err = s.openAll(batch); err != nil {
			return err
		}
	}
	defer func() {
		for _, c := range contents {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i, r := range brefs {
		if contents != nil && contents[i] == nil {
			*missing = true // expunged since its index record was read
			continue
		}
		f := &fetcher{s: s, m: batch[i]}
		if contents != nil {
			f.content, contents[i] = contents[i], nil // f.close closes it
		}
		if err := s.fetchOne(r, f, pl); err != nil {
			return err
		}
	}
	return nil
}

// openAll opens the contents of msgs. A message another session expunged
// (and whose blob went) since its record was read has a nil Content: the
// others are still served (RFC 2180 §4.1.2), and the mailbox is not
// reported gone.
func (s *session) openAll(msgs []store.Message) ([]store.Content, error) {
	contents, err := s.srv.Store.OpenAll(s.ctx, msgs)
	if !errors.Is(err, store.ErrNotFound) {
		return contents, err
	}
	contents = make([]store.Content, len(msgs))
	for i, m := range msgs {
		c, err := s.srv.Store.Open(s.ctx, m)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			for _, c := range contents[:i] {
				if c != nil {
					c.Close()
				}
			}
			return nil, err
		default:
			contents[i] = c
		}
	}
	return contents, nil
}

// fetchVanished sends VANISHED (EARLIER) for UIDs in the set expunged
// since CHANGEDSINCE (RFC 7162 §3.2.6).
func (s *session) fetchVanished(a imapwire.FetchArgs, refs []msgRef) error {
	v, err := s.srv.Store.Vanished(s.ctx, s.acct.ID, s.sel.mb.ID, a.ChangedSince)
	if err != nil {
		return err
	}
	v = slices.DeleteFunc(v, func(u uint32) bool { return !a.Set.Contains(u, s.sel.maxUID) })
	if len(v) > 0 {
		s.w.Raw("* VANISHED (EARLIER) " + imapwire.FormatUIDs(v) + "\r\n")
	}
	return nil
}

// loadMessages reads the index records of refs (those still in the
// store), with the optional fields given.
func (s *session) loadMessages(refs []msgRef, fields store.MessageFields) (msgList, error) {
	// refs are in sequence order, so their UIDs ascend.
	return s.srv.Store.MessageFieldsByUID(s.ctx, s.acct.ID, s.sel.mb.ID, uidsOf(refs), fields)
}

// loadChanged reads the index records of those refs whose MODSEQ is
// above modseq, through the (mailbox, modseq) index: a resync costs what
// changed, not the size of the set (RFC 7162 §3.1.4.1). The result is
// never nil.
func (s *session) loadChanged(refs []msgRef, modseq uint64) (msgList, error) {
	list, err := s.srv.Store.ChangedSince(s.ctx, s.acct.ID, s.sel.mb.ID, modseq)
	if err != nil {
		return nil, err
	}
	uids := uidsOf(refs)
	kept := msgList{}
	for _, m := range list {
		if _, ok := slices.BinarySearch(uids, m.UID); ok {
			kept = append(kept, m)
		}
	}
	return kept, nil
}

// markSeen sets \Seen on the messages that lack it, before their data is
// sent (RFC 9051 §6.4.5), and updates msgs.
func (s *session) markSeen(msgs msgList) error {
	var uids []uint32
	for _, m := range msgs {
		if m.Flags&store.FlagSeen == 0 {
			uids = append(uids, m.UID)
		}
	}
	if len(uids) == 0 {
		return nil
	}
	res, err := s.srv.Store.StoreFlags(s.ctx, store.FlagChange{
		AccountID: s.acct.ID, MailboxID: s.sel.mb.ID, UIDs: uids, Op: store.FlagsAdd, Flags: store.FlagSeen,
	})
	if err != nil {
		return err
	}
	for _, c := range res.Changed {
		s.sel.ownMods[c.ModSeq] = true
		if m := msgs.find(c.UID); m != nil { // Changed has the flags, not the content
			m.Flags, m.Keywords, m.ModSeq = c.Flags|flagsChangedMark, c.Keywords, c.ModSeq
		}
	}
	return nil
}

// flagsChangedMark is set (in a copy of the message only) on messages
// whose \Seen this FETCH set, so that FLAGS is returned even if not asked.
const flagsChangedMark store.Flags = 1 << 7

// fetchOne writes "* seq FETCH (...)" for one message and closes f.
func (s *session) fetchOne(r msgRef, f *fetcher, pl *fetchPlan) error {
	defer f.close()
	m := f.m
	if pl.structure {
		if err := f.loadStructure(); err != nil {
			return err
		}
	}
	if err := f.prepare(pl.attrs); err != nil {
		return err
	}
	if pl.flags || m.Flags&flagsChangedMark != 0 {
		s.noteKeywords(m.Keywords)
	}
	w := s.w
	w.Raw("* ")
	w.Number(uint64(r.seq))
	w.Raw(" FETCH (")
	first := true
	item := func(name string) {
		if !first {
			w.SP()
		}
		first = false
		w.Raw(name)
	}
	// RFC 7162 §3.1: once CONDSTORE is on, a FETCH that implicitly sets
	// \Seen reports UID and MODSEQ with the new flags. (A FETCH that
	// asks for neither and sets nothing is left as asked.)
	seenSet := m.Flags&flagsChangedMark != 0
	if pl.uid || seenSet && s.condstore {
		item("UID ")
		w.Number(uint64(m.UID))
	}
	if pl.flags || seenSet {
		item("FLAGS ")
		writeFlags(w, m.Flags&^flagsChangedMark, m.Keywords, s.recentFlag(m.UID))
	}
	if pl.modseq || seenSet && s.condstore {
		item("MODSEQ (")
		w.Number(m.ModSeq)
		w.Byte(')')
	}
	for _, at := range pl.attrs {
		switch at.Name {
		case imapwire.FetchUID, imapwire.FetchFlags, imapwire.FetchModSeq:
			continue
		}
		if !first {
			w.SP()
		}
		first = false
		if err := f.writeAttr(at); err != nil {
			return err
		}
	}
	w.Raw(")\r\n")
	return nil
}

// fetcher serves the items of one message.
type fetcher struct {
	s       *session
	m       store.Message
	root    *message.Part
	content store.Content
	binary  map[string]binaryInfo // BINARY sections decoded by prepare
}

func (f *fetcher) loadStructure() error {
	root, err := message.Unmarshal(f.m.Structure)
	if err != nil {
		return err
	}
	f.root = root
	return nil
}

func (f *fetcher) open() (store.Content, error) {
	if f.content == nil {
		c, err := f.s.srv.Store.Open(f.s.ctx, f.m)
		if err != nil {
			return nil, err
		}
		f.content = c
	}
	return f.content, nil
}

func (f *fetcher) close() {
	if f.content != nil {
		f.content.Close()
	}
}
