package mailport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/posthorn/posthorn/internal/message"
	"github.com/posthorn/posthorn/internal/store"
)

// Exporter writes an account's mailboxes to Maildir or mbox files.
type Exporter struct {
	Store     store.Store
	AccountID int64
	// Progress and Problem are as in Importer.
	Progress func(Progress)
	Problem  func(Problem)
}

// exportRun is the state of one export.
type exportRun struct {
	ex       *Exporter
	ctx      context.Context
	res      Result
	progress Progress
}

func (r *exportRun) step(size int64) {
	r.progress.Messages++
	r.progress.Bytes += size
	if r.ex.Progress != nil {
		r.ex.Progress(r.progress)
	}
}

func (r *exportRun) problem(p Problem) {
	r.res.Skipped++
	if r.ex.Problem != nil {
		r.ex.Problem(p)
	}
}

// start checks that dir is new or empty, creates it, and returns the
// mailboxes to export (all, or the one named).
func (ex *Exporter) start(ctx context.Context, dir, mailbox string) (*exportRun, []store.Mailbox, error) {
	ents, err := os.ReadDir(dir)
	if err == nil && len(ents) > 0 {
		return nil, nil, fmt.Errorf("%s is not empty; export into a new directory", dir)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	mbs, err := ex.Store.Mailboxes(ctx, ex.AccountID)
	if err != nil {
		return nil, nil, err
	}
	if mailbox != "" {
		mb, err := ex.Store.MailboxByName(ctx, ex.AccountID, mailbox)
		if err != nil {
			return nil, nil, fmt.Errorf("mailbox %q: %w", mailbox, err)
		}
		mbs = []store.Mailbox{mb}
	}
	r := &exportRun{ex: ex, ctx: ctx}
	for _, mb := range mbs {
		r.progress.TotalMessages += mb.Messages
		r.progress.TotalBytes += mb.Size
	}
	return r, mbs, nil
}

// each calls fn for every message of mb in UID order, a page at a time.
func (r *exportRun) each(mb store.Mailbox, fn func(m store.Message) error) error {
	st, acc := r.ex.Store, r.ex.AccountID
	idx, err := st.MessageIndex(r.ctx, acc, mb.ID)
	if err != nil {
		return err
	}
	for i := 0; i < len(idx); i += 500 {
		j := min(i+500, len(idx))
		msgs, err := st.Messages(r.ctx, acc, mb.ID, idx[i].UID, idx[j-1].UID)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if err := r.ctx.Err(); err != nil {
				return err
			}
			if err := fn(m); err != nil {
				return err
			}
			r.step(m.Size)
		}
	}
	return nil
}

// ExportMaildir writes the account (or one mailbox) as a Maildir++ tree
// in dir, which must be new or empty: INBOX in dir itself, "A/B" in
// dir/.A.B. Every message goes to cur/ with its flags in the ":2," info,
// its keywords as letters named in the folder's dovecot-keywords file, and
// INTERNALDATE as the file's mtime. The files hold the message bytes
// exactly as IMAP serves them.
func (ex *Exporter) ExportMaildir(ctx context.Context, dir, mailbox string) (Result, error) {
	r, mbs, err := ex.start(ctx, dir, mailbox)
	if err != nil {
		return Result{}, err
	}
	for _, mb := range mbs {
		if err := r.maildir(dir, mb, mailbox != ""); err != nil {
			return r.res, err
		}
	}
	return r.res, nil
}

