package store

// Blobs: immutable message bodies, reference-counted in the blobs table.
// Bodies up to inlineMax bytes are stored in the table itself, in the
// transaction that indexes them (one WAL fsync per batch covers them).
// Larger ones are files: written to blobs/tmp, fsync'd, renamed to
// blobs/XX/NAME, and their directory fsync'd (by the writer, once per batch
// and directory) before the transaction that references them commits. A
// blob whose count drops to zero loses its row in that transaction and its
// file after the commit; files left by a crash between those steps, or
// between the rename and the commit, are removed at the next Open.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// inlineMax is the largest body stored inside the index. 64 KiB keeps the
// common message (a few KiB to tens of KiB) on the group-committed WAL path
// while bounding the WAL and checkpoint traffic per message; see
// BenchmarkDeliverSize for the measurement.
const inlineMax = 64 << 10

// newBlob is a body spooled by a caller before its write request.
type newBlob struct {
	size int64
	data []byte    // the bytes when inline
	rel  string    // file path relative to blobs/; "" when inline
	path string    // absolute file path
	dir  string    // the file's directory, fsync'd before commit
	text indexText // for the full-text index (text.go)
}

// spool reads body into an inline blob or a durable file.
func (s *SQLite) spool(body io.Reader) (*newBlob, error) {
	if body == nil {
		return nil, fmt.Errorf("%w: nil body", ErrInvalid)
	}
	data, err := readAll(body, int64(s.inlineMax)+1, sizeHint(body))
	if err != nil {
		return nil, fmt.Errorf("store: reading message: %w", err)
	}
	if len(data) <= s.inlineMax {
		return &newBlob{size: int64(len(data)), data: data}, nil
	}
	return s.spoolFile(data, body)
}

// sizeHint returns the size r says it has (bytes.Reader, strings.Reader,
// io.SectionReader), or 0.
func sizeHint(r io.Reader) int64 {
	if sr, ok := r.(interface{ Size() int64 }); ok {
		return max(sr.Size(), 0)
	}
	return 0
}

// readAll is io.ReadAll of at most limit bytes of r into a buffer sized
// for hint bytes (0: unknown) plus the read that sees the end, so that a
// correct hint costs one allocation instead of a series of doublings.
func readAll(r io.Reader, limit, hint int64) ([]byte, error) {
	size := int64(512)
	if hint > 0 {
		size = min(hint, limit) + 1
	}
	b := make([]byte, 0, size)
	r = io.LimitReader(r, limit)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

func (s *SQLite) spoolFile(head []byte, rest io.Reader) (_ *newBlob, err error) {
	f, err := os.CreateTemp(filepath.Join(s.dir, "blobs", "tmp"), "blob-")
	if err != nil {
		return nil, noSpace(fmt.Errorf("store: %w", err))
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = noSpace(err)
		}
	}()
	if s.owner != nil {
		if err := f.Chown(s.owner.UID, s.owner.GID); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	n, err := f.Write(head)
	if err != nil {
		return nil, fmt.Errorf("store: writing blob: %w", err)
	}
	m, err := io.Copy(f, rest)
	if err != nil {
		return nil, fmt.Errorf("store: writing blob: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("store: fsync blob: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("store: writing blob: %w", err)
	}
	var id [16]byte
	rand.Read(id[:])
	name := hex.EncodeToString(id[:])
	b := &newBlob{size: int64(n) + m, rel: filepath.Join(name[:2], name)}
	b.path = filepath.Join(s.dir, "blobs", b.rel)
	b.dir = filepath.Dir(b.path)
	if err := os.Rename(f.Name(), b.path); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return b, nil
}

// discard removes the file of a blob whose write request failed.
func (b *newBlob) discard() {
	if b != nil && b.path != "" {
		os.Remove(b.path)
	}
}

const qInsertBlob = `INSERT INTO blobs (size, refs, data, path) VALUES (?, ?, ?, ?)`

// insertBlob adds the blob's row with refs references and returns its id.
func insertBlob(w *wtx, b *newBlob, refs int) (int64, error) {
	var data any
	var path any
	if b.path != "" {
		path = b.rel
	} else {
		data = nonNil(b.data) // NULL data means a file
	}
	res, err := w.exec(qInsertBlob, b.size, refs, data, path)
	if err != nil {
		return 0, fmt.Errorf("store: insert blob: %w", err)
	}
	return res.LastInsertId()
}

// refBlob adds n references to a blob.
func refBlob(w *wtx, id int64, n int) error {
	if _, err := w.exec(`UPDATE blobs SET refs = refs + ? WHERE id = ?`, n, id); err != nil {
		return fmt.Errorf("store: blob refs: %w", err)
	}
	return nil
}

// unrefBlob drops n references to a blob, deleting it at zero (its file
// after the commit).
func (s *SQLite) unrefBlob(w *wtx, id int64, n int) error {
	var refs int
	var path sql.NullString
	err := w.queryRow(`UPDATE blobs SET refs = refs - ? WHERE id = ? RETURNING refs, path`, n, id).Scan(&refs, &path)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: blob refs: %w", err)
	}
	if refs > 0 {
		return nil
	}
	if _, err := w.exec(`DELETE FROM blobs WHERE id = ?`, id); err != nil {
		return fmt.Errorf("store: delete blob: %w", err)
	}
	deleteText(w, id)
	if path.Valid {
		w.removes = append(w.removes, filepath.Join(s.dir, "blobs", path.String))
	}
	return nil
}

// blobRefsOf counts the blob references of the messages selected by where
// (a condition on messages; args are its parameters), for unrefBlobs once
// the messages are deleted.
func blobRefsOf(w *wtx, where string, args ...any) (map[int64]int, error) {
	rows, err := w.query(`SELECT blob_id, count(*) FROM messages WHERE `+where+` GROUP BY blob_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer rows.Close()
	refs := map[int64]int{}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		refs[id] = n
	}
	return refs, rows.Err()
}

// unrefBlobs drops the references counted by blobRefsOf.
func (s *SQLite) unrefBlobs(w *wtx, refs map[int64]int) error {
	for id, n := range refs {
		if err := s.unrefBlob(w, id, n); err != nil {
			return err
		}
	}
	return nil
}

// sweepBlobs removes blob files the index does not reference: left by a
// crash after their rename but before the commit, or after a commit that
// freed them but before their removal. It runs at Open, before any write.
func (s *SQLite) sweepBlobs(ctx context.Context) error {
	known := map[string]bool{}
	rows, err := s.wdb.QueryContext(ctx, `SELECT path FROM blobs WHERE path IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("store: sweep blobs: %w", err)
	}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return fmt.Errorf("store: sweep blobs: %w", err)
		}
		known[p] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: sweep blobs: %w", err)
	}
	for i := 0; i < 256; i++ {
		sub := fmt.Sprintf("%02x", i)
		ents, err := os.ReadDir(filepath.Join(s.dir, "blobs", sub))
		if err != nil {
			return fmt.Errorf("store: sweep blobs: %w", err)
		}
		for _, e := range ents {
			rel := filepath.Join(sub, e.Name())
			if !known[rel] {
				s.log.Info("store: removing unreferenced blob file", "path", rel)
				os.Remove(filepath.Join(s.dir, "blobs", rel))
			}
		}
	}
	return nil
}

