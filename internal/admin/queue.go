package admin

import (
	"bufio"
	"context"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/message"
	"github.com/posthorn/posthorn/internal/store"
)

// QueueWaker is the running outbound queue (*queue.Queue).
type QueueWaker interface {
	Wake()
}

// TLSReporter sends the pending TLS-RPT reports of the running server
// (*queue.Queue).
type TLSReporter interface {
	SendTLSReportsNow(ctx context.Context) int
}

// TLSReportsInfo says what SendTLSReports did.
type TLSReportsInfo struct {
	// Policies is the number of policies with sessions reported (each
	// policy domain that publishes a TLSRPT record gets its report).
	Policies int `json:"policies"`
}

// SendTLSReports sends the TLS-RPT reports of the sessions recorded so
// far today, now. Only the running server holds the tallies.
func (a *Admin) SendTLSReports(ctx context.Context, _ Empty) (TLSReportsInfo, error) {
	if a.TLSReports == nil {
		return TLSReportsInfo{}, userErr(nil, "TLS reports are sent by the running server (posthorn serve), with queue.tls_reports on; it is not running or reporting is off")
	}
	n := a.TLSReports.SendTLSReportsNow(ctx)
	a.log().Info("TLS reports sent on request", "policies", n)
	return TLSReportsInfo{Policies: n}, nil
}

// QueueRequest names a queue entry; for RetryQueue, 0 means every entry.
type QueueRequest struct {
	ID int64 `json:"id"`
}

// QueueEntryInfo describes a queued message for one destination domain.
type QueueEntryInfo struct {
	ID int64 `json:"id"`
	// MessageID is the id of the SMTP reply and log lines the entry was
	// queued from; several entries (one per domain) may share it.
	MessageID   string               `json:"message_id,omitempty"`
	Created     time.Time            `json:"created"`
	Sender      string               `json:"sender"` // "" for the null sender (a bounce)
	Domain      string               `json:"domain"`
	Recipients  []QueueRecipientInfo `json:"recipients"`
	Size        int64                `json:"size"`
	Attempts    int                  `json:"attempts"`
	NextAttempt time.Time            `json:"next_attempt"`
	LastError   string               `json:"last_error,omitempty"`
	Held        bool                 `json:"held"`
	EnvID       string               `json:"envid,omitempty"`
	Ret         string               `json:"ret,omitempty"`
	RequireTLS  bool                 `json:"requiretls,omitempty"`
	// Header is the message's header section (ShowQueue only).
	Header string `json:"header,omitempty"`
}

// QueueRecipientInfo is one recipient of a queue entry.
type QueueRecipientInfo struct {
	Address string `json:"address"`
	Status  string `json:"status"` // "pending", "delivered" or "failed"
	Reply   string `json:"reply,omitempty"`
	Notify  string `json:"notify,omitempty"`
	ORcpt   string `json:"orcpt,omitempty"`
}

func queueInfo(e store.QueueEntry) QueueEntryInfo {
	info := QueueEntryInfo{
		ID: e.ID, MessageID: e.MessageID, Created: e.Created, Sender: e.Sender, Domain: e.Domain, Size: e.Size,
		Attempts: e.Attempts, NextAttempt: e.NextAttempt, LastError: e.LastError, Held: e.Held,
		EnvID: e.EnvID, Ret: e.Ret, RequireTLS: e.RequireTLS,
	}
	for _, r := range e.Recipients {
		st := r.Status
		if st == "" {
			st = "pending"
		}
		info.Recipients = append(info.Recipients, QueueRecipientInfo{Address: r.Address, Status: st, Reply: r.Reply, Notify: r.Notify, ORcpt: r.ORcpt})
	}
	return info
}

func (a *Admin) queueEntry(ctx context.Context, id int64) (store.QueueEntry, error) {
	if id <= 0 {
		return store.QueueEntry{}, userErr(nil, "a queue entry id is required")
	}
	e, err := a.Store.QueueEntry(ctx, id)
	if err != nil {
		return e, storeErr(err, "queue entry")
	}
	return e, nil
}

func (a *Admin) wakeQueue() {
	if a.Queue != nil {
		a.Queue.Wake()
	}
}

