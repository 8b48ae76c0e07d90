package store

// Mailboxes of the SQLite store.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits of mailbox names: MaxMailboxName bytes in all, MaxMailboxDepth
// levels of hierarchy ("a/b/c" has 3).
const (
	MaxMailboxName  = 1000
	MaxMailboxDepth = 64
)

// inboxPrefix puts INBOX in its stored form where it begins name: INBOX is
// case-insensitive (RFC 9051 §5.1), also as the parent of other mailboxes
// ("inbox/x" is "INBOX/x").
func inboxPrefix(name string) string {
	if len(name) >= 5 && strings.EqualFold(name[:5], "INBOX") && (len(name) == 5 || name[5] == '/') && name[:5] != "INBOX" {
		return "INBOX" + name[5:]
	}
	return name
}

// canonicalMailbox validates a mailbox name and returns its stored form
// (see inboxPrefix); "" is INBOX when emptyIsInbox. Names with control
// characters, empty levels or over the limits are ErrInvalid.
func canonicalMailbox(name string, emptyIsInbox bool) (string, error) {
	if name == "" && emptyIsInbox {
		return "INBOX", nil
	}
	name = inboxPrefix(name)
	if name == "" || !utf8.ValidString(name) ||
		strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") {
		return "", fmt.Errorf("%w: mailbox name %q", ErrInvalid, name)
	}
	if len(name) > MaxMailboxName {
		return "", fmt.Errorf("%w: mailbox name longer than %d bytes", ErrInvalid, MaxMailboxName)
	}
	if n := strings.Count(name, "/") + 1; n > MaxMailboxDepth {
		return "", fmt.Errorf("%w: mailbox name with %d levels (at most %d)", ErrInvalid, n, MaxMailboxDepth)
	}
	for _, r := range name {
		if r < 0x20 || r >= 0x7f && r < 0xa0 { // C0, DEL, C1
			return "", fmt.Errorf("%w: mailbox name %q has a control character", ErrInvalid, name)
		}
	}
	return name, nil
}

// CheckMailboxName returns an error wrapping ErrInvalid if name cannot be
// a mailbox name, so that a caller can refuse it before acting on its
// parents.
func CheckMailboxName(name string) error {
	_, err := canonicalMailbox(name, false)
	return err
}

func validSpecialUse(s string) bool {
	switch s {
	case "", SpecialSent, SpecialDrafts, SpecialJunk, SpecialTrash, SpecialArchive:
		return true
	}
	return false
}

// nextUIDValidity returns a UIDVALIDITY never given out before in this
// store: a counter seeded with the current time (RFC 9051 §2.3.1.1).
func nextUIDValidity(w *wtx) (uint32, error) {
	seed := uint32(w.now.Unix())
	var v int64
	err := w.queryRow(`INSERT INTO meta (key, value) VALUES ('uidvalidity', ?)
		ON CONFLICT (key) DO UPDATE SET value = value + 1 RETURNING value`, int64(seed)).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("store: uidvalidity: %w", err)
	}
	if v > 0xffffffff {
		return 0, fmt.Errorf("store: uidvalidity exhausted")
	}
	return uint32(v), nil
}

// nextModSeq bumps and returns the account's MODSEQ.
func nextModSeq(w *wtx, accountID int64) (uint64, error) {
	var m int64
	err := w.queryRow(`UPDATE accounts SET modseq = modseq + 1 WHERE id = ? RETURNING modseq`, accountID).Scan(&m)
	if err != nil {
		return 0, notFound(err, fmt.Sprintf("account %d", accountID))
	}
	return uint64(m), nil
}

