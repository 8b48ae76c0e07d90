package imapserver

import (
	"strconv"
	"strings"

	"github.com/posthorn/posthorn/internal/imapwire"
	"github.com/posthorn/posthorn/internal/store"
)

func u64(n uint64) string { return strconv.FormatUint(n, 10) }

var flagNames = [...]struct {
	f    store.Flags
	name string
}{
	{store.FlagSeen, `\Seen`},
	{store.FlagAnswered, `\Answered`},
	{store.FlagFlagged, `\Flagged`},
	{store.FlagDeleted, `\Deleted`},
	{store.FlagDraft, `\Draft`},
}

// writeFlags writes a flag list: system flags then keywords.
func writeFlags(w *imapwire.Writer, f store.Flags, kws []string, recent bool) {
	w.Byte('(')
	first := true
	if recent {
		w.Raw(`\Recent`)
		first = false
	}
	for _, fn := range flagNames {
		if f&fn.f != 0 {
			if !first {
				w.SP()
			}
			w.Raw(fn.name)
			first = false
		}
	}
	for _, k := range kws {
		if !first {
			w.SP()
		}
		w.Raw(k)
		first = false
	}
	w.Byte(')')
}

// parseFlags splits client flags into system flags and keywords. \Recent
// and unknown system flags are refused (RFC 9051 §2.3.2).
func parseFlags(flags []string) (store.Flags, []string, error) {
	var f store.Flags
	var kws []string
outer:
	for _, name := range flags {
		if len(name) > 0 && name[0] == '\\' {
			for _, fn := range flagNames {
				if strings.EqualFold(fn.name, name) {
					f |= fn.f
					continue outer
				}
			}
			return 0, nil, bad("Unknown system flag " + sanitize(name))
		}
		kws = append(kws, name)
	}
	return f, kws, nil
}
