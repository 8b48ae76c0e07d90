package imapserver

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/posthorn/posthorn/internal/imapwire"
)

// THREAD and UID THREAD (RFC 5256 §3) with the ORDEREDSUBJECT and
// REFERENCES algorithms (RFC 5256 §2.2–§2.4 and the THREAD=... sections
// of §3). The messages are chosen by the search program (search.go);
// threads are built by the pure functions threadOrderedSubject and
// threadReferences over msgInfo values, and written by formatThreads.

func (s *session) cmdThread(tag string, p *imapwire.Parser) error    { return s.threadCmd(p, false) }
func (s *session) cmdUIDThread(tag string, p *imapwire.Parser) error { return s.threadCmd(p, true) }

func (s *session) threadCmd(p *imapwire.Parser, uid bool) error {
	a := imapwire.ParseThread(p)
	perr := p.End()
	if perr == nil {
		switch a.Algorithm {
		case imapwire.ThreadOrderedSubject, imapwire.ThreadReferences:
		default:
			perr = bad("Unsupported threading algorithm " + sanitize(a.Algorithm))
		}
	}
	if perr == nil {
		perr = checkCharset(a.Charset, true)
	}
	sr, hits, err := s.runSearch(imapwire.SearchArgs{Charset: a.Charset, Key: a.Key}, perr)
	if err != nil {
		return err
	}
	infos, err := sr.infos(hits)
	if err != nil {
		return err
	}
	var roots []*tnode
	if a.Algorithm == imapwire.ThreadOrderedSubject {
		roots = threadOrderedSubject(infos)
	} else {
		msgs := make([]threadMsg, len(infos))
		for i := range infos {
			h, err := sr.header(infos[i].uid)
			if err != nil {
				return err
			}
			msgs[i] = threadMsg{msgInfo: infos[i], id: firstMsgID(h.Get("Message-Id"))}
			msgs[i].refs = msgIDs(strings.Join(h.Values("References"), " "))
			if len(msgs[i].refs) == 0 {
				if irt := firstMsgID(h.Get("In-Reply-To")); irt != "" {
					msgs[i].refs = []string{irt}
				}
			}
		}
		roots = threadReferences(msgs)
	}
	s.w.Raw("* THREAD")
	if len(roots) > 0 {
		s.w.Raw(" " + formatThreads(roots, uid))
	}
	s.w.Raw("\r\n")
	return nil
}

// tnode is a node of a thread tree; m is nil for a dummy (a message
// referenced but not present, or a subject-merged thread's root).
type tnode struct {
	m      *msgInfo
	parent *tnode
	kids   []*tnode
}

func (n *tnode) adopt(k *tnode) {
	k.parent = n
	n.kids = append(n.kids, k)
}

func (n *tnode) unlink() {
	if p := n.parent; p != nil {
		i := slices.Index(p.kids, n)
		p.kids = slices.Delete(p.kids, i, i+1)
		n.parent = nil
	}
}

// first is the message a node sorts and is named by: its own, or for a
// dummy its first child's (RFC 5256 REFERENCES steps 4, 5.B, 6).
func (n *tnode) first() *msgInfo {
	for ; n != nil; n = n.kids[0] {
		if n.m != nil {
			return n.m
		}
		if len(n.kids) == 0 {
			return nil
		}
	}
	return nil
}

