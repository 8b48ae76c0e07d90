package store

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
)

// TestMailboxUIDsRuns checks both ways MailboxUIDs reads the UIDs (one
// run from the index ends, or the joined list) against the expected list
// as expunges make the mailbox contiguous, gappy and then sparse.
func TestMailboxUIDsRuns(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	a := addAccount(t, s, "a@example.org")
	var want []uint32
	for range 20 {
		m := deliver(t, s, []byte("Subject: x\r\n\r\nbody\r\n"), Target{AccountID: a.ID, Mailbox: "INBOX"})
		want = append(want, m[0].UID)
	}
	mb := mustMailbox(t, s, a.ID, "INBOX")
	expunge := func(uids ...uint32) {
		t.Helper()
		if _, err := s.Expunge(ctx, a.ID, mb.ID, uids); err != nil {
			t.Fatal(err)
		}
		want = slices.DeleteFunc(want, func(u uint32) bool { return slices.Contains(uids, u) })
	}
	check := func(step string) {
		t.Helper()
		l, err := s.MailboxUIDs(ctx, a.ID, mb.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(l.UIDs, want) {
			t.Errorf("%s: UIDs %v, want %v", step, l.UIDs, want)
		}
	}
	check("contiguous")
	expunge(want[0], want[len(want)-1])
	check("contiguous without the ends")
	expunge(want[2], want[3], want[7])
	check("gaps")
	expunge(want[0], want[3], want[4], want[5], want[6], want[8], want[9], want[10])
	check("sparse")
	expunge(want...)
	check("empty")
}

// TestMessageFieldsByUID checks that each field set reads the same values
// as MessagesByUID and leaves the other fields zero.
func TestMessageFieldsByUID(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	a := addAccount(t, s, "a@example.org")
	for i := range 5 {
		deliver(t, s, []byte("Subject: x\r\n\r\nbody\r\n"), Target{AccountID: a.ID, Mailbox: "INBOX",
			Keywords: []string{"$k" + string(rune('a'+i)), "$z"}, Structure: []byte{1, byte(i)}, HeaderPrefix: []byte("X-P: 1\r\n")})
	}
	mb := mustMailbox(t, s, a.ID, "INBOX")
	uids := []uint32{1, 3, 4, 9}
	full, err := s.MessagesByUID(ctx, a.ID, mb.ID, uids)
	if err != nil || len(full) != 3 {
		t.Fatalf("MessagesByUID: %d, %v", len(full), err)
	}
	for _, fields := range []MessageFields{0, FieldDates, FieldStructure, FieldContent, FieldDates | FieldStructure | FieldContent} {
		got, err := s.MessageFieldsByUID(ctx, a.ID, mb.ID, uids, fields)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(full) {
			t.Fatalf("fields %b: %d messages, want %d", fields, len(got), len(full))
		}
		for i, m := range full {
			want := Message{AccountID: m.AccountID, MailboxID: m.MailboxID, UID: m.UID, ModSeq: m.ModSeq,
				Flags: m.Flags, Keywords: m.Keywords, Size: m.Size}
			if fields&FieldDates != 0 {
				want.InternalDate, want.SaveDate = m.InternalDate, m.SaveDate
			}
			if fields&FieldStructure != 0 {
				want.Structure = m.Structure
			}
			if fields&FieldContent != 0 {
				want.ID, want.HeaderPrefix, want.BlobID = m.ID, m.HeaderPrefix, m.BlobID
			}
			if !reflect.DeepEqual(got[i], want) {
				t.Errorf("fields %b: message %d = %+v, want %+v", fields, m.UID, got[i], want)
			}
		}
	}
	if _, err := s.MessageFieldsByUID(ctx, a.ID, 987654, uids, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing mailbox: %v", err)
	}
}

// TestStoreFlagRuns checks the range path of StoreFlags: only messages
// whose flags change get the new MODSEQ and are reported, keywords stay,
// and a change that changes nothing takes no MODSEQ.
func TestStoreFlagRuns(t *testing.T) {
	if got := uidRuns([]uint32{9, 1, 2, 3, 5, 6, 9}); !slices.Equal(got, [][2]uint32{{1, 3}, {5, 6}, {9, 9}}) {
		t.Errorf("uidRuns = %v", got)
	}
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	a := addAccount(t, s, "a@example.org")
	for i := range 6 {
		deliver(t, s, []byte("Subject: x\r\n\r\nbody\r\n"), Target{AccountID: a.ID, Mailbox: "INBOX",
			Flags: Flags(i%2) * FlagSeen, Keywords: []string{"$k"}})
	}
	mb := mustMailbox(t, s, a.ID, "INBOX")
	store := func(op FlagOp, f Flags, uids ...uint32) []uint32 {
		t.Helper()
		res, err := s.StoreFlags(ctx, FlagChange{AccountID: a.ID, MailboxID: mb.ID, UIDs: uids, Op: op, Flags: f})
		if err != nil {
			t.Fatal(err)
		}
		var out []uint32
		for _, m := range res.Changed {
			if !slices.Equal(m.Keywords, []string{"$k"}) {
				t.Errorf("UID %d: keywords %v", m.UID, m.Keywords)
			}
			out = append(out, m.UID)
		}
		return out
	}
	// UIDs 2, 4 and 6 are \Seen already.
	if got := store(FlagsAdd, FlagSeen, 1, 2, 3, 5, 6); !slices.Equal(got, []uint32{1, 3, 5}) {
		t.Errorf("+\\Seen changed %v, want [1 3 5]", got)
	}
	before := mustMailbox(t, s, a.ID, "INBOX").HighestModSeq
	if got := store(FlagsAdd, FlagSeen, 1, 2, 3); len(got) != 0 {
		t.Errorf("+\\Seen again changed %v", got)
	}
	if after := mustMailbox(t, s, a.ID, "INBOX").HighestModSeq; after != before {
		t.Errorf("HIGHESTMODSEQ moved from %d to %d on a no-op", before, after)
	}
	if got := store(FlagsRemove, FlagSeen|FlagFlagged, 2, 3, 4); !slices.Equal(got, []uint32{2, 3, 4}) {
		t.Errorf("-\\Seen changed %v, want [2 3 4]", got)
	}
	msgs, err := s.MessagesByUID(ctx, a.ID, mb.ID, []uint32{1, 2, 3, 4, 5, 6})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		seen := m.Flags&FlagSeen != 0
		if want := m.UID != 2 && m.UID != 3 && m.UID != 4; seen != want {
			t.Errorf("UID %d: \\Seen %v, want %v", m.UID, seen, want)
		}
		if m.UID >= 2 && m.UID <= 4 && m.ModSeq != mustMailbox(t, s, a.ID, "INBOX").HighestModSeq {
			t.Errorf("UID %d: MODSEQ %d, not the mailbox's highest", m.UID, m.ModSeq)
		}
	}
}
