package mailport

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/posthorn/posthorn/internal/imapwire"
	"github.com/posthorn/posthorn/internal/store"
)

// KeywordForwarded is the keyword the Maildir "P" (passed) flag maps to
// (the $Forwarded keyword of the IANA IMAP keyword registry, RFC 5788).
const KeywordForwarded = "$Forwarded"

// MaildirName is what a Maildir file name says about its message
// (https://cr.yp.to/proto/maildir.html and Dovecot's extensions).
type MaildirName struct {
	// Unique is the name without the info suffix.
	Unique string
	// Flags are the system flags of the "2," info: S \Seen, R \Answered,
	// F \Flagged, T \Deleted, D \Draft.
	Flags store.Flags
	// Passed is the "P" flag (the message was resent or forwarded).
	Passed bool
	// KeywordLetters are the lowercase letters of the info, each naming a
	// keyword through the folder's dovecot-keywords file, in name order.
	KeywordLetters string
	// Time is the delivery time in the leading number of the unique part
	// ("1700000000.M1P2.host"); zero if there is none.
	Time time.Time
	// Size is Dovecot's ",S=" size; -1 when absent.
	Size int64
}

// infoSeparators separate the unique part from the info: ":" is standard;
// mbsync and others use ";" or "!" where ":" is not allowed in file names.
const infoSeparators = ":;!"

// ParseMaildirName reads a Maildir file name. Any name is accepted: a
// name without a "2," info has no flags, and unknown flag letters are
// ignored.
func ParseMaildirName(name string) MaildirName {
	n := MaildirName{Unique: name, Size: -1}
	if i := strings.LastIndexAny(name, infoSeparators); i >= 0 && strings.HasPrefix(name[i+1:], "2,") {
		n.Unique = name[:i]
		for _, c := range []byte(name[i+3:]) {
			switch {
			case c == 'S':
				n.Flags |= store.FlagSeen
			case c == 'R':
				n.Flags |= store.FlagAnswered
			case c == 'F':
				n.Flags |= store.FlagFlagged
			case c == 'T':
				n.Flags |= store.FlagDeleted
			case c == 'D':
				n.Flags |= store.FlagDraft
			case c == 'P':
				n.Passed = true
			case c >= 'a' && c <= 'z' && !strings.ContainsRune(n.KeywordLetters, rune(c)):
				n.KeywordLetters += string(c)
			}
		}
	}
	lead, rest, _ := strings.Cut(n.Unique, ".")
	if secs, err := strconv.ParseInt(lead, 10, 64); err == nil && secs > 0 && secs < 1<<34 {
		n.Time = time.Unix(secs, 0)
	}
	for _, f := range strings.Split(rest, ",")[1:] {
		if v, ok := strings.CutPrefix(f, "S="); ok {
			if sz, err := strconv.ParseInt(v, 10, 64); err == nil && sz >= 0 {
				n.Size = sz
			}
		}
	}
	return n
}

// maildirInfo returns the ":2," info suffix for flags and the letters of
// the keywords (already mapped), letters in ASCII order as the Maildir
// specification requires.
func maildirInfo(flags store.Flags, passed bool, letters string) string {
	var b []byte
	for _, f := range []struct {
		on bool
		c  byte
	}{
		{flags&store.FlagDraft != 0, 'D'},
		{flags&store.FlagFlagged != 0, 'F'},
		{passed, 'P'},
		{flags&store.FlagAnswered != 0, 'R'},
		{flags&store.FlagSeen != 0, 'S'},
		{flags&store.FlagDeleted != 0, 'T'},
	} {
		if f.on {
			b = append(b, f.c)
		}
	}
	l := []byte(letters)
	slices.Sort(l)
	return ":2," + string(b) + string(l)
}

// dotEscape is how a "." inside one level of a mailbox name is written in
// a Maildir++ folder name, where "." separates levels: the modified UTF-7
// form of U+002E. Import accepts it back.
const dotEscape = "&AC4-"

// MaildirFolderName returns the mailbox name of a Maildir++ folder
// directory (".Sent" is "Sent", ".Lists.Go" is "Lists/Go"). Levels are
// decoded from modified UTF-7 (RFC 3501 §5.1.3) as Dovecot and Courier
// write them; a level that is not valid modified UTF-7 but is valid UTF-8
// is taken as it is.
func MaildirFolderName(dir string) (string, error) {
	name, ok := strings.CutPrefix(dir, ".")
	if !ok || name == "" {
		return "", fmt.Errorf("mailport: %q is not a Maildir++ folder name", dir)
	}
	levels := strings.Split(name, ".")
	for i, l := range levels {
		if l == "" {
			return "", fmt.Errorf("mailport: folder %q has an empty level", dir)
		}
		dec, err := imapwire.DecodeUTF7(strings.ReplaceAll(l, dotEscape, "."))
		if err != nil {
			if !utf8.ValidString(l) || strings.ContainsFunc(l, isControl) {
				return "", fmt.Errorf("mailport: folder %q: level %q is neither modified UTF-7 nor UTF-8", dir, l)
			}
			dec = l
		}
		if dec == "" || strings.Contains(dec, "/") {
			return "", fmt.Errorf("mailport: folder %q: level %q cannot be a mailbox name level", dir, l)
		}
		levels[i] = dec
	}
	return strings.Join(levels, "/"), nil
}

