package mailport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/message"
	"github.com/posthorn/posthorn/internal/store"
)

// Defaults of Importer.
const (
	DefaultMaxMessageSize = 64 << 20
	DefaultBatchSize      = 100
	DefaultBatchBytes     = 32 << 20
)

// Importer imports Maildir and mbox files into one account.
type Importer struct {
	Store     store.Store
	AccountID int64
	// MaxMessageSize skips larger messages (after line endings are made
	// CRLF); 0: DefaultMaxMessageSize.
	MaxMessageSize int64
	// BatchSize and BatchBytes bound the messages stored in one
	// transaction; 0: the defaults.
	BatchSize  int
	BatchBytes int64
	// Progress, if set, is called after each message read; it must be
	// quick (the caller should rate-limit its own output).
	Progress func(Progress)
	// Problem, if set, is called for each file or message skipped.
	Problem func(Problem)
}

// Progress is how far an import or export is.
type Progress struct {
	Messages      int   // messages handled (stored, duplicates and skipped)
	TotalMessages int   // -1 when not known in advance (mbox)
	Bytes         int64 // input bytes handled
	TotalBytes    int64
}

// Result sums up an import or export.
type Result struct {
	Mailboxes  int   // mailboxes imported into or exported
	Messages   int   // messages stored or written
	Duplicates int   // messages not imported because the mailbox has them
	Skipped    int   // malformed, oversized or unreadable files and messages
	Bytes      int64 // bytes of the messages stored or written
}

// Problem is a file or message that was skipped, and why.
type Problem struct {
	Path string
	Line int // of the From_ line in an mbox file; 0 otherwise
	Err  error
}

func (p Problem) Error() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", p.Path, p.Line, p.Err)
	}
	return fmt.Sprintf("%s: %v", p.Path, p.Err)
}

func (im *Importer) maxSize() int64 {
	if im.MaxMessageSize > 0 {
		return im.MaxMessageSize
	}
	return DefaultMaxMessageSize
}

// run is the state of one import.
type run struct {
	im       *Importer
	ctx      context.Context
	res      Result
	progress Progress
	seen     map[string]map[string]bool // dedup keys by mailbox name
	batch    []pendingMsg
	bytes    int64
}

type pendingMsg struct {
	source string // path (and line) for problems
	d      store.Delivery
	size   int64
}

func (im *Importer) newRun(ctx context.Context, totalMsgs int, totalBytes int64) *run {
	return &run{im: im, ctx: ctx, seen: map[string]map[string]bool{},
		progress: Progress{TotalMessages: totalMsgs, TotalBytes: totalBytes}}
}

func (r *run) problem(p Problem) {
	r.res.Skipped++
	r.report(p)
}

func (r *run) report(p Problem) {
	if r.im.Problem != nil {
		r.im.Problem(p)
	}
}

func (r *run) step(bytes int64) {
	r.progress.Messages++
	r.progress.Bytes += bytes
	if r.im.Progress != nil {
		r.im.Progress(r.progress)
	}
}

// mailbox makes sure the mailbox exists (subscribed, as delivery would
// create it) and loads the keys of the messages it holds.
func (r *run) mailbox(name string) error {
	if _, ok := r.seen[name]; ok {
		return nil
	}
	st, acc := r.im.Store, r.im.AccountID
	mb, err := st.MailboxByName(r.ctx, acc, name)
	if errors.Is(err, store.ErrNotFound) {
		if mb, err = st.CreateMailbox(r.ctx, acc, name, ""); err == nil {
			err = st.SetSubscribed(r.ctx, acc, name, true)
		}
	}
	if err != nil {
		return fmt.Errorf("mailbox %q: %w", name, err)
	}
	keys := map[string]bool{}
	idx, err := st.MessageIndex(r.ctx, acc, mb.ID)
	if err != nil {
		return err
	}
	for i := 0; i < len(idx); i += 1000 {
		j := min(i+1000, len(idx))
		msgs, err := st.Messages(r.ctx, acc, mb.ID, idx[i].UID, idx[j-1].UID)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			p, err := message.Unmarshal(m.Structure)
			if err != nil {
				continue
			}
			keys[dedupKey(p, m.Size, m.InternalDate)] = true
		}
	}
	r.seen[name] = keys
	r.res.Mailboxes++
	return nil
}

