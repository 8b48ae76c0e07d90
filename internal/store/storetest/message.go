package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/store"
)

func testDeliver(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	a := f.account("a@example.org")
	in := f.mailbox(a.ID, "INBOX")
	body := testBody("deliver")
	prefix := []byte("Received: from mx.example by here; Mon, 1 Jan 2024 00:00:00 +0000\r\n")
	date := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	structure := []byte{0, 1, 2, 3, 0xff}
	before := time.Now().Add(-2 * time.Second)
	ms, err := f.s.Deliver(ctx, store.Delivery{
		Body:         strings.NewReader(body),
		InternalDate: date,
		Targets: []store.Target{{AccountID: a.ID, Flags: store.FlagSeen | store.FlagFlagged,
			Keywords: []string{"$Label1"}, HeaderPrefix: prefix, Structure: structure}},
	})
	f.must(err, "Deliver")
	if len(ms) != 1 {
		t.Fatalf("Deliver returned %d messages", len(ms))
	}
	m := ms[0]
	if m.MailboxID != in.ID || m.AccountID != a.ID || m.UID < in.UIDNext {
		t.Errorf("message %+v, INBOX %+v", m, in)
	}
	if m.Size != int64(len(prefix)+len(body)) {
		t.Errorf("Size %d, want %d", m.Size, len(prefix)+len(body))
	}
	if !m.InternalDate.Equal(date) {
		t.Errorf("InternalDate %v, want %v", m.InternalDate, date)
	}
	if m.SaveDate.Before(before) || m.SaveDate.After(time.Now().Add(2*time.Second)) {
		t.Errorf("SaveDate %v is not now", m.SaveDate)
	}
	got := f.message(a.ID, in.ID, m.UID)
	if got.ID != m.ID || got.ModSeq != m.ModSeq || got.Size != m.Size || got.BlobID != m.BlobID ||
		!got.InternalDate.Equal(date) || got.Flags != store.FlagSeen|store.FlagFlagged ||
		!slices.Equal(got.Keywords, []string{"$Label1"}) || !bytes.Equal(got.HeaderPrefix, prefix) ||
		!bytes.Equal(got.Structure, structure) {
		t.Errorf("Messages returned %+v\nDeliver returned %+v", got, m)
	}
	if c := f.content(got); string(c) != string(prefix)+body {
		t.Errorf("content %q, want prefix+body", c)
	}
	// ReadAt across the prefix/body boundary and at the end.
	c, err := f.s.Open(ctx, got)
	f.must(err, "Open")
	buf := make([]byte, 10)
	n, err := c.ReadAt(buf, int64(len(prefix)-4))
	if n != 10 || string(buf) != (string(prefix) + body)[len(prefix)-4:len(prefix)+6] {
		t.Errorf("ReadAt across boundary = %q, %v", buf[:n], err)
	}
	n, err = c.ReadAt(buf, c.Size()-3)
	if n != 3 || err != io.EOF || string(buf[:3]) != body[len(body)-3:] {
		t.Errorf("ReadAt at end = %d %q, %v; want 3, io.EOF", n, buf[:n], err)
	}
	c.Close()

	mb := f.mailbox(a.ID, "INBOX")
	if mb.Messages != 1 || mb.Size != m.Size || mb.UIDNext <= m.UID || mb.HighestModSeq < m.ModSeq {
		t.Errorf("INBOX after delivery: %+v", mb)
	}
	if u := f.getAccount(a.ID).UsedBytes; u != m.Size {
		t.Errorf("UsedBytes %d, want %d", u, m.Size)
	}

	// A zero InternalDate means now.
	m2 := f.deliver(testBody("now"), inbox(a.ID))[0]
	if m2.InternalDate.Before(before) || m2.InternalDate.After(time.Now().Add(2*time.Second)) {
		t.Errorf("zero InternalDate stored as %v", m2.InternalDate)
	}
	if m2.UID <= m.UID || m2.ID == m.ID {
		t.Errorf("second delivery UID %d ID %d after UID %d ID %d", m2.UID, m2.ID, m.UID, m.ID)
	}
	// An empty body is a message too.
	m3 := f.deliver("", inbox(a.ID))[0]
	if c := f.content(m3); len(c) != 0 {
		t.Errorf("empty message content %q", c)
	}
	if mb := f.mailbox(a.ID, "INBOX"); mb.Messages != 3 {
		t.Errorf("INBOX has %d messages, want 3", mb.Messages)
	}
	// A body that fails to read fails the delivery and stores nothing.
	for _, n := range []int{10, 200 << 10} {
		_, err = f.s.Deliver(ctx, store.Delivery{Body: io.MultiReader(bytes.NewReader(randomBody(3, n)), failingReader{}),
			Targets: []store.Target{inbox(a.ID)}})
		if err == nil {
			t.Errorf("Deliver with a body that fails after %d bytes succeeded", n)
		}
	}
	if mb := f.mailbox(a.ID, "INBOX"); mb.Messages != 3 {
		t.Errorf("INBOX has %d messages after failed reads, want 3", mb.Messages)
	}
	// Unknown accounts fail.
	_, err = f.s.Deliver(ctx, store.Delivery{Body: strings.NewReader(body), Targets: []store.Target{inbox(987654)}})
	wantErr(t, "Deliver to unknown account", err, store.ErrNotFound)
	f.checkConsistent(a.ID)
}