func (r *exportRun) maildir(root string, mb store.Mailbox, single bool) error {
	dir := root
	if !single && !strings.EqualFold(mb.Name, "INBOX") {
		dir = filepath.Join(root, MaildirFolderDir(mb.Name))
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	if dir != root {
		// Maildir++: a folder holds an empty "maildirfolder" file.
		if err := os.WriteFile(filepath.Join(dir, "maildirfolder"), nil, 0o600); err != nil {
			return err
		}
	}
	r.res.Mailboxes++
	var kl keywordLetters
	err := r.each(mb, func(m store.Message) error {
		letters, dropped := kl.letters(m.Keywords)
		if len(dropped) > 0 {
			r.ex.problemf(dir, "message UID %d: keywords %s dropped: a Maildir folder has room for 26", m.UID, strings.Join(dropped, " "))
		}
		passed := slices.Contains(m.Keywords, KeywordForwarded)
		name := fmt.Sprintf("%d.M%d.posthorn,S=%d%s", m.InternalDate.Unix(), m.ID, m.Size, maildirInfo(m.Flags, passed, letters))
		if err := r.writeMaildirFile(dir, name, m); err != nil {
			return err
		}
		r.res.Messages++
		r.res.Bytes += m.Size
		return nil
	})
	if err != nil {
		return err
	}
	return kl.write(dir)
}

func (ex *Exporter) problemf(path, format string, args ...any) {
	if ex.Problem != nil {
		ex.Problem(Problem{Path: path, Err: fmt.Errorf(format, args...)})
	}
}

// writeMaildirFile writes the message into tmp/, then renames it into cur/
// (the Maildir delivery protocol), its mtime set to INTERNALDATE.
func (r *exportRun) writeMaildirFile(dir, name string, m store.Message) error {
	c, err := r.ex.Store.Open(r.ctx, m)
	if err != nil {
		return fmt.Errorf("message UID %d of %s: %w", m.UID, dir, err)
	}
	defer c.Close()
	tmp := filepath.Join(dir, "tmp", name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, io.NewSectionReader(c, 0, c.Size()))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chtimes(tmp, m.InternalDate, m.InternalDate)
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, "cur", name))
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// ExportMbox writes the account (or one mailbox) as mboxrd files in dir,
// which must be new or empty: mailbox "A/B" in dir/A/B.mbox. Each message
// starts with a From_ line naming the Return-Path (else the first From
// address, else MAILER-DAEMON) and INTERNALDATE in UTC; lines matching
// ^>*From  get one more ">"; a blank line follows each message. Flags are
// added as Status (R: \Seen; O always), X-Status (A \Answered, F \Flagged,
// D \Deleted, T \Draft) and X-Keywords fields at the end of the header,
// which import reads and removes again. Otherwise the bytes are those IMAP
// serves, line endings included.
func (ex *Exporter) ExportMbox(ctx context.Context, dir, mailbox string) (Result, error) {
	r, mbs, err := ex.start(ctx, dir, mailbox)
	if err != nil {
		return Result{}, err
	}
	for _, mb := range mbs {
		levels := strings.Split(mb.Name, "/")
		if slices.ContainsFunc(levels, func(l string) bool { return l == "." || l == ".." || strings.ContainsRune(l, 0) }) {
			r.problem(Problem{Path: mb.Name, Err: errors.New("mailbox name cannot be a file name; not exported")})
			continue
		}
		path := filepath.Join(dir, filepath.Join(levels...)+".mbox")
		if err := r.mbox(path, mb); err != nil {
			return r.res, err
		}
	}
	return r.res, nil
}

func (r *exportRun) mbox(path string, mb store.Mailbox) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	r.res.Mailboxes++
	w := bufio.NewWriterSize(f, 256<<10)
	err = r.each(mb, func(m store.Message) error {
		if err := r.mboxMessage(w, m); err != nil {
			return fmt.Errorf("%s: message UID %d: %w", path, m.UID, err)
		}
		r.res.Messages++
		r.res.Bytes += m.Size
		return nil
	})
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func (r *exportRun) mboxMessage(w *bufio.Writer, m store.Message) error {
	c, err := r.ex.Store.Open(r.ctx, m)
	if err != nil {
		return err
	}
	defer c.Close()
	root, err := message.Unmarshal(m.Structure)
	if err != nil {
		root, err = message.Parse(c, c.Size())
		if err != nil {
			return err
		}
	}
	hdrEnd := min(root.HeaderEnd, c.Size())
	hdr := make([]byte, hdrEnd)
	if _, err := c.ReadAt(hdr, 0); err != nil {
		return err
	}
	eol := "\n"
	if i := bytes.IndexByte(hdr, '\n'); i > 0 && hdr[i-1] == '\r' {
		eol = "\r\n"
	}
	// The state fields go before the blank line ending the header.
	at := len(hdr)
	switch {
	case isBlank(hdr):
		at = 0
	case bytes.HasSuffix(hdr, []byte("\n\r\n")):
		at -= 2
	case bytes.HasSuffix(hdr, []byte("\n\n")):
		at--
	case len(hdr) > 0 && !bytes.HasSuffix(hdr, []byte("\n")):
		hdr = append(hdr, eol...) // a header-only message without a final line ending
		at = len(hdr)
	}
	if _, err := w.WriteString(FormatFromLine(envelopeSender(hdr, root), m.InternalDate)); err != nil {
		return err
	}
	q := newMboxQuoter(w)
	q.Write(hdr[:at])
	q.Write([]byte(mboxStatusFields(m.Flags, m.Keywords, eol)))
	q.Write(hdr[at:])
	if _, err := io.Copy(q, io.NewSectionReader(c, hdrEnd, c.Size()-hdrEnd)); err != nil {
		return err
	}
	return q.Close(eol)
}

// envelopeSender is the address for the From_ line: Return-Path, else the
// first From address.
func envelopeSender(hdr []byte, root *message.Part) string {
	rp := strings.Trim(message.ParseHeader(hdr).Get("Return-Path"), " \t<>")
	if rp != "" {
		return rp
	}
	if root.Envelope != nil && len(root.Envelope.From) > 0 {
		a := root.Envelope.From[0]
		if a.Host != "" && a.Mailbox != message.MissingMailbox {
			return a.Mailbox + "@" + a.Host
		}
	}
	return "MAILER-DAEMON"
}
