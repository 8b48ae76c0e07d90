// Package storetest is the conformance suite every store.Store backend must
// pass, with the helpers it is built from. A backend's test calls Run with a
// factory that opens a fresh, empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) (store.Store, func() store.Store) {
//			dir := t.TempDir()
//			open := func() store.Store { s, err := Open(ctx, dir, opts); ...; return s }
//			return open(), open
//		})
//	}
//
// The suite closes every store it is given; reopen is only called after the
// previous store returned by the factory has been closed.
package storetest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

// Opener makes a fresh, empty store for one subtest. reopen opens the same
// store again (after the suite closed the previous one), for durability checks.
type Opener func(t *testing.T) (s store.Store, reopen func() store.Store)

// Run runs the conformance suite against stores made by open.
func Run(t *testing.T, open Opener) {
	t.Run("Domains", func(t *testing.T) { testDomains(t, open) })
	t.Run("Accounts", func(t *testing.T) { testAccounts(t, open) })
	t.Run("AccountIDN", func(t *testing.T) { testAccountIDN(t, open) })
	t.Run("DeleteAccount", func(t *testing.T) { testDeleteAccount(t, open) })
	t.Run("AppPasswords", func(t *testing.T) { testAppPasswords(t, open) })
	t.Run("AdminAccount", func(t *testing.T) { testAdminAccount(t, open) })
	t.Run("Aliases", func(t *testing.T) { testAliases(t, open) })
	t.Run("DKIMKeys", func(t *testing.T) { testDKIMKeys(t, open) })

	t.Run("DefaultMailboxes", func(t *testing.T) { testDefaultMailboxes(t, open) })
	t.Run("CreateMailbox", func(t *testing.T) { testCreateMailbox(t, open) })
	t.Run("RenameMailbox", func(t *testing.T) { testRenameMailbox(t, open) })
	t.Run("RenameInbox", func(t *testing.T) { testRenameInbox(t, open) })
	t.Run("DeleteMailbox", func(t *testing.T) { testDeleteMailbox(t, open) })
	t.Run("RecreateMailbox", func(t *testing.T) { testRecreateMailbox(t, open) })
	t.Run("Subscribe", func(t *testing.T) { testSubscribe(t, open) })

	t.Run("Deliver", func(t *testing.T) { testDeliver(t, open) })
	t.Run("DeliverMultiTarget", func(t *testing.T) { testDeliverMultiTarget(t, open) })
	t.Run("DeliverCreatesMailbox", func(t *testing.T) { testDeliverCreatesMailbox(t, open) })
	t.Run("LargeMessage", func(t *testing.T) { testLargeMessage(t, open) })
	t.Run("MessagesRange", func(t *testing.T) { testMessagesRange(t, open) })
	t.Run("MessagesByUID", func(t *testing.T) { testMessagesByUID(t, open) })
	t.Run("MailboxUIDs", func(t *testing.T) { testMailboxUIDs(t, open) })
	t.Run("Flags", func(t *testing.T) { testFlags(t, open) })
	t.Run("Keywords", func(t *testing.T) { testKeywords(t, open) })
	t.Run("ModSeq", func(t *testing.T) { testModSeq(t, open) })
	t.Run("UnchangedSince", func(t *testing.T) { testUnchangedSince(t, open) })
	t.Run("Expunge", func(t *testing.T) { testExpunge(t, open) })
	t.Run("UIDsNeverReused", func(t *testing.T) { testUIDsNeverReused(t, open) })
	t.Run("Copy", func(t *testing.T) { testCopy(t, open) })
	t.Run("Move", func(t *testing.T) { testMove(t, open) })
	t.Run("Quota", func(t *testing.T) { testQuota(t, open) })
	t.Run("AccountIsolation", func(t *testing.T) { testAccountIsolation(t, open) })

	t.Run("ExpungeDeleted", func(t *testing.T) { testExpungeDeleted(t, open) })
	t.Run("MessageIndex", func(t *testing.T) { testMessageIndex(t, open) })
	t.Run("NewMailboxModSeq", func(t *testing.T) { testNewMailboxModSeq(t, open) })
	t.Run("SubscriptionDefaults", func(t *testing.T) { testSubscriptionDefaults(t, open) })
	t.Run("InternalDateZone", func(t *testing.T) { testInternalDateZone(t, open) })
	t.Run("DeliverNoCreate", func(t *testing.T) { testDeliverNoCreate(t, open) })
	t.Run("DeliverAll", func(t *testing.T) { testDeliverAll(t, open) })
	t.Run("SearchText", func(t *testing.T) { testSearchText(t, open) })
	t.Run("SearchTextShared", func(t *testing.T) { testSearchTextShared(t, open) })

	t.Run("Queue", func(t *testing.T) { testQueue(t, open) })
	t.Run("Metadata", func(t *testing.T) { testMetadata(t, open) })
	t.Run("DMARCRecords", func(t *testing.T) { testDMARCRecords(t, open) })
	t.Run("JunkEvents", func(t *testing.T) { testJunkEvents(t, open) })

	t.Run("Notify", func(t *testing.T) { testNotify(t, open) })
	t.Run("NotifyFailedWrites", func(t *testing.T) { testNotifyFailedWrites(t, open) })
	t.Run("NotifyMultiTarget", func(t *testing.T) { testNotifyMultiTarget(t, open) })

	t.Run("Reopen", func(t *testing.T) { testReopen(t, open) })
	t.Run("Close", func(t *testing.T) { testClose(t, open) })

	t.Run("ConcurrentMailbox", func(t *testing.T) { testConcurrentMailbox(t, open) })
	t.Run("ConcurrentAccounts", func(t *testing.T) { testConcurrentAccounts(t, open) })
	t.Run("ConcurrentFailures", func(t *testing.T) { testConcurrentFailures(t, open) })
}

