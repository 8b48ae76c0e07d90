package imapserver

import (
	"io"
	"net/mail"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/imapwire"
	"github.com/posthorn/posthorn/internal/message"
	"github.com/posthorn/posthorn/internal/store"
)

// The search keys of RFC 9051 §6.4.4, RFC 5032, RFC 7162 §3.1.5 and
// RFC 8514, tested on one message.

// match reports whether the message (seq, e) matches k.
func (sr *searcher) match(k *imapwire.SearchKey, seq uint32, e *store.IndexEntry) (bool, error) {
	switch k.Op {
	case imapwire.KeyAnd:
		for i := range k.Sub {
			if ok, err := sr.match(&k.Sub[i], seq, e); !ok || err != nil {
				return false, err
			}
		}
		return true, nil
	case "NOT":
		ok, err := sr.match(&k.Sub[0], seq, e)
		return !ok, err
	case "OR":
		if ok, err := sr.match(&k.Sub[0], seq, e); ok || err != nil {
			return ok, err
		}
		return sr.match(&k.Sub[1], seq, e)
	case imapwire.KeySeqSet:
		if k.Set.Saved {
			return sr.saved[e.UID], nil
		}
		return k.Set.Contains(seq, uint32(len(sr.view))), nil
	case "UID":
		if k.Set.Saved {
			return sr.saved[e.UID], nil
		}
		return k.Set.Contains(e.UID, sr.maxUID), nil
	case "BODY", "TEXT":
		return sr.text[k][e.UID], nil
	case "HEADER":
		if set, ok := sr.text[k]; ok && !set[e.UID] {
			return false, nil // not even a candidate from the index
		}
		return sr.headerMatch(e.UID, k.Field, k.Str)
	case "FROM", "TO", "CC", "BCC", "SUBJECT":
		env, err := sr.envelope(e.UID)
		if err != nil || env == nil {
			return false, err
		}
		return hasSubstrFold(envField(env, k.Op), k.Str), nil
	case "SENTBEFORE", "SENTON", "SENTSINCE":
		env, err := sr.envelope(e.UID)
		if err != nil {
			return false, err
		}
		return compareDay(k.Op[len("SENT"):], sentDate(env, e.InternalDate), k.Date), nil
	}
	return sr.matchIndex(k, e), nil
}

// matchIndex tests the keys answered from the light index alone.
func (sr *searcher) matchIndex(k *imapwire.SearchKey, e *store.IndexEntry) bool {
	switch k.Op {
	case "ALL", "SAVEDATESUPPORTED":
		return true
	case "RECENT":
		return sr.s.recentFlag(e.UID)
	case "NEW":
		return sr.s.recentFlag(e.UID) && e.Flags&store.FlagSeen == 0
	case "OLD":
		return !sr.s.recentFlag(e.UID)
	case "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "SEEN":
		return e.Flags&systemFlag(k.Op) != 0
	case "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN":
		return e.Flags&systemFlag(k.Op[2:]) == 0
	case "KEYWORD":
		return hasKeyword(e, k.Str)
	case "UNKEYWORD":
		return !hasKeyword(e, k.Str)
	case "LARGER":
		return uint64(e.Size) > k.Num
	case "SMALLER":
		return uint64(e.Size) < k.Num
	case "BEFORE", "ON", "SINCE":
		return compareDay(k.Op, e.InternalDate, k.Date)
	case "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE":
		return compareDay(k.Op[len("SAVED"):], e.SaveDate, k.Date)
	case "OLDER": // RFC 5032 §3
		return e.InternalDate.Before(sr.now.Add(-time.Duration(k.Num) * time.Second))
	case "YOUNGER":
		return !e.InternalDate.Before(sr.now.Add(-time.Duration(k.Num) * time.Second))
	case "MODSEQ":
		return e.ModSeq >= k.Num
	}
	return false
}

func systemFlag(name string) store.Flags {
	for _, fn := range flagNames {
		if strings.EqualFold(fn.name[1:], name) {
			return fn.f
		}
	}
	return 0
}

