package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/posthorn/posthorn/internal/store"
)

// testConcurrentMailbox has many goroutines deliver into one mailbox while
// others change flags and expunge. Afterwards UIDs must be unique and follow
// MODSEQ order, counts must match, and the notifier must have carried every
// change exactly once, in MODSEQ order.
func testConcurrentMailbox(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	in := f.mailbox(a.ID, "INBOX")
	w := f.watch(a.ID)
	const deliverers, perDeliverer = 8, 30
	run := &concurrentRun{f: f, accountID: a.ID, mailboxID: in.ID, flagState: map[event]store.Flags{}, errs: make(chan error, 100)}
	run.run(deliverers, perDeliverer, 3, 2)
	for err := range run.errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	chs := w.sync()
	t.Logf("%d deliveries, %d flag changes, %d expunged", len(run.delivered), len(run.flagged), len(run.expunged))
	if len(run.delivered) != deliverers*perDeliverer {
		t.Fatalf("delivered %d, want %d", len(run.delivered), deliverers*perDeliverer)
	}
	run.checkOrder(t)
	run.checkNotifications(t, chs)
	run.checkFinal(t)
	f.checkConsistent(a.ID)
}

// concurrentRun records what the goroutines of testConcurrentMailbox did.
type concurrentRun struct {
	f                    *fixture
	accountID, mailboxID int64
	errs                 chan error

	mu        sync.Mutex
	delivered []store.Message // in the mailbox, as returned by Deliver
	live      []uint32        // delivered, not yet expunged
	flagged   []event         // from FlagResult.Changed
	flagState map[event]store.Flags
	expunged  []uint32
}

func (c *concurrentRun) fail(err error) {
	select {
	case c.errs <- err:
	default:
	}
}

// pick returns up to n random live UIDs.
func (c *concurrentRun) pick(r *rand.Rand, n int) []uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var u []uint32
	for range n {
		if len(c.live) > 0 {
			u = append(u, c.live[r.IntN(len(c.live))])
		}
	}
	return u
}

// run starts the goroutines, waits for them and closes c.errs.
func (c *concurrentRun) run(deliverers, perDeliverer, flaggers, expungers int) {
	done := make(chan struct{})
	var dwg, owg sync.WaitGroup
	for g := range deliverers {
		dwg.Go(func() { c.deliver(g, perDeliverer) })
	}
	for g := range flaggers {
		owg.Go(func() { c.loop(done, rand.New(rand.NewPCG(uint64(g), 1)), c.changeFlags) })
	}
	for g := range expungers {
		owg.Go(func() { c.loop(done, rand.New(rand.NewPCG(uint64(g), 2)), c.expunge) })
	}
	dwg.Wait()
	close(done)
	owg.Wait()
	close(c.errs)
}

func (c *concurrentRun) deliver(g, n int) {
	ctx := c.f.ctx
	for i := range n {
		tg := []store.Target{inbox(c.accountID)}
		if i%5 == 0 {
			tg = append(tg, store.Target{AccountID: c.accountID, Mailbox: "Archive"})
		}
		ms, err := c.f.s.Deliver(ctx, store.Delivery{Body: stringsReader(testBody(fmt.Sprintf("c%d-%d", g, i))), Targets: tg})
		if err != nil {
			c.fail(fmt.Errorf("deliver: %w", err))
			return
		}
		c.mu.Lock()
		c.delivered = append(c.delivered, ms[0])
		c.live = append(c.live, ms[0].UID)
		c.mu.Unlock()
	}
}

// loop runs op until done is closed, then once more.
func (c *concurrentRun) loop(done <-chan struct{}, r *rand.Rand, op func(*rand.Rand) error) {
	for stop := false; !stop; {
		select {
		case <-done:
			stop = true
		default:
		}
		if err := op(r); err != nil {
			c.fail(err)
			return
		}
	}
}

