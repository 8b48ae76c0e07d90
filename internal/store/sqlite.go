package store

// The embedded backend: an SQLite index (modernc.org/sqlite, pure Go, WAL,
// synchronous=FULL) plus immutable, reference-counted blobs.
//
// On-disk layout of a store directory:
//
//	dir/LOCK                    flock'd while a process has the store open
//	dir/index.db (-wal, -shm)   the SQLite index; schema in schema.go
//	dir/index.db.before-vN      snapshot taken (VACUUM INTO) before migrating
//	                            an existing database to schema version N
//	dir/blobs/XX/NAME           message bodies larger than inlineMax, one
//	                            immutable file each; XX is NAME's first two
//	                            hex digits. Smaller bodies live in the blobs
//	                            table of the index.
//	dir/blobs/tmp/              files being written; emptied at Open
//	dir/reserve                 Options.ReserveSpace bytes of zeros, given
//	                            back to the file system when it is full so
//	                            that deletions still commit (nospace.go)
//
// Every write goes through one writer goroutine (writer.go) that runs
// concurrent requests in one transaction and one fsync (group commit).
// Readers use a separate connection pool; WAL lets them run concurrently
// with the writer.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Options configure Open.
type Options struct {
	Logger   *slog.Logger     // nil: discard
	Notifier Notifier         // nil: NewLocalNotifier()
	Now      func() time.Time // nil: time.Now
	// Owner, if set, is given every file and directory the store creates:
	// the index and its WAL, snapshots, blobs, their directories and the
	// lock file. A command run as root on the store of a server that runs
	// as another user sets it, so the server can still use every file.
	// Nil: files belong to the process that creates them.
	Owner *Owner
	// ReserveSpace is the size of the reserve file kept so that messages
	// can still be deleted on a full disk (nospace.go); 0 means
	// DefaultReserveSpace, negative none.
	ReserveSpace int64
}

// Owner is a user and group id for [Options.Owner].
type Owner struct {
	UID, GID int
}

// SQLite is the embedded Store: SQLite index plus filesystem blobs.
type SQLite struct {
	dir      string
	log      *slog.Logger
	notifier Notifier
	now      func() time.Time
	owner    *Owner

	wdb  *sql.DB              // one connection, used only by the writer goroutine
	hot  map[string]*sql.Stmt // prepared on wdb: hotQueries (writer.go)
	rdb  *sql.DB              // readers
	lock *os.File

	mu     sync.RWMutex // guards closed against sends on reqs
	closed atomic.Bool
	reqs   chan *writeReq
	done   chan struct{} // closed when the writer goroutine exits

	inlineMax int // inlineMax, changed by benchmarks only

	reserve     int64     // Options.ReserveSpace, resolved
	reserveNext time.Time // earliest time to try to restore the reserve; writer only
	reserveHeld bool      // the reserve file is in place; writer only

	commits atomic.Int64 // committed batches, for tests and metrics
	written atomic.Int64 // committed requests
}

var _ Store = (*SQLite)(nil)

// Open opens (creating if needed) the store in dir: dir/index.db and dir/blobs/.
func Open(ctx context.Context, dir string, opts Options) (*SQLite, error) {
	return openWith(ctx, dir, opts, migrations)
}

