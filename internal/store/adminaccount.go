package store

// The admin account: the one account that receives the implicit
// postmaster@ and abuse@ aliases of every local domain (RFC 5321 §4.5.1,
// RFC 2142). It is recorded in meta under adminAccountKey; a store
// without the record (made before it existed) uses the oldest account
// named postmaster.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

const adminAccountKey = "admin_account"

// AdminAccount implements Directory.
func (s *SQLite) AdminAccount(ctx context.Context) (Account, error) {
	db, err := s.reader()
	if err != nil {
		return Account{}, err
	}
	a, err := scanAccount(db.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts
		WHERE id = (SELECT value FROM meta WHERE key = ?)`, adminAccountKey))
	if errors.Is(err, sql.ErrNoRows) {
		a, err = scanAccount(db.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts
			WHERE addr_key LIKE 'postmaster@%' AND NOT EXISTS (SELECT 1 FROM meta WHERE key = ?)
			ORDER BY id LIMIT 1`, adminAccountKey))
	}
	return a, s.readErr(notFound(err, "admin account"))
}

// SetAdminAccount implements Directory.
func (s *SQLite) SetAdminAccount(ctx context.Context, accountID int64) error {
	return s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		if ok, err := exists(w, `SELECT 1 FROM accounts WHERE id = ?`, accountID); err != nil || !ok {
			return nil, errors.Join(err, notFound(sql.ErrNoRows, fmt.Sprintf("account %d", accountID)))
		}
		_, err := w.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`, adminAccountKey, accountID)
		return nil, err
	})
}
