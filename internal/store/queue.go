package store

// The outbound queue of the SQLite store. Entries of one Enqueue call share
// one blob; recipients are stored as a JSON array.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
)

const queueCols = `id, sender, recipients, domain, envid, ret, smtputf8, requiretls, size, blob_id,
	created, next_attempt, attempts, last_error, held, message_id`

func scanQueueEntry(sc interface{ Scan(...any) error }) (QueueEntry, error) {
	var e QueueEntry
	var rcpts string
	var utf8, reqtls, held int
	var created, next int64
	err := sc.Scan(&e.ID, &e.Sender, &rcpts, &e.Domain, &e.EnvID, &e.Ret, &utf8, &reqtls, &e.Size, &e.BlobID,
		&created, &next, &e.Attempts, &e.LastError, &held, &e.MessageID)
	if err != nil {
		return e, err
	}
	e.SMTPUTF8, e.RequireTLS, e.Held = utf8 != 0, reqtls != 0, held != 0
	e.Created, e.NextAttempt = fromNanos(created), fromNanos(next)
	if err := json.Unmarshal([]byte(rcpts), &e.Recipients); err != nil {
		return e, fmt.Errorf("store: queue recipients: %w", err)
	}
	return e, nil
}

// Enqueue implements Queue. Zero Created and NextAttempt become now.
func (s *SQLite) Enqueue(ctx context.Context, body io.Reader, entries []QueueEntry) ([]QueueEntry, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("%w: no queue entries", ErrInvalid)
	}
	rcpts := make([]string, len(entries))
	for i, e := range entries {
		b, err := json.Marshal(nonNil(e.Recipients))
		if err != nil {
			return nil, err
		}
		rcpts[i] = string(b)
	}
	blob, err := s.spool(body)
	if err != nil {
		return nil, err
	}
	var out []QueueEntry
	err = s.write(ctx, blob, func(w *wtx) ([]Change, error) {
		out = make([]QueueEntry, len(entries))
		blobID, err := insertBlob(w, blob, len(entries))
		if err != nil {
			return nil, err
		}
		for i, e := range entries {
			e.BlobID, e.Size = blobID, blob.size
			if e.Created.IsZero() {
				e.Created = w.now
			}
			if e.NextAttempt.IsZero() {
				e.NextAttempt = w.now
			}
			if e.ID, err = nextQueueID(w); err != nil {
				return nil, err
			}
			_, err := w.exec(`INSERT INTO queue (id, sender, recipients, domain, envid, ret, smtputf8, requiretls, size,
				blob_id, created, next_attempt, attempts, last_error, held, message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				e.ID, e.Sender, rcpts[i], e.Domain, e.EnvID, e.Ret, boolInt(e.SMTPUTF8), boolInt(e.RequireTLS), e.Size,
				e.BlobID, toNanos(e.Created), toNanos(e.NextAttempt), e.Attempts, e.LastError, boolInt(e.Held), e.MessageID)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return nil, nil
	})
	if err != nil {
		blob.discard()
		return nil, err
	}
	return out, nil
}

// QueueEntries implements Queue, ordered by next attempt.
func (s *SQLite) QueueEntries(ctx context.Context) ([]QueueEntry, error) {
	return queryList(s, ctx, scanQueueEntry, `SELECT `+queueCols+` FROM queue ORDER BY next_attempt, id`)
}

// QueueEntry implements Queue.
func (s *SQLite) QueueEntry(ctx context.Context, id int64) (QueueEntry, error) {
	db, err := s.reader()
	if err != nil {
		return QueueEntry{}, err
	}
	e, err := scanQueueEntry(db.QueryRowContext(ctx, `SELECT `+queueCols+` FROM queue WHERE id = ?`, id))
	return e, s.readErr(notFound(err, fmt.Sprintf("queue entry %d", id)))
}

// UpdateQueueEntry implements Queue.
func (s *SQLite) UpdateQueueEntry(ctx context.Context, e QueueEntry) error {
	rcpts, err := json.Marshal(nonNil(e.Recipients))
	if err != nil {
		return err
	}
	return s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		res, err := w.exec(`UPDATE queue SET attempts = ?, next_attempt = ?, last_error = ?, held = ?, recipients = ?
			WHERE id = ?`, e.Attempts, toNanos(e.NextAttempt), e.LastError, boolInt(e.Held), string(rcpts), e.ID)
		return nil, affected(res, err, fmt.Sprintf("queue entry %d", e.ID))
	})
}

// DeleteQueueEntry implements Queue.
func (s *SQLite) DeleteQueueEntry(ctx context.Context, id int64) error {
	return s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		var blobID int64
		if err := w.queryRow(`DELETE FROM queue WHERE id = ? RETURNING blob_id`, id).Scan(&blobID); err != nil {
			return nil, notFound(err, fmt.Sprintf("queue entry %d", id))
		}
		return nil, s.unrefBlob(w, blobID, 1)
	})
}

// OpenQueued implements Queue.
func (s *SQLite) OpenQueued(ctx context.Context, e QueueEntry) (Content, error) {
	return s.openBlob(ctx, e.BlobID, nil)
}