// dedupKey identifies a message for "already imported": its Message-ID
// and size, or without a Message-ID its INTERNALDATE and size.
func dedupKey(root *message.Part, size int64, date time.Time) string {
	id := ""
	if root.Envelope != nil {
		id = strings.TrimSpace(root.Envelope.MessageID)
	}
	if id == "" {
		return "date " + strconv.FormatInt(date.Unix(), 10) + " " + strconv.FormatInt(size, 10)
	}
	return "id " + id + " " + strconv.FormatInt(size, 10)
}

// add parses one message and queues it for the mailbox, unless it is too
// large or a duplicate. data must already have CRLF line endings.
func (r *run) add(source, mailbox string, data []byte, date time.Time, flags store.Flags, keywords []string) error {
	size := int64(len(data))
	if size > r.im.maxSize() {
		r.problem(Problem{Path: source, Err: fmt.Errorf("message of %d bytes exceeds the limit of %d", size, r.im.maxSize())})
		return nil
	}
	root, err := message.Parse(bytes.NewReader(data), size)
	if err != nil {
		r.problem(Problem{Path: source, Err: err})
		return nil
	}
	if date.IsZero() && root.Envelope != nil {
		if t, err := mail.ParseDate(root.Envelope.Date); err == nil {
			date = t
		}
	}
	if date.IsZero() {
		date = time.Now()
	}
	date = date.Truncate(time.Second)
	key := dedupKey(root, size, date)
	if r.seen[mailbox][key] {
		r.res.Duplicates++
		return nil
	}
	r.seen[mailbox][key] = true
	slices.Sort(keywords)
	keywords = slices.Compact(keywords)
	r.batch = append(r.batch, pendingMsg{source: source, size: size, d: store.Delivery{
		Body:         bytes.NewReader(data),
		InternalDate: date,
		Targets: []store.Target{{
			AccountID: r.im.AccountID, Mailbox: mailbox, Flags: flags, Keywords: keywords,
			Structure: root.Marshal(),
		}},
	}})
	r.bytes += size
	if len(r.batch) >= cmp0(r.im.BatchSize, DefaultBatchSize) || r.bytes >= cmp0(r.im.BatchBytes, DefaultBatchBytes) {
		return r.flush()
	}
	return nil
}

func cmp0[T int | int64](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// flush stores the queued messages in one transaction. If that fails for
// a reason other than quota or shutdown, each message is tried alone so
// that one bad message is skipped, not the batch.
func (r *run) flush() error {
	if len(r.batch) == 0 {
		return nil
	}
	batch := r.batch
	r.batch, r.bytes = nil, 0
	ds := make([]store.Delivery, len(batch))
	for i, p := range batch {
		ds[i] = p.d
	}
	_, err := r.im.Store.DeliverAll(r.ctx, ds)
	if err == nil {
		for _, p := range batch {
			r.res.Messages++
			r.res.Bytes += p.size
		}
		return nil
	}
	if fatal(r.ctx, err) {
		return err
	}
	for _, p := range batch {
		p.d.Body.(*bytes.Reader).Seek(0, io.SeekStart)
		if _, err := r.im.Store.Deliver(r.ctx, p.d); err != nil {
			if fatal(r.ctx, err) {
				return err
			}
			r.problem(Problem{Path: p.source, Err: err})
			continue
		}
		r.res.Messages++
		r.res.Bytes += p.size
	}
	return nil
}

// fatal reports errors that end the whole import.
func fatal(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, store.ErrOverQuota) || errors.Is(err, store.ErrClosed)
}

