package store

// Case folding for the full-text index's re-check (matchTerm). msgtext's
// trigram tokenizer folds case itself, with SQLite's own Unicode table
// (ASCII A-Z, and non-ASCII letters by a table older than Go's unicode
// package: Go knows more case pairs, such as Georgian Mtavruli). For
// matchTerm to give exactly the rows a positional phrase match gave, the
// re-check folds with the tokenizer's table, which ftsFold reads out of
// SQLite once: it indexes the runes that may fold in a scratch in-memory
// FTS5 table with the same tokenizer and reads back, through fts5vocab,
// the trigram the tokenizer made at each position. The runes that may fold
// are those with a case partner in Go's tables, and U+FFFE and U+FFFF,
// which SQLite reads as U+FFFD; TestFoldTable checks that the tokenizer
// changes no other rune.

import (
	"bytes"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// ftsFold returns the trigram tokenizer's folding of non-ASCII runes, as
// a map holding the runes it changes. Reading it takes a few ms, once.
var ftsFold = sync.OnceValues(func() (map[rune]rune, error) { return readFold(foldableRunes()) })

// foldableRunes returns the non-ASCII runes the tokenizer may change.
func foldableRunes() []rune {
	var rs []rune
	for r := rune(utf8.RuneSelf); r <= unicode.MaxRune; r++ {
		if unicode.SimpleFold(r) != r {
			rs = append(rs, r)
		}
	}
	return append(rs, 0xFFFE, 0xFFFF)
}

// readFold asks SQLite how the trigram tokenizer folds runes (valid, not
// ASCII), and returns those it changes.
func readFold(runes []rune) (map[rune]rune, error) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one connection: one in-memory database
	var text strings.Builder
	for _, r := range runes {
		text.WriteRune(r)
	}
	text.WriteString("..") // a trigram starts at every rune
	for _, q := range []string{
		`CREATE VIRTUAL TABLE f USING fts5(x, tokenize = 'trigram')`,
		`CREATE VIRTUAL TABLE v USING fts5vocab(f, 'instance')`,
	} {
		if _, err := db.Exec(q); err != nil {
			return nil, err
		}
	}
	if _, err := db.Exec(`INSERT INTO f (x) VALUES (?)`, text.String()); err != nil {
		return nil, err
	}
	rows, err := db.Query(`SELECT term, offset FROM v`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	fold, n := map[rune]rune{}, 0
	for rows.Next() {
		var term string
		var off int
		if err := rows.Scan(&term, &off); err != nil {
			return nil, err
		}
		if off >= len(runes) {
			continue
		}
		n++
		if r, _ := utf8.DecodeRuneInString(term); r != runes[off] {
			fold[runes[off]] = r
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if n != len(runes) {
		return nil, fmt.Errorf("case folding table: %d trigrams for %d runes", n, len(runes))
	}
	return fold, nil
}

// foldText appends s folded as the trigram tokenizer folds it: ASCII A-Z
// to a-z, other runes by fold.
func foldText(dst, s []byte, fold map[rune]rune) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if f, ok := fold[r]; ok {
			r = f
		}
		dst = utf8.AppendRune(dst, r)
		i += n
	}
	return dst
}

// hasFoldedTerm reports whether text, folded into *buf, contains needle
// (folded).
func hasFoldedTerm(buf *[]byte, text, needle []byte, fold map[rune]rune) bool {
	*buf = foldText((*buf)[:0], text, fold)
	return bytes.Contains(*buf, needle)
}
