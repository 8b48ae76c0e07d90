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
	for _, e := range listEntries(mbs) {
		if !matchAny(a.Reference, a.Patterns, e.name) {
			continue
		}
		if subscribedOnly && (e.mb == nil || !e.mb.Subscribed) {
			continue
		}
		if specialOnly && (e.mb == nil || e.mb.SpecialUse == "") {
			continue
		}
		attrs := e.attrs
		if e.mb != nil && e.mb.Subscribed && retSub && verb == "LIST" {
			attrs = append(attrs, `\Subscribed`)
		}
		if e.mb == nil && !s.rev2 {
			attrs = append(attrs, `\Noselect`)
		}
		s.w.Raw("* " + verb + " (" + strings.Join(attrs, " ") + `) "/" `)
		s.w.Mailbox(e.name)
		s.w.Raw("\r\n")
		if e.mb != nil && len(a.Status) > 0 {
			if err := s.writeStatus(*e.mb, a.Status); err != nil {
				return err
			}
		}
	}
	return nil
}

// listEntries sorts the mailboxes (INBOX first), adds the parents that
// do not exist themselves, and computes the child and special-use
// attributes.
func listEntries(mbs []store.Mailbox) []listEntry {
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
		e := listEntry{name: n, mb: byName[n]}
		if e.mb == nil {
			e.attrs = append(e.attrs, `\NonExistent`)
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
		s.condstore = true
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
			s.w.Number(0)
		case "APPENDLIMIT":
			s.w.Number(uint64(s.srv.appendLimit()))
		}
	}
	s.w.Raw(")\r\n")
	return nil
}
