package queue

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/srs"
	"github.com/posthorn/posthorn/internal/store"
)

// outcome is what one attempt did to one recipient.
type outcome struct {
	index  int // in the entry's Recipients
	action string
	status string
	diag   string
	remote bool // diag is the remote server's reply
}

// attempt tries to deliver e's pending recipients once, records the
// results, sends the DSNs they call for, and reschedules or removes e.
func (q *Queue) attempt(ctx context.Context, e store.QueueEntry) {
	log := q.Logger.With("queue_id", e.ID, "domain", e.Domain, "from", senderString(e.Sender))
	if e.MessageID != "" {
		log = log.With("id", e.MessageID) // the id of the SMTP reply and log
	}
	content, err := q.Store.OpenQueued(ctx, e)
	if err != nil {
		log.Error("opening queued message", "err", err)
		return
	}
	defer content.Close()
	var pending []int
	msg := Message{
		From: e.Sender, Body: content, Size: content.Size(), EnvID: e.EnvID, Ret: e.Ret,
		SMTPUTF8: e.SMTPUTF8 && needsUTF8(e, content), RequireTLS: e.RequireTLS, Body8Bit: has8Bit(content),
	}
	for i, r := range e.Recipients {
		if r.Status == "" {
			pending = append(pending, i)
			msg.Recipients = append(msg.Recipients, Recipient{Address: r.Address, Notify: r.Notify, ORcpt: r.ORcpt})
		}
	}
	if len(pending) == 0 {
		q.finish(ctx, log, e)
		return
	}
	res := q.send(ctx, e, msg)
	if ctx.Err() != nil {
		return // shutting down: the entry stays due
	}
	now := q.now()
	e.Attempts++
	outs, answers, lastErr := q.results(&e, pending, res)
	e.LastError = lastErr
	stillPending, delivered := false, 0
	for _, i := range pending {
		switch r := e.Recipients[i]; r.Status {
		case "":
			stillPending = true
		case "delivered":
			delivered++
			log.Info("delivered", "to", r.Address, "attempt", e.Attempts, "mx", res.MX, "tls", res.TLS, "reply", r.Reply)
		}
	}
	if q.Observer != nil {
		q.Observer.Delivered("remote", delivered)
	}
	if stillPending {
		outs = append(outs, q.reschedule(&e, now, answers)...)
	}
	q.report(ctx, log, e, content, res.MX, outs, now)
	for _, o := range outs {
		r := e.Recipients[o.index]
		log.Info("recipient "+o.action, "to", r.Address, "attempt", e.Attempts, "mx", res.MX, "reply", o.diag)
	}
	// Every attempt leaves a line per recipient: a deferral too, with the
	// remote reply (or our reason) and when it is tried again.
	for _, i := range pending {
		if r := e.Recipients[i]; r.Status == "" {
			log.Info("deferred", "to", r.Address, "attempt", e.Attempts, "mx", res.MX, "reply", r.Reply, "next_attempt", e.NextAttempt.UTC().Format(time.RFC3339))
		}
	}
	if stillPending {
		// An administrator may have held or dropped the entry meanwhile.
		cur, err := q.Store.QueueEntry(ctx, e.ID)
		if errors.Is(err, store.ErrNotFound) {
			log.Info("queue entry dropped during the attempt")
			return
		} else if err == nil {
			e.Held = cur.Held
		}
		if err := q.Store.UpdateQueueEntry(ctx, e); err != nil {
			log.Error("updating queue entry", "err", err)
		}
		return
	}
	q.finish(ctx, log, e)
}

// finish removes a done entry.
func (q *Queue) finish(ctx context.Context, log interface{ Error(string, ...any) }, e store.QueueEntry) {
	if err := q.Store.DeleteQueueEntry(ctx, e.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		log.Error("removing delivered queue entry", "err", err)
	}
}

