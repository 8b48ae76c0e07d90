package imapwire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
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

// SetLimits changes the limits from the next command on: a server reads
// the commands of a client not yet logged in with small limits (no message
// literal before authentication) and raises them after the login.
func (r *Reader) SetLimits(l Limits) { r.limits = l.withDefaults() }

// ReadLine reads one line (for AUTHENTICATE responses and IDLE's DONE),
// without its line ending. A longer line than MaxLine is an *Error
// (without a tag: the caller knows the command); it has been read.
func (r *Reader) ReadLine() ([]byte, error) {
	line, err := r.readLine()
	var ltl *lineTooLong
	if errors.As(err, &ltl) {
		return nil, &Error{Code: "TOOBIG", Text: "Line too long"}
	} else if err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(line, []byte{'\r'}), nil
}

// lineTooLong is readLine's error for a line over MaxLine: head is the
// line's beginning (where the tag is), tail its end (where a literal is
// announced).
type lineTooLong struct{ head, tail []byte }

func (*lineTooLong) Error() string { return "line too long" }

// keepTail appends frag to tail and keeps the last tailLen bytes.
func keepTail(tail, frag []byte) []byte {
	tail = append(tail, frag[max(0, len(frag)-tailLen):]...)
	if len(tail) > tailLen {
		tail = append(tail[:0], tail[len(tail)-tailLen:]...)
	}
	return tail
}

// tailLen is how much of the end of an over-long line is kept to find a
// literal announced there ("~{" + 19 digits + "+}" + CR LF).
const tailLen = 32

// headLen is how much of an over-long line is kept to find its tag.
const headLen = 128

// readLine reads up to and excluding LF, enforcing MaxLine; on overflow it
// discards the rest of the line and returns a *lineTooLong.
func (r *Reader) readLine() ([]byte, error) {
	var buf []byte
	for {
		frag, err := r.br.ReadSlice('\n')
		if len(buf)+len(frag) > r.limits.MaxLine+2 {
			head := append(buf, frag...)
			head = bytes.Clone(head[:min(len(head), headLen)])
			// Keep the line's last bytes, which may span fragments.
			tail := keepTail(nil, frag)
			for errors.Is(err, bufio.ErrBufferFull) {
				frag, err = r.br.ReadSlice('\n')
				tail = keepTail(tail, frag)
			}
			if err != nil {
				return nil, err
			}
			return nil, &lineTooLong{head: head, tail: bytes.TrimSuffix(tail, []byte{'\n'})}
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
	var ltl *lineTooLong
	if errors.As(err, &ltl) {
		return nil, tooLong(tagOf(ltl.head), ltl.tail)
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
			// RFC 7888 §4: a non-synchronizing literal the server will not
			// accept is already on its way; rather than read and discard
			// it, the connection is closed after the response.
			return nil, &Error{Tag: cmd.Tag, Code: "TOOBIG", Text: fmt.Sprintf("Literal too big (limit %d bytes)", max),
				NO: isAppend && sync, Fatal: !sync}
		}
		if sync {
			if err := cont(); err != nil {
				return nil, err
			}
		}
		args = append(args, '\r', '\n')
		if args, err = readLiteral(r.br, args, n); err != nil {
			return nil, err
		}
		if isAppend {
			appendTotal += n
		} else {
			total += n
		}
		line, err := r.readLine()
		if errors.As(err, &ltl) {
			return nil, tooLong(cmd.Tag, ltl.tail)
		} else if err != nil {
			return nil, err
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		total += int64(len(line))
		if total > r.limits.MaxCommand {
			return nil, &Error{Tag: cmd.Tag, Code: "TOOBIG", Text: "Command too long", Fatal: streamLost(cmd.Tag, line)}
		}
		args = append(args, line...)
	}
	cmd.Args = args
	return cmd, nil
}

// literalChunk is how much of a literal is read at a time: the buffer
// grows with the bytes that arrived, not with the size the client
// announced.
const literalChunk = 256 << 10

// readLiteral appends the n bytes of a literal to buf.
func readLiteral(br *bufio.Reader, buf []byte, n int64) ([]byte, error) {
	for n > 0 {
		k := int(min(n, literalChunk))
		buf = slices.Grow(buf, k)
		start := len(buf)
		buf = buf[:start+k]
		if _, err := io.ReadFull(br, buf[start:]); err != nil {
			return nil, err
		}
		n -= int64(k)
	}
	return buf, nil
}

// tooLong reports an over-long line; tail is its end. If the line announced
// a non-synchronizing literal, the client sends it regardless: the stream
// is lost and the connection must close. A client that announced a
// synchronizing literal gets the tagged response instead of "+" and sends
// nothing more for this command.
func tooLong(tag string, tail []byte) *Error {
	return &Error{Tag: tag, Code: "TOOBIG", Text: "Line too long", Fatal: tag == "" || streamLost(tag, bytes.TrimSuffix(tail, []byte{'\r'}))}
}

// tagOf is the tag at the start of head, or "" if there is no valid one.
func tagOf(head []byte) string {
	i := bytes.IndexByte(head, ' ')
	if i <= 0 || !validTag(string(head[:i])) {
		return ""
	}
	return string(head[:i])
}

// streamLost reports whether refusing a command whose line ends as line
// leaves the connection out of step: the client sends a non-synchronizing
// literal regardless, and waits for "+" forever after a synchronizing one
// if the refusal cannot carry its tag.
func streamLost(tag string, line []byte) bool {
	_, sync, ok := trailingLiteral(line)
	return ok && (!sync || tag == "")
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
		return nil, nil, &Error{Text: "Missing tag or command", Fatal: streamLost("", line)}
	}
	tag := string(line[:i])
	if !validTag(tag) {
		return nil, nil, &Error{Text: "Invalid tag", Fatal: streamLost("", line)}
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
		return nil, nil, &Error{Tag: tag, Text: "Invalid command name", Fatal: streamLost(tag, line)}
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