// fixture is one store under test with helpers that fail the test on error.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	s      store.Store
	reopen func() store.Store
}

func newFixture(t *testing.T, open Opener) *fixture {
	t.Helper()
	s, reopen := open(t)
	f := &fixture{t: t, ctx: context.Background(), s: s, reopen: reopen}
	t.Cleanup(func() {
		if f.s != nil {
			if err := f.s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})
	return f
}

// cycle closes the store and opens it again.
func (f *fixture) cycle() {
	f.t.Helper()
	if err := f.s.Close(); err != nil {
		f.t.Fatalf("Close: %v", err)
	}
	f.s = nil
	f.s = f.reopen()
}

func (f *fixture) must(err error, what string) {
	f.t.Helper()
	if err != nil {
		f.t.Fatalf("%s: %v", what, err)
	}
}

func (f *fixture) addDomain(name string) addr.Domain {
	f.t.Helper()
	d := addr.MustParseDomain(name)
	if _, err := f.s.Domain(f.ctx, d); err == nil {
		return d
	}
	f.must(f.s.AddDomain(f.ctx, store.Domain{Name: d, SubaddressSep: "+"}), "AddDomain "+name)
	return d
}

// account creates address (and its domain if needed) with dummy credentials.
func (f *fixture) account(address string) store.Account {
	f.t.Helper()
	a := addr.MustParseAddress(address)
	f.addDomain(a.Domain.String())
	acc, err := f.s.AddAccount(f.ctx, store.Account{Address: a, DisplayName: "User " + address}, testCredentials(address))
	f.must(err, "AddAccount "+address)
	if acc.ID == 0 {
		f.t.Fatalf("AddAccount %s: zero ID", address)
	}
	return acc
}

func testCredentials(seed string) store.Credentials {
	return store.Credentials{
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$" + seed,
		SCRAM: store.SCRAMKeys{
			Salt:       []byte("salt-" + seed),
			Iterations: 4096,
			StoredKey:  []byte("stored-" + seed),
			ServerKey:  []byte("server-" + seed),
		},
	}
}

func (f *fixture) getAccount(id int64) store.Account {
	f.t.Helper()
	a, err := f.s.AccountByID(f.ctx, id)
	f.must(err, "AccountByID")
	return a
}

func (f *fixture) mailbox(accountID int64, name string) store.Mailbox {
	f.t.Helper()
	mb, err := f.s.MailboxByName(f.ctx, accountID, name)
	f.must(err, "MailboxByName "+name)
	return mb
}

func (f *fixture) mailboxByID(accountID, id int64) store.Mailbox {
	f.t.Helper()
	mb, err := f.s.MailboxByID(f.ctx, accountID, id)
	f.must(err, "MailboxByID")
	return mb
}

func (f *fixture) createMailbox(accountID int64, name string) store.Mailbox {
	f.t.Helper()
	mb, err := f.s.CreateMailbox(f.ctx, accountID, name, "")
	f.must(err, "CreateMailbox "+name)
	return mb
}

// deliver delivers body to targets and checks the returned records.
func (f *fixture) deliver(body string, targets ...store.Target) []store.Message {
	f.t.Helper()
	ms, err := f.s.Deliver(f.ctx, store.Delivery{Body: bytes.NewReader([]byte(body)), Targets: targets})
	f.must(err, "Deliver")
	if len(ms) != len(targets) {
		f.t.Fatalf("Deliver to %d targets returned %d messages", len(targets), len(ms))
	}
	for i, m := range ms {
		want := int64(len(targets[i].HeaderPrefix) + len(body))
		if m.Size != want {
			f.t.Errorf("Deliver: message %d: Size %d, want %d", i, m.Size, want)
		}
		if m.AccountID != targets[i].AccountID {
			f.t.Errorf("Deliver: message %d: AccountID %d, want %d", i, m.AccountID, targets[i].AccountID)
		}
		if m.UID == 0 || m.ModSeq == 0 || m.ID == 0 {
			f.t.Errorf("Deliver: message %d: zero UID/ModSeq/ID: %+v", i, m)
		}
	}
	return ms
}

// deliverN delivers n distinct small messages to one target, one by one.
func (f *fixture) deliverN(n int, tg store.Target) []store.Message {
	f.t.Helper()
	var ms []store.Message
	for i := range n {
		ms = append(ms, f.deliver(testBody(fmt.Sprintf("n%d-%d", tg.AccountID, i)), tg)...)
	}
	return ms
}

func testBody(tag string) string {
	return "From: a@example.org\r\nTo: b@example.org\r\nSubject: test " + tag +
		"\r\nMessage-ID: <" + tag + "@example.org>\r\n\r\nHello " + tag + ".\r\n"
}

func inbox(accountID int64) store.Target { return store.Target{AccountID: accountID} }

func (f *fixture) messages(accountID, mailboxID int64) []store.Message {
	f.t.Helper()
	ms, err := f.s.Messages(f.ctx, accountID, mailboxID, 1, 0)
	f.must(err, "Messages")
	return ms
}

func (f *fixture) message(accountID, mailboxID int64, uid uint32) store.Message {
	f.t.Helper()
	ms, err := f.s.Messages(f.ctx, accountID, mailboxID, uid, uid)
	f.must(err, "Messages")
	if len(ms) != 1 {
		f.t.Fatalf("Messages(uid %d): %d messages, want 1", uid, len(ms))
	}
	return ms[0]
}

// content returns what Open serves for m, checking Size against m.Size.
func (f *fixture) content(m store.Message) []byte {
	f.t.Helper()
	c, err := f.s.Open(f.ctx, m)
	f.must(err, "Open")
	defer c.Close()
	b, err := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
	f.must(err, "read content")
	if c.Size() != m.Size {
		f.t.Errorf("Open: Size() %d, message Size %d", c.Size(), m.Size)
	}
	return b
}

func uidsOf(ms []store.Message) []uint32 {
	var u []uint32
	for _, m := range ms {
		u = append(u, m.UID)
	}
	return u
}

func (f *fixture) checkConsistent(accountID int64) {
	f.t.Helper()
	CheckConsistent(f.t, f.s, accountID)
}

// wantErr fails unless err matches one of the sentinels.
func wantErr(t *testing.T, what string, err error, sentinels ...error) {
	t.Helper()
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Errorf("%s: error %v, want %v", what, err, sentinels)
}

// utc normalizes a time for comparison.
func utc(t time.Time) time.Time { return t.UTC().Round(0) }

func sortedCopy[T cmp.Ordered](s []T) []T {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