// ListQueue returns every queued entry, the next due first.
func (a *Admin) ListQueue(ctx context.Context, _ Empty) ([]QueueEntryInfo, error) {
	es, err := a.Store.QueueEntries(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]QueueEntryInfo, 0, len(es))
	for _, e := range es {
		out = append(out, queueInfo(e))
	}
	return out, nil
}

// ShowQueue returns one entry with its message header.
func (a *Admin) ShowQueue(ctx context.Context, r QueueRequest) (QueueEntryInfo, error) {
	e, err := a.queueEntry(ctx, r.ID)
	if err != nil {
		return QueueEntryInfo{}, err
	}
	info := queueInfo(e)
	c, err := a.Store.OpenQueued(ctx, e)
	if err != nil {
		return QueueEntryInfo{}, err
	}
	defer c.Close()
	h, err := message.ReadHeader(bufio.NewReader(strings.NewReader(readAll(c))))
	if err == nil {
		var b strings.Builder
		for _, f := range h.Fields {
			b.Write(f.Raw)
		}
		info.Header = b.String()
	}
	return info, nil
}

// readAll reads up to the first 256 KiB of c (enough for a header).
func readAll(c store.Content) string {
	buf := make([]byte, min(c.Size(), 256<<10))
	n, _ := c.ReadAt(buf, 0)
	return string(buf[:n])
}

// RetryQueue makes an entry (or, with ID 0, every entry) due now. A held
// entry stays held: retrying all skips it, retrying it by id is refused
// (ReleaseQueue releases it and tries it).
func (a *Admin) RetryQueue(ctx context.Context, r QueueRequest) ([]QueueEntryInfo, error) {
	var es []store.QueueEntry
	if r.ID == 0 {
		all, err := a.Store.QueueEntries(ctx)
		if err != nil {
			return nil, err
		}
		es = all
	} else {
		e, err := a.queueEntry(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		if e.Held {
			return nil, userErr(nil, "queue entry %d is held; release it to try it now: posthorn queue release %d", e.ID, e.ID)
		}
		es = []store.QueueEntry{e}
	}
	out := []QueueEntryInfo{}
	held := 0
	for _, e := range es {
		if e.Held {
			held++
			continue
		}
		e.NextAttempt = a.now()
		if err := a.Store.UpdateQueueEntry(ctx, e); err != nil {
			return nil, storeErr(err, "queue entry")
		}
		out = append(out, queueInfo(e))
	}
	a.log().Info("queue retry", "entries", len(out), "held_skipped", held)
	a.wakeQueue()
	return out, nil
}

// HoldQueue keeps an entry from being delivered until released.
func (a *Admin) HoldQueue(ctx context.Context, r QueueRequest) (QueueEntryInfo, error) {
	return a.setHeld(ctx, r.ID, true)
}

// ReleaseQueue lets a held entry be delivered again, at once.
func (a *Admin) ReleaseQueue(ctx context.Context, r QueueRequest) (QueueEntryInfo, error) {
	return a.setHeld(ctx, r.ID, false)
}

func (a *Admin) setHeld(ctx context.Context, id int64, held bool) (QueueEntryInfo, error) {
	e, err := a.queueEntry(ctx, id)
	if err != nil {
		return QueueEntryInfo{}, err
	}
	e.Held = held
	if !held {
		e.NextAttempt = a.now()
	}
	if err := a.Store.UpdateQueueEntry(ctx, e); err != nil {
		return QueueEntryInfo{}, storeErr(err, "queue entry")
	}
	a.log().Info("queue entry held", "queue_id", id, "held", held)
	a.wakeQueue()
	return queueInfo(e), nil
}

// DropQueue removes an entry without delivering it or telling the sender.
func (a *Admin) DropQueue(ctx context.Context, r QueueRequest) (Empty, error) {
	if _, err := a.queueEntry(ctx, r.ID); err != nil {
		return Empty{}, err
	}
	if err := a.Store.DeleteQueueEntry(ctx, r.ID); err != nil {
		return Empty{}, storeErr(err, "queue entry")
	}
	a.log().Info("queue entry dropped", "queue_id", r.ID)
	return Empty{}, nil
}
