package store

// Group commit. Every write method builds a writeReq and hands it to the one
// writer goroutine. The writer takes the first queued request, drains
// whatever else is queued (up to maxBatch requests or maxBatchBytes of
// inline blob data), fsyncs the blob directories the batch's new blob files
// were renamed into, and runs every request in its own SAVEPOINT inside one
// IMMEDIATE transaction, so a failing request rolls back alone. One COMMIT
// (one WAL fsync, synchronous=FULL) then makes the whole batch durable; the
// writer publishes the committed requests' changes in commit order, answers
// every caller and finally unlinks the blob files freed by the batch.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"time"
)

const (
	maxBatch      = 256
	maxBatchBytes = 8 << 20
)

// Request states: a caller whose context ends while its request is still
// queued marks it cancelled; once the writer has claimed it, the caller
// waits for the outcome (the request may commit).
const (
	reqQueued int32 = iota
	reqClaimed
	reqCancelled
)

// wtx is a write request's view of the batch transaction.
type wtx struct {
	tx      *sql.Tx
	ctx     context.Context
	now     time.Time
	removes []string // blob files to unlink after commit
	texts   []textOp // full-text index changes, applied after the batch (text.go)
}

func (w *wtx) exec(q string, args ...any) (sql.Result, error) {
	return w.tx.ExecContext(w.ctx, q, args...)
}

func (w *wtx) queryRow(q string, args ...any) *sql.Row {
	return w.tx.QueryRowContext(w.ctx, q, args...)
}

func (w *wtx) query(q string, args ...any) (*sql.Rows, error) {
	return w.tx.QueryContext(w.ctx, q, args...)
}

// writeFunc does one request's work inside the batch transaction and returns
// the changes to publish once it commits.
type writeFunc func(w *wtx) ([]Change, error)

type writeReq struct {
	ctx      context.Context
	fn       writeFunc
	size     int      // inline bytes, to bound a batch
	syncDirs []string // blob directories to fsync before the commit
	state    atomic.Int32
	detached bool // nobody waits: the writer logs a failure
	err      error
	changes  []Change
	removes  []string
	done     chan struct{}
}

// write runs fn in the writer goroutine and returns once its transaction
// has committed (or fn failed). blob, if not nil, is the new blob fn
// references; its file's directory is fsync'd before the commit.
func (s *SQLite) write(ctx context.Context, blob *newBlob, fn writeFunc) error {
	if blob == nil {
		return s.writeBlobs(ctx, nil, fn)
	}
	return s.writeBlobs(ctx, []*newBlob{blob}, fn)
}

// writeBlobs is write for a request that references several new blobs.
func (s *SQLite) writeBlobs(ctx context.Context, blobs []*newBlob, fn writeFunc) error {
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan struct{})}
	for _, b := range blobs {
		r.size += len(b.data) + len(b.text.header) + len(b.text.body)
		if b.path != "" && !slices.Contains(r.syncDirs, b.dir) {
			r.syncDirs = append(r.syncDirs, b.dir)
		}
	}
	if err := s.submit(ctx, r); err != nil {
		return err
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqCancelled) {
			return ctx.Err()
		}
		<-r.done
		return r.err
	}
}

// writeDetached queues fn for the writer and returns without waiting for
// its commit; a failure is logged. For records whose loss in a crash is
// harmless (DMARC report data): they ride along with the next batch.
func (s *SQLite) writeDetached(ctx context.Context, fn writeFunc) error {
	return s.submit(ctx, &writeReq{ctx: ctx, fn: fn, detached: true, done: make(chan struct{})})
}

func (s *SQLite) submit(ctx context.Context, r *writeReq) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return ErrClosed
	}
	select {
	case s.reqs <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writer is the writer goroutine; it exits when reqs is closed and drained.
func (s *SQLite) writer() {
	defer close(s.done)
	batch := make([]*writeReq, 0, maxBatch)
	for first := range s.reqs {
		batch = append(batch[:0], first)
		size := first.size
	drain:
		for len(batch) < maxBatch && size < maxBatchBytes {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
				size += r.size
			default:
				break drain
			}
		}
		s.runBatch(batch)
		clear(batch)
	}
}

// runBatch executes, commits and answers one batch.
func (s *SQLite) runBatch(batch []*writeReq) {
	live := batch[:0:0]
	for _, r := range batch {
		if r.state.CompareAndSwap(reqQueued, reqClaimed) {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return
	}
	s.syncBlobDirs(live)
	err := s.runTx(live)
	var changes []Change
	for _, r := range live {
		if err != nil && r.err == nil {
			r.err = err
		}
		if r.err == nil {
			changes = append(changes, r.changes...)
		}
	}
	if err == nil {
		s.commits.Add(1)
		if len(changes) > 0 {
			s.notifier.Publish(changes...)
		}
	}
	// Freed files go before the callers are answered, so that a caller sees
	// its own deletions on disk.
	for _, r := range live {
		if r.err != nil {
			continue
		}
		s.written.Add(1)
		for _, p := range r.removes {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				s.log.Warn("store: removing freed blob", "path", p, "err", err)
			}
		}
	}
	for _, r := range live {
		if r.detached && r.err != nil {
			s.log.Warn("store: detached write failed", "err", r.err)
		}
		close(r.done)
	}
}

// syncBlobDirs fsyncs, once each, the directories new blob files were
// renamed into; a request whose directory fails to sync fails.
func (s *SQLite) syncBlobDirs(batch []*writeReq) {
	var synced map[string]error
	for _, r := range batch {
		for _, dir := range r.syncDirs {
			if synced == nil {
				synced = map[string]error{}
			}
			err, ok := synced[dir]
			if !ok {
				err = syncDir(dir)
				synced[dir] = err
			}
			if err != nil {
				r.err = err
			}
		}
	}
}

// runFn runs fn, turning a panic into an error so that one bad request
// cannot stop the writer.
func runFn(fn writeFunc, w *wtx) (ch []Change, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: write panicked: %v", p)
		}
	}()
	return fn(w)
}

// runTx runs the batch in one transaction, one savepoint per request. A
// returned error fails every request of the batch.
func (s *SQLite) runTx(batch []*writeReq) error {
	ctx := context.Background()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	now := s.now()
	ok := 0
	var texts []textOp
	for _, r := range batch {
		if r.err != nil {
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT req"); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: savepoint: %w", err)
		}
		// Statements run under Background: interrupting one would roll
		// back the whole batch transaction, not just this request.
		w := &wtx{tx: tx, ctx: ctx, now: now}
		r.changes, r.err = runFn(r.fn, w)
		if r.err != nil {
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO req"); err != nil {
				tx.Rollback()
				return fmt.Errorf("store: rollback to savepoint: %w", err)
			}
		} else {
			r.removes = w.removes
			texts = append(texts, w.texts...)
			ok++
		}
		if _, err := tx.ExecContext(ctx, "RELEASE req"); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: release savepoint: %w", err)
		}
	}
	if ok == 0 {
		return tx.Rollback()
	}
	// Outside any savepoint: one FTS5 segment for the whole batch. A
	// failure here is the database's, not a request's: the batch fails.
	if err := applyText(&wtx{tx: tx, ctx: ctx}, texts); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}
