package message

import (
	"bufio"
	"io"
)

// Parse reads the message in r (size bytes) and returns its part tree. It
// reads the message once, sequentially, holding at most one header section
// and one line in memory. It never panics, its work and memory are bounded
// by the input size and the package limits whatever the nesting, and it
// returns a usable best-effort tree for malformed input: err is only for
// I/O errors (io.ErrUnexpectedEOF if r holds fewer than size bytes).
func Parse(r io.ReaderAt, size int64) (*Part, error) {
	if size < 0 {
		size = 0
	}
	bufSize := int64(MaxLineBytes)
	if size+1 < bufSize {
		bufSize = size + 1 // bufio rounds up to its minimum
	}
	p := &parser{
		br:      bufio.NewReaderSize(io.NewSectionReader(r, 0, size), int(bufSize)),
		atStart: true,
		hdr:     make([]byte, 0, min(size, 8<<10)),
	}
	root := p.parsePart(0, false, true)
	if p.err != nil {
		return nil, p.err
	}
	if p.off != size {
		return nil, io.ErrUnexpectedEOF
	}
	return root, nil
}

// lineInfo describes a consumed line.
type lineInfo struct {
	term  int64 // length of the line ending: 2 (CRLF), 1 (LF) or 0 (none: a piece of a long line, or the end)
	empty bool  // nothing but the line ending
}

type parser struct {
	br  *bufio.Reader
	err error // the first I/O error
	eof bool

	off     int64 // offset of the first byte not consumed
	lfs     int64 // LF bytes consumed
	lastLF  bool  // the last byte consumed is LF
	atStart bool  // the next byte starts a line

	line        []byte // the current line, peeked but not consumed; valid until the next read
	haveLine    bool
	lineAtStart bool // line starts a line (is not the continuation of a long one)

	prev, prev2 lineInfo // the last two lines consumed

	bounds []string // boundaries of the open multiparts, innermost last
	nparts int
	hdr    []byte // the current header section, reused
}

// peek makes the next line current; it reports false at the end of input.
func (p *parser) peek() bool {
	if p.haveLine {
		return true
	}
	if p.eof {
		return false
	}
	line, err := p.br.ReadSlice('\n')
	switch {
	case err == nil || err == bufio.ErrBufferFull:
	case err == io.EOF:
		p.eof = true
	default:
		p.eof, p.err = true, err
		return false
	}
	if len(line) == 0 {
		p.eof = true
		return false
	}
	p.line, p.haveLine, p.lineAtStart = line, true, p.atStart
	return true
}

// consume moves past the current line.
func (p *parser) consume() {
	n := len(p.line)
	info := lineInfo{}
	if p.line[n-1] == '\n' {
		info.term = 1
		if n >= 2 && p.line[n-2] == '\r' {
			info.term = 2
		}
		info.empty = p.lineAtStart && int64(n) == info.term
		p.lfs++
	}
	p.prev2, p.prev = p.prev, info
	p.off += int64(n)
	p.lastLF = info.term > 0
	p.atStart = p.lastLF
	p.haveLine = false
}

// boundary reports which open multipart the current line is a delimiter
// line of, innermost first, and whether it is the close delimiter (RFC 2046
// §5.1.1: "--" boundary ["--"] then optional transport padding). idx is -1
// if it is none.
func (p *parser) boundary() (idx int, closing bool) {
	l := p.line
	if !p.lineAtStart || len(l) < 3 || l[0] != '-' || l[1] != '-' || len(p.bounds) == 0 {
		return -1, false
	}
	l = l[2:]
	for i := len(p.bounds) - 1; i >= 0; i-- {
		b := p.bounds[i]
		if len(l) < len(b) || string(l[:len(b)]) != b {
			continue
		}
		r := l[len(b):]
		closing := len(r) >= 2 && r[0] == '-' && r[1] == '-'
		if closing {
			r = r[2:]
		}
		if onlyPadding(r) {
			return i, closing
		}
	}
	return -1, false
}

