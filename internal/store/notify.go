package store

import "sync"

// Subscription receives one account's changes in commit order. C is
// signalled (capacity one, coalescing) whenever Next has something to return.
type Subscription struct {
	C <-chan struct{}

	c       chan struct{}
	mu      sync.Mutex
	pending []Change
	cancel  func()
}

func newSubscription() *Subscription {
	c := make(chan struct{}, 1)
	return &Subscription{C: c, c: c}
}

// Next returns the changes published since the last call, oldest first.
func (s *Subscription) Next() []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending
	s.pending = nil
	return p
}

// Close ends the subscription.
func (s *Subscription) Close() {
	if s.cancel != nil {
		s.cancel()
	}
}

func (s *Subscription) push(ch Change) {
	s.mu.Lock()
	s.pending = append(s.pending, ch)
	s.mu.Unlock()
	select {
	case s.c <- struct{}{}:
	default:
	}
}

// LocalNotifier is the in-process Notifier.
type LocalNotifier struct {
	mu   sync.Mutex
	subs map[int64]map[*Subscription]struct{}
}

var _ Notifier = (*LocalNotifier)(nil)

// NewLocalNotifier returns an in-process notifier.
func NewLocalNotifier() *LocalNotifier {
	return &LocalNotifier{subs: map[int64]map[*Subscription]struct{}{}}
}

// Subscribe implements Notifier.
func (n *LocalNotifier) Subscribe(accountID int64) *Subscription {
	s := newSubscription()
	n.mu.Lock()
	m := n.subs[accountID]
	if m == nil {
		m = map[*Subscription]struct{}{}
		n.subs[accountID] = m
	}
	m[s] = struct{}{}
	n.mu.Unlock()
	s.cancel = func() {
		n.mu.Lock()
		delete(n.subs[accountID], s)
		if len(n.subs[accountID]) == 0 {
			delete(n.subs, accountID)
		}
		n.mu.Unlock()
	}
	return s
}

// Publish implements Notifier. Changes are delivered in the order given;
// the store publishes under its commit order.
func (n *LocalNotifier) Publish(changes ...Change) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ch := range changes {
		for s := range n.subs[ch.AccountID] {
			s.push(ch)
		}
	}
}