// createMailbox inserts a mailbox with a canonical name; ErrExists if taken.
// Its HIGHESTMODSEQ is a freshly bumped account MODSEQ: positive, and below
// the MODSEQ of any later change (RFC 7162 §3.1.1).
func createMailbox(w *wtx, accountID int64, name, special string, subscribed bool) (Mailbox, error) {
	if ok, err := exists(w, `SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?`, accountID, name); err != nil || ok {
		return Mailbox{}, errors.Join(err, existsErr(ok, "mailbox "+name))
	}
	uv, err := nextUIDValidity(w)
	if err != nil {
		return Mailbox{}, err
	}
	modseq, err := nextModSeq(w, accountID)
	if err != nil {
		return Mailbox{}, err
	}
	mb := Mailbox{AccountID: accountID, Name: name, SpecialUse: special, Subscribed: subscribed, UIDValidity: uv,
		UIDNext: 1, HighestModSeq: modseq}
	res, err := w.exec(`INSERT INTO mailboxes (account_id, name, special_use, subscribed, uidvalidity, uidnext, highestmodseq)
		VALUES (?, ?, ?, ?, ?, 1, ?)`, accountID, name, special, boolInt(subscribed), uv, int64(modseq))
	if err != nil {
		return Mailbox{}, fmt.Errorf("store: create mailbox: %w", err)
	}
	mb.ID, err = res.LastInsertId()
	return mb, err
}

const mailboxCols = `id, account_id, name, special_use, subscribed, uidvalidity, uidnext, highestmodseq, messages, size`

func scanMailbox(sc interface{ Scan(...any) error }) (Mailbox, error) {
	var mb Mailbox
	var sub int
	var uv, un, hm int64
	err := sc.Scan(&mb.ID, &mb.AccountID, &mb.Name, &mb.SpecialUse, &sub, &uv, &un, &hm, &mb.Messages, &mb.Size)
	mb.Subscribed = sub != 0
	mb.UIDValidity, mb.UIDNext, mb.HighestModSeq = uint32(uv), uint32(un), uint64(hm)
	return mb, err
}

// mailboxTx reads a mailbox inside a write.
func mailboxTx(w *wtx, accountID int64, name string) (Mailbox, error) {
	mb, err := scanMailbox(w.queryRow(`SELECT `+mailboxCols+` FROM mailboxes WHERE account_id = ? AND name = ?`, accountID, name))
	return mb, notFound(err, "mailbox "+name)
}

func mailboxByIDTx(w *wtx, accountID, id int64) (Mailbox, error) {
	mb, err := scanMailbox(w.queryRow(`SELECT `+mailboxCols+` FROM mailboxes WHERE account_id = ? AND id = ?`, accountID, id))
	return mb, notFound(err, fmt.Sprintf("mailbox %d", id))
}

// CreateMailbox implements Mail.
func (s *SQLite) CreateMailbox(ctx context.Context, accountID int64, name, specialUse string) (Mailbox, error) {
	name, err := canonicalMailbox(name, false)
	if err != nil {
		return Mailbox{}, err
	}
	if !validSpecialUse(specialUse) {
		return Mailbox{}, fmt.Errorf("%w: special-use %q", ErrInvalid, specialUse)
	}
	var mb Mailbox
	err = s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		if ok, err := exists(w, `SELECT 1 FROM accounts WHERE id = ?`, accountID); err != nil || !ok {
			return nil, errors.Join(err, notFound(sql.ErrNoRows, fmt.Sprintf("account %d", accountID)))
		}
		// RFC 9051 §6.3.4: the superior hierarchy is created as needed, in
		// the same transaction: a CREATE that fails creates nothing.
		var changes []Change
		for i := 0; i < len(name); i++ {
			if name[i] != '/' {
				continue
			}
			ok, err := exists(w, `SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?`, accountID, name[:i])
			if err != nil {
				return nil, err
			}
			if !ok {
				parent, err := createMailbox(w, accountID, name[:i], "", false)
				if err != nil {
					return nil, err
				}
				changes = append(changes, Change{Kind: ChangeMailboxCreate, AccountID: accountID, MailboxID: parent.ID, MailboxName: parent.Name})
			}
		}
		// A name subscribed while it was no mailbox is subscribed again.
		subscribed, err := takeSubscription(w, accountID, name)
		if err != nil {
			return nil, err
		}
		mb, err = createMailbox(w, accountID, name, specialUse, subscribed)
		if err != nil {
			return nil, err
		}
		return append(changes, Change{Kind: ChangeMailboxCreate, AccountID: accountID, MailboxID: mb.ID, MailboxName: mb.Name}), nil
	})
	return mb, err
}

