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
	ctx := f.ctx
	a := f.account("a@example.org")
	in := f.mailbox(a.ID, "INBOX")
	w := f.watch(a.ID)

	const deliverers, perDeliverer, flaggers, expungers = 8, 30, 3, 2
	if testing.Short() {
		t.Log("short mode: fewer messages")
	}
	var (
		mu        sync.Mutex
		delivered []store.Message // in INBOX, as returned by Deliver
		live      []uint32        // delivered, not yet expunged by us
		flagged   []event         // from FlagResult.Changed
		flagState = map[event]store.Flags{}
		expunged  []uint32
		errs      = make(chan error, 100)
		done      = make(chan struct{})
	)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	pick := func(r *rand.Rand, n int) []uint32 {
		mu.Lock()
		defer mu.Unlock()
		var u []uint32
		for range n {
			if len(live) > 0 {
				u = append(u, live[r.IntN(len(live))])
			}
		}
		return u
	}

	var dwg, owg sync.WaitGroup
	for g := range deliverers {
		dwg.Go(func() {
			for i := range perDeliverer {
				tg := []store.Target{inbox(a.ID)}
				if i%5 == 0 {
					tg = append(tg, store.Target{AccountID: a.ID, Mailbox: "Archive"})
				}
				ms, err := f.s.Deliver(ctx, store.Delivery{Body: stringsReader(testBody(fmt.Sprintf("c%d-%d", g, i))), Targets: tg})
				if err != nil {
					fail(fmt.Errorf("deliver: %w", err))
					return
				}
				mu.Lock()
				delivered = append(delivered, ms[0])
				live = append(live, ms[0].UID)
				mu.Unlock()
			}
		})
	}
	for g := range flaggers {
		owg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for stop := false; !stop; {
				select {
				case <-done:
					stop = true // one more round after the last delivery
				default:
				}
				uids := pick(r, 1+r.IntN(4))
				if len(uids) == 0 {
					continue
				}
				fl := []store.Flags{store.FlagSeen, store.FlagFlagged, store.FlagAnswered}[r.IntN(3)]
				op := []store.FlagOp{store.FlagsAdd, store.FlagsRemove, store.FlagsReplace}[r.IntN(3)]
				res, err := f.s.StoreFlags(ctx, store.FlagChange{AccountID: a.ID, MailboxID: in.ID, UIDs: uids, Op: op, Flags: fl})
				if err != nil {
					fail(fmt.Errorf("store flags: %w", err))
					return
				}
				mu.Lock()
				for _, m := range res.Changed {
					e := event{store.ChangeFlags, in.ID, m.UID, m.ModSeq}
					flagged = append(flagged, e)
					flagState[e] = m.Flags
				}
				mu.Unlock()
			}
		})
	}
	for g := range expungers {
		owg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 2))
			for stop := false; !stop; {
				select {
				case <-done:
					stop = true
				default:
				}
				uids := pick(r, 1+r.IntN(3))
				if len(uids) == 0 {
					continue
				}
				// Mark \Deleted directly (not recorded as a flag change we can
				// predict the final state of: it is expunged right away, or by
				// the other expunger).
				res, err := f.s.StoreFlags(ctx, store.FlagChange{AccountID: a.ID, MailboxID: in.ID, UIDs: uids, Op: store.FlagsAdd, Flags: store.FlagDeleted})
				if err != nil {
					fail(fmt.Errorf("store flags: %w", err))
					return
				}
				mu.Lock()
				for _, m := range res.Changed {
					e := event{store.ChangeFlags, in.ID, m.UID, m.ModSeq}
					flagged = append(flagged, e)
					flagState[e] = m.Flags
				}
				mu.Unlock()
				var gone []uint32
				if r.IntN(2) == 0 {
					gone, err = f.s.Expunge(ctx, a.ID, in.ID, uids)
				} else {
					gone, err = f.s.Expunge(ctx, a.ID, in.ID, nil)
				}
				if err != nil {
					fail(fmt.Errorf("expunge: %w", err))
					return
				}
				mu.Lock()
				expunged = append(expunged, gone...)
				for _, u := range gone {
					if i := slices.Index(live, u); i >= 0 {
						live = slices.Delete(live, i, i+1)
					}
				}
				mu.Unlock()
			}
		})
	}
	dwg.Wait()
	close(done)
	owg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	chs := w.sync()
	t.Logf("%d deliveries, %d flag changes, %d expunged", len(delivered), len(flagged), len(expunged))

	// Deliveries: unique UIDs, increasing with MODSEQ.
	if len(delivered) != deliverers*perDeliverer {
		t.Fatalf("delivered %d, want %d", len(delivered), deliverers*perDeliverer)
	}
	byModSeq := slices.Clone(delivered)
	slices.SortStableFunc(byModSeq, func(x, y store.Message) int { return int(int64(x.ModSeq) - int64(y.ModSeq)) })
	for i := 1; i < len(byModSeq); i++ {
		p, m := byModSeq[i-1], byModSeq[i]
		if m.UID <= p.UID {
			t.Errorf("UID %d (MODSEQ %d) not above UID %d (MODSEQ %d)", m.UID, m.ModSeq, p.UID, p.ModSeq)
		}
	}
	// Expunges: each UID at most once, each one a delivered UID.
	seen := map[uint32]bool{}
	for _, u := range expunged {
		if seen[u] {
			t.Errorf("UID %d expunged twice", u)
		}
		seen[u] = true
	}

	// Notifications for INBOX: every change exactly once, MODSEQ order.
	var inboxChs []store.Change
	for _, ch := range chs {
		if ch.MailboxID == in.ID {
			inboxChs = append(inboxChs, ch)
		}
	}
	checkModSeqOrder(t, "concurrent INBOX", inboxChs)
	var gotNew, gotFlags []event
	var gotExp []uint32
	for _, e := range events(inboxChs) {
		switch e.kind {
		case store.ChangeNew:
			gotNew = append(gotNew, e)
		case store.ChangeFlags:
			gotFlags = append(gotFlags, e)
		case store.ChangeExpunge:
			gotExp = append(gotExp, e.uid)
		}
	}
	if want := newEvents(delivered...); !slices.Equal(sortEvents(gotNew), sortEvents(want)) {
		t.Errorf("ChangeNew events: got %d, want %d (or different UIDs/MODSEQs)", len(gotNew), len(want))
	}
	if !slices.Equal(sortEventsFull(gotFlags), sortEventsFull(flagged)) {
		t.Errorf("ChangeFlags events: got %d, want %d (or different UIDs/MODSEQs)", len(gotFlags), len(flagged))
	}
	if !slices.Equal(sortedCopy(gotExp), sortedCopy(expunged)) {
		t.Errorf("ChangeExpunge UIDs: got %d, want %d", len(gotExp), len(expunged))
	}

	// Final state: delivered minus expunged, each with the flags of its last
	// change and its MODSEQ.
	final := f.messages(a.ID, in.ID)
	var wantUIDs []uint32
	for _, m := range delivered {
		if !seen[m.UID] {
			wantUIDs = append(wantUIDs, m.UID)
		}
	}
	if got := uidsOf(final); !slices.Equal(got, sortedCopy(wantUIDs)) {
		t.Errorf("final INBOX has %d messages, want %d", len(got), len(wantUIDs))
	}
	lastFlag := map[uint32]event{}
	for _, e := range flagged {
		if e.modseq > lastFlag[e.uid].modseq {
			lastFlag[e.uid] = e
		}
	}
	delivModSeq := map[uint32]uint64{}
	for _, m := range delivered {
		delivModSeq[m.UID] = m.ModSeq
	}
	for _, m := range final {
		want := delivModSeq[m.UID]
		var wantFlags store.Flags
		if e, ok := lastFlag[m.UID]; ok {
			want, wantFlags = e.modseq, flagState[e]
			if e.modseq <= delivModSeq[m.UID] {
				t.Errorf("UID %d: flag change MODSEQ %d not above its delivery MODSEQ %d", m.UID, e.modseq, delivModSeq[m.UID])
			}
		}
		if m.ModSeq != want || m.Flags != wantFlags {
			t.Errorf("UID %d: MODSEQ %d flags %v; want the last change's %d %v", m.UID, m.ModSeq, m.Flags, want, wantFlags)
		}
	}
	v, err := f.s.Vanished(ctx, a.ID, in.ID, 0)
	f.must(err, "Vanished")
	if !slices.Equal(sortedCopy(v), sortedCopy(expunged)) {
		t.Errorf("Vanished(0): %d UIDs, want %d", len(v), len(expunged))
	}
	f.checkConsistent(a.ID)
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
