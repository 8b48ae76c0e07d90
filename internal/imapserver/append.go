package imapserver

import (
	"bytes"
	"errors"

	"github.com/posthorn/posthorn/internal/imapwire"
	"github.com/posthorn/posthorn/internal/message"
	"github.com/posthorn/posthorn/internal/store"
)

// APPEND with MULTIAPPEND (RFC 9051 §6.3.12, RFC 3502), APPENDUID
// (RFC 4315) and APPENDLIMIT (RFC 7889).

func (s *session) cmdAppend(tag string, p *imapwire.Parser) error {
	a := imapwire.ParseAppend(p)
	if err := p.End(); err != nil {
		return err
	}
	mb, err := s.srv.Store.MailboxByName(s.ctx, s.acct.ID, a.Mailbox)
	if errors.Is(err, store.ErrNotFound) {
		return no("TRYCREATE", "No such mailbox")
	} else if err != nil {
		return err
	}
	ds := make([]store.Delivery, len(a.Messages))
	for i, m := range a.Messages {
		if int64(len(m.Data)) > s.srv.appendLimit() {
			return no("TOOBIG", "Message larger than APPENDLIMIT")
		}
		if len(m.Data) == 0 {
			return no("CANNOT", "Empty message")
		}
		flags, kws, err := parseFlags(m.Flags)
		if err != nil {
			return err
		}
		root, err := message.Parse(bytes.NewReader(m.Data), int64(len(m.Data)))
		if err != nil {
			return err
		}
		// NoCreate: a mailbox deleted since the lookup is [TRYCREATE] too.
		ds[i] = store.Delivery{Body: bytes.NewReader(m.Data), InternalDate: m.Date, Targets: []store.Target{{
			AccountID: s.acct.ID, Mailbox: mb.Name, Flags: flags, Keywords: kws, Structure: root.Marshal(), NoCreate: true,
		}}}
	}
	// RFC 3502 §3: MULTIAPPEND stores all the messages or none.
	out, err := s.srv.Store.DeliverAll(s.ctx, ds)
	if errors.Is(err, store.ErrNotFound) {
		return no("TRYCREATE", "No such mailbox")
	} else if err != nil {
		return err
	}
	var uids []uint32
	for _, msgs := range out {
		for _, dm := range msgs {
			uids = append(uids, dm.UID)
		}
	}
	return okStatus("APPENDUID "+u64(uint64(mb.UIDValidity))+" "+imapwire.FormatOrdered(uids), "APPEND completed")
}