// results records res in e's recipients and returns what became final,
// this attempt's answer for each recipient still pending (by index), and
// lastErr summarising the temporary failures.
func (q *Queue) results(e *store.QueueEntry, pending []int, res Result) ([]outcome, map[int]RecipientResult, string) {
	byAddr := map[string]RecipientResult{}
	for _, r := range res.PerRecipient {
		byAddr[strings.ToLower(r.Address)] = r
	}
	var outs []outcome
	var temp []string
	answers := map[int]RecipientResult{}
	for _, i := range pending {
		rc := &e.Recipients[i]
		rr, ok := byAddr[strings.ToLower(rc.Address)]
		switch {
		case ok:
			rc.Reply = reply(rr)
			switch {
			case rr.Delivered:
				rc.Status = "delivered"
				if wants(rc.Notify, "SUCCESS") && !res.DSN {
					outs = append(outs, outcome{i, ActionRelayed, statusOf(rr, "2.0.0"), rc.Reply, rr.Remote})
				}
			case rr.Permanent:
				rc.Status = "failed"
				outs = append(outs, outcome{i, ActionFailed, statusOf(rr, "5.0.0"), rc.Reply, rr.Remote})
			default:
				answers[i] = rr
				temp = append(temp, rc.Address+": "+rc.Reply)
			}
		case res.Err != nil && permanent(res.Err):
			rc.Status, rc.Reply = "failed", res.Err.Error()
			outs = append(outs, outcome{i, ActionFailed, "5.4.4", rc.Reply, false})
		default:
			why := "no answer for this recipient"
			if res.Err != nil {
				why = res.Err.Error()
			}
			rc.Reply = why
			temp = append(temp, why)
		}
	}
	return outs, answers, strings.Join(dedup(temp), "; ")
}

// reschedule sets the next attempt of an entry with pending recipients,
// or fails them when the entry has expired; it returns the expiry
// failures and the delay warnings due. answers are this attempt's
// temporary answers: a delay notice carries the server's status code and
// reply (RFC 3464 §2.3.4), not a generic 4.0.0.
func (q *Queue) reschedule(e *store.QueueEntry, now time.Time, answers map[int]RecipientResult) []outcome {
	var outs []outcome
	if now.Sub(e.Created) >= q.Options.Expire {
		for i := range e.Recipients {
			rc := &e.Recipients[i]
			if rc.Status != "" {
				continue
			}
			rc.Status = "failed"
			status := "4.4.7" // RFC 3463: delivery time expired
			diag := fmt.Sprintf("gave up after %s of retrying; last error: %s", human(q.Options.Expire), rc.Reply)
			outs = append(outs, outcome{i, ActionFailed, status, diag, false})
		}
		return outs
	}
	e.NextAttempt = now.Add(q.backoff(now.Sub(e.Created)))
	if now.Sub(e.Created) < q.Options.DelayWarning {
		return nil
	}
	for i := range e.Recipients {
		rc := &e.Recipients[i]
		if rc.Status != "" || rc.DelayNotified || !wants(rc.Notify, "DELAY") {
			continue
		}
		rc.DelayNotified = true
		status, remote := "4.0.0", false
		if rr, ok := answers[i]; ok {
			status, remote = delayStatus(rr), rr.Remote
		}
		outs = append(outs, outcome{i, ActionDelayed, status, rc.Reply, remote})
	}
	return outs
}

// delayStatus is the Status of a delay notice: the server's enhanced code
// in class 4 (a 5xx answer kept temporary, e.g. by another MX's 4xx, is
// still a delay).
func delayStatus(rr RecipientResult) string {
	st := statusOf(rr, "4.0.0")
	if strings.HasPrefix(st, "5.") {
		st = "4" + st[1:]
	}
	return st
}

// report sends the sender one DSN for this attempt's outcomes.
func (q *Queue) report(ctx context.Context, log interface {
	Info(string, ...any)
	Error(string, ...any)
}, e store.QueueEntry, content io.ReaderAt, mx string, outs []outcome, now time.Time) {
	var rcpts []ReportRecipient
	for _, o := range outs {
		rc := e.Recipients[o.index]
		if o.action == ActionFailed && !wants(rc.Notify, "FAILURE") {
			continue
		}
		rr := ReportRecipient{
			Address: rc.Address, ORcpt: rc.ORcpt, Action: o.action, Status: o.status,
			Diagnostic: o.diag, Remote: o.remote, LastAttempt: now,
		}
		if o.remote && mx != "" {
			rr.RemoteMTA = mx
		} else {
			rr.Remote = false
		}
		rcpts = append(rcpts, rr)
	}
	if len(rcpts) == 0 {
		return
	}
	if e.Sender == "" {
		// RFC 5321 §4.5.5, RFC 3464 §2: never a DSN to the null sender;
		// this is how a bounce of a bounce ends.
		log.Info("not reporting to the null sender (a bounce of a bounce is dropped)", "recipients", len(rcpts))
		return
	}
	to, err := addr.ParseAddress(e.Sender)
	if err != nil {
		log.Error("cannot report to an unparsable sender", "err", err)
		return
	}
	if orig, ok := q.reverseSRS(to); ok {
		log.Info("reporting to the original sender of forwarded mail", "srs", e.Sender, "to", orig)
		to = orig
	}
	r := &Report{
		ReportingMTA: q.Hostname.ASCII, QueueID: e.ID, MessageID: e.MessageID, Sender: e.Sender, ArrivalDate: e.Created,
		EnvID: e.EnvID, Ret: e.Ret, Recipients: rcpts, Original: content, OriginalSize: e.Size,
		Date: now, RetryUntil: e.Created.Add(q.Options.Expire),
	}
	if err := q.SendReport(ctx, to, r.Compose()); err != nil {
		log.Error("sending delivery status notification", "to", e.Sender, "err", err)
		return
	}
	log.Info("delivery status notification sent", "to", e.Sender, "action", rcpts[0].Action, "recipients", len(rcpts))
}