// ImportMaildir imports the Maildir at path: with mailbox "" its whole
// Maildir++ tree (the top level into INBOX, ".A.B" into "A/B"), else only
// the Maildir at path into mailbox.
func (im *Importer) ImportMaildir(ctx context.Context, path, mailbox string) (Result, error) {
	problem := func(p Problem) {
		if im.Problem != nil {
			im.Problem(p)
		}
	}
	folders, err := findMaildirs(path, mailbox, mailbox != "", problem)
	if err != nil {
		return Result{}, err
	}
	total, totalBytes := 0, int64(0)
	for _, f := range folders {
		f.list(problem)
		total += len(f.files)
		totalBytes += f.bytes
	}
	r := im.newRun(ctx, total, totalBytes)
	for _, f := range folders {
		if err := r.maildirFolder(f); err != nil {
			return r.res, err
		}
	}
	if err := r.flush(); err != nil {
		return r.res, err
	}
	return r.res, nil
}

func (r *run) maildirFolder(f *maildirFolder) error {
	if err := r.mailbox(f.mailbox); err != nil {
		if fatal(r.ctx, err) {
			return err
		}
		r.report(Problem{Path: f.path, Err: err})
		r.res.Skipped += len(f.files)
		for _, file := range f.files {
			r.step(file.size)
		}
		return nil
	}
	kwmap, err := readDovecotKeywords(f.path)
	if err != nil {
		r.report(Problem{Path: filepath.Join(f.path, "dovecot-keywords"), Err: err})
	}
	for _, file := range f.files {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		err := r.maildirMessage(f.mailbox, file, kwmap)
		r.step(file.size)
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *run) maildirMessage(mailbox string, file maildirFile, kwmap map[byte]string) error {
	if file.size == 0 {
		r.problem(Problem{Path: file.path, Err: errors.New("empty file")})
		return nil
	}
	if file.size > r.im.maxSize() {
		r.problem(Problem{Path: file.path, Err: fmt.Errorf("message of %d bytes exceeds the limit of %d", file.size, r.im.maxSize())})
		return nil
	}
	data, err := readFileLimit(file.path, r.im.maxSize())
	if err != nil {
		r.problem(Problem{Path: file.path, Err: err})
		return nil
	}
	if !looksLikeMessage(data) {
		r.problem(Problem{Path: file.path, Err: errors.New("not a message: no header field on the first line")})
		return nil
	}
	n := ParseMaildirName(file.name)
	var kws []string
	if n.Passed {
		kws = append(kws, KeywordForwarded)
	}
	for _, c := range []byte(n.KeywordLetters) {
		if kw, ok := kwmap[c]; ok {
			kws = append(kws, kw)
		}
	}
	date := file.mod
	if date.Unix() <= 0 {
		date = n.Time // a file without a usable mtime: the time in its name
	}
	return r.add(file.path, mailbox, toCRLF(data), date, n.Flags, kws)
}

func readFileLimit(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("message exceeds the limit of %d bytes", limit)
	}
	return data, nil
}

// looksLikeMessage reports whether data starts with a header field
// ("Name:" with a printable name) or with a blank line (a message with an
// empty header). It catches binary and text files that are not mail.
func looksLikeMessage(data []byte) bool {
	if isBlank(data[:min(len(data), 2)]) || len(data) > 0 && data[0] == '\n' {
		return true
	}
	line := data[:min(len(data), 1000)]
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return false
	}
	for _, c := range line[:colon] {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// toCRLF turns bare LF line endings into CRLF, the form the store serves
// over IMAP (RFC 9051 §2.3.1: messages are in RFC 5322 form, lines end in
// CRLF). Lone CRs are left alone.
func toCRLF(b []byte) []byte {
	bare := 0
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			bare++
		}
	}
	if bare == 0 {
		return b
	}
	out := make([]byte, 0, len(b)+bare)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// ImportMbox imports the mbox file at path into mailbox ("" is INBOX), or
