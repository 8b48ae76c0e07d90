package mailport

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/store"
)

// ErrNotMbox is returned by MboxReader.Next when the input does not start
// with a From_ line (blank lines before it are allowed).
var ErrNotMbox = errors.New("mailport: not an mbox file: the first line is not a From_ line")

// MboxMessage is one message split out of an mbox file.
type MboxMessage struct {
	// From is the From_ line without "From " and without its line ending.
	From string
	// Line is the 1-based line number of the From_ line in the file.
	Line int
	// Data is the message with mboxrd quoting undone (one ">" removed
	// from each line matching ^>+From ) and without the blank line that
	// separates it from the next one. It is nil when TooBig.
	Data []byte
	// Size is len(Data), or for a TooBig message the bytes it would have.
	Size int64
	// TooBig reports that the message exceeded the reader's limit; its
	// bytes were read and dropped.
	TooBig bool
}

// MboxReader splits an mbox file (mboxrd, and mboxo read as mboxrd) into
// messages, as RFC 4155 describes the format: a message starts with a
// line beginning "From " at the start of the file or after a blank line,
// and ends with the blank line before the next one. Lines may end in LF
// or CRLF, mixed. Memory is bounded by the size limit and the longest
// line.
type MboxReader struct {
	br       *bufio.Reader
	max      int64
	line     int
	pending  []byte // a From_ line read but not yet returned, nil if none
	started  bool
	consumed int64
}

// NewMboxReader returns a reader of r that drops (TooBig) messages larger
// than max bytes; max <= 0 means no limit.
func NewMboxReader(r io.Reader, max int64) *MboxReader {
	return &MboxReader{br: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Consumed returns the number of input bytes read so far.
func (r *MboxReader) Consumed() int64 { return r.consumed }

// readLine returns the next line with its line ending; nil at the end.
func (r *MboxReader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// A long line: gather it whole; only its start matters for
		// splitting, but it belongs to the message.
		long := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			line, err = r.br.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	if len(line) == 0 {
		return nil, nil
	}
	r.line++
	r.consumed += int64(len(line))
	return line, nil
}

func isFromLine(line []byte) bool { return bytes.HasPrefix(line, []byte("From ")) }

func isBlank(line []byte) bool {
	return len(line) == 1 && line[0] == '\n' || len(line) == 2 && line[0] == '\r' && line[1] == '\n'
}

// Next returns the next message, or io.EOF after the last one.
func (r *MboxReader) Next() (*MboxMessage, error) {
	if !r.started {
		r.started = true
		for {
			line, err := r.readLine()
			if err != nil {
				return nil, err
			}
			if line == nil {
				return nil, io.EOF // empty file or blank lines only: no messages
			}
			if isBlank(line) {
				continue
			}
			if !isFromLine(line) {
				return nil, ErrNotMbox
			}
			r.pending = append([]byte(nil), line...)
			break
		}
	}
	if r.pending == nil {
		return nil, io.EOF
	}
	m := &MboxMessage{From: string(trimEOL(r.pending[5:])), Line: r.line}
	r.pending = nil
	var data []byte
	var blank []byte // a blank line held back: it separates messages, or belongs to this one
	add := func(b []byte) {
		m.Size += int64(len(b))
		if m.TooBig {
			return
		}
		if r.max > 0 && m.Size > r.max {
			m.TooBig, data = true, nil
			return
		}
		data = append(data, b...)
	}
	for {
		line, err := r.readLine()
		if err != nil {
			return nil, err
		}
		if line == nil {
			break // the held blank line is the final separator
		}
		if blank != nil && isFromLine(line) {
			r.pending = append([]byte(nil), line...)
			break
		}
		if blank != nil {
			add(blank)
			blank = nil
		}
		if isBlank(line) {
			blank = append(blank[:0], line...)
			continue
		}
		add(unquoteFrom(line))
	}
	m.Data = data
	if m.TooBig {
		m.Data = nil
	}
	return m, nil
}

// unquoteFrom undoes mboxrd quoting: a line matching ^>+From loses one ">".
func unquoteFrom(line []byte) []byte {
	i := 0
	for i < len(line) && line[i] == '>' {
		i++
	}
	if i > 0 && bytes.HasPrefix(line[i:], []byte("From ")) {
		return line[1:]
	}
	return line
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// fromLineLayouts are the date formats seen after the sender in From_
// lines: asctime (RFC 4155), with a zone name or offset, with seconds
// missing.
var fromLineLayouts = []string{
	"Mon Jan _2 15:04:05 2006",
	"Mon Jan _2 15:04:05 -0700 2006",
	"Mon Jan _2 15:04:05 MST 2006",
	"Mon Jan _2 15:04:05 2006 -0700",
	"Mon Jan _2 15:04 2006",
	"Mon, _2 Jan 2006 15:04:05 -0700",
}

// ParseFromLine splits a From_ line (without "From ") into the sender
// and the date. The date is in UTC when the line has no zone, as RFC 4155
// recommends writing it; ok is false when no date could be read.
func ParseFromLine(s string) (sender string, date time.Time, ok bool) {
	s = strings.TrimSpace(s)
	sender, rest, _ := strings.Cut(s, " ")
	rest = strings.Join(strings.Fields(rest), " ") // collapse the day's padding
	for _, layout := range fromLineLayouts {
		l := strings.ReplaceAll(layout, "_2", "2")
		if t, err := time.Parse(l, rest); err == nil {
			return sender, t, true
		}
	}
	return sender, time.Time{}, false
}

// FormatFromLine returns a From_ line (with "From " and LF) for sender
// and date, the date written in asctime form in UTC (RFC 4155).
func FormatFromLine(sender string, date time.Time) string {
	sender = strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return -1
		}
		return r
	}, sender)
	if sender == "" {
		sender = "MAILER-DAEMON"
	}
	return "From " + sender + " " + date.UTC().Format("Mon Jan _2 15:04:05 2006") + "\n"
}