// byDate orders nodes by the sent date of their first message, then by
// sequence number (RFC 5256 §2.2); empty dummies last.
func byDate(a, b *tnode) int {
	ma, mb := a.first(), b.first()
	switch {
	case ma == nil || mb == nil:
		return cmp.Compare(boolInt(ma == nil), boolInt(mb == nil))
	}
	if c := ma.sent.Compare(mb.sent); c != 0 {
		return c
	}
	return cmp.Compare(ma.seq, mb.seq)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sortTree sorts every set of siblings by date, children before their
// parents (REFERENCES step 6).
func sortTree(nodes []*tnode) {
	for _, n := range nodes {
		sortTree(n.kids)
	}
	slices.SortStableFunc(nodes, byDate)
}

// threadOrderedSubject is THREAD=ORDEREDSUBJECT: messages grouped by base
// subject, each group in date order with its first message the parent of
// all the others, groups ordered by the date of their first message.
func threadOrderedSubject(infos []msgInfo) []*tnode {
	ms := slices.Clone(infos)
	slices.SortStableFunc(ms, func(a, b msgInfo) int {
		if c := strings.Compare(a.base, b.base); c != 0 {
			return c
		}
		if c := a.sent.Compare(b.sent); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	var roots []*tnode
	for i := range ms {
		n := &tnode{m: &ms[i]}
		if i > 0 && ms[i-1].base == ms[i].base {
			roots[len(roots)-1].adopt(n)
		} else {
			roots = append(roots, n)
		}
	}
	slices.SortStableFunc(roots, byDate)
	return roots
}

// threadMsg is a message with the IDs THREAD=REFERENCES links by.
type threadMsg struct {
	msgInfo
	id   string   // Message-ID without brackets; "" when missing
	refs []string // References, else the first In-Reply-To ID
}

// threadReferences is THREAD=REFERENCES (RFC 5256 §3), steps 1–6.
func threadReferences(msgs []threadMsg) []*tnode {
	table := map[string]*tnode{}
	var all []*tnode // in creation order, for a stable root set
	get := func(id string) *tnode {
		if n := table[id]; n != nil {
			return n
		}
		n := &tnode{}
		table[id] = n
		all = append(all, n)
		return n
	}
	for i := range msgs {
		m := &msgs[i]
		// Step 1: a missing or duplicate Message-ID makes a unique one.
		var c *tnode
		if n := table[m.id]; m.id != "" && (n == nil || n.m == nil) {
			c = get(m.id)
		} else {
			c = &tnode{}
			all = append(all, c)
		}
		c.m = &m.msgInfo
		// 1.A: link the references in order, keeping existing parents
		// (a References field may be truncated) and never making a loop.
		for j := 0; j+1 < len(m.refs); j++ {
			p, k := get(m.refs[j]), get(m.refs[j+1])
			if k.parent == nil && !wouldLoop(p, k) {
				p.adopt(k)
			}
		}
		// 1.B: the last reference is the parent, replacing any other.
		c.unlink()
		if len(m.refs) > 0 {
			if p := get(m.refs[len(m.refs)-1]); !wouldLoop(p, c) {
				p.adopt(c)
			}
		}
	}
	// Step 2: the root set.
	var roots []*tnode
	for _, n := range all {
		if n.parent == nil {
			roots = append(roots, n)
		}
	}
	// Steps 3–4.
	roots = prune(roots, true)
	sortTree(roots)
	// Step 5 and 6.
	roots = mergeSubjects(roots)
	sortTree(roots)
	return roots
}

// wouldLoop reports whether making k a child of p creates a loop.
func wouldLoop(p, k *tnode) bool {
	for x := p; x != nil; x = x.parent {
		if x == k {
			return true
		}
	}
	return false
}

// prune removes dummies (REFERENCES step 3): one without children goes;
// one with children is replaced by them, except at the root where it
// stays when it has more than one child.
func prune(nodes []*tnode, atRoot bool) []*tnode {
	var out []*tnode
	for _, n := range nodes {
		n.kids = prune(n.kids, false)
		if n.m == nil && (len(n.kids) == 0 || !atRoot || len(n.kids) == 1) {
			for _, k := range n.kids {
				k.parent = n.parent
			}
			out = append(out, n.kids...)
			continue
		}
		out = append(out, n)
	}
	return out
}

// mergeSubjects gathers root threads with the same base subject
// (REFERENCES step 5).
func mergeSubjects(roots []*tnode) []*tnode {
	subject := func(n *tnode) string {
		if m := n.first(); m != nil {
			return m.base
		}
		return ""
	}
	// 5.C: prefer a dummy, then a message that is not a reply or forward.
	table := map[string]*tnode{}
	for _, n := range roots {
		b := subject(n)
		if b == "" {
			continue
		}
		t := table[b]
		if t == nil || t.m != nil && n.m == nil ||
			t.m != nil && n.m != nil && t.m.replyFwd && !n.m.replyFwd {
			table[b] = n
		}
	}
	// 5.D: merge each other root thread into the table's.
	pos := make(map[*tnode]int, len(roots))
	for i, n := range roots {
		pos[n] = i
	}
	gone := map[*tnode]bool{}
	for _, n := range slices.Clone(roots) {
		b := subject(n)
		t := table[b]
		if b == "" || t == n || n.parent != nil { // n.parent: moved under a new dummy
			continue
		}
		gone[n] = true
		switch {
		case t.m == nil && n.m == nil:
			for _, k := range n.kids {
				t.adopt(k)
			}
		case t.m == nil, n.m != nil && n.m.replyFwd && !t.m.replyFwd:
			t.adopt(n)
		default:
			d := &tnode{}
			roots[pos[t]] = d
			pos[d] = pos[t]
			d.adopt(t)
			d.adopt(n)
			table[b] = d
		}
	}
	out := roots[:0]
	for _, n := range roots {
		if !gone[n] {
			out = append(out, n)
		}
	}
	return out
}

// formatThreads writes thread-lists (RFC 5256 §4): "(2)(3 6 (4 23)(44 7 96))".
func formatThreads(roots []*tnode, uid bool) string {
	var b strings.Builder
	for _, r := range roots {
		b.WriteByte('(')
		writeThread(&b, r, uid)
		b.WriteByte(')')
	}
	return b.String()
}

func writeThread(b *strings.Builder, n *tnode, uid bool) {
	if n.m != nil {
		b.WriteString(strconv.FormatUint(uint64(hitNum(n.m.hit, uid)), 10))
		if len(n.kids) > 0 {
			b.WriteByte(' ')
		}
	}
	if len(n.kids) == 1 {
		writeThread(b, n.kids[0], uid)
		return
	}
	for _, k := range n.kids {
		b.WriteByte('(')
		writeThread(b, k, uid)
		b.WriteByte(')')
	}
}

// msgIDs extracts the msg-ids ("<...>", brackets and spaces removed) of a
// Message-ID, In-Reply-To or References field.
func msgIDs(s string) []string {
	var ids []string
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			return ids
		}
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			return ids
		}
		id := strings.Join(strings.Fields(s[i+1:i+j]), "")
		if id != "" {
			ids = append(ids, id)
		}
		s = s[i+j+1:]
	}
}

func firstMsgID(s string) string {
	if ids := msgIDs(s); len(ids) > 0 {
		return ids[0]
	}
	return ""
}
