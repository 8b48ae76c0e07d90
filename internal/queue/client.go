package queue

import (
	"context"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/smtpclient"
)

// ClientSender is the Sender of a running server: it hands each attempt
// to an *smtpclient.Client, copying every field of the message (DSN
// parameters, SMTPUTF8, REQUIRETLS, 8-bit), the relay (with its
// credentials and implicit TLS) and the result.
type ClientSender struct{ Client *smtpclient.Client }

var _ Sender = ClientSender{}

func (s ClientSender) Deliver(ctx context.Context, d addr.Domain, m Message) Result {
	return fromClient(s.Client.Deliver(ctx, d, toClient(m)))
}

func (s ClientSender) DeliverBackup(ctx context.Context, d addr.Domain, m Message) Result {
	return fromClient(s.Client.DeliverBackup(ctx, d, toClient(m)))
}

func (s ClientSender) DeliverVia(ctx context.Context, r Relay, m Message) Result {
	relay := smtpclient.Relay{Host: r.Host, Port: r.Port, Username: r.Username, Password: r.Password, ImplicitTLS: r.ImplicitTLS}
	return fromClient(s.Client.DeliverVia(ctx, relay, toClient(m)))
}

func toClient(m Message) smtpclient.Message {
	cm := smtpclient.Message{From: m.From, Body: m.Body, Size: m.Size, EnvID: m.EnvID, Ret: m.Ret,
		SMTPUTF8: m.SMTPUTF8, RequireTLS: m.RequireTLS, Body8Bit: m.Body8Bit}
	for _, r := range m.Recipients {
		cm.Recipients = append(cm.Recipients, smtpclient.Recipient{Address: r.Address, Notify: r.Notify, ORcpt: r.ORcpt})
	}
	return cm
}

// tlsSummary formats a delivery's transport security for the mail log.
func tlsSummary(t smtpclient.TLSInfo) string {
	if t.Version == "" {
		return ""
	}
	s := t.Version + " " + t.Cipher + " policy=" + t.Policy
	if t.Verified {
		s += " verified"
	}
	return s
}

func fromClient(r smtpclient.Result) Result {
	res := Result{MX: r.MX, DSN: r.DSN, Err: r.Err, TLS: tlsSummary(r.TLS)}
	for _, rr := range r.PerRecipient {
		res.PerRecipient = append(res.PerRecipient, RecipientResult{Address: rr.Address, Code: rr.Code,
			Enhanced: rr.Enhanced, Text: rr.Text, Permanent: rr.Permanent, Delivered: rr.Delivered, Remote: rr.Remote})
	}
	return res
}
