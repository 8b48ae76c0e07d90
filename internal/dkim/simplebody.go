package dkim

import (
	"bytes"
	"io"
)

// NewSimpleBody returns a writer that canonicalizes a body the "simple" way
// (RFC 6376 §3.4.3) into w: empty lines at the end are dropped and the body
// ends in exactly one CRLF; an empty body becomes a single CRLF. Lines end
// at LF; a CR before it is part of the line end, so bare-LF input
// canonicalizes like CRLF input. Close flushes it.
func NewSimpleBody(w io.Writer) io.WriteCloser { return &simpleBody{w: w} }

type simpleBody struct {
	w       io.Writer
	line    []byte // the current, unterminated line
	pending int    // empty lines not yet written
	wrote   bool   // whether any line was written
}

func (c *simpleBody) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.line = append(c.line, p...)
			break
		}
		c.line = append(c.line, p[:i]...)
		p = p[i+1:]
		if err := c.endLine(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

func (c *simpleBody) endLine() error {
	l := bytes.TrimSuffix(c.line, []byte("\r"))
	defer func() { c.line = c.line[:0] }()
	if len(l) == 0 {
		c.pending++
		return nil
	}
	for ; c.pending > 0; c.pending-- {
		if _, err := io.WriteString(c.w, "\r\n"); err != nil {
			return err
		}
	}
	c.wrote = true
	if _, err := c.w.Write(l); err != nil {
		return err
	}
	_, err := io.WriteString(c.w, "\r\n")
	return err
}

// Close flushes a final line that lacks its line end, and writes the CRLF
// of an empty body.
func (c *simpleBody) Close() error {
	if len(c.line) > 0 {
		if err := c.endLine(); err != nil {
			return err
		}
	}
	if !c.wrote {
		_, err := io.WriteString(c.w, "\r\n")
		return err
	}
	return nil
}
