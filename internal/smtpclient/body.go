package smtpclient

import (
	"fmt"
	"io"
)

// normalizer rewrites a byte stream to CRLF line ends (a bare LF or bare
// CR becomes CRLF: posthorn never emits either, RFC 5321 §2.3.8) and, for
// DATA, dot-stuffs lines (RFC 5321 §4.5.2). Its state carries across
// chunks.
type normalizer struct {
	dotStuff bool
	prevCR   bool
	midLine  bool // not at the start of a line
}

// append appends the normalised form of src to dst.
func (n *normalizer) append(dst, src []byte) []byte {
	for _, c := range src {
		switch {
		case c == '\r':
			dst = append(dst, '\r', '\n')
			n.prevCR, n.midLine = true, false
			continue
		case c == '\n':
			if !n.prevCR {
				dst = append(dst, '\r', '\n')
			}
			n.prevCR, n.midLine = false, false
			continue
		case c == '.' && n.dotStuff && !n.midLine:
			dst = append(dst, '.')
		}
		dst = append(dst, c)
		n.prevCR, n.midLine = false, true
	}
	return dst
}

// finish ends the stream with CRLF if it does not already end a line.
func (n *normalizer) finish(dst []byte) []byte {
	if n.midLine {
		dst = append(dst, '\r', '\n')
		n.midLine = false
	}
	return dst
}

// chunkSize is the size of raw reads; BDAT chunks are at most about twice
// that after normalisation.
const chunkSize = 64 << 10

// writeData sends body for DATA: normalised, dot-stuffed and terminated
// by CRLF.CRLF; each write is bounded by the DataSend timeout.
func (c *conn) writeData(body io.ReaderAt, size int64) error {
	n := normalizer{dotStuff: true}
	buf := make([]byte, chunkSize)
	var out []byte
	for off := int64(0); off < size; {
		k, err := body.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if k == 0 && err != nil {
			return fmt.Errorf("smtpclient: reading message: %w", err)
		}
		off += int64(k)
		out = n.append(out[:0], buf[:k])
		c.w.Write(out)
		if err := c.flush(c.to.DataSend); err != nil {
			return err
		}
	}
	out = n.finish(out[:0])
	out = append(out, ".\r\n"...)
	c.w.Write(out)
	return c.flush(c.to.DataSend)
}

// writeBDAT sends body in BDAT chunks (RFC 3030), reading the reply to each
// chunk; the reply to the LAST chunk is returned.
func (c *conn) writeBDAT(body io.ReaderAt, size int64) (reply, error) {
	n := normalizer{}
	buf := make([]byte, chunkSize)
	var out []byte
	for off := int64(0); ; {
		k := 0
		if off < size {
			var err error
			k, err = body.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
			if k == 0 && err != nil {
				return reply{}, fmt.Errorf("smtpclient: reading message: %w", err)
			}
			off += int64(k)
		}
		out = n.append(out[:0], buf[:k])
		last := off >= size
		if last {
			out = n.finish(out)
			fmt.Fprintf(c.w, "BDAT %d LAST\r\n", len(out))
		} else {
			fmt.Fprintf(c.w, "BDAT %d\r\n", len(out))
		}
		c.w.Write(out)
		if err := c.flush(c.to.DataSend); err != nil {
			return reply{}, err
		}
		d := c.to.DataSend
		if last {
			d = c.to.DataEnd
		}
		r, err := c.readReply(d)
		if err != nil || last || !r.ok() {
			return r, err
		}
	}
}
