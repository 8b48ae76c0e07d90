package imapserver

import (
	"bytes"
	"errors"
	"io"
	"strings"

	"github.com/posthorn/posthorn/internal/imapwire"
	"github.com/posthorn/posthorn/internal/message"
)

// Body sections (RFC 9051 §6.4.5 BODY[section]<partial>, RFC 3516 BINARY).

// writeAttr writes one data item other than UID, FLAGS and MODSEQ.
func (f *fetcher) writeAttr(at imapwire.FetchAttr) error {
	w := f.s.w
	switch at.Name {
	case imapwire.FetchInternalDate:
		w.Raw("INTERNALDATE ")
		w.Date(f.m.InternalDate)
	case imapwire.FetchSaveDate:
		w.Raw("SAVEDATE ")
		if f.m.SaveDate.IsZero() {
			w.Raw("NIL")
		} else {
			w.Date(f.m.SaveDate)
		}
	case imapwire.FetchRFC822Size:
		w.Raw("RFC822.SIZE ")
		w.Number(uint64(f.m.Size))
	case imapwire.FetchEnvelope:
		w.Raw("ENVELOPE ")
		f.s.writeEnvelope(f.root.Envelope)
	case imapwire.FetchBodyStructure:
		w.Raw("BODYSTRUCTURE ")
		f.s.writeBodyStructure(f.root, true)
	case imapwire.FetchBody:
		w.Raw("BODY ")
		f.s.writeBodyStructure(f.root, false)
	case imapwire.FetchPreview:
		return f.writePreview()
	case imapwire.FetchRFC822:
		w.Raw("RFC822 ")
		return f.writeRange(0, f.m.Size, nil)
	case imapwire.FetchRFC822Header:
		w.Raw("RFC822.HEADER ")
		return f.writeRange(f.root.HeaderStart, f.root.HeaderEnd, nil)
	case imapwire.FetchRFC822Text:
		w.Raw("RFC822.TEXT ")
		return f.writeRange(f.root.BodyStart, f.root.BodyEnd, nil)
	case imapwire.FetchBodySection:
		return f.writeBodySection(at)
	case imapwire.FetchBinary, imapwire.FetchBinarySize:
		return f.writeBinary(at)
	}
	return nil
}

// writeRange writes bytes [start, end) of the message as a literal,
// narrowed by a partial.
func (f *fetcher) writeRange(start, end int64, partial *imapwire.Partial) error {
	start, end = clampPartial(start, end, partial)
	c, err := f.open()
	if err != nil {
		return err
	}
	if err := f.s.w.Literal(io.NewSectionReader(c, start, end-start), end-start, false); err != nil {
		return err
	}
	return nil
}

func clampPartial(start, end int64, partial *imapwire.Partial) (int64, int64) {
	if partial == nil {
		return start, end
	}
	s := start + min(partial.Offset, end-start)
	e := end
	if partial.Count >= 0 && s+partial.Count < e {
		e = s + partial.Count
	}
	return s, e
}

func sectionName(at imapwire.FetchAttr, prefix string) string {
	name := prefix + "[" + at.Section.String() + "]"
	if at.Partial != nil {
		name += "<" + u64(uint64(at.Partial.Offset)) + ">"
	}
	return name
}

// writeBodySection writes BODY[section]<partial>.
func (f *fetcher) writeBodySection(at imapwire.FetchAttr) error {
	f.s.w.Raw(sectionName(at, "BODY") + " ")
	sec := at.Section
	part, ok := f.root.Section(sec.Part)
	if !ok {
		f.s.w.Raw(`""`)
		return nil
	}
	if len(sec.Part) == 0 && sec.Specifier == "" {
		return f.writeRange(0, f.m.Size, at.Partial)
	}
	switch sec.Specifier {
	case "":
		return f.writeRange(part.BodyStart, part.BodyEnd, at.Partial)
	case "MIME":
		return f.writeRange(part.HeaderStart, part.HeaderEnd, at.Partial)
	}
	// HEADER, HEADER.FIELDS[.NOT] and TEXT apply to a message: the root
	// or the embedded message of a message/rfc822 part.
	msg := part
	if len(sec.Part) > 0 {
		if part.Message == nil {
			f.s.w.Raw(`""`)
			return nil
		}
		msg = part.Message
	}
	switch sec.Specifier {
	case "HEADER":
		return f.writeRange(msg.HeaderStart, msg.HeaderEnd, at.Partial)
	case "TEXT":
		return f.writeRange(msg.BodyStart, msg.BodyEnd, at.Partial)
	}
	hdr, err := f.headerFields(msg, sec.Fields, sec.Specifier == "HEADER.FIELDS.NOT")
	if err != nil {
		return err
	}
	s, e := clampPartial(0, int64(len(hdr)), at.Partial)
	return f.s.w.Literal(bytes.NewReader(hdr[s:e]), e-s, false)
}

