package storetest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func mustAddr(s string) addr.Address { return addr.MustParseAddress(s) }

// snapshot describes everything readable through the interface, one line per
// record, with times in UTC.
func (f *fixture) snapshot() []string {
	f.t.Helper()
	ctx := f.ctx
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	ds, err := f.s.Domains(ctx)
	f.must(err, "Domains")
	slices.SortFunc(ds, func(a, b store.Domain) int { return strings.Compare(a.Name.ASCII, b.Name.ASCII) })
	for _, d := range ds {
		add("domain %+v sep %q created %v", d.Name, d.SubaddressSep, utc(d.Created))
		keys, err := f.s.DKIMKeys(ctx, d.Name)
		f.must(err, "DKIMKeys")
		slices.SortFunc(keys, func(a, b store.DKIMKey) int { return strings.Compare(a.Selector, b.Selector) })
		for _, k := range keys {
			add("dkim %s %s %s %q %s %v", k.Domain.ASCII, k.Selector, k.Algorithm, k.PrivateKey, k.State, utc(k.Created))
		}
		als, err := f.s.Aliases(ctx, d.Name)
		f.must(err, "Aliases")
		slices.SortFunc(als, func(a, b store.Alias) int { return strings.Compare(a.Localpart.Key(), b.Localpart.Key()) })
		for _, al := range als {
			add("alias %q@%s -> %v created %v", al.Localpart, al.Domain.ASCII, al.Targets, utc(al.Created))
		}
	}
	accs, err := f.s.Accounts(ctx, addr.Domain{})
	f.must(err, "Accounts")
	for _, a := range accs {
		add("account %d %s %q quota %d used %d disabled %v created %v", a.ID, a.Address, a.DisplayName, a.QuotaBytes, a.UsedBytes, a.Disabled, utc(a.Created))
		c, err := f.s.Credentials(ctx, a.ID)
		f.must(err, "Credentials")
		add("credentials %+v", c)
		ps, err := f.s.AppPasswords(ctx, a.ID)
		f.must(err, "AppPasswords")
		slices.SortFunc(ps, func(a, b store.AppPassword) int { return int(a.ID - b.ID) })
		for _, p := range ps {
			add("apppassword %d %q %q %+v created %v used %v", p.ID, p.Name, p.Scope, p.SCRAM, utc(p.Created), utc(p.LastUsed))
		}
		mbs, err := f.s.Mailboxes(ctx, a.ID)
		f.must(err, "Mailboxes")
		slices.SortFunc(mbs, func(a, b store.Mailbox) int { return strings.Compare(a.Name, b.Name) })
		for _, mb := range mbs {
			add("mailbox %+v", mb)
			for _, m := range f.messages(a.ID, mb.ID) {
				sum := sha256.Sum256(f.content(m))
				add("message id %d uid %d modseq %d flags %d kw %q date %v save %v size %d prefix %q structure %x blob %d sha %x",
					m.ID, m.UID, m.ModSeq, m.Flags, m.Keywords, utc(m.InternalDate), utc(m.SaveDate), m.Size, m.HeaderPrefix, m.Structure, m.BlobID, sum[:8])
			}
			v, err := f.s.Vanished(ctx, a.ID, mb.ID, 0)
			f.must(err, "Vanished")
			add("vanished %v", sortedCopy(v))
		}
	}
	qs, err := f.s.QueueEntries(ctx)
	f.must(err, "QueueEntries")
	slices.SortFunc(qs, func(a, b store.QueueEntry) int { return int(a.ID - b.ID) })
	for _, q := range qs {
		sum := sha256.Sum256(f.queued(q))
		q.Created, q.NextAttempt = utc(q.Created), utc(q.NextAttempt)
		add("queue %+v sha %x", q, sum[:8])
	}
	return out
}