// Mailboxes implements Mail. INBOX comes first, then the others by name.
func (s *SQLite) Mailboxes(ctx context.Context, accountID int64) ([]Mailbox, error) {
	return queryList(s, ctx, scanMailbox, `SELECT `+mailboxCols+` FROM mailboxes WHERE account_id = ?
		ORDER BY name <> 'INBOX', name`, accountID)
}

// MailboxByName implements Mail.
func (s *SQLite) MailboxByName(ctx context.Context, accountID int64, name string) (Mailbox, error) {
	db, err := s.reader()
	if err != nil {
		return Mailbox{}, err
	}
	name = inboxPrefix(name)
	mb, err := scanMailbox(db.QueryRowContext(ctx, `SELECT `+mailboxCols+` FROM mailboxes WHERE account_id = ? AND name = ?`, accountID, name))
	return mb, s.readErr(notFound(err, "mailbox "+name))
}

// MailboxByID implements Mail.
func (s *SQLite) MailboxByID(ctx context.Context, accountID, id int64) (Mailbox, error) {
	db, err := s.reader()
	if err != nil {
		return Mailbox{}, err
	}
	mb, err := scanMailbox(db.QueryRowContext(ctx, `SELECT `+mailboxCols+` FROM mailboxes WHERE account_id = ? AND id = ?`, accountID, id))
	return mb, s.readErr(notFound(err, fmt.Sprintf("mailbox %d", id)))
}

// RenameMailbox implements Mail.
func (s *SQLite) RenameMailbox(ctx context.Context, accountID int64, oldName, newName string) error {
	oldName, err := canonicalMailbox(oldName, false)
	if err != nil {
		return err
	}
	newName, err = canonicalMailbox(newName, false)
	if err != nil {
		return err
	}
	if newName == "INBOX" {
		return fmt.Errorf("store: rename to INBOX: %w", ErrExists)
	}
	if newName == oldName {
		return fmt.Errorf("store: rename %s to itself: %w", oldName, ErrExists)
	}
	if strings.HasPrefix(newName, oldName+"/") {
		return fmt.Errorf("%w: cannot move mailbox %s under itself", ErrInvalid, oldName)
	}
	return s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		if oldName == "INBOX" {
			return s.renameInbox(w, accountID, newName)
		}
		return renameTree(w, accountID, oldName, newName)
	})
}

// renameTree renames a mailbox and its children, keeping their UIDVALIDITY.
func renameTree(w *wtx, accountID int64, oldName, newName string) ([]Change, error) {
	rows, err := w.query(`SELECT id, name FROM mailboxes WHERE account_id = ? AND (name = ? OR (name >= ? AND name < ?))
		ORDER BY name`, accountID, oldName, oldName+"/", oldName+"0")
	if err != nil {
		return nil, err
	}
	var changes []Change
	for rows.Next() {
		var ch Change
		if err := rows.Scan(&ch.MailboxID, &ch.OldName); err != nil {
			rows.Close()
			return nil, err
		}
		ch.Kind, ch.AccountID = ChangeMailboxRename, accountID
		ch.MailboxName = newName + ch.OldName[len(oldName):]
		changes = append(changes, ch)
	}
	if err := errors.Join(rows.Close(), rows.Err()); err != nil {
		return nil, err
	}
	if len(changes) == 0 || changes[0].OldName != oldName {
		return nil, notFound(sql.ErrNoRows, "mailbox "+oldName)
	}
	for _, ch := range changes {
		if _, err := canonicalMailbox(ch.MailboxName, false); err != nil {
			return nil, err
		}
		if ok, err := exists(w, `SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?`, accountID, ch.MailboxName); err != nil || ok {
			return nil, errors.Join(err, existsErr(ok, "mailbox "+ch.MailboxName))
		}
	}
	// Two passes so that no intermediate name collides with an old one.
	for _, ch := range changes {
		if _, err := w.exec(`UPDATE mailboxes SET name = ? WHERE id = ?`, fmt.Sprintf("\x00rename\x00%d", ch.MailboxID), ch.MailboxID); err != nil {
			return nil, err
		}
	}
	for _, ch := range changes {
		if _, err := w.exec(`UPDATE mailboxes SET name = ? WHERE id = ?`, ch.MailboxName, ch.MailboxID); err != nil {
			return nil, err
		}
		if sub, err := takeSubscription(w, accountID, ch.MailboxName); err != nil {
			return nil, err
		} else if sub {
			if _, err := w.exec(`UPDATE mailboxes SET subscribed = 1 WHERE id = ?`, ch.MailboxID); err != nil {
				return nil, err
			}
		}
	}
	return changes, nil
}

