package storetest

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/store"
)

func (f *fixture) queued(e store.QueueEntry) []byte {
	f.t.Helper()
	c, err := f.s.OpenQueued(f.ctx, e)
	f.must(err, "OpenQueued")
	defer c.Close()
	b, err := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
	f.must(err, "read queued")
	return b
}

func testQueue(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	body := []byte(testBody("queued") + strings.Repeat("line of text\r\n", 5000))
	next := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	in := []store.QueueEntry{
		{Sender: "a@example.org", Domain: "remote.example", EnvID: "env1", Ret: "HDRS", SMTPUTF8: true,
			Recipients: []store.QueueRecipient{
				{Address: "x@remote.example", Notify: "SUCCESS,FAILURE", ORcpt: "rfc822;x@remote.example"},
				{Address: "y@remote.example"},
			}, NextAttempt: next},
		{Sender: "", Domain: "other.example", RequireTLS: true,
			Recipients: []store.QueueRecipient{{Address: "z@other.example"}}, NextAttempt: next},
	}
	out, err := f.s.Enqueue(ctx, bytes.NewReader(body), in)
	f.must(err, "Enqueue")
	if len(out) != 2 {
		t.Fatalf("Enqueue returned %d entries", len(out))
	}
	if out[0].ID == 0 || out[1].ID == 0 || out[0].ID == out[1].ID {
		t.Errorf("entry IDs %d, %d", out[0].ID, out[1].ID)
	}
	if out[0].BlobID == 0 || out[0].BlobID != out[1].BlobID {
		t.Errorf("BlobIDs %d, %d: body not stored once", out[0].BlobID, out[1].BlobID)
	}
	for i, e := range out {
		if e.Size != int64(len(body)) {
			t.Errorf("entry %d: Size %d, want %d", i, e.Size, len(body))
		}
		if got := f.queued(e); !bytes.Equal(got, body) {
			t.Errorf("entry %d: OpenQueued returned %d bytes, not the body", i, len(got))
		}
		got, err := f.s.QueueEntry(ctx, e.ID)
		f.must(err, "QueueEntry")
		checkQueueEntry(t, got, in[i])
		if got.Created.IsZero() {
			t.Errorf("entry %d: zero Created", i)
		}
	}
	list, err := f.s.QueueEntries(ctx)
	f.must(err, "QueueEntries")
	if len(list) != 2 {
		t.Fatalf("QueueEntries = %+v", list)
	}

	// Update: attempts, next attempt, last error, held, recipient statuses.
	e := out[0]
	e.Attempts = 3
	e.NextAttempt = next.Add(time.Hour)
	e.LastError = "451 4.7.1 try later"
	e.Held = true
	e.Recipients = slices.Clone(e.Recipients)
	e.Recipients[0].Status = "delivered"
	e.Recipients[0].Reply = "250 2.0.0 ok"
	e.Recipients[1].Status = "failed"
	e.Recipients[1].Reply = "550 5.1.1 no such user"
	f.must(f.s.UpdateQueueEntry(ctx, e), "UpdateQueueEntry")
	got, err := f.s.QueueEntry(ctx, e.ID)
	f.must(err, "QueueEntry")
	if got.Attempts != 3 || !got.NextAttempt.Equal(e.NextAttempt) || got.LastError != e.LastError || !got.Held {
		t.Errorf("after update: %+v", got)
	}
	if !slices.Equal(got.Recipients, e.Recipients) {
		t.Errorf("recipients after update: %+v, want %+v", got.Recipients, e.Recipients)
	}
	if o, _ := f.s.QueueEntry(ctx, out[1].ID); o.Attempts != 0 || o.Held {
		t.Errorf("update touched another entry: %+v", o)
	}
	wantErr(t, "UpdateQueueEntry missing", f.s.UpdateQueueEntry(ctx, store.QueueEntry{ID: 987654}), store.ErrNotFound)

	// Delete: the shared blob lives until its last entry goes.
	f.must(f.s.DeleteQueueEntry(ctx, out[0].ID), "DeleteQueueEntry")
	_, err = f.s.QueueEntry(ctx, out[0].ID)
	wantErr(t, "QueueEntry after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteQueueEntry again", f.s.DeleteQueueEntry(ctx, out[0].ID), store.ErrNotFound)
	if got := f.queued(out[1]); !bytes.Equal(got, body) {
		t.Errorf("remaining entry lost its body")
	}
	f.must(f.s.DeleteQueueEntry(ctx, out[1].ID), "DeleteQueueEntry")
	if c, err := f.s.OpenQueued(ctx, out[1]); err == nil {
		c.Close()
		t.Errorf("OpenQueued after the last entry was deleted succeeded: blob not freed")
	}
	if list, _ := f.s.QueueEntries(ctx); len(list) != 0 {
		t.Errorf("QueueEntries after deletes = %+v", list)
	}
	// A queue blob and a mailbox message are independent.
	a := f.account("a@example.org")
	m := f.deliver(string(body), inbox(a.ID))[0]
	q, err := f.s.Enqueue(ctx, bytes.NewReader(body), in[1:])
	f.must(err, "Enqueue")
	f.must(f.s.DeleteQueueEntry(ctx, q[0].ID), "DeleteQueueEntry")
	if got := f.content(m); !bytes.Equal(got, body) {
		t.Errorf("deleting a queue entry damaged a mailbox message")
	}
}

func checkQueueEntry(t *testing.T, got, want store.QueueEntry) {
	t.Helper()
	if got.Sender != want.Sender || got.Domain != want.Domain || got.EnvID != want.EnvID || got.Ret != want.Ret ||
		got.SMTPUTF8 != want.SMTPUTF8 || got.RequireTLS != want.RequireTLS || !got.NextAttempt.Equal(want.NextAttempt) ||
		got.Attempts != want.Attempts || got.Held != want.Held || got.LastError != want.LastError {
		t.Errorf("queue entry %+v\nwant %+v", got, want)
	}
	if !slices.Equal(got.Recipients, want.Recipients) {
		t.Errorf("recipients %+v, want %+v", got.Recipients, want.Recipients)
	}
}
