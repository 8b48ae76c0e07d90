package queue

import (
	"bufio"
	"context"
	"strings"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/message"
	"github.com/posthorn/posthorn/internal/smtp"
	"github.com/posthorn/posthorn/internal/store"
)

var _ delivery.Outbound = (*Queue)(nil)

// ErrTooManyHops refuses a message that has passed through too many
// servers: it is probably looping (RFC 5321 §6.3).
var ErrTooManyHops = smtp.Errorf(554, smtp.Enhanced{5, 4, 6}, "Too many hops: the message has too many Received header fields and is probably looping; not delivered")

// Enqueue implements delivery.Outbound: it stores the message once with
// one entry per destination domain and envelope sender, durably, before
// the SMTP server acknowledges it. Forwarded recipients get the SRS
// sender and the forwarding header fields (ARC).
func (q *Queue) Enqueue(ctx context.Context, m delivery.Outgoing) error {
	q.init()
	if n, err := countReceived(m.Message); err == nil && n > q.Options.MaxHops {
		q.Logger.Info("message refused: too many hops", "id", m.Envelope.ID, "received", n)
		return ErrTooManyHops
	}
	env := m.Envelope
	plain, fwd := &entryList{env: env}, &entryList{env: env}
	for _, r := range m.Recipients {
		for _, to := range r.Remote {
			if !r.Forwarded {
				plain.add(env.Sender, to, r)
				continue
			}
			sender := env.Sender
			if q.SRS != nil {
				if s, err := q.SRS.Forward(env.Sender, r.Address.Domain); err == nil {
					sender = s
				} else {
					q.Logger.Warn("SRS rewriting failed; forwarding with the original sender", "id", env.ID, "err", err)
				}
			}
			fwd.add(sender, to, r)
		}
	}
	var queued []store.QueueEntry
	if len(plain.entries) > 0 {
		es, err := q.Store.Enqueue(ctx, delivery.Reader(m.Message), plain.entries)
		if err != nil {
			return err
		}
		queued = append(queued, es...)
	}
	if len(fwd.entries) > 0 {
		body := m.Message
		if len(m.ForwardHeader) > 0 {
			body = delivery.Concat(delivery.Bytes(m.ForwardHeader), body)
		}
		es, err := q.Store.Enqueue(ctx, delivery.Reader(body), fwd.entries)
		if err != nil {
			return err
		}
		queued = append(queued, es...)
	}
	for _, e := range queued {
		q.Logger.Info("message queued", "id", env.ID, "queue_id", e.ID, "from", senderString(e.Sender), "domain", e.Domain, "recipients", len(e.Recipients))
	}
	q.Wake()
	return nil
}

// entryList groups recipients into entries by sender and domain.
type entryList struct {
	env     *delivery.Envelope
	entries []store.QueueEntry
	index   map[string]int
}

func (l *entryList) add(sender, to addr.Address, r delivery.Recipient) {
	k := sender.String() + " " + to.Domain.ASCII
	i, ok := l.index[k]
	if !ok {
		env := l.env
		l.entries = append(l.entries, store.QueueEntry{
			Sender: sender.String(), Domain: to.Domain.ASCII, EnvID: env.EnvID, Ret: env.Ret,
			SMTPUTF8: env.SMTPUTF8, RequireTLS: env.RequireTLS, MessageID: env.ID,
		})
		i = len(l.entries) - 1
		if l.index == nil {
			l.index = map[string]int{}
		}
		l.index[k] = i
	}
	orcpt := r.ORcpt
	if orcpt == "" && r.Forwarded {
		orcpt = "rfc822;" + r.Address.String()
	}
	e := &l.entries[i]
	e.Recipients = append(e.Recipients, store.QueueRecipient{Address: to.String(), Notify: strings.Join(r.Notify, ","), ORcpt: orcpt})
}

// countReceived counts the Received fields of a message's header.
func countReceived(m delivery.Message) (int, error) {
	h, err := message.ReadHeader(bufio.NewReader(delivery.Reader(m)))
	if err != nil {
		return 0, err
	}
	return len(h.Values("Received")), nil
}