// mboxFields are the header fields mail readers keep their per-message
// state in inside mbox files (Status, X-Status, X-Keywords as written by
// mutt, Pine, Dovecot and this package; UW-IMAP's and Dovecot's X-UID,
// X-IMAP and X-IMAPbase). Import reads flags from the first three and
// removes all of them: they describe the old mailbox, not the message.
var mboxFields = []string{"Status", "X-Status", "X-Keywords", "X-UID", "X-IMAP", "X-IMAPbase"}

// mboxState is what the mbox state fields say about a message.
type mboxState struct {
	Flags    store.Flags
	Keywords []string
}

// stripMboxFields removes the mbox state fields from the top-level header
// of msg and returns the message and the state they carried.
func stripMboxFields(msg []byte) ([]byte, mboxState) {
	var st mboxState
	var out []byte
	changed := false
	i := 0
	for i < len(msg) {
		// One field: its first line and continuation lines.
		end := lineEnd(msg, i)
		if isBlank(msg[i:end]) {
			break
		}
		for end < len(msg) && (msg[end] == ' ' || msg[end] == '\t') {
			end = lineEnd(msg, end)
		}
		field := msg[i:end]
		name, value, ok := bytes.Cut(field, []byte(":"))
		if n := string(bytes.TrimRight(name, " \t")); ok && isMboxField(n) {
			st.add(n, string(bytes.TrimSpace(value)))
			if !changed {
				out, changed = append(out, msg[:i]...), true
			}
		} else if changed {
			out = append(out, field...)
		}
		i = end
	}
	if !changed {
		return msg, st
	}
	return append(out, msg[i:]...), st
}

// lineEnd returns the offset after the line starting at i.
func lineEnd(b []byte, i int) int {
	if j := bytes.IndexByte(b[i:], '\n'); j >= 0 {
		return i + j + 1
	}
	return len(b)
}

func isMboxField(name string) bool {
	for _, f := range mboxFields {
		if strings.EqualFold(name, f) {
			return true
		}
	}
	return false
}

