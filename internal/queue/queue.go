// Package queue is the outbound queue: messages for recipients at other
// servers (submitted mail, forwarded mail, mail for domains this server
// is a backup MX for, bounces) are kept durably in the store
// (store.Queue) until every recipient is delivered or has failed.
//
// Entries are grouped by destination domain; each domain due for an
// attempt gets one worker, and at most Options.Concurrency workers run at
// once. A temporary failure is retried after a backoff that doubles from
// RetryInitial up to RetryMax (5m, 10m, 20m, 40m … 4h by default; it
// follows the message's age, so a forced retry does not lengthen it); after
// DelayWarning a "delayed" DSN tells the sender (when NOTIFY asks for it
// or is absent), after Expire the message is bounced. Per-recipient
// results are recorded in the entry, so a partial success is retried only
// for the recipients still pending. Bounces (RFC 3464) are never sent to
// the null sender.
//
// Crash safety: the queue keeps no state of its own besides the store.
// An entry is updated only after an attempt; an attempt interrupted by a
// crash or a shutdown leaves the entry due, and it is tried again when
// the queue starts (the receiving side may then see the message twice,
// which SMTP allows; losing it is not allowed).
package queue

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/srs"
	"github.com/posthorn/posthorn/internal/store"
)

// Defaults of Options.
const (
	DefaultRetryInitial = 5 * time.Minute
	DefaultRetryMax     = 4 * time.Hour
	DefaultDelayWarning = 4 * time.Hour
	DefaultExpire       = 5 * 24 * time.Hour
	DefaultConcurrency  = 16
	// DefaultMaxHops is the most Received fields a message may have before
	// it is considered looping (Postfix's hopcount_limit).
	DefaultMaxHops = 50
)

// ErrNotLocal is returned by a Local deliverer for a recipient whose
// domain is not local.
var ErrNotLocal = errors.New("queue: recipient is not local")

// Local delivers bounces to local senders; cmd/posthorn implements it
// with the local delivery pipeline. It returns ErrNotLocal (wrapped or
// not) for a recipient at another server.
type Local interface {
	DeliverLocal(ctx context.Context, to addr.Address, msg []byte) error
}

// Smarthost routes mail through a relay host.
type Smarthost struct {
	Relay Relay
	// Domains are the destination domains routed through Relay; empty
	// means all mail.
	Domains []addr.Domain
}

// Options configure a Queue. Zero durations and counts take the defaults.
type Options struct {
	RetryInitial time.Duration
	RetryMax     time.Duration
	DelayWarning time.Duration
	Expire       time.Duration
	Concurrency  int
	MaxHops      int
	// Smarthost, when set, routes all mail or some domains' mail through
	// a relay.
	Smarthost *Smarthost
	// RelayDomains are domains this server is a backup MX for: their mail
	// goes to the best MX host that is not this one.
	RelayDomains []addr.Domain
}

// Observer is told about the queue's deliveries; *httpserver.Metrics
// implements it.
type Observer interface {
	// Delivered counts n recipients delivered, via "remote".
	Delivered(via string, n int)
}

// Queue delivers queued messages.
type Queue struct {
	Store    store.Queue
	Sender   Sender
	Hostname addr.Domain // this server: Reporting-MTA, and its own MX name
	Local    Local       // nil: bounces to local senders are queued too
	// SRS rewrites the envelope sender of forwarded mail; nil: the sender
	// is kept (and forwarded mail may fail SPF at its destination).
	SRS     *srs.Rewriter
	Options Options
	// TLSReports, when set, sends the daily TLS-RPT reports (tlsrpt.go).
	TLSReports *TLSReports
	// Observer counts deliveries for metrics; nil: none.
	Observer Observer
	Logger   *slog.Logger     // nil: discard
	Now      func() time.Time // nil: time.Now

	once    sync.Once
	wake    chan struct{}
	mu      sync.Mutex
	busy    map[string]bool // domains with a worker
	running int
	wg      sync.WaitGroup
}

func (q *Queue) init() {
	q.once.Do(func() {
		q.wake = make(chan struct{}, 1)
		q.busy = map[string]bool{}
		o := &q.Options
		def := func(d *time.Duration, v time.Duration) {
			if *d <= 0 {
				*d = v
			}
		}
		def(&o.RetryInitial, DefaultRetryInitial)
		def(&o.RetryMax, DefaultRetryMax)
		def(&o.DelayWarning, DefaultDelayWarning)
		def(&o.Expire, DefaultExpire)
		if o.Concurrency <= 0 {
			o.Concurrency = DefaultConcurrency
		}
		if o.MaxHops <= 0 {
			o.MaxHops = DefaultMaxHops
		}
		if q.Logger == nil {
			q.Logger = slog.New(slog.DiscardHandler)
		}
	})
}