func testDeliverMultiTarget(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	b := f.account("b@example.org")
	c := f.account("c@other.example")
	body := testBody("multi")
	targets := []store.Target{
		{AccountID: a.ID, HeaderPrefix: []byte("X-For: a\r\n")},
		{AccountID: b.ID, HeaderPrefix: []byte("X-For: b, longer prefix\r\n"), Flags: store.FlagSeen},
		{AccountID: c.ID, Mailbox: "Archive"},
		{AccountID: a.ID, Mailbox: "Junk", HeaderPrefix: []byte("X-Spam: yes\r\n")},
	}
	ms := f.deliver(body, targets...)
	for i, m := range ms {
		if m.BlobID != ms[0].BlobID {
			t.Errorf("target %d: BlobID %d, target 0: %d: body not stored once", i, m.BlobID, ms[0].BlobID)
		}
		want := string(targets[i].HeaderPrefix) + body
		got := f.message(targets[i].AccountID, m.MailboxID, m.UID)
		if s := string(f.content(got)); s != want {
			t.Errorf("target %d: content %q, want %q", i, s, want)
		}
		if got.Flags != targets[i].Flags {
			t.Errorf("target %d: flags %v, want %v", i, got.Flags, targets[i].Flags)
		}
		mb := f.mailboxByID(targets[i].AccountID, m.MailboxID)
		wantName := targets[i].Mailbox
		if wantName == "" {
			wantName = "INBOX"
		}
		if mb.Name != wantName {
			t.Errorf("target %d: delivered to %q, want %q", i, mb.Name, wantName)
		}
	}
	if ms[0].ID == ms[3].ID || ms[0].MailboxID == ms[3].MailboxID {
		t.Errorf("two targets in one account share a message record: %+v %+v", ms[0], ms[3])
	}
	if u := f.getAccount(a.ID).UsedBytes; u != ms[0].Size+ms[3].Size {
		t.Errorf("UsedBytes of a = %d, want %d", u, ms[0].Size+ms[3].Size)
	}
	for _, id := range []int64{a.ID, b.ID, c.ID} {
		f.checkConsistent(id)
	}
}

func testDeliverCreatesMailbox(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	m := f.deliver(testBody("new box"), store.Target{AccountID: a.ID, Mailbox: "Lists/Fresh"})[0]
	mb := f.mailbox(a.ID, "Lists/Fresh")
	if mb.ID != m.MailboxID || mb.Messages != 1 {
		t.Errorf("created mailbox %+v, message %+v", mb, m)
	}
	// "inbox" in any case is INBOX.
	m2 := f.deliver(testBody("inbox"), store.Target{AccountID: a.ID, Mailbox: "inbox"})[0]
	if m2.MailboxID != f.mailbox(a.ID, "INBOX").ID {
		t.Errorf("Target.Mailbox \"inbox\" went to mailbox %d", m2.MailboxID)
	}
	_, err := f.s.Deliver(f.ctx, store.Delivery{Body: strings.NewReader("x"),
		Targets: []store.Target{{AccountID: a.ID, Mailbox: "bad//name"}}})
	wantErr(t, "Deliver to invalid mailbox name", err, store.ErrInvalid)
	f.checkConsistent(a.ID)
}

