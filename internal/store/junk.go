package store

// Junk-training events (table junk_events, schema v5): one row per message
// a user moved or copied into or out of a \Junk mailbox, for the junk
// filter to learn from. Each event holds a reference to the message's
// blob, so the content stays readable after the message itself is
// expunged (a user empties Junk) until the consumer deletes the event.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// JunkVerdict is what a junk-training event teaches the filter.
type JunkVerdict string

// Verdicts.
const (
	JunkSpam JunkVerdict = "spam" // the user put the message into Junk
	JunkHam  JunkVerdict = "ham"  // the user took the message out of Junk
)

// TrainingVerdict is the verdict a copy or move from a mailbox with
// special-use srcUse to one with dstUse teaches: spam into \Junk from any
// other mailbox; ham out of \Junk into any mailbox but \Junk or \Trash
// (deleting junk says nothing about it); "" otherwise.
func TrainingVerdict(srcUse, dstUse string) JunkVerdict {
	switch {
	case dstUse == SpecialJunk && srcUse != SpecialJunk:
		return JunkSpam
	case srcUse == SpecialJunk && dstUse != SpecialJunk && dstUse != SpecialTrash:
		return JunkHam
	}
	return ""
}

// JunkEvent is one junk-training event.
type JunkEvent struct {
	ID        int64 // given by the store, increasing
	AccountID int64
	// MessageID is the copy in the destination mailbox (Message.ID); it
	// may have been expunged since.
	MessageID int64
	// BlobID is the message's content, kept until the event is deleted:
	// Open(ctx, Message{BlobID: e.BlobID}) reads it (without the
	// per-message header prefix).
	BlobID  int64
	From    string // source mailbox name at the time of the event
	To      string // destination mailbox name
	Verdict JunkVerdict
	Time    time.Time
}

// CopyRequest is a Copy or Move (Move set) for TrainingCopy.
type CopyRequest struct {
	AccountID    int64
	SrcMailboxID int64
	UIDs         []uint32
	DstMailboxID int64
	Move         bool
}

// JunkTraining holds the junk-training events the junk filter consumes.
type JunkTraining interface {
	// TrainingCopy is Copy, or Move if r.Move, that also records one
	// JunkEvent per copied message when TrainingVerdict of the two
	// mailboxes' special-use attributes is not "". The events commit in
	// the same transaction as the copy: both or neither are durable.
	TrainingCopy(ctx context.Context, r CopyRequest) (CopyResult, error)
	// JunkEvents returns up to limit events with ID > afterID, by ID.
	JunkEvents(ctx context.Context, afterID int64, limit int) ([]JunkEvent, error)
	// DeleteJunkEvents deletes the events with ID <= throughID (consumed),
	// releasing their blobs, and returns how many.
	DeleteJunkEvents(ctx context.Context, throughID int64) (int, error)
}

// schemaV5 adds junk_events. Every row holds one reference to its blob
// (blobs.refs counts it); DeleteJunkEvents and DeleteAccount drop them.
// Mailbox names are those at the time of the event; time is Unix
// nanoseconds.
const schemaV5 = `
CREATE TABLE junk_events (
	id           INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: consumers keep a cursor
	account_id   INTEGER NOT NULL,
	message_id   INTEGER NOT NULL,
	blob_id      INTEGER NOT NULL REFERENCES blobs(id),
	mailbox_from TEXT NOT NULL,
	mailbox_to   TEXT NOT NULL,
	verdict      TEXT NOT NULL, -- "spam" or "ham"
	time         INTEGER NOT NULL
);
CREATE INDEX junk_events_account ON junk_events(account_id);
`

func migrate5(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, schemaV5)
	return err
}

// TrainingCopy implements JunkTraining.
func (s *SQLite) TrainingCopy(ctx context.Context, r CopyRequest) (CopyResult, error) {
	return s.copyOrMove(ctx, r, true)
}

// addJunkEventsTx records the events of copies (the new messages in dst)
// made from src, if the copy trains the filter.
func addJunkEventsTx(w *wtx, src, dst Mailbox, copies []Message) error {
	v := TrainingVerdict(src.SpecialUse, dst.SpecialUse)
	if v == "" {
		return nil
	}
	for _, m := range copies {
		if _, err := w.exec(`INSERT INTO junk_events (account_id, message_id, blob_id, mailbox_from, mailbox_to, verdict, time)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, dst.AccountID, m.ID, m.BlobID, src.Name, dst.Name, string(v), toNanos(w.now)); err != nil {
			return fmt.Errorf("store: junk event: %w", err)
		}
		if err := refBlob(w, m.BlobID, 1); err != nil {
			return err
		}
	}
	return nil
}

// JunkEvents implements JunkTraining.
func (s *SQLite) JunkEvents(ctx context.Context, afterID int64, limit int) ([]JunkEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	return queryList(s, ctx, scanJunkEvent, `SELECT id, account_id, message_id, blob_id, mailbox_from, mailbox_to, verdict, time
		FROM junk_events WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
}

func scanJunkEvent(sc interface{ Scan(...any) error }) (JunkEvent, error) {
	var e JunkEvent
	var v string
	var t int64
	err := sc.Scan(&e.ID, &e.AccountID, &e.MessageID, &e.BlobID, &e.From, &e.To, &v, &t)
	e.Verdict, e.Time = JunkVerdict(v), fromNanos(t)
	return e, err
}

// DeleteJunkEvents implements JunkTraining.
func (s *SQLite) DeleteJunkEvents(ctx context.Context, throughID int64) (int, error) {
	var n int
	err := s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		var err error
		n, err = s.deleteJunkEventsTx(w, `id <= ?`, throughID)
		return nil, err
	})
	return n, err
}

// deleteJunkEventsTx deletes the events matching where and drops their
// blob references.
func (s *SQLite) deleteJunkEventsTx(w *wtx, where string, args ...any) (int, error) {
	rows, err := w.query(`DELETE FROM junk_events WHERE `+where+` RETURNING blob_id`, args...)
	if err != nil {
		return 0, fmt.Errorf("store: delete junk events: %w", err)
	}
	refs := map[int64]int{}
	n := 0
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("store: delete junk events: %w", err)
		}
		refs[id]++
		n++
	}
	if err := errors.Join(rows.Close(), rows.Err()); err != nil {
		return 0, fmt.Errorf("store: delete junk events: %w", err)
	}
	return n, s.unrefBlobs(w, refs)
}
