package imapserver

import (
	"slices"
	"strings"

	"github.com/posthorn/posthorn/internal/imapwire"
	"github.com/posthorn/posthorn/internal/store"
)

// LIST, LSUB, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, STATUS
// (RFC 9051 §6.3; LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819,
// SPECIAL-USE RFC 6154). The hierarchy separator is "/".

const sep = '/'

// listEntry is one line of a LIST answer.
type listEntry struct {
	name  string
	mb    *store.Mailbox // nil for a name that only exists as a parent
	attrs []string
	// subscribed: the name is on the subscription list.
	subscribed bool
	// onlySubscribed: the name is no mailbox nor the parent of one, only
	// a subscription (listed only by LSUB and LIST (SUBSCRIBED)).
	onlySubscribed bool
	// childInfo: some descendant is subscribed but does not match the
	// patterns (CHILDINFO, RFC 5258 §3.5; LSUB's parents, RFC 3501 §6.3.9).
	childInfo bool
}

func (s *session) cmdList(tag string, p *imapwire.Parser) error {
	a := imapwire.ParseList(p)
	if err := p.End(); err != nil {
		return err
	}
	return s.list(a, "LIST")
}

func (s *session) cmdLsub(tag string, p *imapwire.Parser) error {
	a := imapwire.ParseList(p)
	if err := p.End(); err != nil {
		return err
	}
	if a.Extended {
		return bad("LSUB takes no options")
	}
	a.Selection = []string{"SUBSCRIBED"}
	return s.list(a, "LSUB")
}

func (s *session) list(a imapwire.ListArgs, verb string) error {
	if len(a.Patterns) == 1 && a.Patterns[0] == "" && !a.Extended {
		// RFC 9051 §6.3.9: the hierarchy delimiter and root.
		s.w.Raw("* " + verb + ` (\Noselect) "/" ""` + "\r\n")
		return nil
	}
	mbs, err := s.srv.Store.Mailboxes(s.ctx, s.acct.ID)
	if err != nil {
		return err
	}
	opt := func(list []string, o string) bool { return slices.Contains(list, o) }
	subscribedOnly := opt(a.Selection, "SUBSCRIBED")
	specialOnly := opt(a.Selection, "SPECIAL-USE")
	retSub := subscribedOnly || opt(a.Return, "SUBSCRIBED") || verb == "LSUB"
	var dangling []string
	if retSub {
		if dangling, err = s.srv.Store.DanglingSubscriptions(s.ctx, s.acct.ID); err != nil {
			return err
		}
	}
	matches := func(name string) bool { return matchAny(a.Reference, a.Patterns, name) }
	entries := listEntries(mbs, dangling)
	if subscribedOnly {
		// LSUB always reports the unsubscribed parents of subscribed
		// names it does not show (RFC 3501 §6.3.9); LIST with
		// RECURSIVEMATCH (RFC 5258 §3.1).
		entries = subscribedEntries(entries, matches, verb == "LSUB" || opt(a.Selection, "RECURSIVEMATCH"))
	}
	for _, e := range entries {
		if !matches(e.name) || e.onlySubscribed && !subscribedOnly {
			continue
		}
		if specialOnly && (e.mb == nil || e.mb.SpecialUse == "") {
			continue
		}
		attrs := e.attrs
		if verb == "LSUB" {
			// Not selectable, or not subscribed (a parent): \Noselect.
			attrs = slices.DeleteFunc(slices.Clone(attrs), func(a string) bool { return a == `\NonExistent` })
			if e.mb == nil || !e.subscribed {
				attrs = append(attrs, `\Noselect`)
			}
		} else {
			if e.subscribed && retSub {
				attrs = append(attrs, `\Subscribed`)
			}
			if e.mb == nil && !s.rev2 {
				attrs = append(attrs, `\Noselect`)
			}
		}
		s.w.Raw("* " + verb + " (" + strings.Join(attrs, " ") + `) "/" `)
		s.w.Mailbox(e.name)
		if e.childInfo && verb == "LIST" {
			s.w.Raw(` ("CHILDINFO" ("SUBSCRIBED"))`)
		}
		s.w.Raw("\r\n")
		if e.mb != nil && len(a.Status) > 0 {
			if err := s.writeStatus(*e.mb, a.Status); err != nil {
				return err
			}
		}
	}
	return nil
}

