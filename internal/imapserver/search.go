package imapserver

import (
	"slices"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/imapwire"
	"github.com/posthorn/posthorn/internal/message"
	"github.com/posthorn/posthorn/internal/store"
)

// SEARCH and UID SEARCH (RFC 9051 §6.4.4) with CHARSET, ESEARCH
// (RFC 4731), SEARCHRES (RFC 5182), CONDSTORE's MODSEQ (RFC 7162 §3.1.5),
// WITHIN (RFC 5032) and SAVEDATE (RFC 8514).
//
// Flags, dates, sizes and MODSEQs come from the store's light index;
// BODY and TEXT from its full-text index (store.SearchText); FROM, TO,
// CC, BCC, SUBJECT and the SENT* dates from the stored ENVELOPE; HEADER
// from the message's header, read only for messages the full-text index
// did not rule out. All string matches are case-insensitive substring
// matches of the decoded text.

func (s *session) cmdSearch(tag string, p *imapwire.Parser) error    { return s.search(tag, p, false) }
func (s *session) cmdUIDSearch(tag string, p *imapwire.Parser) error { return s.search(tag, p, true) }

// searchCharsets are the charsets SEARCH accepts (RFC 9051 §6.4.4: UTF-8
// is required, US-ASCII is its subset); strings are matched as UTF-8.
const searchCharsets = "UTF-8 US-ASCII"

func (s *session) search(tag string, p *imapwire.Parser, uid bool) error {
	a := imapwire.ParseSearch(p)
	sr, hits, err := s.runSearch(a, p.End())
	if err != nil {
		return err
	}
	if a.Returns(imapwire.ReturnSave) {
		s.sel.saved = savedResult(a, hits)
	}
	switch {
	case a.Extended || s.rev2:
		s.writeESearch(tag, a, hits, uid, sr.modseq, false)
	default:
		s.writeSearch("SEARCH", hits, uid, sr.modseq)
	}
	return nil
}

// runSearch checks the charset and runs the program of a (SEARCH, SORT,
// THREAD); perr is the parse error, if any. On failure a SAVE empties $
// (RFC 5182 §2.1).
func (s *session) runSearch(a imapwire.SearchArgs, perr error) (*searcher, []hit, error) {
	err := perr
	if err == nil {
		err = checkCharset(a.Charset, false)
	}
	var sr *searcher
	var hits []hit
	if err == nil {
		sr = &searcher{s: s, now: s.srv.now()}
		hits, err = sr.run(&a.Key)
	}
	if err != nil {
		if a.Returns(imapwire.ReturnSave) {
			s.sel.saved = nil
		}
		return nil, nil, err
	}
	if sr.modseq {
		s.enableCondstore() // RFC 7162 §3.1: using MODSEQ enables CONDSTORE
	}
	return sr, hits, nil
}

// checkCharset accepts the charsets of searchCharsets; "" only when
// optional (SEARCH without CHARSET).
func checkCharset(cs string, required bool) error {
	switch strings.ToUpper(cs) {
	case "UTF-8", "US-ASCII":
		return nil
	case "":
		if !required {
			return nil
		}
	}
	return no("BADCHARSET ("+searchCharsets+")", "Unsupported charset")
}

// hit is one matching message.
type hit struct {
	seq, uid uint32
	modseq   uint64
}

// savedResult is what SEARCH RETURN (SAVE) remembers: the matches, or only
// the MIN and/or MAX one when those are asked for without ALL or COUNT
// (RFC 5182 §2.4). UIDs, ascending.
func savedResult(a imapwire.SearchArgs, hits []hit) []uint32 {
	if len(hits) == 0 {
		return nil
	}
	minMax := !a.Returns(imapwire.ReturnAll) && !a.Returns(imapwire.ReturnCount) &&
		(a.Returns(imapwire.ReturnMin) || a.Returns(imapwire.ReturnMax))
	var uids []uint32
	if minMax {
		if a.Returns(imapwire.ReturnMin) {
			uids = append(uids, hits[0].uid)
		}
		if a.Returns(imapwire.ReturnMax) && (len(uids) == 0 || hits[len(hits)-1].uid != uids[0]) {
			uids = append(uids, hits[len(hits)-1].uid)
		}
		return uids
	}
	for _, h := range hits {
		uids = append(uids, h.uid)
	}
	return uids
}

func hitNum(h hit, uid bool) uint32 {
	if uid {
		return h.uid
	}
	return h.seq
}

// writeSearch writes the IMAP4rev1 "* SEARCH" response, or "* SORT"
// (RFC 5256 §4) with the hits in their sorted order.
func (s *session) writeSearch(name string, hits []hit, uid, modseq bool) {
	s.w.Raw("* " + name)
	var high uint64
	for _, h := range hits {
		s.w.SP()
		s.w.Number(uint64(hitNum(h, uid)))
		high = max(high, h.modseq)
	}
	if modseq && len(hits) > 0 {
		// RFC 7162 §3.1.5: the highest MODSEQ of the messages returned.
		s.w.Raw(" (MODSEQ ")
		s.w.Number(high)
		s.w.Byte(')')
	}
	s.w.Raw("\r\n")
}