func (c *concurrentRun) storeFlags(uids []uint32, op store.FlagOp, fl store.Flags) error {
	res, err := c.f.s.StoreFlags(c.f.ctx, store.FlagChange{AccountID: c.accountID, MailboxID: c.mailboxID, UIDs: uids, Op: op, Flags: fl})
	if err != nil {
		return fmt.Errorf("store flags: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range res.Changed {
		e := event{store.ChangeFlags, c.mailboxID, m.UID, m.ModSeq}
		c.flagged = append(c.flagged, e)
		c.flagState[e] = m.Flags
	}
	return nil
}

func (c *concurrentRun) changeFlags(r *rand.Rand) error {
	uids := c.pick(r, 1+r.IntN(4))
	if len(uids) == 0 {
		return nil
	}
	fl := []store.Flags{store.FlagSeen, store.FlagFlagged, store.FlagAnswered}[r.IntN(3)]
	op := []store.FlagOp{store.FlagsAdd, store.FlagsRemove, store.FlagsReplace}[r.IntN(3)]
	return c.storeFlags(uids, op, fl)
}

// expunge marks some messages \Deleted and expunges them, by UID or all
// \Deleted ones (which may include another expunger's).
func (c *concurrentRun) expunge(r *rand.Rand) error {
	uids := c.pick(r, 1+r.IntN(3))
	if len(uids) == 0 {
		return nil
	}
	if err := c.storeFlags(uids, store.FlagsAdd, store.FlagDeleted); err != nil {
		return err
	}
	var gone []uint32
	var err error
	if r.IntN(2) == 0 {
		gone, err = c.f.s.Expunge(c.f.ctx, c.accountID, c.mailboxID, uids)
	} else {
		gone, err = c.f.s.Expunge(c.f.ctx, c.accountID, c.mailboxID, nil)
	}
	if err != nil {
		return fmt.Errorf("expunge: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expunged = append(c.expunged, gone...)
	for _, u := range gone {
		if i := slices.Index(c.live, u); i >= 0 {
			c.live = slices.Delete(c.live, i, i+1)
		}
	}
	return nil
}

// checkOrder checks that UIDs follow MODSEQs and that nothing was expunged twice.
func (c *concurrentRun) checkOrder(t *testing.T) {
	byModSeq := slices.Clone(c.delivered)
	slices.SortStableFunc(byModSeq, func(x, y store.Message) int { return int(int64(x.ModSeq) - int64(y.ModSeq)) })
	for i := 1; i < len(byModSeq); i++ {
		p, m := byModSeq[i-1], byModSeq[i]
		if m.UID <= p.UID {
			t.Errorf("UID %d (MODSEQ %d) not above UID %d (MODSEQ %d)", m.UID, m.ModSeq, p.UID, p.ModSeq)
		}
	}
	seen := map[uint32]bool{}
	for _, u := range c.expunged {
		if seen[u] {
			t.Errorf("UID %d expunged twice", u)
		}
		seen[u] = true
	}
}

// checkNotifications checks that the mailbox's changes arrived in MODSEQ
// order and carry every delivery, flag change and expunge exactly once.
func (c *concurrentRun) checkNotifications(t *testing.T, chs []store.Change) {
	var mine []store.Change
	for _, ch := range chs {
		if ch.MailboxID == c.mailboxID {
			mine = append(mine, ch)
		}
	}
	checkModSeqOrder(t, "concurrent INBOX", mine)
	var gotNew, gotFlags []event
	var gotExp []uint32
	for _, e := range events(mine) {
		switch e.kind {
		case store.ChangeNew:
			gotNew = append(gotNew, e)
		case store.ChangeFlags:
			gotFlags = append(gotFlags, e)
		case store.ChangeExpunge:
			gotExp = append(gotExp, e.uid)
		}
	}
	if want := newEvents(c.delivered...); !slices.Equal(sortEvents(gotNew), sortEvents(want)) {
		t.Errorf("ChangeNew events: got %d, want %d (or different UIDs/MODSEQs)", len(gotNew), len(want))
	}
	if !slices.Equal(sortEventsFull(gotFlags), sortEventsFull(c.flagged)) {
		t.Errorf("ChangeFlags events: got %d, want %d (or different UIDs/MODSEQs)", len(gotFlags), len(c.flagged))
	}
	if !slices.Equal(sortedCopy(gotExp), sortedCopy(c.expunged)) {
		t.Errorf("ChangeExpunge UIDs: got %d, want %d", len(gotExp), len(c.expunged))
	}
}

// checkFinal checks the mailbox holds delivered minus expunged, each message
// with the flags and MODSEQ of its last change, and the tombstones.
func (c *concurrentRun) checkFinal(t *testing.T) {
	f := c.f
	gone := map[uint32]bool{}
	for _, u := range c.expunged {
		gone[u] = true
	}
	var wantUIDs []uint32
	delivModSeq := map[uint32]uint64{}
	for _, m := range c.delivered {
		delivModSeq[m.UID] = m.ModSeq
		if !gone[m.UID] {
			wantUIDs = append(wantUIDs, m.UID)
		}
	}
	final := f.messages(c.accountID, c.mailboxID)
	if got := uidsOf(final); !slices.Equal(got, sortedCopy(wantUIDs)) {
		t.Errorf("final mailbox has %d messages, want %d", len(got), len(wantUIDs))
	}
	lastFlag := map[uint32]event{}
	for _, e := range c.flagged {
		if e.modseq > lastFlag[e.uid].modseq {
			lastFlag[e.uid] = e
		}
	}
	for _, m := range final {
		want := delivModSeq[m.UID]
		var wantFlags store.Flags
		if e, ok := lastFlag[m.UID]; ok {
			want, wantFlags = e.modseq, c.flagState[e]
			if e.modseq <= delivModSeq[m.UID] {
				t.Errorf("UID %d: flag change MODSEQ %d not above its delivery MODSEQ %d", m.UID, e.modseq, delivModSeq[m.UID])
			}
		}
		if m.ModSeq != want || m.Flags != wantFlags {
			t.Errorf("UID %d: MODSEQ %d flags %v; want the last change's %d %v", m.UID, m.ModSeq, m.Flags, want, wantFlags)
		}
	}
	v, err := f.s.Vanished(f.ctx, c.accountID, c.mailboxID, 0)
	f.must(err, "Vanished")
	if !slices.Equal(sortedCopy(v), sortedCopy(c.expunged)) {
		t.Errorf("Vanished(0): %d UIDs, want %d", len(v), len(c.expunged))
	}
}

func sortEventsFull(ev []event) []event {
	ev = slices.Clone(ev)
	slices.SortFunc(ev, func(a, b event) int {
		if a.uid != b.uid {
			return int(int64(a.uid) - int64(b.uid))
		}
		return int(int64(a.modseq) - int64(b.modseq))
	})
	return ev
}

// testConcurrentAccounts runs directory and mailbox operations of several
// accounts at once, with cross-account deliveries.
func testConcurrentAccounts(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	f.addDomain("example.org")

	// Racing to create one address: exactly one wins.
	var wg sync.WaitGroup
	results := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := f.s.AddAccount(ctx, store.Account{Address: mustAddr("race@example.org")}, store.Credentials{})
			results <- err
		})
	}
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrExists):
			t.Errorf("racing AddAccount: %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("racing AddAccount: %d successes, want 1", wins)
	}

	const n = 6
	var accs []store.Account
	for i := range n {
		accs = append(accs, f.account(fmt.Sprintf("u%d@example.org", i)))
	}
	errs := make(chan error, 1000)
	for i, acc := range accs {
		wg.Go(func() {
			other := accs[(i+1)%n]
			for j := range 15 {
				name := fmt.Sprintf("F%d", j)
				if _, err := f.s.CreateMailbox(ctx, acc.ID, name, ""); err != nil {
					errs <- fmt.Errorf("create mailbox: %w", err)
				}
				_, err := f.s.Deliver(ctx, store.Delivery{Body: stringsReader(testBody(fmt.Sprint(i, j))),
					Targets: []store.Target{{AccountID: acc.ID, Mailbox: name}, inbox(other.ID)}})
				if err != nil {
					errs <- fmt.Errorf("deliver: %w", err)
				}
				if j%3 == 0 {
					if err := f.s.RenameMailbox(ctx, acc.ID, name, "R/"+name); err != nil {
						errs <- fmt.Errorf("rename mailbox: %w", err)
					}
				}
				if j%5 == 0 {
					if err := f.s.DeleteMailbox(ctx, acc.ID, name); err != nil && !errors.Is(err, store.ErrNotFound) {
						errs <- fmt.Errorf("delete mailbox: %w", err)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, acc := range accs {
		f.checkConsistent(acc.ID)
		if n := f.mailbox(acc.ID, "INBOX").Messages; n != 15 {
			t.Errorf("account %d INBOX has %d messages, want 15", acc.ID, n)
		}
	}
}

// testConcurrentFailures mixes deliveries that fail (over quota, unknown
// account) with ones that succeed, concurrently, so that with group commit
// they share batches: the failures must leave no trace and not take the
// others down with them.
func testConcurrentFailures(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	full := f.account("full@example.org")
	ok := f.account("ok@example.org")
	body := testBody("quota") + strings.Repeat("z", 900)
	f.must(f.s.SetQuota(ctx, full.ID, int64(len(body))*5), "SetQuota")
	wf, wo := f.watch(full.ID), f.watch(ok.ID)
	var (
		wg                   sync.WaitGroup
		mu                   sync.Mutex
		fullOK, okOK, failed int
		unexpected           []error
	)
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				var tg []store.Target
				switch (g + i) % 3 {
				case 0:
					tg = []store.Target{inbox(full.ID)}
				case 1:
					tg = []store.Target{inbox(ok.ID)}
				default:
					tg = []store.Target{inbox(ok.ID), inbox(987654)}
				}
				_, err := f.s.Deliver(ctx, store.Delivery{Body: strings.NewReader(body), Targets: tg})
				mu.Lock()
				switch {
				case err == nil && tg[0].AccountID == full.ID:
					fullOK++
				case err == nil && len(tg) == 1:
					okOK++
				case err == nil:
					unexpected = append(unexpected, errors.New("delivery to an unknown account succeeded"))
				case errors.Is(err, store.ErrOverQuota) && tg[0].AccountID == full.ID, len(tg) == 2:
					failed++
				default:
					unexpected = append(unexpected, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, err := range unexpected {
		t.Errorf("unexpected: %v", err)
	}
	if fullOK != 5 {
		t.Errorf("%d deliveries into a 5-message quota succeeded", fullOK)
	}
	if n := f.mailbox(full.ID, "INBOX").Messages; n != fullOK {
		t.Errorf("quota'd INBOX has %d messages, %d deliveries succeeded", n, fullOK)
	}
	if n := f.mailbox(ok.ID, "INBOX").Messages; n != okOK {
		t.Errorf("INBOX has %d messages, %d deliveries succeeded", n, okOK)
	}
	if n := len(events(wf.sync())); n != fullOK {
		t.Errorf("quota'd account: %d ChangeNew events, %d deliveries", n, fullOK)
	}
	if n := len(events(wo.sync())); n != okOK {
		t.Errorf("other account: %d ChangeNew events, %d deliveries", n, okOK)
	}
	f.checkConsistent(full.ID)
	f.checkConsistent(ok.ID)
}
