package imapwire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits bound what a client may send in one command.
type Limits struct {
	// MaxLine is the longest line (without CRLF). RFC 9051 §4 asks servers
	// to accept at least 8,000 octets. Default 64 KiB.
	MaxLine int
	// MaxCommand bounds a whole command, lines and literals, except the
	// message literals of APPEND. Default 1 MiB.
	MaxCommand int64
	// MaxAppend bounds each message literal of APPEND (APPENDLIMIT,
	// RFC 7889). Default 64 MiB.
	MaxAppend int64
	// MaxAppendTotal bounds all the literals of one (MULTI)APPEND command.
	// Default 2×MaxAppend.
	MaxAppendTotal int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxLine <= 0 {
		l.MaxLine = 64 << 10
	}
	if l.MaxCommand <= 0 {
		l.MaxCommand = 1 << 20
	}
	if l.MaxAppend <= 0 {
		l.MaxAppend = 64 << 20
	}
	if l.MaxAppendTotal <= 0 {
		l.MaxAppendTotal = 2 * l.MaxAppend
	}
	return l
}

// Command is one framed command. Args holds everything after the command
// name (and the space after it), literals included as {n}CRLF followed by
// their bytes, without the final CRLF.
type Command struct {
	Tag  string
	Name string // upper case; "UID FETCH" etc. for UID commands
	Args []byte
}

// Error is a command the server must refuse. Tag is "" when the tag was
// unreadable (the response is then untagged). Fatal means the connection
// can no longer be kept in sync and must be closed after the response.
type Error struct {
	Tag   string
	Code  string // response code, e.g. "TOOBIG"; "" for none
	Text  string
	NO    bool // respond NO rather than BAD
	Fatal bool
}

func (e *Error) Error() string { return "imapwire: " + e.Text }

// Reader frames commands off a connection.
type Reader struct {
	br     *bufio.Reader
	limits Limits
}

// NewReader returns a Reader on br.
func NewReader(br *bufio.Reader, l Limits) *Reader {
	return &Reader{br: br, limits: l.withDefaults()}
}

// Limits returns the effective limits.
func (r *Reader) Limits() Limits { return r.limits }

// ReadLine reads one line (for AUTHENTICATE responses and IDLE's DONE),
// without its line ending. A longer line than MaxLine is an *Error.
func (r *Reader) ReadLine() ([]byte, error) {
	line, err := r.readLine()
	if err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(line, []byte{'\r'}), nil
}

var errLineTooLong = errors.New("line too long")

