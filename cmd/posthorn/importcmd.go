package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/config"
	"github.com/posthorn/posthorn/internal/mailport"
	"github.com/posthorn/posthorn/internal/store"
)

func cmdImport(ctx context.Context, env *cliEnv, args []string) error {
	const synopsis = "maildir|mbox ACCOUNT PATH [--mailbox NAME] [--max-size BYTES] [--config FILE]"
	fs := newFlags(env, "import", synopsis, `
Import mail into ACCOUNT from files other mail software keeps.
  maildir   PATH is a Maildir: its top level goes to INBOX, Maildir++
            folders (".Sent", ".Lists.Go") to "Sent", "Lists/Go"; with
            --mailbox only the Maildir at PATH is imported, into NAME
  mbox      PATH is an mbox file, imported into INBOX or --mailbox NAME,
            or a directory of them, each into the mailbox named by its path
Flags come from Maildir file names and from mbox Status/X-Status fields;
INTERNALDATE from the file's mtime or the mbox From_ line. Messages the
mailbox already holds (same Message-ID and size) are not imported again.
Malformed and oversized messages are reported and skipped. The server must
be stopped: import writes to the store directly. See docs/import-export.md.`)
	configPath := fs.String("config", "", "configuration file (default ./posthorn.toml, then /etc/posthorn/posthorn.toml)")
	mailbox := fs.String("mailbox", "", "import into this mailbox (a single Maildir or mbox file)")
	maxSize := fs.Int64("max-size", 0, "skip messages larger than this many bytes (default smtp.max_message_size)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 3 {
		return usageError{"want a format, ACCOUNT and PATH"}
	}
	format, account, path := pos[0], pos[1], pos[2]
	if format != "maildir" && format != "mbox" {
		return usageError{fmt.Sprintf("unknown format %q (maildir or mbox)", format)}
	}
	ms, err := openMailStore(ctx, *configPath, account)
	if err != nil {
		return err
	}
	defer ms.close()
	bar := newProgress(env.stderr, "importing")
	im := &mailport.Importer{
		Store: ms.st, AccountID: ms.account.ID, MaxMessageSize: ms.maxSize,
		Progress: bar.update, Problem: bar.problem,
	}
	if *maxSize > 0 {
		im.MaxMessageSize = *maxSize
	}
	var res mailport.Result
	if format == "maildir" {
		res, err = im.ImportMaildir(ctx, path, *mailbox)
	} else {
		res, err = im.ImportMbox(ctx, path, *mailbox)
	}
	bar.done()
	fmt.Fprintf(env.stdout, "imported %d messages (%s) into %d mailboxes of %s in %s; %d already present, %d skipped\n",
		res.Messages, byteSize(res.Bytes), res.Mailboxes, ms.account.Address, bar.elapsed(), res.Duplicates, res.Skipped)
	if errors.Is(err, store.ErrOverQuota) {
		return fmt.Errorf("%s is over its quota; raise it and run the import again (imported messages are not duplicated): %w", ms.account.Address, err)
	}
	return err
}

func cmdExport(ctx context.Context, env *cliEnv, args []string) error {
	const synopsis = "ACCOUNT DIR [--format maildir|mbox] [--mailbox NAME] [--config FILE]"
	fs := newFlags(env, "export", synopsis, `
Export ACCOUNT's mail into DIR, which must be new or empty.
  --format maildir   a Maildir++ tree: INBOX in DIR, "A/B" in DIR/.A.B; flags
                     in the file names, INTERNALDATE as the file mtime
  --format mbox      one mboxrd file per mailbox: "A/B" in DIR/A/B.mbox, flags
                     in Status/X-Status/X-Keywords fields
Message bytes are written as IMAP serves them. The server must be stopped.
See docs/import-export.md.`)
	configPath := fs.String("config", "", "configuration file (default ./posthorn.toml, then /etc/posthorn/posthorn.toml)")
	format := fs.String("format", "maildir", "maildir or mbox")
	mailbox := fs.String("mailbox", "", "export only this mailbox (into DIR itself for maildir)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError{"want ACCOUNT and DIR"}
	}
	if *format != "maildir" && *format != "mbox" {
		return usageError{fmt.Sprintf("unknown format %q (maildir or mbox)", *format)}
	}
	ms, err := openMailStore(ctx, *configPath, pos[0])
	if err != nil {
		return err
	}
	defer ms.close()
	bar := newProgress(env.stderr, "exporting")
	ex := &mailport.Exporter{Store: ms.st, AccountID: ms.account.ID, Progress: bar.update, Problem: bar.problem}
	var res mailport.Result
	if *format == "maildir" {
		res, err = ex.ExportMaildir(ctx, pos[1], *mailbox)
	} else {
		res, err = ex.ExportMbox(ctx, pos[1], *mailbox)
	}
	bar.done()
	fmt.Fprintf(env.stdout, "exported %d messages (%s) from %d mailboxes of %s to %s in %s; %d skipped\n",
		res.Messages, byteSize(res.Bytes), res.Mailboxes, ms.account.Address, pos[1], bar.elapsed(), res.Skipped)
	return err
}

