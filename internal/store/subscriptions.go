package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Subscriptions of names that are not mailboxes. A mailbox's own
// subscription is its subscribed column; when a subscribed mailbox is
// deleted its name moves to the subscriptions table, because a server
// "MUST NOT unilaterally remove an existing mailbox name from the
// subscription list even if a mailbox by that name no longer exists"
// (RFC 3501 §6.3.6, RFC 9051 §6.3.7): LIST (SUBSCRIBED) shows it
// \NonExistent until it is unsubscribed or created again (then subscribed).

// Schema v9 also adds mailboxes.recent_uid (recent.go).
const schemaV8 = `
CREATE TABLE subscriptions (
	account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name       TEXT NOT NULL, -- no mailbox has this name
	PRIMARY KEY (account_id, name)
) WITHOUT ROWID;
ALTER TABLE mailboxes ADD COLUMN recent_uid INTEGER NOT NULL DEFAULT 0;
UPDATE mailboxes SET recent_uid = uidnext;
`

func migrate9(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, schemaV8)
	return err
}

// DanglingSubscriptions implements Mail.
func (s *SQLite) DanglingSubscriptions(ctx context.Context, accountID int64) ([]string, error) {
	return queryList(s, ctx, func(sc interface{ Scan(...any) error }) (string, error) {
		var n string
		err := sc.Scan(&n)
		return n, err
	}, `SELECT name FROM subscriptions WHERE account_id = ? ORDER BY name`, accountID)
}

// keepSubscription records the subscription of a mailbox being deleted.
func keepSubscription(w *wtx, mb Mailbox) error {
	if !mb.Subscribed {
		return nil
	}
	_, err := w.exec(`INSERT OR IGNORE INTO subscriptions (account_id, name) VALUES (?, ?)`, mb.AccountID, mb.Name)
	return err
}

// takeSubscription removes the dangling subscription of name, which is
// becoming a mailbox, and reports whether there was one.
func takeSubscription(w *wtx, accountID int64, name string) (bool, error) {
	res, err := w.exec(`DELETE FROM subscriptions WHERE account_id = ? AND name = ?`, accountID, name)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// unsubscribeDangling removes the dangling subscription of name;
// ErrNotFound if there is none.
func unsubscribeDangling(w *wtx, accountID int64, name string) error {
	ok, err := takeSubscription(w, accountID, name)
	if err == nil && !ok {
		err = fmt.Errorf("store: subscription %s: %w", name, ErrNotFound)
	}
	return err
}