// hasKeyword matches a keyword case-insensitively; a system flag given as
// a keyword (\Seen) is tested as the flag.
func hasKeyword(e *store.IndexEntry, kw string) bool {
	if strings.HasPrefix(kw, `\`) {
		f := systemFlag(kw[1:])
		return f != 0 && e.Flags&f != 0
	}
	for _, k := range e.Keywords {
		if strings.EqualFold(k, kw) {
			return true
		}
	}
	return false
}

// compareDay compares the calendar date of t (in its own zone: time and
// timezone disregarded, RFC 9051 §6.4.4) with day: op is BEFORE, ON or SINCE.
func compareDay(op string, t time.Time, day time.Time) bool {
	if t.IsZero() {
		return false
	}
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch op {
	case "BEFORE":
		return d.Before(day)
	case "ON":
		return d.Equal(day)
	default: // SINCE
		return !d.Before(day)
	}
}

// sentDate is the Date: header's date, or the internal date when it is
// missing or unparsable.
func sentDate(env *message.Envelope, internal time.Time) time.Time {
	if env != nil && env.Date != "" {
		if t, err := mail.ParseDate(env.Date); err == nil {
			return t
		}
	}
	return internal
}

// envField returns an envelope field as text: addresses as
// "Name <mailbox@host>" joined by ", ".
func envField(env *message.Envelope, op string) string {
	var list []message.EnvAddress
	switch op {
	case "SUBJECT":
		return env.Subject
	case "FROM":
		list = env.From
	case "TO":
		list = env.To
	case "CC":
		list = env.Cc
	case "BCC":
		list = env.Bcc
	}
	var b strings.Builder
	for _, a := range list {
		if a.Host == "" {
			// Group syntax: the start marker's name is part of the
			// envelope field (RFC 9051 §7.5.2), e.g. CC undisclosed.
			if a.Mailbox != "" {
				if b.Len() > 0 {
					b.WriteString(", ")
				}
				b.WriteString(a.Mailbox + ":")
			}
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		if a.Name != "" {
			b.WriteString(a.Name + " ")
		}
		b.WriteString("<" + a.Mailbox + "@" + a.Host + ">")
	}
	return b.String()
}

func hasSubstrFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// loadFull reads the full records of the mailbox's messages, once.
func (sr *searcher) loadFull() error {
	if sr.full != nil {
		return nil
	}
	s := sr.s
	msgs, err := s.srv.Store.Messages(s.ctx, s.acct.ID, s.sel.mb.ID, 1, 0)
	if err != nil {
		return err
	}
	sr.full = make(map[uint32]*store.Message, len(msgs))
	sr.envs = map[uint32]*message.Envelope{}
	for i := range msgs {
		sr.full[msgs[i].UID] = &msgs[i]
	}
	return nil
}

// envelope returns the stored ENVELOPE of a message; nil if it has none.
func (sr *searcher) envelope(uid uint32) (*message.Envelope, error) {
	if err := sr.loadFull(); err != nil {
		return nil, err
	}
	if env, ok := sr.envs[uid]; ok {
		return env, nil
	}
	var env *message.Envelope
	if m := sr.full[uid]; m != nil {
		if root, err := message.Unmarshal(m.Structure); err == nil {
			env = root.Envelope
		}
	}
	sr.envs[uid] = env
	return env, nil
}

// headerMatch reads the message's header and tests HEADER field value:
// some field of that name whose decoded value contains value (any such
// field when value is empty).
func (sr *searcher) headerMatch(uid uint32, field, value string) (bool, error) {
	h, err := sr.header(uid)
	if err != nil {
		return false, err
	}
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, field) && hasSubstrFold(message.DecodeWords(f.Value()), value) {
			return true, nil
		}
	}
	return false, nil
}

// header reads the header section of a message (the per-message prefix
// included); empty for a message no longer in the store.
func (sr *searcher) header(uid uint32) (message.Header, error) {
	if err := sr.loadFull(); err != nil {
		return message.Header{}, err
	}
	m := sr.full[uid]
	if m == nil {
		return message.Header{}, nil
	}
	end := m.Size
	if root, err := message.Unmarshal(m.Structure); err == nil {
		end = root.HeaderEnd
	}
	c, err := sr.s.srv.Store.Open(sr.s.ctx, *m)
	if err != nil {
		return message.Header{}, err
	}
	defer c.Close()
	raw := make([]byte, min(end, message.MaxHeaderBytes))
	n, err := c.ReadAt(raw, 0)
	if err != nil && err != io.EOF {
		return message.Header{}, err
	}
	return message.ParseHeader(raw[:n]), nil
}