func testReopen(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	a := f.account("a@example.org")
	b := f.account("jörg@bücher.example")
	f.must(f.s.SetQuota(ctx, a.ID, 1<<30), "SetQuota")
	f.must(f.s.AddAlias(ctx, store.Alias{Localpart: "team", Domain: a.Address.Domain, Targets: []addr.Address{a.Address, b.Address}}), "AddAlias")
	f.must(f.s.AddAlias(ctx, store.Alias{Domain: b.Address.Domain, Targets: []addr.Address{b.Address}}), "AddAlias catch-all")
	f.must(f.s.AddDKIMKey(ctx, store.DKIMKey{Domain: a.Address.Domain, Selector: "s", Algorithm: "ed25519", PrivateKey: []byte("PEM"), State: "pending"}), "AddDKIMKey")
	p, err := f.s.AddAppPassword(ctx, store.AppPassword{AccountID: a.ID, Name: "mua", Scope: []string{"imap"}, SCRAM: testCredentials("x").SCRAM})
	f.must(err, "AddAppPassword")
	f.must(f.s.TouchAppPassword(ctx, p.ID, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)), "TouchAppPassword")
	f.createMailbox(a.ID, "Lists/Go")
	f.must(f.s.SetSubscribed(ctx, a.ID, "Lists/Go", true), "SetSubscribed")
	ms := f.deliverN(5, inbox(a.ID))
	big := randomBody(7, 300<<10)
	_, err = f.s.Deliver(ctx, store.Delivery{Body: bytes.NewReader(big), Targets: []store.Target{
		{AccountID: a.ID, Mailbox: "Lists/Go", HeaderPrefix: []byte("P: x\r\n"), Keywords: []string{"kw"}, Structure: []byte{1, 2}},
		{AccountID: b.ID, Flags: store.FlagDraft},
	}})
	f.must(err, "Deliver")
	f.storeFlags(store.FlagChange{AccountID: a.ID, MailboxID: ms[0].MailboxID, UIDs: uidsOf(ms[:3]), Op: store.FlagsAdd, Flags: store.FlagDeleted | store.FlagSeen})
	f.expunge(a.ID, ms[0].MailboxID, []uint32{ms[0].UID})
	_, err = f.s.Move(ctx, a.ID, ms[0].MailboxID, []uint32{ms[4].UID}, f.mailbox(a.ID, "Archive").ID)
	f.must(err, "Move")
	_, err = f.s.Enqueue(ctx, strings.NewReader(testBody("out")), []store.QueueEntry{{Sender: "a@example.org", Domain: "remote.example",
		Recipients: []store.QueueRecipient{{Address: "r@remote.example", Notify: "FAILURE"}}, NextAttempt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}})
	f.must(err, "Enqueue")

	before := f.snapshot()
	f.cycle()
	after := f.snapshot()
	diffLines(t, "after reopen", before, after)
	f.cycle()
	diffLines(t, "after second reopen", before, f.snapshot())

	// The reopened store keeps counting up.
	in := f.mailbox(a.ID, "INBOX")
	m := f.deliver(testBody("after"), inbox(a.ID))[0]
	if m.UID <= ms[4].UID || m.ModSeq <= in.HighestModSeq-1 || m.ModSeq <= ms[4].ModSeq {
		t.Errorf("after reopen: UID %d MODSEQ %d; before: last UID %d HIGHESTMODSEQ %d", m.UID, m.ModSeq, ms[4].UID, in.HighestModSeq)
	}
	f.checkConsistent(a.ID)
	f.checkConsistent(b.ID)
}

func diffLines(t *testing.T, what string, want, got []string) {
	t.Helper()
	for i := range max(len(want), len(got)) {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			t.Errorf("%s: line %d differs:\n got  %s\n want %s", what, i, g, w)
			return
		}
	}
}

func testClose(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	f.must(f.s.Close(), "Close")
	_, err := f.s.Domains(f.ctx)
	wantErr(t, "Domains after Close", err, store.ErrClosed)
	_, err = f.s.Deliver(f.ctx, store.Delivery{Body: strings.NewReader("x"), Targets: []store.Target{inbox(a.ID)}})
	wantErr(t, "Deliver after Close", err, store.ErrClosed)
	_, err = f.s.Mailboxes(f.ctx, a.ID)
	wantErr(t, "Mailboxes after Close", err, store.ErrClosed)
	f.s = f.reopen()
	f.checkConsistent(a.ID)
}