// renameInbox moves INBOX's messages to a new mailbox and leaves INBOX
// empty, its children untouched (RFC 9051 §6.3.6). The messages keep their
// UIDs in the new mailbox (it has a new UIDVALIDITY); INBOX gets tombstones.
func (s *SQLite) renameInbox(w *wtx, accountID int64, newName string) ([]Change, error) {
	inbox, err := mailboxTx(w, accountID, "INBOX")
	if err != nil {
		return nil, err
	}
	mb, err := createMailbox(w, accountID, newName, "", inbox.Subscribed)
	if err != nil {
		return nil, err
	}
	changes := []Change{{Kind: ChangeMailboxCreate, AccountID: accountID, MailboxID: mb.ID, MailboxName: newName}}
	uids, err := uidsWhere(w, `mailbox_id = ?`, inbox.ID)
	if err != nil || len(uids) == 0 {
		return changes, err
	}
	modseq, err := nextModSeq(w, accountID)
	if err != nil {
		return nil, err
	}
	for _, q := range []string{
		`INSERT OR REPLACE INTO tombstones (mailbox_id, uid, modseq) SELECT mailbox_id, uid, ?2 FROM messages WHERE mailbox_id = ?1`,
		`UPDATE messages SET mailbox_id = ?3, modseq = ?2 WHERE mailbox_id = ?1`,
		`UPDATE mailboxes SET uidnext = (SELECT uidnext FROM mailboxes WHERE id = ?1), highestmodseq = ?2,
			messages = (SELECT messages FROM mailboxes WHERE id = ?1), size = (SELECT size FROM mailboxes WHERE id = ?1) WHERE id = ?3`,
		`UPDATE mailboxes SET messages = 0, size = 0, highestmodseq = ?2 WHERE id = ?1`,
	} {
		if _, err := w.exec(q, inbox.ID, int64(modseq), mb.ID); err != nil {
			return nil, err
		}
	}
	return append(changes,
		Change{Kind: ChangeExpunge, AccountID: accountID, MailboxID: inbox.ID, UIDs: uids, ModSeq: modseq},
		Change{Kind: ChangeNew, AccountID: accountID, MailboxID: mb.ID, UIDs: uids, ModSeq: modseq},
	), nil
}

