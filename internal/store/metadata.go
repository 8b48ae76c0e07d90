package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// METADATA entries (RFC 5464), schema v4.

// schemaV4 adds metadata: one row per entry, keyed by account, mailbox
// (0 for the account's server entries) and lower-case entry name. No
// foreign keys: DeleteMailbox and DeleteAccount remove the rows.
const schemaV4 = `
CREATE TABLE metadata (
	account_id INTEGER NOT NULL,
	mailbox_id INTEGER NOT NULL, -- 0: a server entry
	name       TEXT NOT NULL,    -- lower case, "/private/..." or "/shared/..."
	value      BLOB NOT NULL,
	PRIMARY KEY (account_id, mailbox_id, name)
) WITHOUT ROWID;
`

func migrate4(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, schemaV4)
	return err
}

// validMetadataName checks the form SetMetadata stores: lower case,
// "/private/" or "/shared/" then "/"-separated non-empty components of
// printable ASCII other than "*" and "%" (RFC 5464 §3.2).
func validMetadataName(name string) bool {
	rest, ok := strings.CutPrefix(name, "/private/")
	if !ok {
		rest, ok = strings.CutPrefix(name, "/shared/")
	}
	if !ok || rest == "" || strings.HasSuffix(rest, "/") || strings.Contains(rest, "//") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= 0x20 || c >= 0x7f || c == '*' || c == '%' || 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return true
}

// Metadata implements Store.
func (s *SQLite) Metadata(ctx context.Context, accountID, mailboxID int64) ([]MetadataEntry, error) {
	db, err := s.reader()
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT name, value FROM metadata WHERE account_id = ? AND mailbox_id = ? ORDER BY name`,
		accountID, mailboxID)
	if err != nil {
		return nil, s.readErr(err)
	}
	defer rows.Close()
	var out []MetadataEntry
	for rows.Next() {
		e := MetadataEntry{MailboxID: mailboxID}
		if err := rows.Scan(&e.Name, &e.Value); err != nil {
			return nil, s.readErr(err)
		}
		if e.Value == nil {
			e.Value = []byte{}
		}
		out = append(out, e)
	}
	return out, s.readErr(rows.Err())
}

// SetMetadata implements Store.
func (s *SQLite) SetMetadata(ctx context.Context, accountID, mailboxID int64, entries []MetadataEntry, lim MetadataLimits) error {
	for _, e := range entries {
		if !validMetadataName(e.Name) {
			return fmt.Errorf("%w: metadata entry name %q", ErrInvalid, e.Name)
		}
	}
	return s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		if mailboxID != 0 {
			if _, err := mailboxByIDTx(w, accountID, mailboxID); err != nil {
				return nil, err
			}
		} else if err := w.queryRow(`SELECT 1 FROM accounts WHERE id = ?`, accountID).Scan(new(int)); err != nil {
			return nil, notFound(err, fmt.Sprintf("account %d", accountID))
		}
		for _, e := range entries {
			var err error
			if e.Value == nil {
				_, err = w.exec(`DELETE FROM metadata WHERE account_id = ? AND mailbox_id = ? AND name = ?`,
					accountID, mailboxID, e.Name)
			} else {
				_, err = w.exec(`INSERT OR REPLACE INTO metadata (account_id, mailbox_id, name, value) VALUES (?, ?, ?, ?)`,
					accountID, mailboxID, e.Name, e.Value)
			}
			if err != nil {
				return nil, err
			}
		}
		var n int
		var size int64
		if err := w.queryRow(`SELECT count(*), coalesce(sum(length(name) + length(value)), 0) FROM metadata WHERE account_id = ?`,
			accountID).Scan(&n, &size); err != nil {
			return nil, err
		}
		if lim.MaxEntries > 0 && n > lim.MaxEntries || lim.MaxBytes > 0 && size > lim.MaxBytes {
			return nil, fmt.Errorf("store: account %d: %d metadata entries of %d bytes over the limits (%d, %d): %w",
				accountID, n, size, lim.MaxEntries, lim.MaxBytes, ErrTooMany)
		}
		return nil, nil
	})
}
