// Package delivery is the local delivery pipeline: a message received by
// the SMTP server (spooled in a Spool) gets its header prefix (Received,
// then what the message-authentication hooks add), its MIME structure is
// parsed once over prefix+body, and it is stored once for all its local
// recipients with one store.Deliver call. Deliver returns only after the
// store has made the message durable, so the caller may then acknowledge
// it (DESIGN.md principle 1).
//
// The envelope keeps every parameter the outbound queue will need (DSN
// RET/ENVID/NOTIFY/ORCPT, REQUIRETLS, SMTPUTF8, BODY).
package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/message"
	"github.com/posthorn/posthorn/internal/smtp"
	"github.com/posthorn/posthorn/internal/store"
)

// Envelope is the SMTP envelope of one message.
type Envelope struct {
	ID         string       // message id for logs and the Received header
	Sender     addr.Address // zero: the null sender <>
	Recipients []Recipient
	Body       string // BODY= value: "7BIT", "8BITMIME", "BINARYMIME" or ""
	SMTPUTF8   bool
	RequireTLS bool   // RFC 8689
	Ret        string // DSN RET: "FULL", "HDRS" or ""
	EnvID      string // DSN ENVID, decoded
	Client     Client
}

// Recipient is one accepted recipient and where it is delivered.
type Recipient struct {
	Address addr.Address
	// Accounts are the local accounts the address resolves to.
	Accounts []store.Account
	Notify   []string // DSN NOTIFY values
	ORcpt    string   // DSN ORCPT, "type;address"
	// Remote are addresses at other servers the message goes to for this
	// recipient, through Deliverer.Outbound: the recipient itself
	// (submission, a relay domain, a reversed SRS address) or the remote
	// targets of an alias (forwarding).
	Remote []addr.Address
	// Forwarded marks Remote as alias targets: the envelope sender is
	// rewritten (SRS) and the message sealed (ARC) for them.
	Forwarded bool
}

// Outbound takes the copies of a message for other servers: the outbound
// queue (*queue.Queue) implements it. Enqueue returns once the message is
// durable. An *smtp.Error is the reply for the whole message.
type Outbound interface {
	Enqueue(ctx context.Context, m Outgoing) error
}

// Outgoing is a message for the recipients of Envelope with Remote set.
type Outgoing struct {
	Envelope   *Envelope
	Recipients []Recipient // those with Remote set
	// Message is the message as it leaves: the header prefix (Received,
	// the hooks' fields such as DKIM-Signature) and the message.
	Message Message
	// ForwardHeader holds fields to prepend for forwarded recipients only
	// (an ARC set).
	ForwardHeader []byte
}

// Verdict is what a Hook decides about a message.
type Verdict struct {
	// Header holds header fields to add above the message (each ending in
	// CRLF), e.g. Authentication-Results, Received-SPF.
	Header []byte
	// Junk files the message in the Junk mailbox.
	Junk   bool
	Reason string // why, for the log
	// ForwardHeader holds fields for the copies forwarded to other
	// servers only (an ARC set, RFC 8617).
	ForwardHeader []byte
	// Message, when set, replaces the message the hook was given: the
	// same bytes with header fields removed (an Authentication-Results
	// field forged with our authserv-id, RFC 8601 §5). Later hooks see
	// it and it is what is stored.
	Message Message
}

// Hook inspects a message before it is stored: internal/msgauth adds
// SPF/DKIM/DMARC/ARC results and the junk verdict here, and signs
// submitted mail. msg is the message as it will be stored, including the
// fields Deliver's caller adds (Message-ID, Date). An error is a failure of
// the whole message: an *smtp.Error is the reply (5xx permanent, 4xx
// temporary); any other error is a temporary local failure.
type Hook interface {
	Check(ctx context.Context, env *Envelope, msg Message) (Verdict, error)
}

// Deliverer stores messages for local recipients and hands the copies for
// remote ones to Outbound.
type Deliverer struct {
	Store    store.Store
	Hostname addr.Domain
	Hooks    []Hook
	// Outbound queues copies for other servers; nil: recipients with
	// Remote set fail with a temporary error.
	Outbound Outbound
	Now      func() time.Time // nil: time.Now
}

// Result is the outcome of Deliver.
type Result struct {
	// Errors has one entry per envelope recipient, nil when delivered.
	Errors []error
	// Prefix is the header prefix the message was stored with.
	Prefix  []byte
	Verdict Verdict
}

// Delivered counts the recipients without an error.
func (r Result) Delivered() int {
	n := 0
	for _, e := range r.Errors {
		if e == nil {
			n++
		}
	}
	return n
}

// ErrOverQuota is the per-recipient error for a full mailbox (RFC 3463
// 4.2.2: a temporary condition the owner can fix).
var ErrOverQuota = &smtp.Error{Code: 452, Enhanced: smtp.Enhanced{4, 2, 2}, Msg: "Mailbox full"}