// uidsWhere returns the UIDs of the messages matching where, ascending.
func uidsWhere(w *wtx, where string, args ...any) ([]uint32, error) {
	rows, err := w.query(`SELECT uid FROM messages WHERE `+where+` ORDER BY uid`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var uids []uint32
	for rows.Next() {
		var u int64
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		uids = append(uids, uint32(u))
	}
	return uids, rows.Err()
}

// DeleteMailbox implements Mail. Children are not deleted.
func (s *SQLite) DeleteMailbox(ctx context.Context, accountID int64, name string) error {
	name, err := canonicalMailbox(name, false)
	if err != nil {
		return err
	}
	if name == "INBOX" {
		return fmt.Errorf("%w: cannot delete INBOX", ErrInvalid)
	}
	return s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		mb, err := mailboxTx(w, accountID, name)
		if err != nil {
			return nil, err
		}
		refs, err := blobRefsOf(w, `mailbox_id = ?`, mb.ID)
		if err != nil {
			return nil, err
		}
		if err := keepSubscription(w, mb); err != nil {
			return nil, err
		}
		for _, q := range []string{
			`UPDATE accounts SET used_bytes = used_bytes - (SELECT size FROM mailboxes WHERE id = ?1) WHERE id = ?2`,
			`DELETE FROM messages WHERE mailbox_id = ?1`,
			`DELETE FROM tombstones WHERE mailbox_id = ?1`,
			`DELETE FROM metadata WHERE mailbox_id = ?1 AND account_id = ?2`,
			`DELETE FROM mailboxes WHERE id = ?1`,
		} {
			if _, err := w.exec(q, mb.ID, accountID); err != nil {
				return nil, err
			}
		}
		if err := s.unrefBlobs(w, refs); err != nil {
			return nil, err
		}
		return []Change{{Kind: ChangeMailboxDelete, AccountID: accountID, MailboxID: mb.ID, MailboxName: mb.Name}}, nil
	})
}

// SetSubscribed implements Mail. The mailbox must exist, except to
// unsubscribe a name whose mailbox was deleted.
func (s *SQLite) SetSubscribed(ctx context.Context, accountID int64, name string, subscribed bool) error {
	name, err := canonicalMailbox(name, false)
	if err != nil {
		return err
	}
	return s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		mb, err := mailboxTx(w, accountID, name)
		if errors.Is(err, ErrNotFound) && !subscribed {
			return nil, unsubscribeDangling(w, accountID, name)
		}
		if err != nil {
			return nil, err
		}
		if _, err := w.exec(`UPDATE mailboxes SET subscribed = ? WHERE id = ?`, boolInt(subscribed), mb.ID); err != nil {
			return nil, err
		}
		return []Change{{Kind: ChangeMailboxSubscribe, AccountID: accountID, MailboxID: mb.ID, MailboxName: mb.Name}}, nil
	})
}

// fixInboxChildren gives the children of INBOX stored under another
// spelling ("inbox/x", created before INBOX was case-insensitive as a
// parent too) their canonical name, which is the only one they can be
// found by. A child whose canonical name is taken keeps its name and is
// logged: the user can move its messages with any client.
func (s *SQLite) fixInboxChildren(ctx context.Context) error {
	rows, err := s.wdb.QueryContext(ctx, `SELECT id, account_id, name FROM mailboxes
		WHERE name LIKE 'inbox/%' AND substr(name, 1, 6) <> 'INBOX/'`)
	if err != nil {
		return fmt.Errorf("store: INBOX children: %w", err)
	}
	type row struct {
		id, account int64
		name        string
	}
	var rs []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.account, &r.name); err != nil {
			rows.Close()
			return fmt.Errorf("store: INBOX children: %w", err)
		}
		rs = append(rs, r)
	}
	if err := errors.Join(rows.Close(), rows.Err()); err != nil {
		return fmt.Errorf("store: INBOX children: %w", err)
	}
	for _, r := range rs {
		res, err := s.wdb.ExecContext(ctx, `UPDATE mailboxes SET name = ? WHERE id = ? AND NOT EXISTS
			(SELECT 1 FROM mailboxes WHERE account_id = ? AND name = ?)`, inboxPrefix(r.name), r.id, r.account, inboxPrefix(r.name))
		if err != nil {
			return fmt.Errorf("store: INBOX children: rename %q: %w", r.name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			s.log.Warn("store: mailbox not renamed: its name under INBOX is taken; move its messages and delete it",
				"account_id", r.account, "mailbox", r.name, "taken", inboxPrefix(r.name))
		} else {
			s.log.Info("store: mailbox renamed under INBOX", "account_id", r.account, "from", r.name, "to", inboxPrefix(r.name))
		}
	}
	return nil
}