// onlyPadding reports whether r is white space and a line ending at most.
func onlyPadding(r []byte) bool {
	for _, c := range r {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// skipBody consumes lines up to a delimiter line of an open multipart (left
// current) or the end of input.
func (p *parser) skipBody() {
	for p.peek() {
		if i, _ := p.boundary(); i >= 0 {
			return
		}
		p.consume()
	}
}

// readHeader consumes a header section into p.hdr: up to and including a
// blank line, up to a delimiter line, or up to MaxHeaderBytes.
func (p *parser) readHeader() {
	p.hdr = p.hdr[:0]
	for p.peek() {
		if i, _ := p.boundary(); i >= 0 {
			return
		}
		if len(p.hdr)+len(p.line) > MaxHeaderBytes {
			return
		}
		blank := p.lineAtStart && isBlankLine(p.line)
		p.hdr = append(p.hdr, p.line...)
		p.consume()
		if blank {
			return
		}
	}
}

// parsePart parses a part starting at the current position: its header,
// then its body up to a delimiter line of an open multipart or the end.
// isMsg marks the root part of a message, which gets an Envelope.
func (p *parser) parsePart(depth int, inDigest, isMsg bool) *Part {
	p.nparts++
	part := &Part{HeaderStart: p.off}
	p.readHeader()
	part.HeaderEnd = p.off
	h := ParseHeader(p.hdr) // aliases p.hdr: used up before any recursion
	part.setContent(h, inDigest)
	if isMsg {
		part.Envelope = newEnvelope(h)
	}
	part.BodyStart = p.off
	lfStart := p.lfs
	switch {
	case depth >= MaxDepth || p.nparts >= MaxParts:
		p.skipBody()
	case part.MediaType == "multipart" && part.Params["boundary"] != "":
		p.parseMultipart(part, depth)
	case part.hasEmbeddedMessage():
		part.Message = p.parsePart(depth+1, false, true)
	default:
		p.skipBody()
	}
	p.endBody(part, lfStart)
	return part
}

// hasEmbeddedMessage reports whether the body is a message to parse: RFC
// 2046 §5.2.1 allows only 7bit, 8bit and binary for message/rfc822; RFC
// 6532 §3.5 defines message/global.
func (p *Part) hasEmbeddedMessage() bool {
	if p.MediaType != "message" || p.MediaSubtype != "rfc822" && p.MediaSubtype != "global" {
		return false
	}
	return p.Encoding == "7bit" || p.Encoding == "8bit" || p.Encoding == "binary"
}

// parseMultipart parses the body of a multipart (RFC 2046 §5.1.1):
// preamble, body parts between delimiter lines, close delimiter, epilogue.
// A missing close delimiter ends the multipart at the next delimiter of an
// enclosing multipart or at the end of input.
func (p *parser) parseMultipart(part *Part, depth int) {
	p.bounds = append(p.bounds, part.Params["boundary"])
	me := len(p.bounds) - 1
	digest := part.MediaSubtype == "digest"
	closed := false
	for {
		p.skipBody() // the preamble, or what follows a truncated child
		if !p.haveLine {
			break // end of input
		}
		idx, closing := p.boundary()
		if idx != me {
			break // an enclosing multipart's delimiter
		}
		p.consume()
		if closing {
			closed = true
			break
		}
		if p.nparts >= MaxParts {
			closed = true // keep the rest as epilogue
			break
		}
		part.Parts = append(part.Parts, p.parsePart(depth+1, digest, false))
	}
	p.bounds = p.bounds[:me]
	if closed {
		p.skipBody() // the epilogue
	}
}

// endBody sets part.BodyEnd and part.Lines once the body has been consumed:
// the body stops at the end of input, or before the line ending that
// precedes the delimiter line that is current (RFC 2046 §5.1.1). It never
// ends before its start or before the end of a child, which can happen when
// one line ending is both the blank line after a header and the start of a
// delimiter.
func (p *parser) endBody(part *Part, lfStart int64) {
	end, lfs, lastLF := p.off, p.lfs, p.lastLF
	if p.haveLine { // stopped at a delimiter line
		end -= p.prev.term
		if p.prev.term > 0 {
			lfs--
		}
		lastLF = p.prev.empty && p.prev2.term > 0
	}
	minEnd := part.BodyStart
	if n := len(part.Parts); n > 0 {
		minEnd = max(minEnd, part.Parts[n-1].BodyEnd)
	}
	if part.Message != nil {
		minEnd = max(minEnd, part.Message.BodyEnd)
	}
	if end < minEnd {
		part.BodyEnd = minEnd
		return // degenerate: Lines stays 0
	}
	part.BodyEnd = end
	if part.countsLines() && end > part.BodyStart {
		part.Lines = lfs - lfStart
		if !lastLF {
			part.Lines++
		}
	}
}

// countsLines reports whether IMAP reports the body's line count (RFC 9051
// §7.5.2 BODYSTRUCTURE: text/* and message/rfc822, and RFC 6532's
// message/global).
func (p *Part) countsLines() bool {
	return p.MediaType == "text" ||
		p.MediaType == "message" && (p.MediaSubtype == "rfc822" || p.MediaSubtype == "global")
}

// setContent fills in the MIME fields of part from its header (RFC 2045,
// RFC 2183, RFC 3282).
func (part *Part) setContent(h Header, inDigest bool) {
	part.Encoding = "7bit" // RFC 2045 §6.1 default
	var haveType, haveCTE bool
	for _, f := range h.Fields {
		if len(f.Name) < 8 || !equalFold(f.Name[:8], "content-") {
			continue
		}
		switch name := f.Name[8:]; {
		case equalFold(name, "type") && !haveType:
			haveType = true
			typ, sub, params, ok := ParseMediaType(f.Value())
			if ok {
				part.MediaType, part.MediaSubtype, part.Params = typ, sub, params
			}
		case equalFold(name, "transfer-encoding"):
			if v := tokenValue(f.Value()); v != "" && !haveCTE {
				part.Encoding, haveCTE = v, true
			}
		case equalFold(name, "id") && part.ID == "":
			part.ID = f.Value()
		case equalFold(name, "description") && part.Description == "":
			part.Description = DecodeWords(f.Value())
		case equalFold(name, "md5") && part.MD5 == "":
			part.MD5 = f.Value()
		case equalFold(name, "location") && part.Location == "":
			part.Location = f.Value()
		case equalFold(name, "disposition") && part.Disposition == "":
			part.Disposition, part.DispositionParams = ParseDisposition(f.Value())
		case equalFold(name, "language") && part.Language == nil:
			part.Language = parseLanguage(f.Value())
		}
	}
	if part.MediaType != "" {
		return
	}
	if inDigest && !haveType {
		part.MediaType, part.MediaSubtype = "message", "rfc822" // RFC 2046 §5.1.5
		return
	}
	// RFC 2045 §5.2: absent or invalid means text/plain; charset=us-ascii.
	part.MediaType, part.MediaSubtype = "text", "plain"
	part.Params = map[string]string{"charset": "us-ascii"}
}