// add applies one state field: Status R is \Seen (O, "old", has no IMAP
// equivalent); X-Status A \Answered, F \Flagged, D \Deleted, T \Draft;
// X-Keywords is a space- or comma-separated keyword list.
func (st *mboxState) add(name, value string) {
	switch strings.ToLower(name) {
	case "status":
		if strings.ContainsRune(value, 'R') {
			st.Flags |= store.FlagSeen
		}
	case "x-status":
		for _, c := range value {
			switch c {
			case 'A':
				st.Flags |= store.FlagAnswered
			case 'F':
				st.Flags |= store.FlagFlagged
			case 'D':
				st.Flags |= store.FlagDeleted
			case 'T':
				st.Flags |= store.FlagDraft
			}
		}
	case "x-keywords":
		for _, k := range strings.FieldsFunc(value, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\r' || r == '\n' }) {
			if validKeyword(k) {
				st.Keywords = append(st.Keywords, k)
			}
		}
	}
}

// mboxStatusFields returns the Status, X-Status and X-Keywords fields
// (each with eol) that describe flags and keywords; "" for none.
func mboxStatusFields(flags store.Flags, keywords []string, eol string) string {
	var b strings.Builder
	if flags&store.FlagSeen != 0 {
		b.WriteString("Status: RO" + eol)
	} else {
		b.WriteString("Status: O" + eol)
	}
	var x string
	for _, f := range []struct {
		flag store.Flags
		c    string
	}{{store.FlagAnswered, "A"}, {store.FlagFlagged, "F"}, {store.FlagDeleted, "D"}, {store.FlagDraft, "T"}} {
		if flags&f.flag != 0 {
			x += f.c
		}
	}
	if x != "" {
		b.WriteString("X-Status: " + x + eol)
	}
	if len(keywords) > 0 {
		b.WriteString("X-Keywords: " + strings.Join(keywords, " ") + eol)
	}
	return b.String()
}

// mboxQuoter writes a message body into an mbox with mboxrd quoting: a line
// matching ^>*From gets one more ">".
type mboxQuoter struct {
	w         *bufio.Writer
	lineStart bool
	last      byte
	wrote     bool // anything written
	// partial holds the start of a line while it might still turn out to
	// be ">*From ".
	partial []byte
}

func newMboxQuoter(w *bufio.Writer) *mboxQuoter { return &mboxQuoter{w: w, lineStart: true} }

func (q *mboxQuoter) Write(p []byte) (int, error) {
	n := len(p)
	q.wrote = q.wrote || n > 0
	for len(p) > 0 {
		if q.lineStart || len(q.partial) > 0 {
			// Collect the line start until it is decided.
			c := p[0]
			q.partial = append(q.partial, c)
			p = p[1:]
			q.lineStart = false
			if !q.decide() {
				continue
			}
			q.last = q.partial[len(q.partial)-1]
			if _, err := q.w.Write(q.partial); err != nil {
				return 0, err
			}
			if q.last == '\n' {
				q.lineStart = true
			}
			q.partial = q.partial[:0]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i+1]
		}
		if _, err := q.w.Write(chunk); err != nil {
			return 0, err
		}
		q.last = chunk[len(chunk)-1]
		p = p[len(chunk):]
		q.lineStart = i >= 0
	}
	return n, nil
}

// decide reports whether partial is long enough to know whether it needs
// quoting; if it does, it inserts the ">".
func (q *mboxQuoter) decide() bool {
	s := q.partial
	i := 0
	for i < len(s) && s[i] == '>' {
		i++
	}
	rest := s[i:]
	const from = "From "
	if len(rest) < len(from) && strings.HasPrefix(from, string(rest)) {
		return false // still a prefix of ">*From "
	}
	if string(rest[:min(len(rest), len(from))]) == from {
		q.partial = append([]byte{'>'}, q.partial...)
	}
	return true
}

// Close flushes a pending line start and ends the message with a line
// ending (eol) if it lacked one, plus the blank separator line.
func (q *mboxQuoter) Close(eol string) error {
	if len(q.partial) > 0 {
		if _, err := q.w.Write(q.partial); err != nil {
			return err
		}
		q.last = q.partial[len(q.partial)-1]
		q.partial = nil
	}
	if q.wrote && q.last != '\n' {
		if _, err := q.w.WriteString(eol); err != nil {
			return err
		}
	}
	_, err := q.w.WriteString(eol)
	return err
}

// validKeyword reports whether k can be an IMAP keyword (RFC 9051 §9,
// flag-keyword = atom): no control characters, spaces or atom-specials,
// and no leading "\".
func validKeyword(k string) bool {
	if k == "" || len(k) > 100 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}
