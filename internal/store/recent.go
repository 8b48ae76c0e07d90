package store

import (
	"context"
	"fmt"
)

// IMAP4rev1 \Recent (RFC 3501 §2.3.2): mailboxes.recent_uid (schema v9) is
// the lowest UID no session has been given as recent; every UID from it to
// uidnext is recent for the next session that claims them. A new mailbox
// starts at 0 (everything in it is new); the migration started existing
// mailboxes at their uidnext.

// ClaimRecent implements Mail.
func (s *SQLite) ClaimRecent(ctx context.Context, accountID, mailboxID int64, claim bool) (from, to uint32, err error) {
	if !claim {
		db, err := s.reader()
		if err != nil {
			return 0, 0, err
		}
		var f, t int64
		err = db.QueryRowContext(ctx, `SELECT recent_uid, uidnext FROM mailboxes WHERE id = ? AND account_id = ?`,
			mailboxID, accountID).Scan(&f, &t)
		if err != nil {
			return 0, 0, s.readErr(notFound(err, fmt.Sprintf("mailbox %d", mailboxID)))
		}
		return uint32(f), uint32(t), nil
	}
	err = s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		var f, t int64
		err := w.queryRow(`SELECT recent_uid, uidnext FROM mailboxes WHERE id = ? AND account_id = ?`,
			mailboxID, accountID).Scan(&f, &t)
		if err != nil {
			return nil, notFound(err, fmt.Sprintf("mailbox %d", mailboxID))
		}
		from, to = uint32(f), uint32(t)
		if f < t {
			_, err = w.exec(`UPDATE mailboxes SET recent_uid = ? WHERE id = ?`, t, mailboxID)
		}
		return nil, err
	})
	return from, to, err
}
