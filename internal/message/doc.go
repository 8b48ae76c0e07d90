// Package message parses Internet messages (RFC 5322) and their MIME
// structure (RFC 2045, RFC 2046) into a tree of parts that records byte
// offsets into the original message, so that IMAP can later serve any
// section, ENVELOPE or BODYSTRUCTURE from the tree and the stored bytes
// without parsing again.
//
// The parser reads the message once, sequentially, and never fails on
// malformed input: it returns a best-effort tree, bounded by the limits
// below. It also provides the header, RFC 2047 encoded-word, RFC 2231
// parameter and address-list parsers that other packages need, and a compact
// binary encoding of the tree (Part.Marshal, Unmarshal).
//
// Both CRLF and bare LF line endings are accepted everywhere; a bare CR is
// not a line ending. Offsets always refer to the bytes as given.
package message

// Limits that keep parsing linear on hostile input.
const (
	// MaxDepth is the deepest nesting of multiparts and embedded messages
	// that is parsed; the root is at depth 0. A multipart or message/rfc822
	// part at this depth is treated as an opaque leaf body.
	MaxDepth = 64

	// MaxParts is the largest number of parts in a tree, counting the root
	// and the roots of embedded messages. When it is reached the remaining
	// body of the enclosing multipart is kept as unparsed epilogue.
	MaxParts = 10000

	// MaxHeaderBytes is the largest header section parsed for one part.
	// What follows is treated as the start of the body; the cut falls
	// between two lines or, within a line longer than MaxLineBytes, between
	// two of its pieces.
	MaxHeaderBytes = 1 << 20

	// MaxLineBytes is the longest line examined as a unit. A longer line is
	// read in pieces; only its first piece can be a boundary delimiter or the
	// blank line ending a header.
	MaxLineBytes = 64 << 10

	// MaxParams is the largest number of parameters kept from one
	// Content-Type or Content-Disposition field.
	MaxParams = 128
)
