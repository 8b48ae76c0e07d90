package imapwire

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"time"
)

// Writer writes responses. Errors are sticky: check Flush's result.
type Writer struct {
	bw  *bufio.Writer
	err error
	// UTF8 allows UTF-8 in quoted strings and mailbox names (IMAP4rev2 or
	// UTF8=ACCEPT enabled); otherwise 8-bit strings go as literals and
	// mailbox names in modified UTF-7.
	UTF8 bool
}

// NewWriter returns a Writer on bw.
func NewWriter(bw *bufio.Writer) *Writer { return &Writer{bw: bw} }

// Raw writes s as is.
func (w *Writer) Raw(s string) {
	if w.err == nil {
		_, w.err = w.bw.WriteString(s)
	}
}

// Byte writes one byte.
func (w *Writer) Byte(c byte) {
	if w.err == nil {
		w.err = w.bw.WriteByte(c)
	}
}

// SP writes a space.
func (w *Writer) SP() { w.Byte(' ') }

// CRLF ends a response line.
func (w *Writer) CRLF() { w.Raw("\r\n") }

// Number writes a decimal number.
func (w *Writer) Number(n uint64) {
	if w.err == nil {
		var buf [20]byte
		_, w.err = w.bw.Write(strconv.AppendUint(buf[:0], n, 10))
	}
}

// String writes s as a quoted string when it can be, else as a literal.
func (w *Writer) String(s string) {
	quote, escape := quoting(s, w.UTF8)
	if !quote || len(s) >= 1024 {
		w.Raw("{")
		w.Number(uint64(len(s)))
		w.Raw("}\r\n")
		w.Raw(strings.ReplaceAll(s, "\x00", NULReplacement))
		return
	}
	w.Byte('"')
	if !escape {
		w.Raw(s)
	} else {
		for i := 0; i < len(s); i++ {
			if s[i] == '"' || s[i] == '\\' {
				w.Byte('\\')
			}
			w.Byte(s[i])
		}
	}
	w.Byte('"')
}

// quoting reports, in one pass over s, whether s fits a quoted string (no
// CR, LF or NUL, and no 8-bit bytes unless utf8) and whether it has
// characters to escape there.
func quoting(s string, utf8 bool) (quote, escape bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			escape = true
		case c == '\r' || c == '\n' || c == 0 || c >= 0x80 && !utf8:
			return false, false
		}
	}
	return true, escape
}

// NString writes s, or NIL when s is "" and nilIfEmpty.
func (w *Writer) NString(s string, nilIfEmpty bool) {
	if s == "" && nilIfEmpty {
		w.Raw("NIL")
		return
	}
	w.String(s)
}

// AString writes s as an atom when it is one, else as a string.
func (w *Writer) AString(s string) {
	if s != "" && isAStringAtom(s) {
		w.Raw(s)
		return
	}
	w.String(s)
}

func isAStringAtom(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAStringChar(s[i]) {
			return false
		}
	}
	return true
}

// Mailbox writes a mailbox name (modified UTF-7 unless UTF8).
func (w *Writer) Mailbox(name string) {
	if !w.UTF8 {
		name = EncodeUTF7(name)
	}
	w.AString(name)
}

// NULReplacement stands for each NUL byte in a literal that is not a
// literal8: RFC 9051 §4.3 forbids NUL there, and a BODY[] section of a
// message holding NULs keeps its size with each replaced (so sizes and
// partial ranges agree). BINARY[] sends such content unchanged as a
// literal8 (RFC 3516). docs/imap.md compares this with Dovecot.
const NULReplacement = "\x80"

// Literal writes a literal of n bytes copied from r, NUL bytes replaced
// by NULReplacement; binary writes a literal8 (~{n}, RFC 3516), bytes
// unchanged. Short reads are padded with spaces so the stream stays in
// sync (the error is still reported).
func (w *Writer) Literal(r io.Reader, n int64, binary bool) error {
	if binary {
		w.Byte('~')
	} else {
		r = noNULs{r}
	}
	w.Byte('{')
	w.Number(uint64(n))
	w.Raw("}\r\n")
	if w.err != nil {
		return w.err
	}
	got, err := io.CopyN(w.bw, r, n)
	if got < n {
		for ; got < n && w.err == nil; got++ {
			w.err = w.bw.WriteByte(' ')
		}
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// noNULs replaces NUL bytes as they are read.
type noNULs struct{ r io.Reader }

func (n noNULs) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	for i, c := range p[:k] {
		if c == 0 {
			p[i] = NULReplacement[0]
		}
	}
	return k, err
}

// Date writes a quoted date-time (RFC 9051 §9).
func (w *Writer) Date(t time.Time) {
	w.Byte('"')
	w.Raw(t.Format("_2-Jan-2006 15:04:05 -0700"))
	w.Byte('"')
}

// Flush writes buffered data to the connection.
func (w *Writer) Flush() error {
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	return w.err
}

// Err returns the first write error.
func (w *Writer) Err() error { return w.err }
