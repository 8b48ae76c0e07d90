package store

// A full disk. Every write that fails for want of space fails with
// ErrNoSpace (wrapping the cause), which the servers turn into a reply
// that says so: SMTP 452 4.3.1, IMAP NO [OVERQUOTA].
//
// Deleting messages must still work then, or users could not free space:
// but in WAL mode even a DELETE appends pages to index.db-wal before
// anything is freed, and fails with SQLITE_FULL on a full disk. So the
// store keeps a reserve: dir/reserve, ReserveSpace bytes (or half the
// index, up to 512 MiB, if that is more) allocated at Open. When a batch fails for want of space, the writer gives the
// reserve back to the file system and runs again, alone, the requests of
// the batch that bring no new data (flag changes, expunges, deletions and
// other small updates; never a delivery); the others fail with
// ErrNoSpace. Once a later batch has committed, the reserve is written
// again (at most once a minute while that fails).

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"modernc.org/sqlite"
)

// DefaultReserveSpace is the default Options.ReserveSpace: room for the
// WAL frames of a large expunge, and for its full-text index deletions.
const DefaultReserveSpace = 8 << 20

// maxReserve bounds the reserve sized after the index (reserveSize).
const maxReserve = 512 << 20

// reserveSize is the size the reserve should have: Options.ReserveSpace,
// or half the index if that is more (up to maxReserve). Expunging every
// message of a mailbox writes about a third of the index's size to the
// WAL (5,000 messages: 15 MB of WAL for a 42 MB index).
func (s *SQLite) reserveSize() int64 {
	if s.reserve <= 0 {
		return 0
	}
	n := s.reserve
	if fi, err := os.Stat(filepath.Join(s.dir, "index.db")); err == nil {
		n = max(n, min(fi.Size()/2, maxReserve))
	}
	return n
}

// reserveRetry is how often the writer tries to restore a missing reserve.
const reserveRetry = time.Minute

// noSpaceError is ErrNoSpace.
type noSpaceError struct{}

func (noSpaceError) Error() string { return "store: no space left on device" }

// Is makes every ErrNoSpace an ENOSPC to errors.Is.
func (noSpaceError) Is(target error) bool { return target == syscall.ENOSPC }

func isNoSpace(err error) bool { return errors.Is(noSpace(err), ErrNoSpace) }

// light reports whether r brings no new data: it may use the reserve.
func (r *writeReq) light() bool { return r.size == 0 && len(r.syncDirs) == 0 }

// retryWithReserve is called with the batch and the error of its
// transaction. If the batch (or a request of it) failed for want of
// space, it gives back the reserve and reruns the light requests that
// failed; the others keep the batch's error. It returns the error for
// the requests not yet answered, nil if every request has its outcome in
// r.err.
func (s *SQLite) retryWithReserve(batch []*writeReq, err error) error {
	var retry []*writeReq
	full := isNoSpace(err)
	for _, r := range batch {
		if r.light() && (err != nil && r.err == nil || isNoSpace(r.err)) {
			full = full || isNoSpace(r.err)
			retry = append(retry, r)
		}
	}
	if !full || len(retry) == 0 || !s.releaseReserve() {
		return err
	}
	for _, r := range batch {
		if err != nil && r.err == nil && !r.light() {
			r.err = err
		}
	}
	for _, r := range retry {
		r.err, r.changes, r.removes = nil, nil, nil
	}
	if err := s.runTx(retry); err != nil {
		for _, r := range retry {
			if r.err == nil {
				r.err = err
			}
		}
	}
	return nil
}

func (s *SQLite) reservePath() string { return filepath.Join(s.dir, "reserve") }

// releaseReserve removes the reserve file; false if there was none.
func (s *SQLite) releaseReserve() bool {
	if s.reserve <= 0 {
		return false
	}
	s.reserveHeld = false
	err := os.Remove(s.reservePath())
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.log.Error("store: disk full, and the reserve cannot be removed", "path", s.reservePath(), "err", err)
		}
		return false
	}
	s.log.Warn("store: disk full: the reserve was released so that messages can be deleted; free space on the disk",
		"dir", s.dir)
	s.reserveNext = s.now().Add(reserveRetry)
	return true
}

// restoreReserve writes the reserve file if it is missing or short. It
// runs at Open and, from the writer, after commits (at most once per
// reserveRetry while it fails).
func (s *SQLite) restoreReserve() {
	if s.reserve <= 0 || s.reserveHeld || s.now().Before(s.reserveNext) {
		return
	}
	size := s.reserveSize()
	if fi, err := os.Stat(s.reservePath()); err == nil && fi.Size() >= size {
		s.reserveHeld = true
		return
	}
	s.reserveNext = s.now().Add(reserveRetry)
	if err := writeZeros(s.reservePath(), size); err != nil {
		os.Remove(s.reservePath())
		s.log.Warn("store: cannot write the reserve that lets messages be deleted on a full disk",
			"path", s.reservePath(), "bytes", size, "err", err)
		return
	}
	if err := s.own(s.reservePath()); err != nil {
		s.log.Warn("store: cannot give the reserve to the store's owner", "path", s.reservePath(), "err", err)
	}
	s.reserveNext, s.reserveHeld = time.Time{}, true
}

// writeZeros makes a file of n bytes whose blocks are allocated (not
// sparse): with fallocate(2) where the file system has it, else by
// writing zeros.
func writeZeros(path string, n int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := allocate(f, n); err == nil {
		return errors.Join(f.Sync(), f.Close())
	} else if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		f.Close()
		return err
	}
	buf := make([]byte, 64<<10)
	for n > 0 {
		k := min(n, int64(len(buf)))
		if _, err := f.Write(buf[:k]); err != nil {
			f.Close()
			return err
		}
		n -= k
	}
	return errors.Join(f.Sync(), f.Close())
}

// sqliteFull is SQLITE_FULL, the primary result code of a write that
// found the disk full.
const sqliteFull = 13

// noSpace marks err with ErrNoSpace when its cause is a full file system
// or quota, keeping the cause in the chain.
func noSpace(err error) error {
	if err == nil || errors.Is(err, ErrNoSpace) {
		return err
	}
	var se *sqlite.Error
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		errors.As(err, &se) && se.Code()&0xff == sqliteFull {
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}