func openWith(ctx context.Context, dir string, opts Options, migs []migration) (_ *SQLite, err error) {
	s := &SQLite{
		dir:       dir,
		log:       opts.Logger,
		notifier:  opts.Notifier,
		now:       opts.Now,
		owner:     opts.Owner,
		reqs:      make(chan *writeReq, maxBatch),
		inlineMax: inlineMax,
		done:      make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.notifier == nil {
		s.notifier = NewLocalNotifier()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.reserve = opts.ReserveSpace
	if s.reserve == 0 {
		s.reserve = DefaultReserveSpace
	}
	defer func() {
		if err != nil {
			s.closeFiles()
		}
	}()
	if err := s.prepareDir(); err != nil {
		return nil, err
	}
	dbPath := filepath.Join(dir, "index.db")
	s.wdb, err = sql.Open("sqlite", "file:"+dbPath+"?_txlock=immediate"+
		"&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"+
		"&_pragma=foreign_keys(1)")
	if err != nil {
		return nil, fmt.Errorf("store: open index: %w", err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	if err := migrate(ctx, s.wdb, dbPath, migs, s.log); err != nil {
		return nil, err
	}
	if err := s.sweepBlobs(ctx); err != nil {
		return nil, err
	}
	if err := s.fixInboxChildren(ctx); err != nil {
		return nil, err
	}
	s.restoreReserve()
	if err := s.backfillText(ctx); err != nil {
		return nil, err
	}
	s.prepareHot(ctx)
	s.rdb, err = sql.Open("sqlite", "file:"+dbPath+
		"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return nil, fmt.Errorf("store: open index: %w", err)
	}
	s.rdb.SetMaxOpenConns(16)
	s.rdb.SetMaxIdleConns(16)
	if err := s.rdb.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("store: open index: %w", err)
	}
	snapshots, _ := filepath.Glob(dbPath + ".before-v*")
	for _, p := range append([]string{dbPath, dbPath + "-wal", dbPath + "-shm"}, snapshots...) {
		if err := s.own(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	// index.db and its WAL may be new: make their directory entries durable.
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	go s.writer()
	return s, nil
}

// prepareDir checks that this process may use what exists of the store,
// creates the directory layout, takes the lock and empties blobs/tmp.
func (s *SQLite) prepareDir() error {
	if err := s.checkAccess(); err != nil {
		return err
	}
	tmp := filepath.Join(s.dir, "blobs", "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(s.dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	s.lock = f
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("store: %s is in use by another process: %w", s.dir, err)
	}
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("store: clearing %s: %w", tmp, err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	owned := []string{s.dir, filepath.Join(s.dir, "LOCK"), filepath.Join(s.dir, "blobs"), tmp}
	for i := 0; i < 256; i++ {
		d := filepath.Join(s.dir, "blobs", fmt.Sprintf("%02x", i))
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		owned = append(owned, d)
	}
	for _, p := range owned {
		if err := s.own(p); err != nil {
			return err
		}
	}
	return syncDir(filepath.Join(s.dir, "blobs"))
}

// checkAccess returns an error naming the first existing file or directory
// of the store this process may not read and write (a file created by
// another user), as an *fs.PathError, before SQLite hides the path behind
// "unable to open database file".
func (s *SQLite) checkAccess() error {
	paths := []string{s.dir, filepath.Join(s.dir, "LOCK"), filepath.Join(s.dir, "index.db"),
		filepath.Join(s.dir, "index.db-wal"), filepath.Join(s.dir, "index.db-shm"),
		filepath.Join(s.dir, "blobs"), filepath.Join(s.dir, "blobs", "tmp")}
	for i := 0; i < 256; i++ {
		paths = append(paths, filepath.Join(s.dir, "blobs", fmt.Sprintf("%02x", i)))
	}
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		mode := uint32(unix.R_OK | unix.W_OK)
		if fi.IsDir() {
			mode |= unix.X_OK
		}
		if err := unix.Faccessat(unix.AT_FDCWD, p, mode, unix.AT_EACCESS); err != nil {
			return fmt.Errorf("store: %w", &fs.PathError{Op: "open", Path: p, Err: err})
		}
	}
	return nil
}

// own gives path to the configured Owner, if any.
func (s *SQLite) own(path string) error {
	if s.owner == nil {
		return nil
	}
	if err := os.Lchown(path, s.owner.UID, s.owner.GID); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// Notifier implements Store.
func (s *SQLite) Notifier() Notifier { return s.notifier }

// Close implements Store: it waits for pending writes, then releases the
// store. Later calls return ErrClosed.
func (s *SQLite) Close() error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed.Store(true)
	close(s.reqs)
	s.mu.Unlock()
	<-s.done
	return s.closeFiles()
}

func (s *SQLite) closeFiles() error {
	var errs []error
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	for _, st := range s.hot {
		errs = append(errs, st.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	if s.lock != nil {
		// Unlock before closing: a child forked by this process (between
		// fork and exec) holds a copy of the descriptor, and the lock
		// belongs to the open file, so closing ours alone would leave the
		// store locked until that child execs.
		syscall.Flock(int(s.lock.Fd()), syscall.LOCK_UN)
		errs = append(errs, s.lock.Close())
	}
	return errors.Join(errs...)
}

// reader returns the reader pool, or ErrClosed.
func (s *SQLite) reader() (*sql.DB, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	return s.rdb, nil
}

// readErr maps errors of read queries.
func (s *SQLite) readErr(err error) error {
	if err == nil {
		return nil
	}
	if s.closed.Load() || errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("%w: %v", ErrClosed, err)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: fsync %s: %w", dir, err)
	}
	return nil
}

// Times are stored as Unix nanoseconds; 0 is the zero time.
func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// fromNanosZone is fromNanos in the fixed zone offset seconds east of UTC.
func fromNanosZone(n int64, offset int) time.Time {
	t := fromNanos(n)
	if t.IsZero() || offset == 0 {
		return t
	}
	return t.In(fixedZone(offset))
}

// zoneOffset returns t's offset from UTC in seconds.
func zoneOffset(t time.Time) int {
	_, off := t.Zone()
	return off
}

// zones caches the fixed zones of fromNanosZone: a mailbox has few.
var zones sync.Map // int → *time.Location

func fixedZone(offset int) *time.Location {
	if z, ok := zones.Load(offset); ok {
		return z.(*time.Location)
	}
	z, _ := zones.LoadOrStore(offset, time.FixedZone("", offset))
	return z.(*time.Location)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
