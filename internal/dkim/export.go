package dkim

// Exported building blocks for other signature schemes built on DKIM's
// header and body canonicalization and tag lists: ARC (RFC 8617 §4.1.2,
// §5.1.1) signs with exactly these algorithms. They wrap the code Sign and
// Verify use, so the schemes cannot drift apart.

import (
	"bufio"
	"io"
	"strings"
)

// Field is one header field with its continuation lines, exactly as read
// (line ends included); Name is as written, without surrounding whitespace.
type Field struct {
	Name string
	Raw  string
}

// Header is a message's header section as read by ReadHeader.
type Header struct {
	// Raw is every octet read, including the empty separator line.
	Raw    []byte
	Fields []Field
	// Separated tells whether an empty line ended the header section.
	Separated bool
}

// ReadHeader reads the header section from br (at most MaxHeaderBytes),
// leaving br at the start of the body. Fields are split the way Verify and
// Sign split them: a line starting with SP or HTAB continues the previous
// field.
func ReadHeader(br *bufio.Reader) (*Header, error) { return readHeader(br) }

// Count returns how many fields are named name (ASCII case-insensitively).
func (h *Header) Count(name string) int { return h.count(name) }

// RelaxedHeader returns the "relaxed" canonical form of one raw header
// field, ending in CRLF (RFC 6376 §3.4.2).
func RelaxedHeader(raw string) string { return relaxedHeader(raw) }

// SimpleHeader returns the "simple" canonical form of one raw header field
// (RFC 6376 §3.4.1): the field unchanged, except that bare LF line ends are
// read as CRLF, as everywhere in this package; it ends in CRLF.
func SimpleHeader(raw string) string {
	var b strings.Builder
	b.Grow(len(raw) + 2)
	for line := range strings.SplitAfterSeq(raw, "\n") {
		if line == "" {
			continue
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	return b.String()
}

// NewRelaxedBody returns a writer that canonicalizes a body the "relaxed"
// way (RFC 6376 §3.4.4) into w; Close flushes it.
func NewRelaxedBody(w io.Writer) io.WriteCloser { return &bodyCanon{w: w, relaxed: true} }

// SignedNames returns the h= list Sign would use for h: each of
// SignedHeaders as often as it occurs, From and Subject once more
// (RFC 6376 §8.15), in lower case.
func SignedNames(h *Header) []string { return signedNames(h) }

// Tag is one tag-spec of a tag list.
type Tag struct {
	Name, Value string
}

// TagList is a parsed tag list in the order written.
type TagList []Tag

// Get returns the value of tag name (case-sensitive) and whether it is
// present.
func (l TagList) Get(name string) (string, bool) {
	for _, t := range l {
		if t.Name == name {
			return t.Value, true
		}
	}
	return "", false
}

// ParseTags parses a tag list (RFC 6376 §3.2) the way Verify does:
// values keep their inner whitespace, duplicates are an error
// (ErrDuplicateTag), syntax errors wrap ErrTagSyntax.
func ParseTags(s string) (TagList, error) {
	l, err := parseTags(s)
	if err != nil {
		return nil, err
	}
	out := make(TagList, len(l))
	for i, t := range l {
		out[i] = Tag(t)
	}
	return out, nil
}

// StripWSP removes all folding whitespace from a value such as b=, bh= or p=.
func StripWSP(s string) string { return stripWSP(s) }

// SplitColon splits a colon-separated list such as h= and strips each item.
func SplitColon(s string) []string { return splitColon(s) }

// WriteFolded writes prefix and items joined by sep, folding lines near 76
// columns with CRLF HTAB between items, as Sign does for h= and b=.
func WriteFolded(b *strings.Builder, prefix string, items []string, sep string) {
	writeFolded(b, prefix, items, sep)
}

// Chunks splits s into pieces of at most n octets (for folding b= values).
func Chunks(s string, n int) []string { return chunks(s, n) }
