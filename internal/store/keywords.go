package store

import (
	"context"
	"slices"
	"strings"
)

// MailboxKeywords implements Mail. It reads each distinct keyword list of
// the mailbox's messages once; the lists are short and repeat, so the
// result is small even when the mailbox is large.
func (s *SQLite) MailboxKeywords(ctx context.Context, accountID, mailboxID int64) ([]string, error) {
	if _, err := s.MailboxByID(ctx, accountID, mailboxID); err != nil {
		return nil, err
	}
	db, err := s.reader()
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT keywords FROM messages WHERE mailbox_id = ? AND keywords <> ''`, mailboxID)
	if err != nil {
		return nil, s.readErr(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var kws string
		if err := rows.Scan(&kws); err != nil {
			return nil, s.readErr(err)
		}
		for _, k := range strings.Fields(kws) {
			if !containsFold(out, k) {
				out = append(out, k)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr(err)
	}
	slices.Sort(out)
	return out, nil
}
