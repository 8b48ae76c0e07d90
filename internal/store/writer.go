package store

// Group commit. Every write method builds a writeReq and hands it to the one
// writer goroutine. The writer takes the first queued request, drains
// whatever else is queued (up to maxBatch requests or maxBatchBytes of
// inline blob data), fsyncs the blob directories the batch's new blob files
// were renamed into, and runs every request in its own SAVEPOINT inside one
// IMMEDIATE transaction, so a failing request rolls back alone (a lone
// request needs none). The full-text index rows the successful requests
// queued are then written in one go (applyText in text.go). One COMMIT
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
	b       *batchTx // nil outside the writer goroutine
	removes []string // blob files to unlink after commit
	texts   []textOp // full-text index changes, applied after the batch (text.go)
}

func (w *wtx) exec(q string, args ...any) (sql.Result, error) {
	if st := w.stmt(q); st != nil {
		return st.ExecContext(w.ctx, args...)
	}
	return w.tx.ExecContext(w.ctx, q, args...)
}

func (w *wtx) queryRow(q string, args ...any) *sql.Row {
	if st := w.stmt(q); st != nil {
		return st.QueryRowContext(w.ctx, args...)
	}
	return w.tx.QueryRowContext(w.ctx, q, args...)
}

func (w *wtx) stmt(q string) *sql.Stmt {
	if w.b == nil {
		return nil
	}
	return w.b.stmt(q)
}

func (w *wtx) query(q string, args ...any) (*sql.Rows, error) {
	return w.tx.QueryContext(w.ctx, q, args...)
}

// hotQueries are the writer's statements of every delivery (and of
// every batch); they are prepared once, at Open.
var hotQueries = []string{"SAVEPOINT req", "RELEASE req", "ROLLBACK TO req",
	qInsertBlob, qChargeAccount, qAllocUID, qInsertMessage, qInsertText, qInsertDMARC}

// prepareHot prepares hotQueries on the writer's connection. One that
// does not prepare (a test's older schema) runs unprepared and fails
// where it is used.
func (s *SQLite) prepareHot(ctx context.Context) {
	s.hot = make(map[string]*sql.Stmt, len(hotQueries))
	for _, q := range hotQueries {
		st, err := s.wdb.PrepareContext(ctx, q)
		if err != nil {
			s.log.Debug("store: not prepared", "query", q, "err", err)
			continue
		}
		s.hot[q] = st
	}
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
		return noSpace(r.err)
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqCancelled) {
			return ctx.Err()
		}
		<-r.done
		return noSpace(r.err)
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
	err := s.retryWithReserve(live, s.runTx(live))
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
		s.restoreReserve()
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

// runTx runs the batch in one transaction, one savepoint per request
// when there are several. A returned error fails every request of the
// batch.
func (s *SQLite) runTx(batch []*writeReq) error {
	ctx := context.Background()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	b := &batchTx{tx: tx, ctx: ctx, now: s.now(), hot: s.hot}
	run := batch[:0:0]
	for _, r := range batch {
		if r.err == nil {
			run = append(run, r)
		}
	}
	ok := 0
	var texts []textOp
	for _, r := range run {
		// A lone request needs no savepoint: if it fails, so does the
		// transaction, which is rolled back below.
		w, err := b.runReq(r, len(run) > 1)
		if err != nil {
			tx.Rollback()
			return err
		}
		if r.err == nil {
			r.removes = w.removes
			texts = append(texts, w.texts...)
			ok++
		}
	}
	if ok == 0 {
		return tx.Rollback()
	}
	// Outside any savepoint: one FTS5 segment for the whole batch. A
	// failure here is the database's, not a request's: the batch fails.
	if err := applyText(b.wtx(), texts); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// batchTx is the transaction of a batch with its statements.
type batchTx struct {
	tx    *sql.Tx
	ctx   context.Context
	now   time.Time
	hot   map[string]*sql.Stmt // prepared on the writer's connection (stmts.go)
	bound map[string]*sql.Stmt // hot statements bound to tx so far
}

// wtx returns a new request view of the batch transaction.
func (b *batchTx) wtx() *wtx {
	return &wtx{tx: b.tx, ctx: b.ctx, now: b.now, b: b}
}

// runReq runs r, in a savepoint if savepoint is set; the returned error
// is the transaction's, r's own is r.err.
func (b *batchTx) runReq(r *writeReq, savepoint bool) (*wtx, error) {
	// Statements run under Background: interrupting one would roll
	// back the whole batch transaction, not just this request.
	w := b.wtx()
	if savepoint {
		if _, err := w.exec("SAVEPOINT req"); err != nil {
			return nil, fmt.Errorf("store: savepoint: %w", err)
		}
	}
	r.changes, r.err = runFn(r.fn, w)
	if !savepoint {
		return w, nil
	}
	if r.err != nil {
		if _, err := w.exec("ROLLBACK TO req"); err != nil {
			return nil, fmt.Errorf("store: rollback to savepoint: %w", err)
		}
	}
	if _, err := w.exec("RELEASE req"); err != nil {
		return nil, fmt.Errorf("store: release savepoint: %w", err)
	}
	return w, nil
}

// stmt returns q's prepared statement bound to the transaction, or nil
// if q is not a hot statement. The driver keeps a prepared statement's
// compiled program (modernc.org/sqlite resets it between runs), and
// Tx.StmtContext reuses the statement prepared on the writer's one
// connection instead of preparing it again.
func (b *batchTx) stmt(q string) *sql.Stmt {
	if st, ok := b.bound[q]; ok {
		return st
	}
	st, ok := b.hot[q]
	if !ok {
		return nil
	}
	if b.bound == nil {
		b.bound = make(map[string]*sql.Stmt, len(b.hot))
	}
	st = b.tx.StmtContext(b.ctx, st)
	b.bound[q] = st
	return st
}