// writeESearch writes "* ESEARCH (TAG ...) [UID] ..." (RFC 4731 §3.1;
// IMAP4rev2 answers every SEARCH this way, RFC 9051 §7.3.4). A RETURN of
// only SAVE gets no ESEARCH response (RFC 5182 §2.4). For ESORT
// (RFC 5267 §3.2) hits are in sorted order and ordered keeps it: MIN and
// MAX are the first and last in that order, ALL lists them in it.
func (s *session) writeESearch(tag string, a imapwire.SearchArgs, hits []hit, uid, modseq, ordered bool) {
	opts := a.Return
	if len(opts) == 0 {
		opts = []string{imapwire.ReturnAll}
	} else if len(opts) == 1 && opts[0] == imapwire.ReturnSave {
		return
	}
	w := s.w
	w.Raw("* ESEARCH (TAG ")
	w.String(tag)
	w.Byte(')')
	if uid {
		w.Raw(" UID")
	}
	wantAll := slices.Contains(opts, imapwire.ReturnAll) || slices.Contains(opts, imapwire.ReturnCount)
	var high uint64
	if len(hits) > 0 {
		if slices.Contains(opts, imapwire.ReturnMin) {
			w.Raw(" MIN ")
			w.Number(uint64(hitNum(hits[0], uid)))
			high = max(high, hits[0].modseq)
		}
		if slices.Contains(opts, imapwire.ReturnMax) {
			w.Raw(" MAX ")
			w.Number(uint64(hitNum(hits[len(hits)-1], uid)))
			high = max(high, hits[len(hits)-1].modseq)
		}
	}
	if slices.Contains(opts, imapwire.ReturnCount) {
		w.Raw(" COUNT ")
		w.Number(uint64(len(hits)))
	}
	if len(hits) > 0 && slices.Contains(opts, imapwire.ReturnAll) {
		nums := make([]uint32, len(hits))
		for i, h := range hits {
			nums[i] = hitNum(h, uid)
		}
		if ordered {
			w.Raw(" ALL " + imapwire.FormatOrdered(nums))
		} else {
			w.Raw(" ALL " + imapwire.FormatUIDs(nums))
		}
	}
	if wantAll {
		for _, h := range hits {
			high = max(high, h.modseq)
		}
	}
	if modseq && high > 0 {
		w.Raw(" MODSEQ ")
		w.Number(high)
	}
	w.Raw("\r\n")
}

// searcher evaluates one search program over the selected mailbox.
type searcher struct {
	s      *session
	now    time.Time
	view   []uint32 // the client's view: UIDs by sequence number
	maxUID uint32
	index  map[uint32]*store.IndexEntry // messages still in the store
	saved  map[uint32]bool              // $
	text   map[*imapwire.SearchKey]map[uint32]bool
	full   map[uint32]*store.Message // loaded on first need
	envs   map[uint32]*message.Envelope
	modseq bool // the program uses MODSEQ
}

// run returns the messages of the view that match key, in sequence order.
func (sr *searcher) run(key *imapwire.SearchKey) ([]hit, error) {
	s := sr.s
	sr.view = s.sel.uids
	if n := len(sr.view); n > 0 {
		sr.maxUID = sr.view[n-1]
	}
	idx, err := s.srv.Store.MessageIndex(s.ctx, s.acct.ID, s.sel.mb.ID)
	if err != nil {
		return nil, err
	}
	sr.index = make(map[uint32]*store.IndexEntry, len(idx))
	for i := range idx {
		sr.index[idx[i].UID] = &idx[i]
	}
	sr.saved = make(map[uint32]bool, len(s.sel.saved))
	for _, u := range s.sel.saved {
		sr.saved[u] = true
	}
	order(key)
	if err := sr.prepare(key); err != nil {
		return nil, err
	}
	var hits []hit
	for i, u := range sr.view {
		e := sr.index[u]
		if e == nil {
			continue // expunged by another session, not yet announced
		}
		ok, err := sr.match(key, uint32(i+1), e)
		if err != nil {
			return nil, err
		}
		if ok {
			hits = append(hits, hit{uint32(i + 1), u, e.ModSeq})
		}
	}
	return hits, nil
}

// prepare runs the full-text queries of the program, once per key.
func (sr *searcher) prepare(k *imapwire.SearchKey) error {
	var q *store.TextQuery
	switch k.Op {
	case "BODY":
		q = &store.TextQuery{Body: []string{k.Str}}
	case "TEXT":
		q = &store.TextQuery{Text: []string{k.Str}}
	case "HEADER":
		// A pre-filter: the index holds decoded "Name: value" lines, all
		// of them but the signature values of a few fields.
		if store.FullyIndexedField(k.Field) {
			q = &store.TextQuery{Header: []string{k.Field + ":", k.Str}}
		}
	case "MODSEQ":
		sr.modseq = true
	}
	if q != nil {
		uids, err := sr.s.srv.Store.SearchText(sr.s.ctx, sr.s.acct.ID, sr.s.sel.mb.ID, *q)
		if err != nil {
			return err
		}
		set := make(map[uint32]bool, len(uids))
		for _, u := range uids {
			set[u] = true
		}
		if sr.text == nil {
			sr.text = map[*imapwire.SearchKey]map[uint32]bool{}
		}
		sr.text[k] = set
	}
	for i := range k.Sub {
		if err := sr.prepare(&k.Sub[i]); err != nil {
			return err
		}
	}
	return nil
}

// cost ranks keys by how expensive they are to test, so that AND tests
// the cheap ones first.
func cost(k *imapwire.SearchKey) int {
	switch k.Op {
	case "BODY", "TEXT":
		return 1
	case "FROM", "TO", "CC", "BCC", "SUBJECT", "SENTBEFORE", "SENTON", "SENTSINCE":
		return 2
	case "HEADER":
		return 3
	}
	c := 0
	for i := range k.Sub {
		c = max(c, cost(&k.Sub[i]))
	}
	return c
}

// order sorts the operands of every AND by cost. It runs before prepare:
// the text sets are keyed by pointer, so keys must not move after.
func order(k *imapwire.SearchKey) {
	for i := range k.Sub {
		order(&k.Sub[i])
	}
	if k.Op == imapwire.KeyAnd {
		slices.SortStableFunc(k.Sub, func(a, b imapwire.SearchKey) int { return cost(&a) - cost(&b) })
	}
}