// subscribedEntries keeps the subscribed entries of all and, with
// parents, the names that match but are not subscribed and have a
// subscribed descendant that does not match, marking childInfo on every
// entry with such a descendant.
func subscribedEntries(all []listEntry, matches func(string) bool, parents bool) []listEntry {
	info := map[string]bool{}
	if parents {
		for _, e := range all {
			if !e.subscribed || matches(e.name) {
				continue
			}
			for n := e.name; ; {
				j := strings.LastIndexByte(n, sep)
				if j < 0 {
					break
				}
				n = n[:j]
				info[n] = true
			}
		}
	}
	var out []listEntry
	for _, e := range all {
		e.childInfo = info[e.name] && matches(e.name)
		if e.subscribed || e.childInfo {
			out = append(out, e)
		}
	}
	return out
}

// listEntries sorts the mailboxes (INBOX first), adds the parents that
// do not exist themselves and the subscribed names that are no mailbox
// (dangling), and computes the child, special-use and subscription
// attributes.
func listEntries(mbs []store.Mailbox, dangling []string) []listEntry {
	byName := map[string]*store.Mailbox{}
	names := map[string]bool{}
	for i := range mbs {
		byName[mbs[i].Name] = &mbs[i]
		names[mbs[i].Name] = true
		for n := mbs[i].Name; ; {
			j := strings.LastIndexByte(n, sep)
			if j < 0 {
				break
			}
			n = n[:j]
			names[n] = true
		}
	}
	hasChild := map[string]bool{}
	for n := range names {
		if j := strings.LastIndexByte(n, sep); j >= 0 {
			hasChild[n[:j]] = true
		}
	}
	// Dangling names come after the children are counted: \HasChildren
	// is about mailboxes (RFC 5258 §4).
	subscribed := map[string]bool{}
	onlySub := map[string]bool{}
	for _, n := range dangling {
		subscribed[n] = true
		if !names[n] {
			names[n], onlySub[n] = true, true
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	slices.SortFunc(sorted, func(x, y string) int {
		if x == "INBOX" {
			return -1
		} else if y == "INBOX" {
			return 1
		}
		return strings.Compare(x, y)
	})
	out := make([]listEntry, 0, len(sorted))
	for _, n := range sorted {
		e := listEntry{name: n, mb: byName[n], subscribed: subscribed[n], onlySubscribed: onlySub[n]}
		if e.mb == nil {
			e.attrs = append(e.attrs, `\NonExistent`)
		} else {
			e.subscribed = e.mb.Subscribed
		}
		if hasChild[n] {
			e.attrs = append(e.attrs, `\HasChildren`)
		} else {
			e.attrs = append(e.attrs, `\HasNoChildren`)
		}
		if e.mb != nil && e.mb.SpecialUse != "" {
			e.attrs = append(e.attrs, e.mb.SpecialUse)
		}
		out = append(out, e)
	}
	return out
}

func matchAny(ref string, patterns []string, name string) bool {
	for _, p := range patterns {
		pat := ref + p
		if strings.HasPrefix(strings.ToUpper(pat), "INBOX") && strings.HasPrefix(name, "INBOX") {
			pat = "INBOX" + pat[5:]
		}
		if match(pat, name) {
			return true
		}
	}
	return false
}

// match implements LIST wildcards: "*" matches anything, "%" anything but
// the separator (RFC 9051 §6.3.9). Iterative, no backtracking blow-up:
// each wildcard position is retried at most once per name byte.
func match(pat, name string) bool {
	if len(pat) > 1024 {
		return false
	}
	// memo[i][j]: pat[i:] vs name[j:] already failed.
	type key struct{ i, j int }
	failed := map[key]bool{}
	var rec func(i, j int) bool
	rec = func(i, j int) bool {
		if failed[key{i, j}] {
			return false
		}
		for i < len(pat) {
			switch c := pat[i]; c {
			case '*', '%':
				for k := j; k <= len(name); k++ {
					if rec(i+1, k) {
						return true
					}
					if k < len(name) && c == '%' && name[k] == sep {
						break
					}
				}
				failed[key{i, j}] = true
				return false
			default:
				if j >= len(name) || name[j] != c {
					failed[key{i, j}] = true
					return false
				}
				i++
				j++
			}
		}
		return j == len(name)
	}
	return rec(0, 0)
}

func (s *session) cmdCreate(tag string, p *imapwire.Parser) error {
	a := imapwire.ParseCreate(p)
	if err := p.End(); err != nil {
		return err
	}
	name := strings.TrimRight(a.Mailbox, "/")
	if name == "INBOX" {
		return no("ALREADYEXISTS", "INBOX always exists")
	}
	special := ""
	switch len(a.Use) {
	case 0:
	case 1:
		special = canonicalSpecial(a.Use[0])
		if special == "" {
			return no("USEATTR", "Unsupported special-use attribute")
		}
	default:
		return no("USEATTR", "Only one special-use attribute per mailbox")
	}
	// RFC 9051 §6.3.4: the store creates the superior hierarchy as
	// needed, in the same transaction, after checking the whole name.
	_, err := s.srv.Store.CreateMailbox(s.ctx, s.acct.ID, name, special)
	return err
}

func canonicalSpecial(use string) string {
	for _, su := range []string{store.SpecialSent, store.SpecialDrafts, store.SpecialJunk, store.SpecialTrash, store.SpecialArchive} {
		if strings.EqualFold(su, use) {
			return su
		}
	}
	return ""
}

func (s *session) cmdDelete(tag string, p *imapwire.Parser) error {
	name := p.Mailbox()
	if err := p.End(); err != nil {
		return err
	}
	if name == "INBOX" {
		return no("CANNOT", "INBOX cannot be deleted")
	}
	return mailboxErr(s.srv.Store.DeleteMailbox(s.ctx, s.acct.ID, name))
}

func (s *session) cmdRename(tag string, p *imapwire.Parser) error {
	from := p.Mailbox()
	p.SP()
	to := strings.TrimRight(p.Mailbox(), "/")
	if err := p.End(); err != nil {
		return err
	}
	return mailboxErr(s.srv.Store.RenameMailbox(s.ctx, s.acct.ID, from, to))
}

func (s *session) cmdSubscribe(tag string, p *imapwire.Parser) error   { return s.subscribe(p, true) }
func (s *session) cmdUnsubscribe(tag string, p *imapwire.Parser) error { return s.subscribe(p, false) }

func (s *session) subscribe(p *imapwire.Parser, on bool) error {
	name := p.Mailbox()
	if err := p.End(); err != nil {
		return err
	}
	return mailboxErr(s.srv.Store.SetSubscribed(s.ctx, s.acct.ID, name, on))
}

func (s *session) cmdStatus(tag string, p *imapwire.Parser) error {
	a := imapwire.ParseStatus(p)
	if err := p.End(); err != nil {
		return err
	}
	mb, err := s.srv.Store.MailboxByName(s.ctx, s.acct.ID, a.Mailbox)
	if err != nil {
		return mailboxErr(err)
	}
	if slices.Contains(a.Items, "HIGHESTMODSEQ") {
		s.enableCondstore()
	}
	return s.writeStatus(mb, a.Items)
}

// writeStatus writes "* STATUS name (items)". UNSEEN and DELETED come
// from the store's indexed counters.
func (s *session) writeStatus(mb store.Mailbox, items []string) error {
	var unseen, deleted uint64
	if slices.Contains(items, "UNSEEN") || slices.Contains(items, "DELETED") {
		c, err := s.srv.Store.MailboxCounts(s.ctx, s.acct.ID, mb.ID)
		if err != nil {
			return err
		}
		unseen, deleted = uint64(c.Unseen), uint64(c.Deleted)
	}
	var recent uint64
	if slices.Contains(items, "RECENT") {
		// The messages no session has seen as \Recent yet (RFC 3501
		// §6.3.10), without claiming them.
		from, to, err := s.srv.Store.ClaimRecent(s.ctx, s.acct.ID, mb.ID, false)
		if err != nil {
			return err
		}
		if from < to {
			l, err := s.srv.Store.MailboxUIDs(s.ctx, s.acct.ID, mb.ID)
			if err != nil {
				return err
			}
			lo, _ := slices.BinarySearch(l.UIDs, from)
			hi, _ := slices.BinarySearch(l.UIDs, to)
			recent = uint64(hi - lo)
		}
	}
	s.w.Raw("* STATUS ")
	s.w.Mailbox(mb.Name)
	s.w.Raw(" (")
	for i, it := range items {
		if i > 0 {
			s.w.SP()
		}
		s.w.Raw(it + " ")
		switch it {
		case "MESSAGES":
			s.w.Number(uint64(mb.Messages))
		case "UIDNEXT":
			s.w.Number(uint64(mb.UIDNext))
		case "UIDVALIDITY":
			s.w.Number(uint64(mb.UIDValidity))
		case "UNSEEN":
			s.w.Number(unseen)
		case "DELETED":
			s.w.Number(deleted)
		case "SIZE":
			s.w.Number(uint64(mb.Size))
		case "HIGHESTMODSEQ":
			s.w.Number(mb.HighestModSeq)
		case "RECENT":
			s.w.Number(recent)
		case "APPENDLIMIT":
			s.w.Number(uint64(s.srv.appendLimit()))
		}
	}
	s.w.Raw(")\r\n")
	return nil
}
