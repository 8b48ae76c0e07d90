package imapwire

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Parser reads command arguments (Command.Args). Its methods record the
// first syntax error and then do nothing; check Err (or End) once at the end.
type Parser struct {
	b   []byte
	i   int
	err error
	// UTF8 accepts UTF-8 in quoted strings and mailbox names
	// (IMAP4rev2 or UTF8=ACCEPT enabled); otherwise mailbox names are
	// modified UTF-7 (RFC 3501 §5.1.3).
	UTF8 bool
}

// SyntaxError is a malformed argument.
type SyntaxError struct {
	Off int
	Msg string
}

func (e *SyntaxError) Error() string { return e.Msg }

// NewParser returns a parser over args.
func NewParser(args []byte, utf8 bool) *Parser { return &Parser{b: args, UTF8: utf8} }

// Err returns the first error.
func (p *Parser) Err() error { return p.err }

// Fail records an error (if none is recorded yet).
func (p *Parser) Fail(format string, args ...any) {
	if p.err == nil {
		msg := format
		if len(args) > 0 {
			msg = sprintf(format, args...)
		}
		p.err = &SyntaxError{Off: p.i, Msg: msg}
	}
}

// End checks that all input was consumed and returns the first error.
func (p *Parser) End() error {
	if p.err == nil && p.i < len(p.b) {
		p.Fail("Unexpected characters at end of command")
	}
	return p.err
}

// AtEnd reports whether all input was consumed.
func (p *Parser) AtEnd() bool { return p.err != nil || p.i >= len(p.b) }

// Peek returns the next byte, or 0 at the end.
func (p *Parser) Peek() byte {
	if p.err != nil || p.i >= len(p.b) {
		return 0
	}
	return p.b[p.i]
}

// Accept consumes c if it is next.
func (p *Parser) Accept(c byte) bool {
	if p.Peek() == c && p.err == nil && p.i < len(p.b) {
		p.i++
		return true
	}
	return false
}

// Expect consumes c or fails.
func (p *Parser) Expect(c byte) {
	if !p.Accept(c) {
		p.Fail("Expected %q", string(c))
	}
}

// SP consumes one space.
func (p *Parser) SP() { p.Expect(' ') }

// Atom reads an atom (RFC 9051 §9 atom).
func (p *Parser) Atom() string {
	if p.err != nil {
		return ""
	}
	start := p.i
	for p.i < len(p.b) && isAtomChar(p.b[p.i]) {
		p.i++
	}
	if p.i == start {
		p.Fail("Expected atom")
		return ""
	}
	return string(p.b[start:p.i])
}

// Keyword reads an atom and upper-cases it (for command keywords).
func (p *Parser) Keyword() string { return strings.ToUpper(p.Atom()) }

// AcceptKeyword consumes kw (case-insensitively) if the next atom is kw.
func (p *Parser) AcceptKeyword(kw string) bool {
	if p.err != nil || len(p.b)-p.i < len(kw) || !strings.EqualFold(string(p.b[p.i:p.i+len(kw)]), kw) {
		return false
	}
	if e := p.i + len(kw); e < len(p.b) && isAtomChar(p.b[e]) {
		return false
	}
	p.i += len(kw)
	return true
}

// Number reads a number (uint32).
func (p *Parser) Number() uint32 {
	n := p.number64()
	if n > 1<<32-1 {
		p.Fail("Number too big")
	}
	return uint32(n)
}

// NZNumber reads a non-zero number.
func (p *Parser) NZNumber() uint32 {
	n := p.Number()
	if n == 0 {
		p.Fail("Expected a non-zero number")
	}
	return n
}

// Number64 reads a 63-bit number (mod-sequence values).
func (p *Parser) Number64() uint64 {
	n := p.number64()
	if n > 1<<63-1 {
		p.Fail("Number too big")
	}
	return n
}

func (p *Parser) number64() uint64 {
	if p.err != nil {
		return 0
	}
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	if p.i == start {
		p.Fail("Expected number")
		return 0
	}
	n, err := strconv.ParseUint(string(p.b[start:p.i]), 10, 64)
	if err != nil {
		p.Fail("Number too big")
	}
	return n
}

// String reads a quoted string or a literal.
func (p *Parser) String() string {
	b, ok := p.stringBytes()
	if !ok {
		p.Fail("Expected string")
	}
	return string(b)
}

// stringBytes reads a quoted string or literal; ok is false (without
// recording an error) if neither is next.
func (p *Parser) stringBytes() ([]byte, bool) {
	switch p.Peek() {
	case '"':
		return p.quoted(), true
	case '{':
		return p.literal(false), true
	case '~':
		// "~{" starts a literal8 (RFC 3516 §4.2); any other "~" is an
		// ATOM-CHAR, as in the pattern of LIST "" ~foo.
		if p.i+1 < len(p.b) && p.b[p.i+1] == '{' {
			p.Fail("Literal8 not allowed here")
			return nil, true
		}
	}
	return nil, false
}

func (p *Parser) quoted() []byte {
	p.i++ // '"'
	var out []byte
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			if !p.UTF8 || utf8.Valid(out) {
				return out
			}
			p.Fail("Invalid UTF-8 in quoted string")
			return nil
		case c == '\\':
			if p.i+1 < len(p.b) && (p.b[p.i+1] == '"' || p.b[p.i+1] == '\\') {
				out = append(out, p.b[p.i+1])
				p.i += 2
				continue
			}
			p.Fail("Invalid escape in quoted string")
			return nil
		case c == '\r' || c == '\n' || c == 0:
			p.Fail("Invalid character in quoted string")
			return nil
		case c >= 0x80 && !p.UTF8:
			p.Fail("8-bit character in quoted string")
			return nil
		}
		out = append(out, c)
		p.i++
	}
	p.Fail("Unterminated quoted string")
	return nil
}

