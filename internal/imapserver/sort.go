package imapserver

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/imapwire"
	"github.com/posthorn/posthorn/internal/message"
)

// SORT and UID SORT (RFC 5256 §3) with DISPLAYFROM/DISPLAYTO (RFC 5957)
// and ESORT's RETURN options (RFC 5267 §3). The messages are chosen by
// the search program (search.go); sort keys come from the stored
// ENVELOPE and the light index. Strings compare with i;ascii-casemap
// (display names with a Unicode case fold), and messages that compare
// equal on every key stay in sequence-number order (RFC 5256 §3).

func (s *session) cmdSort(tag string, p *imapwire.Parser) error    { return s.sortCmd(tag, p, false) }
func (s *session) cmdUIDSort(tag string, p *imapwire.Parser) error { return s.sortCmd(tag, p, true) }

func (s *session) sortCmd(tag string, p *imapwire.Parser, uid bool) error {
	a := imapwire.ParseSort(p)
	perr := p.End()
	if perr == nil {
		perr = checkCharset(a.Charset, true)
	}
	sa := a.Search()
	sr, hits, err := s.runSearch(sa, perr)
	if err != nil {
		return err
	}
	infos, err := sr.infos(hits)
	if err != nil {
		return err
	}
	sortInfos(infos, a.Criteria)
	for i := range infos {
		hits[i] = infos[i].hit
	}
	if a.Returns(imapwire.ReturnSave) {
		saved := savedResult(sa, hits)
		slices.Sort(saved)
		s.sel.saved = saved
	}
	if a.Extended {
		s.writeESearch(tag, sa, hits, uid, sr.modseq, true)
	} else {
		s.writeSearch("SORT", hits, uid, sr.modseq)
	}
	return nil
}

// msgInfo is what SORT and THREAD know of one matching message.
type msgInfo struct {
	hit
	size     int64
	arrival  time.Time
	sent     time.Time // RFC 5256 §2.2: Date:, else INTERNALDATE
	env      *message.Envelope
	base     string // base subject (RFC 5256 §2.1), folded
	replyFwd bool   // the subject had a reply or forward marker
}

// infos gathers the sort data of hits, in hit order.
func (sr *searcher) infos(hits []hit) ([]msgInfo, error) {
	out := make([]msgInfo, len(hits))
	for i, h := range hits {
		e := sr.index[h.uid]
		env, err := sr.envelope(h.uid)
		if err != nil {
			return nil, err
		}
		if env == nil {
			env = &message.Envelope{}
		}
		mi := msgInfo{hit: h, size: e.Size, arrival: e.InternalDate, env: env}
		mi.sent = sentDate(env, e.InternalDate).UTC()
		var base string
		base, mi.replyFwd = baseSubject(env.Subject)
		mi.base = foldASCII(base)
		out[i] = mi
	}
	return out, nil
}

// sortInfos sorts by the criteria, then by sequence number.
func sortInfos(infos []msgInfo, crit []imapwire.SortCriterion) {
	slices.SortStableFunc(infos, func(a, b msgInfo) int {
		for _, c := range crit {
			r := compareBy(c.Key, &a, &b)
			if c.Reverse {
				r = -r
			}
			if r != 0 {
				return r
			}
		}
		return cmp.Compare(a.seq, b.seq)
	})
}

func compareBy(key string, a, b *msgInfo) int {
	switch key {
	case "ARRIVAL":
		return a.arrival.Compare(b.arrival)
	case "DATE":
		return a.sent.Compare(b.sent)
	case "SIZE":
		return cmp.Compare(a.size, b.size)
	case "SUBJECT":
		return strings.Compare(a.base, b.base)
	case "FROM":
		return strings.Compare(firstMailbox(a.env.From), firstMailbox(b.env.From))
	case "TO":
		return strings.Compare(firstMailbox(a.env.To), firstMailbox(b.env.To))
	case "CC":
		return strings.Compare(firstMailbox(a.env.Cc), firstMailbox(b.env.Cc))
	case "DISPLAYFROM":
		return strings.Compare(displayName(a.env.From), displayName(b.env.From))
	case "DISPLAYTO":
		return strings.Compare(displayName(a.env.To), displayName(b.env.To))
	}
	return 0
}

// firstAddress is the first address of a list that is not group syntax.
func firstAddress(list []message.EnvAddress) (message.EnvAddress, bool) {
	for _, a := range list {
		if a.Host != "" {
			return a, true
		}
	}
	return message.EnvAddress{}, false
}

// firstMailbox is the addr-mailbox (local part) of the first address,
// folded; "" when there is none (RFC 5256 §3 FROM, TO, CC).
func firstMailbox(list []message.EnvAddress) string {
	a, ok := firstAddress(list)
	if !ok || a.Mailbox == message.MissingMailbox {
		return ""
	}
	return foldASCII(a.Mailbox)
}

// displayName is the display name of the first address, or its
// addr-spec when it has none (RFC 5957 §3), case-folded.
func displayName(list []message.EnvAddress) string {
	a, ok := firstAddress(list)
	if !ok {
		return ""
	}
	if name := strings.TrimSpace(a.Name); name != "" {
		return strings.ToLower(name)
	}
	return strings.ToLower(a.Mailbox + "@" + a.Host)
}
