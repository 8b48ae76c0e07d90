package queue

import (
	"context"
	"io"

	"github.com/posthorn/posthorn/internal/addr"
)

// Sender transmits one message to another server; ClientSender (over
// *smtpclient.Client) implements it. Every method applies the same
// transport-security policy (DANE, MTA-STS, queue.require_tls_domains).
type Sender interface {
	// Deliver sends m to the MX hosts of domain.
	Deliver(ctx context.Context, domain addr.Domain, m Message) Result
	// DeliverBackup sends m, for a domain this server is a backup MX for,
	// to its MX hosts with a better preference than this server.
	DeliverBackup(ctx context.Context, domain addr.Domain, m Message) Result
	// DeliverVia sends m to a smarthost.
	DeliverVia(ctx context.Context, relay Relay, m Message) Result
}

// Message is what a Sender transmits.
type Message struct {
	From       string // "" is the null sender
	Recipients []Recipient
	Body       io.ReaderAt
	Size       int64
	EnvID, Ret string // DSN ENVID and RET
	SMTPUTF8   bool
	RequireTLS bool
	Body8Bit   bool // the message has 8-bit bytes: needs 8BITMIME or a downgrade
}

// Recipient is one envelope recipient with its DSN parameters.
type Recipient struct {
	Address string
	Notify  string // "SUCCESS,FAILURE,DELAY", "NEVER" or ""
	ORcpt   string // "rfc822;addr"
}

// Relay is a host to send through.
type Relay struct {
	Host               string
	Port               int
	Username, Password string // AUTH, only over TLS; "" for none
	ImplicitTLS        bool
}

// Result is the outcome of one delivery attempt.
type Result struct {
	// PerRecipient has one result per recipient the server answered.
	PerRecipient []RecipientResult
	// MX is the host that answered (for Remote-MTA in DSNs).
	MX string
	// DSN reports that the receiving server offered the DSN extension,
	// so it handles NOTIFY=SUCCESS itself (RFC 3461 §6.2.2); when false,
	// a success is reported to the sender as "relayed".
	DSN bool
	// TLS describes the connection's security for the mail log, e.g.
	// "TLS1.3 TLS_AES_128_GCM_SHA256 policy=dane verified"; "" without TLS.
	TLS string
	// Err is a failure of the whole attempt (no MX reachable, TLS policy,
	// …). It is permanent if it has a Permanent() bool method saying so.
	Err error
}

// RecipientResult is the server's answer for one recipient.
type RecipientResult struct {
	Address   string
	Code      int
	Enhanced  string // "5.1.1", "" when the server sent none
	Text      string
	Permanent bool
	Delivered bool
	// Remote: Code and Text are the remote server's reply (the server
	// named in Result.MX), not a local reason.
	Remote bool
}
