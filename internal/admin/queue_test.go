package admin

import (
	"context"
	"strings"
	"testing"

	"github.com/posthorn/posthorn/internal/store"
)

type waker struct{ n int }

func (w *waker) Wake() { w.n++ }

func TestQueueOperations(t *testing.T) {
	ctx := context.Background()
	a := newAdmin(t)
	w := &waker{}
	a.Queue = w
	msg := "From: a@example.com\r\nSubject: queued\r\n\r\nbody\r\n"
	es, err := a.Store.Enqueue(ctx, strings.NewReader(msg), []store.QueueEntry{
		{Sender: "a@example.com", Domain: "remote.example", Recipients: []store.QueueRecipient{{Address: "x@remote.example"}}},
		{Sender: "a@example.com", Domain: "other.example", Recipients: []store.QueueRecipient{{Address: "y@other.example", Status: "delivered"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	list, err := a.ListQueue(ctx, Empty{})
	if err != nil || len(list) != 2 || list[0].Recipients[0].Status != "pending" {
		t.Fatalf("ListQueue = %+v, %v", list, err)
	}
	id := es[0].ID
	info, err := a.ShowQueue(ctx, QueueRequest{ID: id})
	if err != nil || !strings.Contains(info.Header, "Subject: queued") {
		t.Fatalf("ShowQueue = %+v, %v", info, err)
	}
	if info, err := a.HoldQueue(ctx, QueueRequest{ID: id}); err != nil || !info.Held {
		t.Fatalf("HoldQueue = %+v, %v", info, err)
	}
	if e, _ := a.Store.QueueEntry(ctx, id); !e.Held {
		t.Errorf("entry not held in the store")
	}
	// Retry never releases a held entry (issue 12 §3).
	if _, err := a.RetryQueue(ctx, QueueRequest{ID: id}); !isUserError(err) || !strings.Contains(err.Error(), "posthorn queue release") {
		t.Errorf("RetryQueue of a held entry: %v", err)
	}
	if got, err := a.RetryQueue(ctx, QueueRequest{}); err != nil || len(got) != 1 || got[0].ID == id {
		t.Errorf("RetryQueue(all) with one held = %+v, %v", got, err)
	}
	if e, _ := a.Store.QueueEntry(ctx, id); !e.Held {
		t.Errorf("retry released a held entry")
	}
	if info, err := a.ReleaseQueue(ctx, QueueRequest{ID: id}); err != nil || info.Held {
		t.Fatalf("ReleaseQueue = %+v, %v", info, err)
	}
	if got, err := a.RetryQueue(ctx, QueueRequest{}); err != nil || len(got) != 2 {
		t.Fatalf("RetryQueue(all) = %d, %v", len(got), err)
	}
	if _, err := a.DropQueue(ctx, QueueRequest{ID: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ShowQueue(ctx, QueueRequest{ID: id}); !isUserError(err) {
		t.Errorf("ShowQueue of a dropped entry: %v", err)
	}
	if _, err := a.HoldQueue(ctx, QueueRequest{}); !isUserError(err) {
		t.Errorf("HoldQueue without id: %v", err)
	}
	if w.n != 4 {
		t.Errorf("queue woken %d times, want 4", w.n)
	}
}
