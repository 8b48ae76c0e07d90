package delivery

import (
	"errors"
	"io"
	"os"
)

// DefaultSpoolMemory is how much of a message a Spool keeps in memory
// before it moves to a temporary file.
const DefaultSpoolMemory = 1 << 20

// ErrSpoolTooBig is returned by Spool.Write past its limit.
var ErrSpoolTooBig = errors.New("delivery: message over the size limit")

// Spool holds one incoming message while it is checked and stored: in
// memory up to a threshold, then in an unlinked temporary file (so nothing
// is left behind by a crash; the store makes it durable). It is an
// io.Writer while being filled, then an io.ReaderAt.
type Spool struct {
	dir   string
	mem   int64 // memory threshold
	limit int64 // maximum size; 0: none
	buf   []byte
	f     *os.File
	size  int64
}

// NewSpool returns an empty spool that keeps up to mem bytes in memory
// (0: DefaultSpoolMemory) and refuses more than limit bytes (0: no
// limit). Temporary files go to dir ("" is os.TempDir).
func NewSpool(dir string, mem, limit int64) *Spool {
	if mem <= 0 {
		mem = DefaultSpoolMemory
	}
	return &Spool{dir: dir, mem: mem, limit: limit}
}

// Write appends p.
func (s *Spool) Write(p []byte) (int, error) {
	if s.limit > 0 && s.size+int64(len(p)) > s.limit {
		return 0, ErrSpoolTooBig
	}
	if s.f == nil && s.size+int64(len(p)) > s.mem {
		f, err := os.CreateTemp(s.dir, "posthorn-spool-*")
		if err != nil {
			return 0, err
		}
		os.Remove(f.Name()) // the open file lives on, unnamed
		if _, err := f.Write(s.buf); err != nil {
			f.Close()
			return 0, err
		}
		s.f, s.buf = f, nil
	}
	if s.f != nil {
		n, err := s.f.Write(p)
		s.size += int64(n)
		return n, err
	}
	s.buf = append(s.buf, p...)
	s.size += int64(len(p))
	return len(p), nil
}

// ReadAt reads from the spooled bytes.
func (s *Spool) ReadAt(p []byte, off int64) (int, error) {
	if s.f != nil {
		return s.f.ReadAt(p, off)
	}
	if off >= int64(len(s.buf)) {
		return 0, io.EOF
	}
	n := copy(p, s.buf[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Size returns the number of bytes written.
func (s *Spool) Size() int64 { return s.size }

// Close releases the memory or temporary file.
func (s *Spool) Close() error {
	s.buf = nil
	if s.f != nil {
		err := s.f.Close()
		s.f = nil
		return err
	}
	return nil
}

// Message is a message's bytes, as spooled or as assembled for storage.
type Message interface {
	io.ReaderAt
	Size() int64
}

// Concat returns the message made of a followed by b.
func Concat(a, b Message) Message { return concat{a, b} }

// Bytes returns b as a Message.
func Bytes(b []byte) Message { return bytesMsg(b) }

type bytesMsg []byte

func (b bytesMsg) Size() int64 { return int64(len(b)) }
func (b bytesMsg) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Section returns the bytes of m from off to its end.
func Section(m Message, off int64) Message {
	return section{m, off}
}

type section struct {
	m   Message
	off int64
}

func (s section) Size() int64 { return s.m.Size() - s.off }
func (s section) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.Size() {
		return 0, io.EOF
	}
	return s.m.ReadAt(p, s.off+off)
}

type concat struct{ a, b Message }

func (c concat) Size() int64 { return c.a.Size() + c.b.Size() }
func (c concat) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	if as := c.a.Size(); off < as {
		k := min(int64(len(p)), as-off)
		m, err := c.a.ReadAt(p[:k], off)
		n += m
		if m < int(k) {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
		p, off = p[k:], as
	}
	if len(p) == 0 {
		return n, nil
	}
	m, err := c.b.ReadAt(p, off-c.a.Size())
	return n + m, err
}

// Reader returns a reader of the whole of m.
func Reader(m Message) io.Reader { return io.NewSectionReader(m, 0, m.Size()) }
