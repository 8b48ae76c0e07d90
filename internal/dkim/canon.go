package dkim

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
)

// readBufferSize is the buffer messages are read through. Small, since
// it is allocated per message; readHeader gathers longer lines itself.
const readBufferSize = 4 << 10

// MaxHeaderBytes bounds the header section read by Verify and Sign.
const MaxHeaderBytes = 1 << 20

// ErrHeaderTooLong is returned when a header section exceeds MaxHeaderBytes.
var ErrHeaderTooLong = errors.New("dkim: header section too long")

// field and header are the exported Field and Header under the names the
// package's own code uses; ReadHeader hands readHeader's result out as it is.
type (
	field  = Field
	header = Header
)

// readHeader reads the header section from br, leaving br at the start of
// the body. It splits fields the way go-msgauth does (a line starting
// with SP or HTAB continues the previous field), so that signatures found
// here line up with go-msgauth's verifications.
func readHeader(br *bufio.Reader) (*header, error) {
	h := &header{}
	var spans []span
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A very long line: gather it whole.
			buf := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull && len(h.Raw)+len(buf) <= MaxHeaderBytes {
				line, err = br.ReadSlice('\n')
				buf = append(buf, line...)
			}
			line = buf
		}
		if len(h.Raw)+len(line) > MaxHeaderBytes {
			return nil, ErrHeaderTooLong
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		start := len(h.Raw)
		h.Raw = append(h.Raw, line...)
		content := lineContent(line)
		switch {
		case len(line) == 0 && err == io.EOF:
			h.setFields(spans)
			return h, nil
		case len(content) == 0 && len(line) > 0 && line[len(line)-1] == '\n':
			h.Separated = true
			h.setFields(spans)
			return h, nil
		case len(spans) > 0 && (len(content) > 0 && isWSP(content[0])):
			spans[len(spans)-1].end = len(h.Raw)
		default:
			spans = append(spans, span{start, len(h.Raw)})
		}
		if err == io.EOF {
			h.setFields(spans)
			return h, nil
		}
	}
}

// span is where one field lies in header.Raw.
type span struct{ start, end int }

// lineContent is line without its end ("\r\n" or "\n"), as bufio.ReadLine
// gives it to go-msgauth.
func lineContent(line []byte) []byte {
	if c, ok := bytes.CutSuffix(line, []byte("\n")); ok {
		return bytes.TrimSuffix(c, []byte("\r"))
	}
	return line
}

// setFields fills h.Fields from spans of h.Raw, all sharing one string
// copy of h.Raw rather than one allocation per line.
func (h *header) setFields(spans []span) {
	raw := string(h.Raw)
	h.Fields = make([]field, len(spans))
	for i, sp := range spans {
		f := raw[sp.start:sp.end]
		first, _, _ := strings.Cut(f, "\n")
		if len(first) < len(f) {
			first = strings.TrimSuffix(first, "\r")
		}
		name, _, _ := strings.Cut(first, ":")
		h.Fields[i] = field{Name: strings.TrimSpace(name), Raw: f}
	}
}

// count returns how many fields are named name (case-insensitively).
func (h *header) count(name string) int {
	n := 0
	for _, f := range h.Fields {
		if strings.EqualFold(f.Name, name) {
			n++
		}
	}
	return n
}

// relaxedHeader canonicalizes one header field the "relaxed" way
// (RFC 6376 §3.4.2): lower-case name, unfolded value, runs of WSP reduced
// to one SP, no WSP around the colon or at the end, terminated by CRLF.
func relaxedHeader(raw string) string {
	name, value, _ := strings.Cut(raw, ":")
	name = strings.ToLower(strings.TrimRight(name, " \t"))
	value = strings.ReplaceAll(value, "\r\n", "")
	value = strings.ReplaceAll(value, "\n", "")
	var b strings.Builder
	b.Grow(len(name) + len(value) + 3)
	b.WriteString(name)
	b.WriteByte(':')
	b.WriteString(collapseWSP(strings.Trim(value, " \t")))
	b.WriteString("\r\n")
	return b.String()
}

// collapseWSP reduces every run of SP/HTAB to a single SP.
func collapseWSP(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	inWSP := false
	for i := 0; i < len(s); i++ {
		if isWSP(s[i]) {
			inWSP = true
			continue
		}
		if inWSP {
			b.WriteByte(' ')
			inWSP = false
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// bodyCanon is an io.WriteCloser that canonicalizes a body into w, line
// by line: the "relaxed" way (RFC 6376 §3.4.4: WSP runs become one SP, WSP
// at line ends is dropped, an empty body stays empty) or the "simple" way
// (§3.4.3: lines unchanged, an empty body becomes one CRLF). Both drop
// empty lines at the end and add a missing final CRLF. Lines end at LF; a
// CR before it is part of the line end, so bare-LF input canonicalizes like
// CRLF input.
type bodyCanon struct {
	w       io.Writer
	relaxed bool
	line    []byte // the current, unterminated line
	pending int    // empty lines not yet written
	wrote   bool   // whether any line was written
}

func (c *bodyCanon) Write(p []byte) (int, error) {
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

func (c *bodyCanon) endLine() error {
	l := string(bytes.TrimSuffix(c.line, []byte("\r")))
	c.line = c.line[:0]
	if c.relaxed {
		l = strings.TrimRight(collapseWSP(l), " ")
	}
	if l == "" {
		c.pending++
		return nil
	}
	for ; c.pending > 0; c.pending-- {
		if _, err := io.WriteString(c.w, "\r\n"); err != nil {
			return err
		}
	}
	c.wrote = true
	_, err := io.WriteString(c.w, l+"\r\n")
	return err
}

// Close flushes a final line that lacks its line end, and writes the CRLF
// of an empty body in simple canonicalization.
func (c *bodyCanon) Close() error {
	if len(c.line) > 0 {
		if err := c.endLine(); err != nil {
			return err
		}
	}
	if !c.wrote && !c.relaxed {
		_, err := io.WriteString(c.w, "\r\n")
		return err
	}
	return nil
}
