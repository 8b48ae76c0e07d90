package imapserver

import (
	"bytes"
	"errors"
	"slices"
	"strings"

	"github.com/posthorn/posthorn/internal/imapwire"
	"github.com/posthorn/posthorn/internal/store"
)

// METADATA (RFC 5464): server entries (mailbox "") and mailbox entries,
// /private and /shared, kept in the store. The account is the only user
// of its mailboxes, so /shared entries are the account's as much as
// /private ones. Entry names are case-insensitive and stored in lower
// case. Limits: MaxMetadataValue octets per value ([METADATA MAXSIZE]),
// MaxMetadataEntries entries and MaxMetadataBytes octets of names and
// values per account ([METADATA TOOMANY]).

// Metadata limits.
const (
	MaxMetadataValue   = 64 << 10
	MaxMetadataEntries = 1000
	MaxMetadataBytes   = 1 << 20
)

// metadataMailbox resolves the mailbox of a METADATA command: 0 for "".
func (s *session) metadataMailbox(name string) (int64, error) {
	if name == "" {
		return 0, nil
	}
	mb, err := s.srv.Store.MailboxByName(s.ctx, s.acct.ID, name)
	if err != nil {
		return 0, err
	}
	return mb.ID, nil
}

// entryName checks and lower-cases an entry name (RFC 5464 §3.2); top
// allows the bare "/private" and "/shared" GETMETADATA may ask for.
func entryName(e string, top bool) (string, error) {
	e = strings.ToLower(e)
	if top && (e == "/private" || e == "/shared") {
		return e, nil
	}
	rest, ok := strings.CutPrefix(e, "/private/")
	if !ok {
		rest, ok = strings.CutPrefix(e, "/shared/")
	}
	valid := ok && rest != "" && !strings.HasSuffix(rest, "/") && !strings.Contains(rest, "//")
	for i := 0; valid && i < len(e); i++ {
		valid = e[i] > 0x20 && e[i] < 0x7f && e[i] != '*' && e[i] != '%'
	}
	if !valid {
		return "", bad("Invalid entry name " + sanitize(e))
	}
	return e, nil
}

// cmdGetMetadata is GETMETADATA (RFC 5464 §4.2). An entry asked for
// that neither exists nor has entries below it within DEPTH is answered
// with NIL.
func (s *session) cmdGetMetadata(tag string, p *imapwire.Parser) error {
	a := imapwire.ParseGetMetadata(p)
	if err := p.End(); err != nil {
		return err
	}
	var want []string
	for _, e := range a.Entries {
		n, err := entryName(e, true)
		if err != nil {
			return err
		}
		want = append(want, n)
	}
	mbID, err := s.metadataMailbox(a.Mailbox)
	if err != nil {
		return err
	}
	all, err := s.srv.Store.Metadata(s.ctx, s.acct.ID, mbID)
	if err != nil {
		return err
	}
	var out []store.MetadataEntry
	var longest uint64
	seen := map[string]bool{}
	for _, w := range want {
		found := false
		for _, e := range all {
			if !entryWithin(e.Name, w, a.Depth) {
				continue
			}
			found = true
			if seen[e.Name] {
				continue
			}
			seen[e.Name] = true
			if a.HasMaxSize && uint64(len(e.Value)) > a.MaxSize {
				longest = max(longest, uint64(len(e.Value)))
				continue
			}
			out = append(out, e)
		}
		if !found && !seen[w] && w != "/private" && w != "/shared" {
			seen[w] = true
			out = append(out, store.MetadataEntry{Name: w})
		}
	}
	if len(out) > 0 {
		s.writeMetadata(a.Mailbox, out)
	}
	if longest > 0 {
		// RFC 5464 §4.2.1: the size of the largest entry left out.
		return okStatus("METADATA LONGENTRIES "+u64(longest), "GETMETADATA completed")
	}
	return nil
}

// entryWithin reports whether name is want or, by depth, below it.
func entryWithin(name, want string, depth int) bool {
	if name == want {
		return true
	}
	rest, ok := strings.CutPrefix(name, want+"/")
	switch {
	case !ok || depth == 0:
		return false
	case depth == 1:
		return !strings.Contains(rest, "/")
	}
	return true
}

// writeMetadata writes "* METADATA mailbox (entry value ...)"; a nil
// value is NIL, one with a NUL a literal8.
func (s *session) writeMetadata(mailbox string, es []store.MetadataEntry) {
	w := s.w
	w.Raw("* METADATA ")
	if mailbox == "" {
		w.String("")
	} else {
		w.Mailbox(mailbox)
	}
	w.Raw(" (")
	for i, e := range es {
		if i > 0 {
			w.SP()
		}
		w.AString(e.Name)
		w.SP()
		switch {
		case e.Value == nil:
			w.Raw("NIL")
		case bytes.IndexByte(e.Value, 0) >= 0:
			w.Literal(bytes.NewReader(e.Value), int64(len(e.Value)), true)
		default:
			w.String(string(e.Value))
		}
	}
	w.Raw(")\r\n")
}

// cmdSetMetadata is SETMETADATA (RFC 5464 §4.3): all the entries are set
// (NIL: deleted) or none.
func (s *session) cmdSetMetadata(tag string, p *imapwire.Parser) error {
	a := imapwire.ParseSetMetadata(p)
	if err := p.End(); err != nil {
		return err
	}
	var es []store.MetadataEntry
	for _, v := range a.Values {
		n, err := entryName(v.Entry, false)
		if err != nil {
			return err
		}
		if len(v.Value) > MaxMetadataValue {
			return no("METADATA MAXSIZE "+u64(MaxMetadataValue), "Value too large")
		}
		es = slices.DeleteFunc(es, func(e store.MetadataEntry) bool { return e.Name == n }) // the last one wins
		es = append(es, store.MetadataEntry{Name: n, Value: v.Value})
	}
	mbID, err := s.metadataMailbox(a.Mailbox)
	if err != nil {
		return err
	}
	err = s.srv.Store.SetMetadata(s.ctx, s.acct.ID, mbID, es,
		store.MetadataLimits{MaxEntries: MaxMetadataEntries, MaxBytes: MaxMetadataBytes})
	if errors.Is(err, store.ErrTooMany) {
		return no("METADATA TOOMANY", "Too many metadata entries for this account")
	}
	return err
}