// literal reads {n}CRLF<n bytes> (or {n+}); with binary, also ~{n}.
func (p *Parser) literal(binary bool) []byte {
	if binary {
		p.Accept('~')
	}
	p.Expect('{')
	n := p.Number64()
	p.Accept('+')
	p.Expect('}')
	p.Expect('\r')
	p.Expect('\n')
	if p.err != nil {
		return nil
	}
	if uint64(len(p.b)-p.i) < n {
		p.Fail("Literal shorter than announced")
		return nil
	}
	b := p.b[p.i : p.i+int(n)]
	p.i += int(n)
	if !binary {
		for _, c := range b {
			if c == 0 {
				p.Fail("NUL in literal")
				return nil
			}
		}
	}
	return b
}

// Literal8 reads a literal or a literal8 (~{n}) and returns its bytes
// (aliasing the arguments).
func (p *Parser) Literal8() []byte {
	if c := p.Peek(); c != '{' && c != '~' {
		p.Fail("Expected literal")
		return nil
	}
	return p.literal(true)
}

// AString reads an astring: 1*ASTRING-CHAR or a string.
func (p *Parser) AString() string {
	if b, ok := p.stringBytes(); ok {
		return string(b)
	}
	if p.err != nil {
		return ""
	}
	start := p.i
	for p.i < len(p.b) && isAStringChar(p.b[p.i]) {
		p.i++
	}
	if p.i == start {
		p.Fail("Expected astring")
	}
	return string(p.b[start:p.i])
}

// NString reads a string or NIL; ok is false for NIL.
func (p *Parser) NString() (s string, ok bool) {
	if p.AcceptKeyword("NIL") {
		return "", false
	}
	return p.String(), true
}

// Mailbox reads a mailbox name, decoding modified UTF-7 unless UTF8, and
// canonicalizing INBOX (case-insensitive) to "INBOX".
func (p *Parser) Mailbox() string {
	s := p.AString()
	if p.err != nil {
		return ""
	}
	return p.decodeMailbox(s)
}

func (p *Parser) decodeMailbox(s string) string {
	if p.UTF8 {
		if !utf8.ValidString(s) {
			p.Fail("Mailbox name is not UTF-8")
			return ""
		}
	} else {
		d, err := DecodeUTF7(s)
		if err != nil {
			p.Fail("Mailbox name is not valid modified UTF-7")
			return ""
		}
		s = d
	}
	if hasControl(s) {
		p.Fail("Mailbox name contains a control character")
		return ""
	}
	return CanonicalInbox(s)
}

// CanonicalInbox spells INBOX in upper case where it begins name: INBOX is
// case-insensitive (RFC 9051 §5.1), also as a parent ("inbox/x" is
// "INBOX/x") and in list patterns.
func CanonicalInbox(name string) string {
	if len(name) >= 5 && strings.EqualFold(name[:5], "INBOX") && (len(name) == 5 || name[5] == '/') {
		return "INBOX" + name[5:]
	}
	return name
}

// hasControl reports whether s has a control character (C0, DEL, C1):
// none may appear in a mailbox name, whatever its encoding.
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r >= 0x7f && r < 0xa0 {
			return true
		}
	}
	return false
}

// ListMailbox reads a list-mailbox pattern (which also allows % and *).
func (p *Parser) ListMailbox() string {
	var s string
	if b, ok := p.stringBytes(); ok {
		s = string(b)
	} else {
		start := p.i
		for p.i < len(p.b) && (isAStringChar(p.b[p.i]) || p.b[p.i] == '%' || p.b[p.i] == '*') {
			p.i++
		}
		if p.i == start {
			p.Fail("Expected mailbox pattern")
		}
		s = string(p.b[start:p.i])
	}
	if p.err != nil {
		return ""
	}
	if !p.UTF8 {
		d, err := DecodeUTF7(s)
		if err != nil {
			p.Fail("Mailbox pattern is not valid modified UTF-7")
			return ""
		}
		s = d
	} else if !utf8.ValidString(s) {
		p.Fail("Mailbox pattern is not UTF-8")
		return ""
	}
	if hasControl(s) {
		p.Fail("Mailbox pattern contains a control character")
		return ""
	}
	return s
}

// List parses "(" [item *(SP item)] ")", calling item for each element.
func (p *Parser) List(item func()) {
	p.Expect('(')
	if p.Accept(')') {
		return
	}
	for p.err == nil {
		item()
		if p.Accept(')') {
			return
		}
		p.SP()
	}
}

// Flag reads a flag: "\" atom or an atom (keyword). \* is accepted when
// star is true (PERMANENTFLAGS only, never from clients).
func (p *Parser) Flag() string {
	if p.Accept('\\') {
		a := p.Atom()
		return `\` + a
	}
	return p.Atom()
}

// Flags reads a parenthesised flag list.
func (p *Parser) Flags() []string {
	var fs []string
	p.List(func() { fs = append(fs, p.Flag()) })
	return fs
}

// DateTime reads a quoted date-time (RFC 9051 §9), e.g.
// "17-Jul-1996 02:44:25 -0700".
func (p *Parser) DateTime() string {
	if p.Peek() != '"' {
		p.Fail("Expected date-time")
		return ""
	}
	return string(p.quoted())
}