// headerFields returns the header fields of msg named (or, with not, not
// named) in names, in their order, followed by the blank line.
func (f *fetcher) headerFields(msg *message.Part, names []string, not bool) ([]byte, error) {
	c, err := f.open()
	if err != nil {
		return nil, err
	}
	raw := make([]byte, msg.HeaderEnd-msg.HeaderStart)
	if _, err := c.ReadAt(raw, msg.HeaderStart); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	var out bytes.Buffer
	keep := false
	for line := range bytes.Lines(raw) {
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		if line[0] != ' ' && line[0] != '\t' {
			name, _, _ := bytes.Cut(line, []byte(":"))
			n := strings.ToUpper(string(bytes.TrimSpace(name)))
			keep = containsFold(names, n) != not
		}
		if keep {
			out.Write(line)
			if !bytes.HasSuffix(line, []byte("\n")) {
				out.WriteString("\r\n")
			}
		}
	}
	out.WriteString("\r\n")
	return out.Bytes(), nil
}

// binaryInfo is the outcome of decoding a BINARY section once.
type binaryInfo struct {
	size    int64
	hasNUL  bool
	unknown bool // unknown Content-Transfer-Encoding
	missing bool // no such part
}

// prepare decodes BINARY sections once to learn their size, before the
// FETCH line is started (RFC 3516 needs the size up front, and an unknown
// encoding fails the command).
func (f *fetcher) prepare(attrs []imapwire.FetchAttr) error {
	for _, at := range attrs {
		if at.Name != imapwire.FetchBinary && at.Name != imapwire.FetchBinarySize {
			continue
		}
		info, err := f.binaryInfo(at.Section.Part)
		if err != nil {
			return err
		}
		if info.unknown {
			return no("UNKNOWN-CTE", "Unknown Content-Transfer-Encoding")
		}
		if f.binary == nil {
			f.binary = map[string]binaryInfo{}
		}
		f.binary[at.Section.String()] = info
	}
	return nil
}

func (f *fetcher) binaryInfo(nums []int) (binaryInfo, error) {
	part, ok := f.root.Section(nums)
	if !ok {
		return binaryInfo{missing: true}, nil
	}
	r, err := f.decoded(part, len(nums) == 0)
	if err != nil || r == nil {
		return binaryInfo{unknown: r == nil && err == nil}, err
	}
	var cw nulCounter
	_, err = io.Copy(&cw, r)
	return binaryInfo{size: cw.n, hasNUL: cw.nul}, err
}

type nulCounter struct {
	n   int64
	nul bool
}

func (c *nulCounter) Write(b []byte) (int, error) {
	c.n += int64(len(b))
	if !c.nul && bytes.IndexByte(b, 0) >= 0 {
		c.nul = true
	}
	return len(b), nil
}

// decoded returns a reader of part's body with its transfer encoding
// undone (the whole message for whole), or nil for an unknown encoding.
// Malformed encoded data ends the decoded stream early, the same way on
// every read, so sizes stay consistent.
func (f *fetcher) decoded(part *message.Part, whole bool) (io.Reader, error) {
	c, err := f.open()
	if err != nil {
		return nil, err
	}
	if whole {
		return io.NewSectionReader(c, 0, f.m.Size), nil
	}
	body := io.NewSectionReader(c, part.BodyStart, part.Size())
	if part.IsMultipart() && len(part.Parts) > 0 || part.Message != nil {
		return body, nil
	}
	if r, ok := message.DecodeTransfer(part.Encoding, body); ok {
		return r, nil
	}
	return nil, nil
}

// writeBinary writes BINARY[section]<partial> or BINARY.SIZE[section].
func (f *fetcher) writeBinary(at imapwire.FetchAttr) error {
	w := f.s.w
	info := f.binary[at.Section.String()]
	if at.Name == imapwire.FetchBinarySize {
		w.Raw("BINARY.SIZE[" + at.Section.String() + "] ")
		w.Number(uint64(info.size))
		return nil
	}
	w.Raw(sectionName(at, "BINARY") + " ")
	if info.missing {
		w.Raw("NIL")
		return nil
	}
	part, _ := f.root.Section(at.Section.Part)
	r, err := f.decoded(part, len(at.Section.Part) == 0)
	if err != nil {
		return err
	}
	s, e := clampPartial(0, info.size, at.Partial)
	if _, err := io.CopyN(io.Discard, r, s); err != nil {
		return err
	}
	return w.Literal(r, e-s, info.hasNUL)
}