// with path a directory, every mbox file under it into the mailbox named
// by its path ("Lists/Go.mbox" and Thunderbird's "Lists.sbd/Go" into
// "Lists/Go"); mailbox must then be "".
func (im *Importer) ImportMbox(ctx context.Context, path, mailbox string) (Result, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Result{}, err
	}
	type mboxFile struct{ path, mailbox string }
	var files []mboxFile
	var total int64
	if !fi.IsDir() {
		if mailbox == "" {
			mailbox = "INBOX"
		}
		files, total = []mboxFile{{path, mailbox}}, fi.Size()
	} else {
		if mailbox != "" {
			return Result{}, errors.New("a mailbox name can only be given for a single mbox file")
		}
		err := filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.HasPrefix(d.Name(), ".") && p != path {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || strings.HasSuffix(d.Name(), ".msf") {
				return nil // Thunderbird's index files
			}
			info, err := os.Stat(p)
			if err != nil || !info.Mode().IsRegular() {
				return nil
			}
			rel, _ := filepath.Rel(path, p)
			files = append(files, mboxFile{p, mboxMailboxName(rel)})
			total += info.Size()
			return nil
		})
		if err != nil {
			return Result{}, err
		}
		slices.SortFunc(files, func(a, b mboxFile) int { return strings.Compare(a.mailbox, b.mailbox) })
	}
	r := im.newRun(ctx, -1, total)
	for _, f := range files {
		if err := r.mboxFile(f.path, f.mailbox); err != nil {
			return r.res, err
		}
	}
	if err := r.flush(); err != nil {
		return r.res, err
	}
	return r.res, nil
}

// mboxMailboxName maps a file's path below the imported directory to a
// mailbox name: "/"-separated, without ".mbox", ".sbd" dropped from
// directory levels.
func mboxMailboxName(rel string) string {
	levels := strings.Split(filepath.ToSlash(rel), "/")
	for i, l := range levels {
		if i < len(levels)-1 {
			l = strings.TrimSuffix(l, ".sbd")
		} else {
			l = strings.TrimSuffix(l, ".mbox")
		}
		levels[i] = l
	}
	return strings.Join(levels, "/")
}

func (r *run) mboxFile(path, mailbox string) error {
	f, err := os.Open(path)
	if err != nil {
		r.problem(Problem{Path: path, Err: err})
		return nil
	}
	defer f.Close()
	mr := NewMboxReader(f, r.im.maxSize())
	var consumed int64
	first := true
	for {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		m, err := mr.Next()
		if err == io.EOF {
			if first {
				if err := r.mailbox(mailbox); err != nil && fatal(r.ctx, err) {
					return err
				}
			}
			break
		}
		if err != nil {
			r.problem(Problem{Path: path, Line: mr.line, Err: err})
			break
		}
		if first {
			first = false
			if err := r.mailbox(mailbox); err != nil {
				if fatal(r.ctx, err) {
					return err
				}
				r.problem(Problem{Path: path, Err: err})
				return nil
			}
		}
		if err := r.mboxMessage(path, mailbox, m); err != nil {
			return err
		}
		r.step(mr.Consumed() - consumed)
		consumed = mr.Consumed()
	}
	r.progress.Bytes += mr.Consumed() - consumed
	return nil
}

func (r *run) mboxMessage(path, mailbox string, m *MboxMessage) error {
	src := fmt.Sprintf("%s:%d", path, m.Line)
	if m.TooBig {
		r.problem(Problem{Path: path, Line: m.Line, Err: fmt.Errorf("message of %d bytes exceeds the limit of %d", m.Size, r.im.maxSize())})
		return nil
	}
	if len(m.Data) == 0 {
		r.problem(Problem{Path: path, Line: m.Line, Err: errors.New("empty message")})
		return nil
	}
	data, state := stripMboxFields(m.Data)
	_, date, _ := ParseFromLine(m.From)
	return r.add(src, mailbox, toCRLF(data), date, state.Flags, state.Keywords)
}
