package message

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// ErrHeaderTooLarge is returned by ReadHeader for a header section over
// MaxHeaderBytes.
var ErrHeaderTooLarge = errors.New("message: header too large")

// Field is one header field (RFC 5322 §2.2).
type Field struct {
	// Name is the field name as written, without the colon and without the
	// white space the obsolete syntax allows before it (RFC 5322 §4.5). It
	// is "" for a line that has no colon.
	Name string
	// Raw is the whole field as written: name, colon, value, folded
	// continuation lines and the final line ending. It aliases the input.
	Raw []byte
	// Offset is the offset of Raw within the header section.
	Offset int64
}

// Value returns the field body unfolded, without leading and trailing
// white space.
func (f Field) Value() string {
	i := bytes.IndexByte(f.Raw, ':')
	if i < 0 {
		return ""
	}
	return unfold(f.Raw[i+1:])
}

// Header is a parsed header section: its fields in order.
type Header struct {
	Fields []Field
	// Size is the length of the header section, including the blank line
	// that ends it if there is one.
	Size int64
}

// Get returns the unfolded value of the first field named name (compared
// ASCII case-insensitively), or "" if there is none.
func (h Header) Get(name string) string {
	v, _ := h.lookup(name)
	return v
}

// Has reports whether a field named name is present.
func (h Header) Has(name string) bool {
	_, ok := h.lookup(name)
	return ok
}

func (h Header) lookup(name string) (string, bool) {
	for _, f := range h.Fields {
		if equalFold(f.Name, name) {
			return f.Value(), true
		}
	}
	return "", false
}

// Values returns the unfolded values of all fields named name, in order.
func (h Header) Values(name string) []string {
	var vs []string
	for _, f := range h.Fields {
		if equalFold(f.Name, name) {
			vs = append(vs, f.Value())
		}
	}
	return vs
}

// ParseHeader parses the header section at the start of b: up to and
// including the first blank line, or all of b if there is none. Lines may
// end in CRLF or a bare LF. Lines without a colon become fields with an
// empty Name; a continuation line before any field starts a nameless field.
// The fields' Raw slices alias b.
func ParseHeader(b []byte) Header {
	// Size Fields for the common case of one line per field.
	h := Header{Fields: make([]Field, 0, bytes.Count(b[:min(len(b), 16<<10)], []byte{'\n'}))}
	off := 0
	for off < len(b) {
		end := len(b)
		if i := bytes.IndexByte(b[off:], '\n'); i >= 0 {
			end = off + i + 1
		}
		line := b[off:end:end]
		if isBlankLine(line) {
			h.Size = int64(end)
			return h
		}
		if n := len(h.Fields); n > 0 && isWSP(line[0]) {
			// RFC 5322 §2.2.3: a line starting with WSP continues the field.
			f := &h.Fields[n-1]
			f.Raw = b[f.Offset:end:end]
		} else {
			h.Fields = append(h.Fields, Field{Name: fieldName(line), Raw: line, Offset: int64(off)})
		}
		off = end
	}
	h.Size = int64(len(b))
	return h
}

// ReadHeader reads a header section from r, up to and including the blank
// line that ends it (or EOF), and parses it like ParseHeader. It reads
// nothing beyond the header. It returns ErrHeaderTooLarge if the section
// exceeds MaxHeaderBytes.
func ReadHeader(r *bufio.Reader) (Header, error) {
	var buf []byte
	for {
		line, err := r.ReadSlice('\n')
		if len(buf)+len(line) > MaxHeaderBytes {
			return ParseHeader(buf), ErrHeaderTooLarge
		}
		buf = append(buf, line...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			return ParseHeader(buf), nil
		case err != nil:
			return ParseHeader(buf), err
		}
		if isBlankLine(line) && (len(buf) == len(line) || buf[len(buf)-len(line)-1] == '\n') {
			return ParseHeader(buf), nil
		}
	}
}

// fieldName returns the name of the field starting on line.
func fieldName(line []byte) string {
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return ""
	}
	return string(bytes.TrimRight(line[:i], " \t"))
}

// unfold removes the line breaks of a folded field body (RFC 5322 §2.2.3)
// and the white space around it.
func unfold(b []byte) string {
	b = trimSpaceCRLF(b)
	if bytes.IndexByte(b, '\n') < 0 {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\n' || c == '\r' && i+1 < len(b) && b[i+1] == '\n' {
			continue
		}
		out = append(out, c)
	}
	return string(out)
}

func trimSpaceCRLF(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}

// isBlankLine reports whether line is an empty line: a line ending alone.
func isBlankLine(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// equalFold compares ASCII case-insensitively.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