// mailStore is the store opened for import or export, and the account.
type mailStore struct {
	st      store.Store
	account store.Account
	maxSize int64
	close   func()
}

// openMailStore opens the store of the installation configured in
// configPath directly. A running server holds the store's lock, so this
// refuses while one runs and says so.
func openMailStore(ctx context.Context, configPath, account string) (*mailStore, error) {
	path, err := findConfig(configPath)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	address, err := addr.ParseAddress(account)
	if err != nil {
		return nil, usageError{fmt.Sprintf("invalid account address %q: %v", account, err)}
	}
	paths := dataPaths(cfg.DataDir)
	if c, err := dialControl(paths); err != nil {
		return nil, err
	} else if c != nil {
		return nil, fmt.Errorf("the server is running (its control socket %s answers); "+
			"import and export write to the store directly: stop the server, run this again, then start it", paths.socket)
	}
	st, err := openExisting(ctx, cfg, paths)
	if err != nil {
		if strings.Contains(err.Error(), "in use") {
			return nil, fmt.Errorf("%w; stop the server before importing or exporting", err)
		}
		return nil, err
	}
	acc, err := st.Account(ctx, address)
	if err != nil {
		st.Close()
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("account %s does not exist (posthorn user add %s)", address, address)
		}
		return nil, err
	}
	return &mailStore{st: st, account: acc, maxSize: int64(cfg.SMTP.MaxMessageSize), close: func() { st.Close() }}, nil
}

// progress shows how an import or export goes: a bar redrawn in place on
// a terminal, a line every few seconds otherwise.
type progress struct {
	w     io.Writer
	tty   bool
	verb  string
	start time.Time
	every time.Duration

	mu    sync.Mutex
	last  time.Time
	cur   mailport.Progress
	shown bool // a bar is on the screen
}

func newProgress(w io.Writer, verb string) *progress {
	now := time.Now()
	p := &progress{w: w, verb: verb, start: now, last: now, every: 5 * time.Second}
	if f, ok := w.(*os.File); ok {
		if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			p.tty, p.every = true, 100*time.Millisecond
		}
	}
	return p
}

func (p *progress) update(pr mailport.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur = pr
	now := time.Now()
	if now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	p.draw(now)
}

func (p *progress) draw(now time.Time) {
	pr := p.cur
	secs := now.Sub(p.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(pr.Messages) / secs
	}
	frac := 0.0
	if pr.TotalBytes > 0 {
		frac = min(1, float64(pr.Bytes)/float64(pr.TotalBytes))
	}
	count := fmt.Sprint(pr.Messages)
	if pr.TotalMessages >= 0 {
		count += "/" + fmt.Sprint(pr.TotalMessages)
	}
	eta := "-"
	if frac > 0 && frac < 1 {
		eta = time.Duration(secs / frac * (1 - frac) * float64(time.Second)).Round(time.Second).String()
	}
	text := fmt.Sprintf("%s %3.0f%% %s messages, %s/%s, %.0f msg/s, ETA %s",
		p.verb, frac*100, count, byteSize(pr.Bytes), byteSize(pr.TotalBytes), rate, eta)
	if !p.tty {
		fmt.Fprintln(p.w, text)
		return
	}
	const width = 24
	n := int(frac * width)
	bar := "[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "] "
	fmt.Fprint(p.w, "\r\033[K"+bar+text)
	p.shown = true
}

// problem prints a skipped file or message on its own line.
func (p *progress) problem(pr mailport.Problem) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
	fmt.Fprintf(p.w, "skipped %v\n", pr)
}

// done draws the final state and ends the bar's line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		p.draw(time.Now())
		fmt.Fprintln(p.w)
		p.shown = false
	}
}

func (p *progress) elapsed() string {
	return time.Since(p.start).Round(time.Millisecond).String()
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