// readLine reads up to and excluding LF, enforcing MaxLine; on overflow it
// discards the rest of the line and returns the tail it saw in the error path.
func (r *Reader) readLine() ([]byte, error) {
	var buf []byte
	for {
		frag, err := r.br.ReadSlice('\n')
		if len(buf)+len(frag) > r.limits.MaxLine+2 {
			tail := frag
			for errors.Is(err, bufio.ErrBufferFull) {
				tail, err = r.br.ReadSlice('\n')
			}
			if err != nil {
				return nil, err
			}
			return tail, errLineTooLong
		}
		buf = append(buf, frag...)
		if err == nil {
			return buf[:len(buf)-1], nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// ReadCommand reads one command. cont is called before reading each
// synchronizing literal and must send the "+" continuation request. The
// returned error is an *Error for a command the client must be told about,
// or the I/O error that ends the connection.
func (r *Reader) ReadCommand(cont func() error) (*Command, error) {
	line, err := r.readLine()
	if errors.Is(err, errLineTooLong) {
		return nil, tooLong("", line)
	} else if err != nil {
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte{'\r'})
	cmd, rest, e := splitCommand(line)
	if e != nil {
		return nil, e
	}
	isAppend := cmd.Name == "APPEND"
	total := int64(len(line))
	var appendTotal int64
	args := append([]byte(nil), rest...)
	for {
		n, sync, ok := trailingLiteral(args)
		if !ok {
			break
		}
		max := r.limits.MaxCommand - total
		if isAppend {
			max = min(r.limits.MaxAppend, r.limits.MaxAppendTotal-appendTotal)
		}
		if n > max || n < 0 {
			if !sync {
				return nil, &Error{Tag: cmd.Tag, Code: "TOOBIG", Text: "Literal too big", Fatal: true}
			}
			return nil, &Error{Tag: cmd.Tag, Code: "TOOBIG", Text: fmt.Sprintf("Literal too big (limit %d bytes)", max), NO: isAppend}
		}
		if sync {
			if err := cont(); err != nil {
				return nil, err
			}
		}
		args = append(args, '\r', '\n')
		start := len(args)
		args = append(args, make([]byte, n)...)
		if _, err := io.ReadFull(r.br, args[start:]); err != nil {
			return nil, err
		}
		if isAppend {
			appendTotal += n
		} else {
			total += n
		}
		line, err := r.readLine()
		if errors.Is(err, errLineTooLong) {
			return nil, tooLong(cmd.Tag, line)
		} else if err != nil {
			return nil, err
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		total += int64(len(line))
		if total > r.limits.MaxCommand {
			return nil, &Error{Tag: cmd.Tag, Code: "TOOBIG", Text: "Command too long", Fatal: literalAtEnd(line)}
		}
		args = append(args, line...)
	}
	cmd.Args = args
	return cmd, nil
}

// tooLong reports an over-long line; tail is its end. If the line announced
// a literal the client will send it regardless (non-synchronizing) or wait
// forever (synchronizing): either way the stream is lost.
func tooLong(tag string, tail []byte) *Error {
	return &Error{Tag: tag, Code: "TOOBIG", Text: "Line too long", Fatal: literalAtEnd(bytes.TrimSuffix(tail, []byte{'\r'}))}
}

func literalAtEnd(line []byte) bool {
	_, _, ok := trailingLiteral(line)
	return ok
}

// trailingLiteral reports whether line ends with a literal marker {n},
// {n+} or ~{n} and returns n and whether it is synchronizing.
func trailingLiteral(line []byte) (n int64, sync, ok bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false, false
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false, false
	}
	digits := line[i+1 : len(line)-1]
	sync = true
	if len(digits) > 0 && digits[len(digits)-1] == '+' {
		digits, sync = digits[:len(digits)-1], false
	}
	if len(digits) == 0 || !allDigits(digits) {
		return 0, false, false
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		return -1, sync, true
	}
	return n, sync, true
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// splitCommand splits "tag SP name [SP args]" (and "tag UID name ...").
func splitCommand(line []byte) (*Command, []byte, *Error) {
	i := bytes.IndexByte(line, ' ')
	if i <= 0 {
		return nil, nil, &Error{Text: "Missing tag or command"}
	}
	tag := string(line[:i])
	if !validTag(tag) {
		return nil, nil, &Error{Text: "Invalid tag", Fatal: literalAtEnd(line)}
	}
	cmd := &Command{Tag: tag}
	rest := line[i+1:]
	name, rest := nextWord(rest)
	cmd.Name = strings.ToUpper(string(name))
	if cmd.Name == "UID" {
		sub, r2 := nextWord(rest)
		cmd.Name += " " + strings.ToUpper(string(sub))
		rest = r2
	}
	if cmd.Name == "" || !isAtom(cmd.Name) && !strings.HasPrefix(cmd.Name, "UID ") {
		return nil, nil, &Error{Tag: tag, Text: "Invalid command name", Fatal: literalAtEnd(line)}
	}
	return cmd, rest, nil
}

func nextWord(b []byte) (word, rest []byte) {
	if i := bytes.IndexByte(b, ' '); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// validTag: tag = 1*<any ASTRING-CHAR except "+"> (RFC 9051 §9).
func validTag(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '+' || !isAStringChar(c) {
			return false
		}
	}
	return true
}

func isAtom(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAtomChar(s[i]) {
			return false
		}
	}
	return s != ""
}

// isAtomChar: ATOM-CHAR = any CHAR except atom-specials (RFC 9051 §9).
func isAtomChar(c byte) bool {
	if c <= 0x1f || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return true
}

// isAStringChar: ASTRING-CHAR = ATOM-CHAR / resp-specials ("]").
func isAStringChar(c byte) bool { return isAtomChar(c) || c == ']' }