// MaildirFolderDir is the inverse of MaildirFolderName: the Maildir++
// directory name of a mailbox other than INBOX.
func MaildirFolderDir(mailbox string) string {
	levels := strings.Split(mailbox, "/")
	for i, l := range levels {
		levels[i] = strings.ReplaceAll(imapwire.EncodeUTF7(l), ".", dotEscape)
	}
	return "." + strings.Join(levels, ".")
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// maildirFolder is one Maildir (a directory with cur/ and new/) to import.
type maildirFolder struct {
	path    string
	mailbox string
	files   []maildirFile
	bytes   int64
}

type maildirFile struct {
	path string
	name string
	size int64
	mod  time.Time
}

func isMaildir(path string) bool {
	for _, sub := range []string{"cur", "new"} {
		if fi, err := os.Stat(filepath.Join(path, sub)); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

// findMaildirs returns the Maildirs under root: root itself (INBOX, or
// mailbox when single), its Maildir++ folders (".Sent", ".A.B"), and
// directories nested the file-system way ("A/B/cur", as mbsync's
// "SubFolders Verbatim" writes them). Problems with folder names are
// reported, not fatal.
func findMaildirs(root, mailbox string, single bool, problem func(Problem)) ([]*maildirFolder, error) {
	var out []*maildirFolder
	if isMaildir(root) {
		if mailbox == "" {
			mailbox = "INBOX"
		}
		out = append(out, &maildirFolder{path: root, mailbox: mailbox})
	} else if single {
		return nil, fmt.Errorf("%s is not a Maildir (no cur/ or new/)", root)
	}
	if single {
		return out, nil
	}
	var walk func(dir, prefix string) error
	walk = func(dir, prefix string) error {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			name := e.Name()
			p := filepath.Join(dir, name)
			if !isDirEntry(e, p) || name == "cur" || name == "new" || name == "tmp" {
				continue
			}
			if prefix == "" && strings.HasPrefix(name, ".") && len(name) > 1 && isMaildir(p) {
				mb, err := MaildirFolderName(name)
				if err != nil {
					problem(Problem{Path: p, Err: err})
					continue
				}
				out = append(out, &maildirFolder{path: p, mailbox: mb})
				continue
			}
			if strings.HasPrefix(name, ".") || !utf8.ValidString(name) {
				continue
			}
			mb := name
			if prefix != "" {
				mb = prefix + "/" + name
			}
			if isMaildir(p) {
				out = append(out, &maildirFolder{path: p, mailbox: mb})
			}
			if err := walk(p, mb); err != nil {
				problem(Problem{Path: p, Err: err})
			}
		}
		return nil
	}
	if err := walk(root, ""); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no Maildir found in %s (no cur/ or new/, no Maildir++ folders)", root)
	}
	return out, nil
}

func isDirEntry(e os.DirEntry, path string) bool {
	if e.IsDir() {
		return true
	}
	if e.Type()&os.ModeSymlink != 0 {
		fi, err := os.Stat(path)
		return err == nil && fi.IsDir()
	}
	return false
}

// list fills in the message files of f: the regular files of cur/ and
// new/, not tmp/, skipping hidden files.
func (f *maildirFolder) list(problem func(Problem)) {
	for _, sub := range []string{"cur", "new"} {
		dir := filepath.Join(f.path, sub)
		ents, err := os.ReadDir(dir)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				problem(Problem{Path: dir, Err: err})
			}
			continue
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			p := filepath.Join(dir, e.Name())
			fi, err := os.Stat(p) // follows symlinks
			if err != nil {
				problem(Problem{Path: p, Err: err})
				continue
			}
			if !fi.Mode().IsRegular() {
				continue
			}
			f.files = append(f.files, maildirFile{path: p, name: e.Name(), size: fi.Size(), mod: fi.ModTime()})
			f.bytes += fi.Size()
		}
	}
	// Oldest first, so UIDs follow delivery order as they did in the source.
	slices.SortStableFunc(f.files, func(a, b maildirFile) int { return a.mod.Compare(b.mod) })
}

// readDovecotKeywords reads a folder's dovecot-keywords file: lines "N
// keyword", N from 0 to 25 naming the letters a to z. A missing file
// means no keywords.
func readDovecotKeywords(dir string) (map[byte]string, error) {
	f, err := os.Open(filepath.Join(dir, "dovecot-keywords"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[byte]string{}
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for sc.Scan() {
		num, kw, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		n, err := strconv.Atoi(num)
		kw = strings.TrimSpace(kw)
		if !ok || err != nil || n < 0 || n > 25 || !validKeyword(kw) {
			continue
		}
		m[byte('a'+n)] = kw
	}
	return m, sc.Err()
}

// keywordLetters assigns Maildir keyword letters for one exported folder,
// as dovecot-keywords numbers them; at most 26 keywords fit.
type keywordLetters struct {
	byName map[string]byte
	order  []string
}

// letters returns the letters of kws, assigning new ones as needed; the
// keywords that did not fit are returned in dropped.
func (k *keywordLetters) letters(kws []string) (letters string, dropped []string) {
	if k.byName == nil {
		k.byName = map[string]byte{}
	}
	for _, kw := range kws {
		if kw == KeywordForwarded {
			continue
		}
		c, ok := k.byName[kw]
		if !ok {
			if len(k.order) == 26 {
				dropped = append(dropped, kw)
				continue
			}
			c = byte('a' + len(k.order))
			k.byName[kw] = c
			k.order = append(k.order, kw)
		}
		letters += string(c)
	}
	return letters, dropped
}

// write writes the dovecot-keywords file into dir if any keyword was used.
func (k *keywordLetters) write(dir string) error {
	if len(k.order) == 0 {
		return nil
	}
	var b strings.Builder
	for i, kw := range k.order {
		fmt.Fprintf(&b, "%d %s\n", i, kw)
	}
	return os.WriteFile(filepath.Join(dir, "dovecot-keywords"), []byte(b.String()), 0o600)
}
