package storetest

import (
	"testing"

	"github.com/posthorn/posthorn/internal/store"
)

// metadataMap returns the entries of a mailbox (0: server) as name → value.
func (f *fixture) metadataMap(accountID, mailboxID int64) map[string]string {
	f.t.Helper()
	es, err := f.s.Metadata(f.ctx, accountID, mailboxID)
	f.must(err, "Metadata")
	m := map[string]string{}
	for i, e := range es {
		if e.MailboxID != mailboxID {
			f.t.Errorf("entry %s: MailboxID %d, want %d", e.Name, e.MailboxID, mailboxID)
		}
		if i > 0 && es[i-1].Name >= e.Name {
			f.t.Errorf("entries not ordered by name: %q, %q", es[i-1].Name, e.Name)
		}
		m[e.Name] = string(e.Value)
	}
	return m
}

func testMetadata(t *testing.T, open Opener) {
	f := newFixture(t, open)
	a := f.account("a@example.org")
	b := f.account("b@example.org")
	inbox := f.mailbox(a.ID, "INBOX")
	set := func(accountID, mailboxID int64, lim store.MetadataLimits, kv ...string) error {
		var es []store.MetadataEntry
		for i := 0; i < len(kv); i += 2 {
			e := store.MetadataEntry{Name: kv[i]}
			if kv[i+1] != "<nil>" {
				e.Value = []byte(kv[i+1])
			}
			es = append(es, e)
		}
		return f.s.SetMetadata(f.ctx, accountID, mailboxID, es, lim)
	}
	none := store.MetadataLimits{}
	f.must(set(a.ID, 0, none, "/private/comment", "server note", "/shared/admin", "mailto:x@example.org"), "SetMetadata server")
	f.must(set(a.ID, inbox.ID, none, "/private/comment", "inbox note", "/private/vendor/x/y", "", "/shared/z", "bin\x00ary"),
		"SetMetadata INBOX")
	if got := f.metadataMap(a.ID, 0); len(got) != 2 || got["/private/comment"] != "server note" {
		t.Errorf("server entries = %q", got)
	}
	got := f.metadataMap(a.ID, inbox.ID)
	if len(got) != 3 || got["/private/comment"] != "inbox note" || got["/shared/z"] != "bin\x00ary" {
		t.Errorf("INBOX entries = %q", got)
	}
	if v, ok := got["/private/vendor/x/y"]; !ok || v != "" {
		t.Errorf("empty value: %q, %v", v, ok)
	}
	if got := f.metadataMap(b.ID, 0); len(got) != 0 {
		t.Errorf("another account sees %q", got)
	}
	// Replace and delete in one call; entries survive a reopen.
	f.must(set(a.ID, inbox.ID, none, "/private/comment", "new", "/shared/z", "<nil>", "/shared/missing", "<nil>"), "update")
	f.cycle()
	if got := f.metadataMap(a.ID, inbox.ID); len(got) != 2 || got["/private/comment"] != "new" {
		t.Errorf("after update and reopen = %q", got)
	}
	// Limits: over either one changes nothing.
	err := set(a.ID, inbox.ID, store.MetadataLimits{MaxEntries: 4}, "/private/a", "1", "/private/b", "2")
	wantErr(t, "over MaxEntries", err, store.ErrTooMany)
	err = set(a.ID, 0, store.MetadataLimits{MaxBytes: 100}, "/private/big", string(make([]byte, 100)))
	wantErr(t, "over MaxBytes", err, store.ErrTooMany)
	if got := f.metadataMap(a.ID, inbox.ID); len(got) != 2 {
		t.Errorf("after refused sets = %q", got)
	}
	f.must(set(a.ID, inbox.ID, store.MetadataLimits{MaxEntries: 4}, "/private/vendor/x/y", "<nil>", "/private/a", "1"),
		"set within the limit after a delete")
	// Bad names and missing mailboxes.
	for _, name := range []string{"/private/", "/other/x", "/private/Upper", "/private/a//b", "/private/a/", "/shared/*", "private/x", "/shared/a b"} {
		wantErr(t, "name "+name, set(a.ID, 0, none, name, "v"), store.ErrInvalid)
	}
	wantErr(t, "missing mailbox", set(a.ID, 999999, none, "/private/x", "v"), store.ErrNotFound)
	wantErr(t, "other account's mailbox", set(b.ID, inbox.ID, none, "/private/x", "v"), store.ErrNotFound)
	// Renaming keeps a mailbox's entries; deleting it removes them.
	box := f.createMailbox(a.ID, "Box")
	f.must(set(a.ID, box.ID, none, "/private/comment", "box"), "SetMetadata Box")
	f.must(f.s.RenameMailbox(f.ctx, a.ID, "Box", "Renamed"), "RenameMailbox")
	if got := f.metadataMap(a.ID, box.ID); got["/private/comment"] != "box" {
		t.Errorf("after rename = %q", got)
	}
	f.must(f.s.DeleteMailbox(f.ctx, a.ID, "Renamed"), "DeleteMailbox")
	again := f.createMailbox(a.ID, "Renamed")
	if got := f.metadataMap(a.ID, box.ID); len(got) != 0 {
		t.Errorf("deleted mailbox keeps %q", got)
	}
	if got := f.metadataMap(a.ID, again.ID); len(got) != 0 {
		t.Errorf("recreated mailbox has %q", got)
	}
	// Deleting the account removes all of its entries.
	f.must(f.s.DeleteAccount(f.ctx, a.ID), "DeleteAccount")
	if got := f.metadataMap(a.ID, 0); len(got) != 0 {
		t.Errorf("deleted account keeps %q", got)
	}
	wantErr(t, "deleted account", set(a.ID, 0, none, "/private/x", "v"), store.ErrNotFound)
}
