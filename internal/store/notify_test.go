package store_test

import (
	"sync"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/store"
)

func TestLocalNotifierOrder(t *testing.T) {
	n := store.NewLocalNotifier()
	s := n.Subscribe(1)
	defer s.Close()
	other := n.Subscribe(2)
	defer other.Close()
	n.Publish(store.Change{Kind: store.ChangeNew, AccountID: 1, ModSeq: 1},
		store.Change{Kind: store.ChangeNew, AccountID: 2, ModSeq: 2},
		store.Change{Kind: store.ChangeFlags, AccountID: 1, ModSeq: 3})
	n.Publish(store.Change{Kind: store.ChangeExpunge, AccountID: 1, ModSeq: 4})
	select {
	case <-s.C:
	default:
		t.Fatal("C not signalled")
	}
	got := s.Next()
	if len(got) != 3 || got[0].ModSeq != 1 || got[1].ModSeq != 3 || got[2].ModSeq != 4 {
		t.Errorf("Next = %+v", got)
	}
	if got := s.Next(); len(got) != 0 {
		t.Errorf("second Next = %+v", got)
	}
	if got := other.Next(); len(got) != 1 || got[0].ModSeq != 2 {
		t.Errorf("other account's Next = %+v", got)
	}
	// Two subscribers of one account both get everything.
	s2 := n.Subscribe(1)
	defer s2.Close()
	n.Publish(store.Change{AccountID: 1, ModSeq: 5})
	if a, b := s.Next(), s2.Next(); len(a) != 1 || len(b) != 1 {
		t.Errorf("two subscribers: %+v, %+v", a, b)
	}
}

// TestLocalNotifierSlowReader publishes from several goroutines while a
// reader that only wakes up occasionally drains: nothing is dropped, and each
// publisher's changes arrive in its order.
func TestLocalNotifierSlowReader(t *testing.T) {
	n := store.NewLocalNotifier()
	s := n.Subscribe(7)
	defer s.Close()
	const publishers, each = 4, 5000
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				n.Publish(store.Change{AccountID: 7, MailboxID: int64(p), ModSeq: uint64(i + 1)})
			}
		})
	}
	last := make([]uint64, publishers)
	total := 0
	deadline := time.After(20 * time.Second)
	for total < publishers*each {
		select {
		case <-s.C:
		case <-deadline:
			t.Fatalf("received %d of %d changes", total, publishers*each)
		}
		time.Sleep(time.Millisecond) // slow reader
		for _, ch := range s.Next() {
			if ch.ModSeq != last[ch.MailboxID]+1 {
				t.Fatalf("publisher %d: change %d after %d", ch.MailboxID, ch.ModSeq, last[ch.MailboxID])
			}
			last[ch.MailboxID] = ch.ModSeq
			total++
		}
	}
	wg.Wait()
	if extra := s.Next(); len(extra) != 0 {
		t.Errorf("%d changes more than published", len(extra))
	}
}

func TestLocalNotifierClose(t *testing.T) {
	n := store.NewLocalNotifier()
	s := n.Subscribe(1)
	keep := n.Subscribe(1)
	defer keep.Close()
	n.Publish(store.Change{AccountID: 1, ModSeq: 1})
	s.Close()
	n.Publish(store.Change{AccountID: 1, ModSeq: 2})
	got := s.Next()
	if len(got) != 1 || got[0].ModSeq != 1 {
		t.Errorf("closed subscription: Next = %+v, want only the change before Close", got)
	}
	if got := keep.Next(); len(got) != 2 {
		t.Errorf("other subscription after Close: %+v", got)
	}
	s.Close() // idempotent
	// Closing the last subscription of an account, then subscribing again.
	keep.Close()
	s3 := n.Subscribe(1)
	defer s3.Close()
	n.Publish(store.Change{AccountID: 1, ModSeq: 3})
	if got := s3.Next(); len(got) != 1 || got[0].ModSeq != 3 {
		t.Errorf("new subscription: %+v", got)
	}
	// Publishing with no subscriber, and with a closed one, does not block.
	done := make(chan struct{})
	go func() {
		for i := range 1000 {
			n.Publish(store.Change{AccountID: 99, ModSeq: uint64(i)})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute): // blocked, not slow
		t.Fatal("Publish blocked")
	}
}