// randomBody returns n bytes of every value, seeded.
func randomBody(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func testLargeMessage(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	b := f.account("b@example.org")
	body := randomBody(1, 3<<20/2+12345) // > 1 MiB, not a multiple of any block size
	prefix := []byte("Received: big\r\n")
	ms, err := f.s.Deliver(f.ctx, store.Delivery{Body: bytes.NewReader(body), Targets: []store.Target{
		{AccountID: a.ID, HeaderPrefix: prefix}, {AccountID: b.ID}}})
	f.must(err, "Deliver large")
	want := append(slices.Clone(prefix), body...)
	if got := f.content(f.message(a.ID, ms[0].MailboxID, ms[0].UID)); !bytes.Equal(got, want) {
		t.Errorf("large message (a) not byte-exact: len %d, want %d", len(got), len(want))
	}
	if got := f.content(f.message(b.ID, ms[1].MailboxID, ms[1].UID)); !bytes.Equal(got, body) {
		t.Errorf("large message (b) not byte-exact: len %d, want %d", len(got), len(body))
	}
	// Random access into the middle.
	c, err := f.s.Open(f.ctx, ms[0])
	f.must(err, "Open")
	defer c.Close()
	buf := make([]byte, 4096)
	off := int64(1<<20 + 7)
	if n, err := c.ReadAt(buf, off); n != len(buf) || !bytes.Equal(buf, want[off:off+4096]) {
		t.Errorf("ReadAt(%d) = %d, %v; wrong bytes", off, n, err)
	}
	f.checkOpenAll(ms)
	f.checkConsistent(a.ID)
}

func testMessagesRange(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	ms := f.deliverN(6, inbox(a.ID))
	in := f.mailbox(a.ID, "INBOX")
	u := uidsOf(ms)
	for _, tc := range []struct {
		first, last uint32
		want        []uint32
	}{
		{1, 0, u},
		{u[2], 0, u[2:]},
		{u[1], u[3], u[1:4]},
		{u[4], u[4], u[4:5]},
		{u[5] + 1, 0, nil},
		{0, u[0], u[:1]},
	} {
		got, err := f.s.Messages(f.ctx, a.ID, in.ID, tc.first, tc.last)
		f.must(err, "Messages")
		if !slices.Equal(uidsOf(got), tc.want) {
			t.Errorf("Messages(%d, %d) = %v, want %v", tc.first, tc.last, uidsOf(got), tc.want)
		}
	}
	_, err := f.s.Messages(f.ctx, a.ID, 987654, 1, 0)
	wantErr(t, "Messages of a missing mailbox", err, store.ErrNotFound)
}

// testMessagesByUID: dense, sparse, unsorted and duplicated sets, UIDs
// that do not exist, another account's mailbox.
func testMessagesByUID(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	ms := f.deliverN(12, inbox(a.ID))
	in := f.mailbox(a.ID, "INBOX")
	u := uidsOf(ms)
	for _, tc := range []struct {
		uids, want []uint32
	}{
		{u, u},
		{u[3:5], u[3:5]},
		{[]uint32{u[0], u[11]}, []uint32{u[0], u[11]}},
		{[]uint32{u[9], u[2], u[9], u[0]}, []uint32{u[0], u[2], u[9]}},
		{[]uint32{u[1], u[11] + 1000}, u[1:2]},
		{[]uint32{u[11] + 1}, nil},
		{nil, nil},
	} {
		got, err := f.s.MessagesByUID(f.ctx, a.ID, in.ID, tc.uids)
		f.must(err, "MessagesByUID")
		if !slices.Equal(uidsOf(got), tc.want) {
			t.Errorf("MessagesByUID(%v) = %v, want %v", tc.uids, uidsOf(got), tc.want)
		}
		for _, m := range got {
			if want := f.message(a.ID, in.ID, m.UID); !bytes.Equal(m.Structure, want.Structure) || m.BlobID != want.BlobID {
				t.Errorf("MessagesByUID: UID %d differs from Messages", m.UID)
			}
		}
	}
	f.checkOpenAll(append(slices.Clone(ms), ms[3]))
	_, err := f.s.MessagesByUID(f.ctx, a.ID, 987654, u)
	wantErr(t, "MessagesByUID of a missing mailbox", err, store.ErrNotFound)
	b := f.account("b@example.org")
	_, err = f.s.MessagesByUID(f.ctx, b.ID, in.ID, u)
	wantErr(t, "MessagesByUID of another account's mailbox", err, store.ErrNotFound)
}

// checkOpenAll checks that OpenAll serves each message as Open does.
func (f *fixture) checkOpenAll(ms []store.Message) {
	f.t.Helper()
	cs, err := f.s.OpenAll(f.ctx, ms)
	f.must(err, "OpenAll")
	if len(cs) != len(ms) {
		f.t.Fatalf("OpenAll: %d contents for %d messages", len(cs), len(ms))
	}
	for i, c := range cs {
		got, err := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
		f.must(err, "read OpenAll content")
		c.Close()
		if !bytes.Equal(got, f.content(ms[i])) {
			f.t.Errorf("OpenAll: message %d (UID %d) differs from Open", i, ms[i].UID)
		}
	}
}

// testMailboxUIDs: the UIDs and the first unseen one follow deliveries,
// flag changes and expunges.
func testMailboxUIDs(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	in := f.mailbox(a.ID, "INBOX")
	l, err := f.s.MailboxUIDs(f.ctx, a.ID, in.ID)
	f.must(err, "MailboxUIDs (empty)")
	if len(l.UIDs) != 0 || l.FirstUnseen != 0 {
		t.Errorf("empty mailbox: %+v", l)
	}
	ms := f.deliverN(5, inbox(a.ID))
	u := uidsOf(ms)
	_, err = f.s.StoreFlags(f.ctx, store.FlagChange{AccountID: a.ID, MailboxID: in.ID, UIDs: u[:2], Op: store.FlagsAdd, Flags: store.FlagSeen})
	f.must(err, "StoreFlags")
	_, err = f.s.Expunge(f.ctx, a.ID, in.ID, u[3:4])
	f.must(err, "Expunge")
	l, err = f.s.MailboxUIDs(f.ctx, a.ID, in.ID)
	f.must(err, "MailboxUIDs")
	if want := []uint32{u[0], u[1], u[2], u[4]}; !slices.Equal(l.UIDs, want) || l.FirstUnseen != u[2] {
		t.Errorf("MailboxUIDs = %+v, want UIDs %v, first unseen %d", l, want, u[2])
	}
	_, err = f.s.MailboxUIDs(f.ctx, a.ID, 987654)
	wantErr(t, "MailboxUIDs of a missing mailbox", err, store.ErrNotFound)
	b := f.account("b@example.org")
	_, err = f.s.MailboxUIDs(f.ctx, b.ID, in.ID)
	wantErr(t, "MailboxUIDs of another account's mailbox", err, store.ErrNotFound)
}

// storeFlags runs StoreFlags and fails on error.
func (f *fixture) storeFlags(c store.FlagChange) store.FlagResult {
	f.t.Helper()
	r, err := f.s.StoreFlags(f.ctx, c)
	f.must(err, "StoreFlags")
	return r
}

func testFlags(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	ms := f.deliverN(3, inbox(a.ID))
	mbID := ms[0].MailboxID
	u := uidsOf(ms)
	flagsOf := func() []store.Flags {
		var fl []store.Flags
		for _, m := range f.messages(a.ID, mbID) {
			fl = append(fl, m.Flags)
		}
		return fl
	}
	const S, A, F, D, R = store.FlagSeen, store.FlagAnswered, store.FlagFlagged, store.FlagDeleted, store.FlagDraft
	steps := []struct {
		uids []uint32
		op   store.FlagOp
		fl   store.Flags
		want []store.Flags
	}{
		{u, store.FlagsAdd, S, []store.Flags{S, S, S}},
		{u[1:], store.FlagsAdd, A | F, []store.Flags{S, S | A | F, S | A | F}},
		{u[:2], store.FlagsRemove, S | F, []store.Flags{0, A, S | A | F}},
		{u[2:], store.FlagsReplace, D | R, []store.Flags{0, A, D | R}},
		{u, store.FlagsReplace, 0, []store.Flags{0, 0, 0}},
	}
	for i, st := range steps {
		r := f.storeFlags(store.FlagChange{AccountID: a.ID, MailboxID: mbID, UIDs: st.uids, Op: st.op, Flags: st.fl})
		if got := flagsOf(); !slices.Equal(got, st.want) {
			t.Errorf("step %d: flags %v, want %v", i, got, st.want)
		}
		for _, m := range r.Changed {
			if want := st.want[slices.Index(u, m.UID)]; m.Flags != want {
				t.Errorf("step %d: Changed reports UID %d with flags %v, want %v", i, m.UID, m.Flags, want)
			}
		}
	}
	// A no-op changes nothing and reports nothing.
	hms := f.mailbox(a.ID, "INBOX").HighestModSeq
	r := f.storeFlags(store.FlagChange{AccountID: a.ID, MailboxID: mbID, UIDs: u, Op: store.FlagsRemove, Flags: S})
	if len(r.Changed) != 0 {
		t.Errorf("no-op StoreFlags reported changes: %+v", r.Changed)
	}
	if got := f.mailbox(a.ID, "INBOX").HighestModSeq; got != hms {
		t.Errorf("no-op StoreFlags moved HIGHESTMODSEQ %d -> %d", hms, got)
	}
	// UIDs that do not exist are ignored.
	r = f.storeFlags(store.FlagChange{AccountID: a.ID, MailboxID: mbID, UIDs: []uint32{u[2] + 100}, Op: store.FlagsAdd, Flags: S})
	if len(r.Changed) != 0 || len(r.Failed) != 0 {
		t.Errorf("StoreFlags on a missing UID: %+v", r)
	}
	_, err := f.s.StoreFlags(f.ctx, store.FlagChange{AccountID: a.ID, MailboxID: 987654, UIDs: u, Op: store.FlagsAdd, Flags: S})
	wantErr(t, "StoreFlags on a missing mailbox", err, store.ErrNotFound)
}

func testKeywords(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	m := f.deliver(testBody("kw"), store.Target{AccountID: a.ID, Keywords: []string{"zeta", "alpha"}})[0]
	kw := func() []string { return f.message(a.ID, m.MailboxID, m.UID).Keywords }
	if got := kw(); !slices.Equal(got, []string{"alpha", "zeta"}) {
		t.Errorf("keywords at delivery: %q, want sorted [alpha zeta]", got)
	}
	ch := func(op store.FlagOp, fl store.Flags, k ...string) store.FlagResult {
		return f.storeFlags(store.FlagChange{AccountID: a.ID, MailboxID: m.MailboxID, UIDs: []uint32{m.UID}, Op: op, Flags: fl, Keywords: k})
	}
	ch(store.FlagsAdd, 0, "mid", "$Forwarded")
	if got := kw(); !slices.Equal(got, []string{"$Forwarded", "alpha", "mid", "zeta"}) {
		t.Errorf("keywords after add: %q", got)
	}
	// Keywords are case-insensitive; the first spelling is kept.
	if r := ch(store.FlagsAdd, 0, "ALPHA", "$forwarded"); len(r.Changed) != 0 {
		t.Errorf("adding existing keywords in another case reported a change: %+v", r.Changed)
	}
	if got := kw(); !slices.Equal(got, []string{"$Forwarded", "alpha", "mid", "zeta"}) {
		t.Errorf("keywords after adding case variants: %q", got)
	}
	ch(store.FlagsRemove, 0, "MID", "zeta")
	if got := kw(); !slices.Equal(got, []string{"$Forwarded", "alpha"}) {
		t.Errorf("keywords after remove: %q", got)
	}
	// Replace sets flags and keywords together.
	r := ch(store.FlagsReplace, store.FlagSeen, "new")
	if got := kw(); !slices.Equal(got, []string{"new"}) {
		t.Errorf("keywords after replace: %q", got)
	}
	if len(r.Changed) != 1 || r.Changed[0].Flags != store.FlagSeen || !slices.Equal(r.Changed[0].Keywords, []string{"new"}) {
		t.Errorf("Changed after replace: %+v", r.Changed)
	}
	// Changing only flags keeps keywords.
	ch(store.FlagsAdd, store.FlagFlagged)
	if got := kw(); !slices.Equal(got, []string{"new"}) {
		t.Errorf("keywords after a flags-only change: %q", got)
	}
	ch(store.FlagsReplace, 0)
	if got := kw(); len(got) != 0 {
		t.Errorf("keywords after replace with none: %q", got)
	}
}

func testModSeq(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	in := f.mailbox(a.ID, "INBOX")
	last := in.HighestModSeq
	step := func(what string, modseq uint64) {
		t.Helper()
		if modseq <= last {
			t.Errorf("%s: MODSEQ %d not above the previous %d", what, modseq, last)
		}
		if h := f.mailbox(a.ID, "INBOX").HighestModSeq; h != modseq {
			t.Errorf("%s: HIGHESTMODSEQ %d, want %d", what, h, modseq)
		}
		last = modseq
	}
	var ms []store.Message
	for i := range 3 {
		m := f.deliver(testBody(fmt.Sprint(i)), inbox(a.ID))[0]
		step("deliver", m.ModSeq)
		ms = append(ms, m)
	}
	afterDeliveries := last
	r := f.storeFlags(store.FlagChange{AccountID: a.ID, MailboxID: in.ID, UIDs: []uint32{ms[1].UID}, Op: store.FlagsAdd, Flags: store.FlagSeen})
	if len(r.Changed) != 1 || r.Changed[0].UID != ms[1].UID {
		t.Fatalf("Changed = %+v", r.Changed)
	}
	step("flags", r.Changed[0].ModSeq)
	if got := f.message(a.ID, in.ID, ms[1].UID).ModSeq; got != r.Changed[0].ModSeq {
		t.Errorf("stored MODSEQ %d, Changed says %d", got, r.Changed[0].ModSeq)
	}
	flagsModSeq := last

	cs, err := f.s.ChangedSince(f.ctx, a.ID, in.ID, afterDeliveries)
	f.must(err, "ChangedSince")
	if !slices.Equal(uidsOf(cs), []uint32{ms[1].UID}) {
		t.Errorf("ChangedSince(after deliveries) = %v, want [%d]", uidsOf(cs), ms[1].UID)
	}
	cs, _ = f.s.ChangedSince(f.ctx, a.ID, in.ID, ms[0].ModSeq)
	if !slices.Equal(uidsOf(cs), []uint32{ms[1].UID, ms[2].UID}) {
		t.Errorf("ChangedSince(first delivery) = %v", uidsOf(cs))
	}
	cs, _ = f.s.ChangedSince(f.ctx, a.ID, in.ID, 0)
	if len(cs) != 3 {
		t.Errorf("ChangedSince(0) = %v", uidsOf(cs))
	}
	cs, _ = f.s.ChangedSince(f.ctx, a.ID, in.ID, last)
	if len(cs) != 0 {
		t.Errorf("ChangedSince(HIGHESTMODSEQ) = %v", uidsOf(cs))
	}

	// Expunge bumps HIGHESTMODSEQ too.
	f.storeFlags(store.FlagChange{AccountID: a.ID, MailboxID: in.ID, UIDs: []uint32{ms[0].UID}, Op: store.FlagsAdd, Flags: store.FlagDeleted})
	last = f.mailbox(a.ID, "INBOX").HighestModSeq
	_, err = f.s.Expunge(f.ctx, a.ID, in.ID, nil)
	f.must(err, "Expunge")
	if h := f.mailbox(a.ID, "INBOX").HighestModSeq; h <= last {
		t.Errorf("Expunge left HIGHESTMODSEQ at %d", h)
	}
	v, _ := f.s.Vanished(f.ctx, a.ID, in.ID, flagsModSeq)
	if !slices.Equal(v, []uint32{ms[0].UID}) {
		t.Errorf("Vanished = %v", v)
	}
	// Another mailbox's changes do not move this one's HIGHESTMODSEQ below its messages.
	f.deliver(testBody("other"), store.Target{AccountID: a.ID, Mailbox: "Archive"})
	f.checkConsistent(a.ID)
}

func testUnchangedSince(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	ms := f.deliverN(3, inbox(a.ID))
	mbID := ms[0].MailboxID
	// Touch the second message so its MODSEQ is the highest.
	r := f.storeFlags(store.FlagChange{AccountID: a.ID, MailboxID: mbID, UIDs: []uint32{ms[1].UID}, Op: store.FlagsAdd, Flags: store.FlagAnswered})
	touched := r.Changed[0].ModSeq
	r, err := f.s.StoreFlags(f.ctx, store.FlagChange{AccountID: a.ID, MailboxID: mbID, UIDs: uidsOf(ms),
		Op: store.FlagsAdd, Flags: store.FlagSeen, UnchangedSince: touched - 1})
	if err != nil {
		wantErr(t, "StoreFlags with UNCHANGEDSINCE", err, store.ErrModified)
	}
	if !slices.Equal(r.Failed, []uint32{ms[1].UID}) {
		t.Errorf("Failed = %v, want [%d]", r.Failed, ms[1].UID)
	}
	got := f.messages(a.ID, mbID)
	want := []store.Flags{store.FlagSeen, store.FlagAnswered, store.FlagSeen}
	for i, m := range got {
		if m.Flags != want[i] {
			t.Errorf("UID %d: flags %v, want %v", m.UID, m.Flags, want[i])
		}
	}
	if len(r.Changed) != 0 && !slices.Equal(uidsOf(r.Changed), []uint32{ms[0].UID, ms[2].UID}) {
		t.Errorf("Changed = %v", uidsOf(r.Changed))
	}
	// UNCHANGEDSINCE equal to the MODSEQ passes.
	h := f.mailbox(a.ID, "INBOX").HighestModSeq
	r = f.storeFlags(store.FlagChange{AccountID: a.ID, MailboxID: mbID, UIDs: uidsOf(ms),
		Op: store.FlagsAdd, Flags: store.FlagFlagged, UnchangedSince: h})
	if len(r.Failed) != 0 || len(r.Changed) != 3 {
		t.Errorf("UNCHANGEDSINCE HIGHESTMODSEQ: Changed %v Failed %v", uidsOf(r.Changed), r.Failed)
	}
}

func (f *fixture) expunge(accountID, mailboxID int64, uids []uint32) []uint32 {
	f.t.Helper()
	got, err := f.s.Expunge(f.ctx, accountID, mailboxID, uids)
	f.must(err, "Expunge")
	return got
}

func testExpunge(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	ms := f.deliverN(5, inbox(a.ID))
	mbID := ms[0].MailboxID
	u := uidsOf(ms)
	start := f.mailbox(a.ID, "INBOX").HighestModSeq
	usedBefore := f.getAccount(a.ID).UsedBytes

	// Mark 0, 1, 3 deleted; expunge 1 explicitly, then the rest of the \Deleted.
	f.storeFlags(store.FlagChange{AccountID: a.ID, MailboxID: mbID, UIDs: []uint32{u[0], u[1], u[3]}, Op: store.FlagsAdd, Flags: store.FlagDeleted})
	if got := f.expunge(a.ID, mbID, []uint32{u[1]}); !slices.Equal(got, []uint32{u[1]}) {
		t.Errorf("Expunge([%d]) = %v", u[1], got)
	}
	mid := f.mailbox(a.ID, "INBOX").HighestModSeq
	if got := uidsOf(f.messages(a.ID, mbID)); !slices.Equal(got, []uint32{u[0], u[2], u[3], u[4]}) {
		t.Errorf("after explicit expunge: %v", got)
	}
	if got := sortedCopy(f.expunge(a.ID, mbID, nil)); !slices.Equal(got, []uint32{u[0], u[3]}) {
		t.Errorf("Expunge(nil) = %v, want [%d %d]", got, u[0], u[3])
	}
	if got := uidsOf(f.messages(a.ID, mbID)); !slices.Equal(got, []uint32{u[2], u[4]}) {
		t.Errorf("after expunge: %v", got)
	}
	if got := f.expunge(a.ID, mbID, nil); len(got) != 0 {
		t.Errorf("Expunge with nothing \\Deleted = %v", got)
	}
	// Tombstones.
	v, err := f.s.Vanished(f.ctx, a.ID, mbID, start)
	f.must(err, "Vanished")
	if got := sortedCopy(v); !slices.Equal(got, []uint32{u[0], u[1], u[3]}) {
		t.Errorf("Vanished(start) = %v", got)
	}
	v, _ = f.s.Vanished(f.ctx, a.ID, mbID, mid)
	if got := sortedCopy(v); !slices.Equal(got, []uint32{u[0], u[3]}) {
		t.Errorf("Vanished(after first expunge) = %v", got)
	}
	v, _ = f.s.Vanished(f.ctx, a.ID, mbID, f.mailbox(a.ID, "INBOX").HighestModSeq)
	if len(v) != 0 {
		t.Errorf("Vanished(HIGHESTMODSEQ) = %v", v)
	}
	// Expunged messages leave ChangedSince and stop counting.
	cs, _ := f.s.ChangedSince(f.ctx, a.ID, mbID, 0)
	if got := uidsOf(cs); !slices.Equal(got, []uint32{u[2], u[4]}) {
		t.Errorf("ChangedSince(0) after expunge = %v", got)
	}
	freed := ms[0].Size + ms[1].Size + ms[3].Size
	if used := f.getAccount(a.ID).UsedBytes; used != usedBefore-freed {
		t.Errorf("UsedBytes after expunge = %d, want %d", used, usedBefore-freed)
	}
	if c, err := f.s.Open(f.ctx, ms[0]); err == nil {
		c.Close()
		t.Errorf("Open of an expunged message succeeded: its blob was not freed")
	}
	// Explicit UIDs are removed whether or not they are \Deleted.
	if got := f.expunge(a.ID, mbID, []uint32{u[2]}); !slices.Equal(got, []uint32{u[2]}) {
		t.Errorf("Expunge([%d]) of a message without \\Deleted = %v", u[2], got)
	}
	// Expunging a UID that does not exist removes nothing.
	if got := f.expunge(a.ID, mbID, []uint32{u[0], u[4] + 50}); len(got) != 0 {
		t.Errorf("Expunge of gone UIDs = %v", got)
	}
	f.checkConsistent(a.ID)
}

func testUIDsNeverReused(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	ms := f.deliverN(3, inbox(a.ID))
	mbID := ms[0].MailboxID
	f.storeFlags(store.FlagChange{AccountID: a.ID, MailboxID: mbID, UIDs: uidsOf(ms), Op: store.FlagsAdd, Flags: store.FlagDeleted})
	f.expunge(a.ID, mbID, nil)
	next := f.mailbox(a.ID, "INBOX").UIDNext
	if next <= ms[2].UID {
		t.Errorf("UIDNEXT %d went back after expunge (last UID %d)", next, ms[2].UID)
	}
	m := f.deliver(testBody("later"), inbox(a.ID))[0]
	if m.UID <= ms[2].UID || m.UID < next {
		t.Errorf("UID %d reused after expunge of %v (UIDNEXT %d)", m.UID, uidsOf(ms), next)
	}
	// Also across a reopen.
	f.storeFlags(store.FlagChange{AccountID: a.ID, MailboxID: mbID, UIDs: []uint32{m.UID}, Op: store.FlagsAdd, Flags: store.FlagDeleted})
	f.expunge(a.ID, mbID, nil)
	f.cycle()
	m2 := f.deliver(testBody("after reopen"), inbox(a.ID))[0]
	if m2.UID <= m.UID {
		t.Errorf("UID %d reused after expunge and reopen (previous %d)", m2.UID, m.UID)
	}
	if m2.ModSeq <= m.ModSeq {
		t.Errorf("MODSEQ %d went back after reopen (previous %d)", m2.ModSeq, m.ModSeq)
	}
}

func testCopy(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	date := time.Date(2023, 5, 6, 7, 8, 9, 0, time.UTC)
	var ms []store.Message
	for i := range 3 {
		m, err := f.s.Deliver(f.ctx, store.Delivery{Body: strings.NewReader(testBody(fmt.Sprint(i))), InternalDate: date,
			Targets: []store.Target{{AccountID: a.ID, Flags: store.FlagSeen, Keywords: []string{"k"}, HeaderPrefix: []byte("P: 1\r\n")}}})
		f.must(err, "Deliver")
		ms = append(ms, m[0])
	}
	src := ms[0].MailboxID
	dst := f.createMailbox(a.ID, "Copies")
	there := f.deliver(testBody("already there"), store.Target{AccountID: a.ID, Mailbox: "Copies"})[0]
	usedBefore := f.getAccount(a.ID).UsedBytes

	r, err := f.s.Copy(f.ctx, a.ID, src, []uint32{ms[2].UID, ms[0].UID}, dst.ID)
	f.must(err, "Copy")
	dstNow := f.mailboxByID(a.ID, dst.ID)
	if r.UIDValidity != dstNow.UIDValidity {
		t.Errorf("CopyResult.UIDValidity %d, destination %d", r.UIDValidity, dstNow.UIDValidity)
	}
	if len(r.SrcUIDs) != 2 || len(r.DstUIDs) != 2 {
		t.Fatalf("CopyResult %+v", r)
	}
	if !slices.Equal(sortedCopy(r.SrcUIDs), []uint32{ms[0].UID, ms[2].UID}) {
		t.Errorf("SrcUIDs %v", r.SrcUIDs)
	}
	byUID := map[uint32]store.Message{}
	for _, m := range ms {
		byUID[m.UID] = m
	}
	for i, su := range r.SrcUIDs {
		orig := byUID[su]
		c := f.message(a.ID, dst.ID, r.DstUIDs[i])
		if c.UID <= there.UID || c.UID >= dstNow.UIDNext {
			t.Errorf("copy UID %d out of range", c.UID)
		}
		if c.BlobID != orig.BlobID {
			t.Errorf("copy of %d has BlobID %d, original %d: blob copied, not shared", su, c.BlobID, orig.BlobID)
		}
		if string(f.content(c)) != string(f.content(orig)) {
			t.Errorf("copy of %d has different content", su)
		}
		if c.Flags != orig.Flags || !slices.Equal(c.Keywords, orig.Keywords) || !c.InternalDate.Equal(orig.InternalDate) {
			t.Errorf("copy of %d: flags %v %q date %v; original %v %q %v", su, c.Flags, c.Keywords, c.InternalDate,
				orig.Flags, orig.Keywords, orig.InternalDate)
		}
		if c.ID == orig.ID || c.MailboxID != dst.ID {
			t.Errorf("copy record %+v", c)
		}
	}
	if r.DstUIDs[0] == r.DstUIDs[1] {
		t.Errorf("DstUIDs %v", r.DstUIDs)
	}
	if got := uidsOf(f.messages(a.ID, src)); !slices.Equal(got, uidsOf(ms)) {
		t.Errorf("source after copy: %v", got)
	}
	if used := f.getAccount(a.ID).UsedBytes; used != usedBefore+ms[0].Size+ms[2].Size {
		t.Errorf("UsedBytes after copy = %d, want %d", used, usedBefore+ms[0].Size+ms[2].Size)
	}
	// Expunging the original keeps the copy readable.
	f.storeFlags(store.FlagChange{AccountID: a.ID, MailboxID: src, UIDs: []uint32{ms[0].UID}, Op: store.FlagsAdd, Flags: store.FlagDeleted})
	f.expunge(a.ID, src, nil)
	c := f.message(a.ID, dst.ID, r.DstUIDs[slices.Index(r.SrcUIDs, ms[0].UID)])
	if string(f.content(c)) != "P: 1\r\n"+testBody("0") {
		t.Errorf("copy unreadable after the original was expunged")
	}
	_, err = f.s.Copy(f.ctx, a.ID, src, []uint32{ms[1].UID}, 987654)
	wantErr(t, "Copy to a missing mailbox", err, store.ErrNotFound)
	b := f.account("b@example.org")
	_, err = f.s.Copy(f.ctx, a.ID, src, []uint32{ms[1].UID}, f.mailbox(b.ID, "INBOX").ID)
	wantErr(t, "Copy to another account's mailbox", err, store.ErrNotFound)
	f.checkConsistent(a.ID)
	f.checkConsistent(b.ID)
}

func testMove(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	ms := f.deliverN(4, inbox(a.ID))
	src := ms[0].MailboxID
	dst := f.mailbox(a.ID, "Archive")
	startModSeq := f.mailboxByID(a.ID, src).HighestModSeq
	usedBefore := f.getAccount(a.ID).UsedBytes

	r, err := f.s.Move(f.ctx, a.ID, src, []uint32{ms[1].UID, ms[3].UID}, dst.ID)
	f.must(err, "Move")
	if !slices.Equal(sortedCopy(r.SrcUIDs), []uint32{ms[1].UID, ms[3].UID}) || len(r.DstUIDs) != 2 {
		t.Fatalf("Move result %+v", r)
	}
	if r.UIDValidity != f.mailboxByID(a.ID, dst.ID).UIDValidity {
		t.Errorf("Move UIDValidity %d", r.UIDValidity)
	}
	if got := uidsOf(f.messages(a.ID, src)); !slices.Equal(got, []uint32{ms[0].UID, ms[2].UID}) {
		t.Errorf("source after move: %v", got)
	}
	for i, su := range r.SrcUIDs {
		orig := ms[slices.IndexFunc(ms, func(m store.Message) bool { return m.UID == su })]
		m := f.message(a.ID, dst.ID, r.DstUIDs[i])
		if string(f.content(m)) != string(f.content(orig)) {
			t.Errorf("moved %d -> %d: content differs", su, r.DstUIDs[i])
		}
	}
	v, err := f.s.Vanished(f.ctx, a.ID, src, startModSeq)
	f.must(err, "Vanished")
	if got := sortedCopy(v); !slices.Equal(got, []uint32{ms[1].UID, ms[3].UID}) {
		t.Errorf("Vanished after move = %v", got)
	}
	if used := f.getAccount(a.ID).UsedBytes; used != usedBefore {
		t.Errorf("UsedBytes after move = %d, want %d", used, usedBefore)
	}
	f.checkConsistent(a.ID)
}

func testQuota(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	b := f.account("b@example.org")
	body := strings.Repeat("x", 1000)
	f.must(f.s.SetQuota(f.ctx, a.ID, 2000), "SetQuota")
	f.deliver(body, inbox(a.ID))
	f.deliver(body, inbox(a.ID)) // exactly at quota: allowed
	in := f.mailbox(a.ID, "INBOX")
	deliver := func(targets ...store.Target) error {
		_, err := f.s.Deliver(f.ctx, store.Delivery{Body: strings.NewReader(body), Targets: targets})
		return err
	}
	wantErr(t, "Deliver over quota", deliver(inbox(a.ID)), store.ErrOverQuota)
	// One target over quota fails the whole delivery.
	wantErr(t, "Deliver with one target over quota", deliver(inbox(b.ID), inbox(a.ID)), store.ErrOverQuota)
	if n := f.mailbox(b.ID, "INBOX").Messages; n != 0 {
		t.Errorf("failed delivery left %d messages in the other target", n)
	}
	if got := f.mailbox(a.ID, "INBOX"); got.Messages != 2 || got.UIDNext != in.UIDNext || got.HighestModSeq != in.HighestModSeq {
		t.Errorf("failed delivery changed INBOX: %+v, before %+v", got, in)
	}
	if u := f.getAccount(a.ID).UsedBytes; u != 2000 {
		t.Errorf("UsedBytes %d after failed deliveries", u)
	}
	// IgnoreQuota goes through.
	f.must(deliver(inbox(b.ID), store.Target{AccountID: a.ID, IgnoreQuota: true}), "Deliver with IgnoreQuota")
	if u := f.getAccount(a.ID).UsedBytes; u != 3000 {
		t.Errorf("UsedBytes %d after IgnoreQuota delivery, want 3000", u)
	}
	// The header prefix counts.
	f.must(f.s.SetQuota(f.ctx, b.ID, 1500), "SetQuota")
	_, err := f.s.Deliver(f.ctx, store.Delivery{Body: strings.NewReader(strings.Repeat("y", 499)),
		Targets: []store.Target{{AccountID: b.ID, HeaderPrefix: []byte("Xx")}}})
	wantErr(t, "Deliver over quota by the prefix", err, store.ErrOverQuota)
	// Freeing space makes room again; 0 is unlimited.
	f.must(f.s.SetQuota(f.ctx, a.ID, 0), "SetQuota 0")
	f.must(deliver(inbox(a.ID)), "Deliver unlimited")
	f.checkConsistent(a.ID)
	f.checkConsistent(b.ID)
}

func testAccountIsolation(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	b := f.account("b@example.org")
	m := f.deliver(testBody("a's"), inbox(a.ID))[0]
	bIn := f.mailbox(b.ID, "INBOX")
	ctx := f.ctx
	if _, err := f.s.MailboxByID(ctx, b.ID, m.MailboxID); err == nil {
		t.Errorf("MailboxByID: b sees a's INBOX")
	}
	if ms, err := f.s.Messages(ctx, b.ID, m.MailboxID, 1, 0); err == nil && len(ms) > 0 {
		t.Errorf("Messages: b sees a's messages")
	}
	if ms, err := f.s.ChangedSince(ctx, b.ID, m.MailboxID, 0); err == nil && len(ms) > 0 {
		t.Errorf("ChangedSince: b sees a's messages")
	}
	r, err := f.s.StoreFlags(ctx, store.FlagChange{AccountID: b.ID, MailboxID: m.MailboxID, UIDs: []uint32{m.UID}, Op: store.FlagsAdd, Flags: store.FlagDeleted})
	if err == nil && len(r.Changed) > 0 {
		t.Errorf("StoreFlags: b changed a's message")
	}
	if got, err := f.s.Expunge(ctx, b.ID, m.MailboxID, []uint32{m.UID}); err == nil && len(got) > 0 {
		t.Errorf("Expunge: b expunged a's message")
	}
	if _, err := f.s.Copy(ctx, b.ID, m.MailboxID, []uint32{m.UID}, bIn.ID); err == nil {
		if n := f.mailbox(b.ID, "INBOX").Messages; n > 0 {
			t.Errorf("Copy: b copied a's message")
		}
	}
	if err := f.s.RenameMailbox(ctx, b.ID, "Sent", "Sent2"); err != nil {
		t.Errorf("RenameMailbox: %v", err)
	}
	f.mailbox(a.ID, "Sent")
	if got := f.message(a.ID, m.MailboxID, m.UID); got.Flags != 0 {
		t.Errorf("a's message flags %v", got.Flags)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("storetest: read failure") }
