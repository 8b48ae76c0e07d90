package store

import (
	"context"
	"strings"
	"testing"
)

// Queue entry ids are never given twice, even after the largest is
// dropped, and the message id is kept (issue 12 §3).
func TestQueueIDsNotReused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	enq := func(mid string) QueueEntry {
		t.Helper()
		es, err := s.Enqueue(ctx, strings.NewReader("Subject: x\r\n\r\nx\r\n"), []QueueEntry{{Sender: "a@example.com", Domain: "remote.example",
			Recipients: []QueueRecipient{{Address: "x@remote.example"}}, MessageID: mid}})
		if err != nil {
			t.Fatal(err)
		}
		return es[0]
	}
	a, b := enq("m1"), enq("m2")
	if err := s.DeleteQueueEntry(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	c := enq("m3")
	if c.ID == b.ID || c.ID <= b.ID {
		t.Errorf("ids %d %d, then %d after dropping %d: reused", a.ID, b.ID, c.ID, b.ID)
	}
	s.Close()
	s = openTest(t, dir)
	if err := s.DeleteQueueEntry(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	d := enq("m4")
	if d.ID <= c.ID {
		t.Errorf("after a restart: id %d, the dropped %d was %d", d.ID, c.ID, c.ID)
	}
	got, err := s.QueueEntry(ctx, d.ID)
	if err != nil || got.MessageID != "m4" {
		t.Errorf("QueueEntry = %+v, %v", got, err)
	}
}

func TestState(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	if v, err := s.State(ctx, "k"); v != nil || err != nil {
		t.Fatalf("State of nothing = %q, %v", v, err)
	}
	if err := s.SetState(ctx, "k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTest(t, dir)
	if v, err := s.State(ctx, "k"); string(v) != "v1" || err != nil {
		t.Errorf("State after reopening = %q, %v", v, err)
	}
	if err := s.SetState(ctx, "k", nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.State(ctx, "k"); v != nil {
		t.Errorf("State after removal = %q", v)
	}
}
