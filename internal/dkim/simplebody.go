package dkim

import "io"

// NewSimpleBody returns a writer that canonicalizes a body the "simple" way
// (RFC 6376 §3.4.3) into w: empty lines at the end are dropped and the body
// ends in exactly one CRLF; an empty body becomes a single CRLF. Lines end
// at LF; a CR before it is part of the line end, so bare-LF input
// canonicalizes like CRLF input. Close flushes it.
func NewSimpleBody(w io.Writer) io.WriteCloser { return &bodyCanon{w: w} }