func (q *Queue) now() time.Time {
	if q.Now != nil {
		return q.Now()
	}
	return time.Now()
}

// Wake makes Run look at the queue now (after Enqueue or an admin change).
func (q *Queue) Wake() {
	q.init()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Run delivers due entries until ctx is done, then waits for the
// attempts in progress (which see ctx cancelled and leave their entries
// due for the next start). Entries left by a previous run are due at
// once when their next attempt has passed.
func (q *Queue) Run(ctx context.Context) error {
	q.init()
	q.Logger.Info("queue started")
	q.loadTLSState(ctx)
	for {
		next, err := q.startDue(ctx)
		if err != nil && ctx.Err() == nil {
			q.Logger.Error("reading the queue", "err", err)
			next = q.now().Add(time.Minute)
		}
		if day := q.tlsReportTick(ctx); !day.IsZero() && (next.IsZero() || day.Before(next)) {
			next = day
		}
		if q.TLSReports != nil && q.TLSReports.State != nil {
			q.saveTLSState(ctx, false)
			if save := q.now().Add(tlsSaveEvery); next.IsZero() || save.Before(next) {
				next = save
			}
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(next.Sub(q.now()), time.Second)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			q.wg.Wait()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			q.saveTLSState(sctx, true)
			cancel()
			q.Logger.Info("queue stopped")
			return nil
		case <-q.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Process starts a worker for every domain with due entries and waits for
// all of them. Tests drive the queue with it and a fake clock.
func (q *Queue) Process(ctx context.Context) error {
	q.init()
	_, err := q.startDue(ctx)
	q.wg.Wait()
	return err
}

// startDue starts workers for due entries and returns when the earliest
// entry not started is due (zero: none).
func (q *Queue) startDue(ctx context.Context) (time.Time, error) {
	entries, err := q.Store.QueueEntries(ctx)
	if err != nil {
		return time.Time{}, err
	}
	now := q.now()
	var next time.Time
	due := map[string][]int64{}
	var order []string
	for _, e := range entries {
		if e.Held {
			continue
		}
		if e.NextAttempt.After(now) {
			if next.IsZero() || e.NextAttempt.Before(next) {
				next = e.NextAttempt
			}
			continue
		}
		if due[e.Domain] == nil {
			order = append(order, e.Domain)
		}
		due[e.Domain] = append(due[e.Domain], e.ID)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, d := range order {
		if q.busy[d] {
			continue // its worker looks again when done
		}
		if q.running >= q.Options.Concurrency {
			// Try again as soon as a worker finishes (it wakes Run).
			if next.IsZero() || next.After(now) {
				next = now
			}
			break
		}
		q.busy[d] = true
		q.running++
		q.wg.Add(1)
		go q.worker(ctx, d, due[d])
	}
	return next, nil
}

// worker attempts the due entries of one domain in turn.
func (q *Queue) worker(ctx context.Context, domain string, ids []int64) {
	defer func() {
		q.mu.Lock()
		delete(q.busy, domain)
		q.running--
		q.mu.Unlock()
		q.wg.Done()
		q.Wake()
	}()
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		e, err := q.Store.QueueEntry(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // dropped meanwhile
		} else if err != nil {
			q.Logger.Error("reading queue entry", "queue_id", id, "err", err)
			continue
		}
		if e.Held || e.NextAttempt.After(q.now()) {
			continue // held or rescheduled meanwhile
		}
		q.attempt(ctx, e)
	}
}

// backoff is the wait after a failed attempt of a message of age age:
// age + RetryInitial, at most RetryMax. For attempts made on schedule this
// doubles the wait each time (5m, 10m, 20m, 40m … with the defaults: the
// age at the n-th attempt is RetryInitial·(2^(n-1)-1)); because it depends
// on the age and not on the number of attempts, an attempt forced by
// "posthorn queue retry" does not push the next one further out (as
// Postfix's back-off, which also follows the message's age).
func (q *Queue) backoff(age time.Duration) time.Duration {
	return min(max(age, 0)+q.Options.RetryInitial, q.Options.RetryMax)
}