// Deliver stores msg for every recipient of env, once, with the header
// prefix: Received, then the hooks' fields, then extra (fields the caller
// adds, e.g. Message-ID for submission). It returns after the message is
// durable. err is a failure of the whole message; per-recipient failures
// (over quota) are in Result.Errors.
func (d *Deliverer) Deliver(ctx context.Context, env *Envelope, msg Message, extra []byte) (Result, error) {
	now := d.now()
	var rcptAddrs []addr.Address
	for _, r := range env.Recipients {
		rcptAddrs = append(rcptAddrs, r.Address)
	}
	prefix := Received(env.Client, d.Hostname, env.ID, rcptAddrs, now)
	var verdict Verdict
	// Hooks see the caller's extra fields as part of the message (a DKIM
	// signature must cover the Message-ID added here); once a hook
	// rewrites the message, extra lives in the rewritten bytes.
	view := msg
	if len(extra) > 0 {
		view = Concat(Bytes(extra), msg)
	}
	for _, h := range d.Hooks {
		v, err := h.Check(ctx, env, view)
		if err != nil {
			return Result{}, err
		}
		prefix = append(prefix, v.Header...)
		if v.Junk {
			verdict.Junk = true
			verdict.Reason = v.Reason
		}
		verdict.ForwardHeader = append(verdict.ForwardHeader, v.ForwardHeader...)
		if v.Message != nil {
			view, msg, extra = v.Message, v.Message, nil
		}
	}
	prefix = append(prefix, extra...)
	part, err := message.Parse(Concat(Bytes(prefix), msg), int64(len(prefix))+msg.Size())
	if err != nil {
		return Result{}, fmt.Errorf("delivery: parsing: %w", err)
	}
	structure := part.Marshal()
	res := Result{Errors: make([]error, len(env.Recipients)), Prefix: prefix, Verdict: verdict}
	// Remote copies are queued first: if that fails nothing was stored,
	// and the client's retry cannot duplicate local deliveries.
	if err := d.enqueue(ctx, env, Concat(Bytes(prefix), msg), verdict.ForwardHeader); err != nil {
		return Result{}, err
	}
	mailbox := ""
	if verdict.Junk {
		mailbox = "Junk"
	}
	// Up to two attempts: a target found over quota by the store is
	// dropped and the others delivered.
	over := map[int64]bool{}
	for attempt := 0; ; attempt++ {
		var targets []store.Target
		seen := map[int64]bool{}
		for _, r := range env.Recipients {
			for _, a := range r.Accounts {
				if seen[a.ID] || over[a.ID] {
					continue
				}
				seen[a.ID] = true
				targets = append(targets, store.Target{AccountID: a.ID, Mailbox: mailbox, HeaderPrefix: prefix, Structure: structure})
			}
		}
		if len(targets) > 0 {
			_, err = d.Store.Deliver(ctx, store.Delivery{Body: Reader(msg), InternalDate: now, Targets: targets})
		}
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrOverQuota) || attempt > 0 {
			return Result{}, fmt.Errorf("delivery: storing: %w", err)
		}
		if err := d.findOverQuota(ctx, targets, msg.Size()+int64(len(prefix)), over); err != nil {
			return Result{}, err
		}
	}
	for i, r := range env.Recipients {
		for _, a := range r.Accounts {
			if over[a.ID] {
				res.Errors[i] = ErrOverQuota
			}
		}
	}
	return res, nil
}

// enqueue hands the recipients with remote targets to Outbound.
func (d *Deliverer) enqueue(ctx context.Context, env *Envelope, msg Message, fwd []byte) error {
	var remote []Recipient
	for _, r := range env.Recipients {
		if len(r.Remote) > 0 {
			remote = append(remote, r)
		}
	}
	if len(remote) == 0 {
		return nil
	}
	if d.Outbound == nil {
		return smtp.Errorf(451, smtp.Enhanced{4, 4, 3}, "Sending to other servers is not configured here; try again later")
	}
	err := d.Outbound.Enqueue(ctx, Outgoing{Envelope: env, Recipients: remote, Message: msg, ForwardHeader: fwd})
	var se *smtp.Error
	if err != nil && !errors.As(err, &se) {
		return fmt.Errorf("delivery: queueing: %w", err)
	}
	return err
}

// findOverQuota marks the targets that cannot take size more bytes. If it
// finds none (a race), it marks all, so the retry cannot loop.
func (d *Deliverer) findOverQuota(ctx context.Context, targets []store.Target, size int64, over map[int64]bool) error {
	found := false
	for _, t := range targets {
		a, err := d.Store.AccountByID(ctx, t.AccountID)
		if err != nil {
			return fmt.Errorf("delivery: %w", err)
		}
		if OverQuota(a, size) {
			over[a.ID], found = true, true
		}
	}
	if !found {
		for _, t := range targets {
			over[t.AccountID] = true
		}
	}
	return nil
}

// OverQuota reports whether a cannot take a message of size bytes.
func OverQuota(a store.Account, size int64) bool {
	return a.QuotaBytes > 0 && a.UsedBytes+size > a.QuotaBytes
}

func (d *Deliverer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}