// openBlob returns the content of blob id served after prefix.
func (s *SQLite) openBlob(ctx context.Context, id int64, prefix []byte) (Content, error) {
	db, err := s.reader()
	if err != nil {
		return nil, err
	}
	var size int64
	var data []byte
	var path sql.NullString
	err = db.QueryRowContext(ctx, `SELECT size, data, path FROM blobs WHERE id = ?`, id).Scan(&size, &data, &path)
	if err != nil {
		return nil, fmt.Errorf("store: blob %d: %w", id, s.readErr(err))
	}
	c := &content{prefix: prefix, data: data, size: size}
	if path.Valid {
		c.f, err = os.Open(filepath.Join(s.dir, "blobs", path.String))
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("store: blob %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("store: blob %d: %w", id, err)
		}
	}
	return c, nil
}

// openBlobs is openBlob of the blobs of msgs, read in one query per
// uidChunk messages.
func (s *SQLite) openBlobs(ctx context.Context, msgs []Message) (_ []Content, err error) {
	out := make([]Content, len(msgs))
	defer func() {
		if err != nil {
			for _, c := range out {
				if c != nil {
					c.Close()
				}
			}
		}
	}()
	db, err := s.reader()
	if err != nil {
		return nil, err
	}
	type row struct {
		size int64
		data []byte
		path sql.NullString
	}
	for start := 0; start < len(msgs); start += uidChunk {
		part := msgs[start:min(start+uidChunk, len(msgs))]
		args := make([]any, len(part))
		for i, m := range part {
			args[i] = m.BlobID
		}
		rows, err := db.QueryContext(ctx, `SELECT id, size, data, path FROM blobs WHERE id IN (?`+
			strings.Repeat(",?", len(part)-1)+`)`, args...)
		if err != nil {
			return nil, s.readErr(err)
		}
		blobs := make(map[int64]row, len(part))
		for rows.Next() {
			var id int64
			var r row
			if err := rows.Scan(&id, &r.size, &r.data, &r.path); err != nil {
				rows.Close()
				return nil, s.readErr(err)
			}
			blobs[id] = r
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, s.readErr(err)
		}
		for i, m := range part {
			r, ok := blobs[m.BlobID]
			if !ok {
				return nil, fmt.Errorf("store: blob %d: %w", m.BlobID, ErrNotFound)
			}
			c := &content{prefix: m.HeaderPrefix, data: r.data, size: r.size}
			if r.path.Valid {
				c.f, err = os.Open(filepath.Join(s.dir, "blobs", r.path.String))
				if os.IsNotExist(err) {
					return nil, fmt.Errorf("store: blob %d: %w", m.BlobID, ErrNotFound)
				}
				if err != nil {
					return nil, fmt.Errorf("store: blob %d: %w", m.BlobID, err)
				}
			}
			out[start+i] = c
		}
	}
	return out, nil
}

// content serves a header prefix followed by a blob held in memory or
// read from its file on demand.
type content struct {
	prefix []byte
	data   []byte
	f      *os.File
	size   int64 // of the blob
}

func (c *content) Size() int64 { return int64(len(c.prefix)) + c.size }

func (c *content) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("store: negative offset")
	}
	n := 0
	if off < int64(len(c.prefix)) {
		n = copy(p, c.prefix[off:])
	}
	for n < len(p) {
		boff := off + int64(n) - int64(len(c.prefix))
		if boff >= c.size {
			break
		}
		want := p[n:]
		if rem := c.size - boff; int64(len(want)) > rem {
			want = want[:rem]
		}
		if c.f == nil {
			n += copy(want, c.data[boff:])
			continue
		}
		m, err := c.f.ReadAt(want, boff)
		n += m
		if err != nil && err != io.EOF {
			return n, err
		}
		if m == 0 {
			break
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (c *content) Close() error {
	if c.f != nil {
		return c.f.Close()
	}
	return nil
}