// reverseSRS returns the address an SRS sender this server made stands
// for: the report of forwarded mail goes back to the original sender
// (through the queue when remote), not to local delivery of the SRS
// address, which has no mailbox. An address that does not verify (made by
// another forwarder, forged or expired) is not reversed.
func (q *Queue) reverseSRS(a addr.Address) (addr.Address, bool) {
	if q.SRS == nil || !srs.IsSRS(a.Localpart) {
		return a, false
	}
	orig, err := q.SRS.Reverse(a)
	if err != nil {
		return a, false
	}
	return orig, true
}

// SendReport delivers a DSN (or any message from the null sender) to to:
// locally when to is local, through the queue otherwise.
func (q *Queue) SendReport(ctx context.Context, to addr.Address, msg []byte) error {
	if q.Local != nil {
		err := q.Local.DeliverLocal(ctx, to, msg)
		if err == nil || !errors.Is(err, ErrNotLocal) {
			return err
		}
	}
	_, err := q.Store.Enqueue(ctx, strings.NewReader(string(msg)), []store.QueueEntry{{
		Domain:     to.Domain.ASCII,
		Recipients: []store.QueueRecipient{{Address: to.String(), Notify: "NEVER"}},
	}})
	if err == nil {
		q.Wake()
	}
	return err
}

// wants reports whether a NOTIFY value asks for kind; an absent NOTIFY
// means FAILURE,DELAY (RFC 3461 §4.1).
func wants(notify, kind string) bool {
	if notify == "" {
		return kind == "FAILURE" || kind == "DELAY"
	}
	for _, n := range strings.Split(notify, ",") {
		if strings.EqualFold(strings.TrimSpace(n), kind) {
			return true
		}
	}
	return false
}

func reply(r RecipientResult) string {
	s := fmt.Sprint(r.Code)
	if r.Enhanced != "" {
		s += " " + r.Enhanced
	}
	if r.Text != "" {
		s += " " + r.Text
	}
	return s
}

func statusOf(r RecipientResult, def string) string {
	if r.Enhanced != "" {
		return r.Enhanced
	}
	if r.Code >= 200 && r.Code < 600 {
		return fmt.Sprintf("%d.0.0", r.Code/100)
	}
	return def
}

// permanent reports an attempt error that says it is permanent.
func permanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

func dedup(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func senderString(s string) string {
	if s == "" {
		return "<>"
	}
	return s
}

// human writes a duration in days or hours.
func human(d time.Duration) string {
	if d >= 48*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}

// has8Bit reports whether the message has bytes above 127.
func has8Bit(r io.ReaderAt) bool {
	buf := make([]byte, 64<<10)
	var off int64
	for {
		n, err := r.ReadAt(buf, off)
		for _, c := range buf[:n] {
			if c >= 0x80 {
				return true
			}
		}
		off += int64(n)
		if err != nil || n == 0 {
			return false
		}
	}
}

// needsUTF8 reports whether e really needs SMTPUTF8 (non-ASCII envelope
// addresses or header fields). Clients such as Go's net/smtp give the
// SMTPUTF8 parameter whenever it is offered; RFC 6531 §3.4 says not to
// pass it on when nothing needs it, so such a message still reaches a
// server without SMTPUTF8.
func needsUTF8(e store.QueueEntry, r io.ReaderAt) bool {
	if !isASCII(e.Sender) {
		return true
	}
	for _, rc := range e.Recipients {
		if !isASCII(rc.Address) {
			return true
		}
	}
	return headerHas8Bit(r)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// headerHas8Bit reports whether the header section (up to the first empty
// line) has bytes above 127.
func headerHas8Bit(r io.ReaderAt) bool {
	br := bufio.NewReader(io.NewSectionReader(r, 0, 1<<62))
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			err = nil
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 && (err != nil || len(line) > 0) {
			return false
		}
		for _, c := range line {
			if c >= 0x80 {
				return true
			}
		}
		if err != nil {
			return false
		}
	}
}
