package store

import (
	"context"
	"database/sql"
)

// Queue identities (migrateQueueIDs): each entry keeps the id of the
// message it was queued from (the id in the SMTP server's 250 reply and
// its log lines, QueueEntry.MessageID), and entry ids are never reused:
// meta "queue_last_id" holds the largest id ever given, and Enqueue gives
// the next one (SQLite's INTEGER PRIMARY KEY alone would give a dropped
// largest id again, so a later "queue show N" could name another message).
//
// The same migration adds the state table: small named values a service
// keeps across restarts (the TLS-RPT tallies of the day, StateStore).
const schemaQueueIDs = `
ALTER TABLE queue ADD COLUMN message_id TEXT NOT NULL DEFAULT '';
CREATE INDEX queue_message_id ON queue(message_id);
INSERT OR REPLACE INTO meta (key, value) VALUES ('queue_last_id', (SELECT coalesce(max(id), 0) FROM queue));
CREATE TABLE state (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL
);
`

func migrateQueueIDs(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, schemaQueueIDs)
	return err
}

// nextQueueID returns the id for a new queue entry and records it.
func nextQueueID(w *wtx) (int64, error) {
	var id int64
	err := w.queryRow(`SELECT max(coalesce((SELECT value FROM meta WHERE key = 'queue_last_id'), 0),
		coalesce((SELECT max(id) FROM queue), 0)) + 1`).Scan(&id)
	if err != nil {
		return 0, err
	}
	_, err = w.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('queue_last_id', ?)`, id)
	return id, err
}

// State returns the value stored under key, nil when there is none.
func (s *SQLite) State(ctx context.Context, key string) ([]byte, error) {
	db, err := s.reader()
	if err != nil {
		return nil, err
	}
	var v []byte
	err = db.QueryRowContext(ctx, `SELECT value FROM state WHERE key = ?`, key).Scan(&v)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	return v, s.readErr(err)
}

// SetState stores value under key, durably; a nil value removes it.
func (s *SQLite) SetState(ctx context.Context, key string, value []byte) error {
	return s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		if value == nil {
			_, err := w.exec(`DELETE FROM state WHERE key = ?`, key)
			return nil, err
		}
		_, err := w.exec(`INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)`, key, value)
		return nil, err
	})
}
