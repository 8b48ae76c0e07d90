package store

import (
	"context"
	"database/sql"
	"maps"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// matchCorpus is delivered by the tests below: texts whose trigrams are
// all present without the term being (false positives of the trigram
// index that the re-check must drop), a term split between the header and
// the body columns, and letters whose case folding differs between
// SQLite's tokenizer and Go.
var matchCorpus = []struct{ subject, body string }{
	{"s1", "abcd xbcx"},      // uid 1
	{"s2 abcd", "cdef"},      // uid 2: "abcdef" only across columns
	{"s3", "Straße ΣΑΣ ÄÖÜ"}, // uid 3
	{"s4", "KELVIN \u212A, ſun"},
	{"s5", "\u1C90\u1C91\u1C92 \u10D0\u10D1\u10D2 x"}, // Georgian Mtavruli, Mkhedruli
	{"s6", "\u1C80ыт вы т"},                           // Cyrillic rounded ve (Unicode 9)
	{"s7", "quote \"marks\" here"},
}

// TestMatchTermRecheck checks SEARCH of 3 or more characters on the
// detail=none index against the expected UIDs and against a positional
// trigram phrase match (the schema v6 index) on the same text.
func TestMatchTermRecheck(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	acc := addAccount(t, s, "a@example.org")
	for _, m := range matchCorpus {
		deliver(t, s, []byte("Subject: "+m.subject+"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+m.body+"\r\n"),
			Target{AccountID: acc.ID})
	}
	in := mustMailbox(t, s, acc.ID, "INBOX")
	ref := phraseReference(t, s)
	for _, c := range []struct {
		kind, term string
		want       []uint32
	}{
		{"BODY", "abcx", nil},
		{"BODY", "bcd x", []uint32{1}},
		{"BODY", "ABCD", []uint32{1}},
		{"TEXT", "abcd", []uint32{1, 2}},
		{"HEADER", "abcd", []uint32{2}},
		{"TEXT", "abcdef", nil},
		{"TEXT", "s2 abcd\ncdef", nil},
		{"HEADER", "cdef", nil},
		{"BODY", "STRASSE", nil},
		{"BODY", "STRAßE", []uint32{3}},
		{"BODY", "äöü", []uint32{3}},
		{"BODY", "σας", []uint32{3}},
		{"BODY", "σασ", []uint32{3}},
		{"BODY", "σσσ", nil},
		{"BODY", "kelvin k", []uint32{4}},
		{"BODY", "kelvin \u212a", []uint32{4}},
		{"BODY", "SUN", []uint32{4}}, // ſ folds to s
		{"BODY", "\u10D0\u10D1\u10D2", []uint32{5}},
		{"BODY", "\u1C90\u1C91\u1C92", []uint32{5}},
		{"BODY", "\u10D0\u10D1\u10D2 \u10D0", nil},
		{"BODY", "выт", nil},
		{"BODY", "\u1C80ыт", []uint32{6}},
		{"BODY", "\"marks\"", []uint32{7}},
		{"BODY", "s\" h", []uint32{7}},
	} {
		var q TextQuery
		switch c.kind {
		case "BODY":
			q.Body = []string{c.term}
		case "TEXT":
			q.Text = []string{c.term}
		case "HEADER":
			q.Header = []string{c.term}
		}
		got, err := s.SearchText(ctx, acc.ID, in.ID, q)
		if err != nil {
			t.Fatalf("%s %q: %v", c.kind, c.term, err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s %q = %v, want %v", c.kind, c.term, got, c.want)
		}
		if r := ref(c.kind, c.term); !slices.Equal(got, r) {
			t.Errorf("%s %q = %v, phrase match %v", c.kind, c.term, got, r)
		}
	}
}

// phraseReference copies the store's indexed text into an in-memory FTS5
// table with positions (detail=full, as msgtext was up to schema v6) and
// returns a function answering a term by a phrase match in it.
func phraseReference(t *testing.T, s *SQLite) func(kind, term string) []uint32 {
	t.Helper()
	ref, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ref.Close() })
	ref.SetMaxOpenConns(1)
	if _, err := ref.Exec(`CREATE VIRTUAL TABLE ref USING fts5(header, body, tokenize = 'trigram')`); err != nil {
		t.Fatal(err)
	}
	rows, err := s.rdb.Query(`SELECT m.uid, t.header, t.body FROM messages m JOIN msgtext t ON t.rowid = m.blob_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var uid int64
		var h, b string
		if err := rows.Scan(&uid, &h, &b); err != nil {
			t.Fatal(err)
		}
		if _, err := ref.Exec(`INSERT INTO ref (rowid, header, body) VALUES (?, ?, ?)`, uid, h, b); err != nil {
			t.Fatal(err)
		}
	}
	return func(kind, term string) []uint32 {
		cols := map[string]string{"BODY": "body", "TEXT": "{header body}", "HEADER": "header"}[kind]
		var uids []uint32
		rows, err := ref.Query(`SELECT rowid FROM ref WHERE ref MATCH ? ORDER BY rowid`,
			cols+` : "`+strings.ReplaceAll(term, `"`, `""`)+`"`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUID(rows)
			if err != nil {
				t.Fatal(err)
			}
			uids = append(uids, u)
		}
		return uids
	}
}

// TestFoldTable checks the folding table read from SQLite against the
// tokenizer's own matching: for every rune Go knows a case partner of, a
// phrase with the rune finds exactly the partners that foldText folds
// alike. Without -short, it also checks that the tokenizer changes no
// rune but those foldableRunes lists.
func TestFoldTable(t *testing.T) {
	fold, err := ftsFold()
	if err != nil {
		t.Fatal(err)
	}
	if !testing.Short() {
		var all []rune
		for r := rune(utf8.RuneSelf); r <= unicode.MaxRune; r++ {
			if utf8.ValidRune(r) {
				all = append(all, r)
			}
		}
		if got, err := readFold(all); err != nil || !maps.Equal(got, fold) {
			t.Errorf("folding of all runes: %d changed, %v; foldableRunes: %d", len(got), err, len(fold))
		}
	}
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE VIRTUAL TABLE f USING fts5(x, tokenize = 'trigram')`); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var cased []rune
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if unicode.SimpleFold(r) != r {
			cased = append(cased, r)
			if _, err := tx.Exec(`INSERT INTO f (rowid, x) VALUES (?, ?)`, r, "q"+string(r)+"q"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	key := func(r rune) string { return string(foldText(nil, []byte(string(r)), fold)) }
	for _, r := range cased {
		var want []rune
		for f := unicode.SimpleFold(r); ; f = unicode.SimpleFold(f) {
			if key(f) == key(r) {
				want = append(want, f)
			}
			if f == r {
				break
			}
		}
		slices.Sort(want)
		var got []rune
		rows, err := db.Query(`SELECT rowid FROM f WHERE f MATCH ? ORDER BY rowid`, `"q`+strings.ReplaceAll(string(r), `"`, `""`)+`q"`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id rune
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			got = append(got, id)
		}
		rows.Close()
		if !slices.Equal(got, want) {
			t.Errorf("%U: the tokenizer matches %q, foldText %q", r, string(got), string(want))
		}
	}
}

// TestMigrateV7 opens a schema v6 store holding indexed messages (msgtext
// with positions) with the current program: msgtext is rebuilt without
// positions, keeps its merge settings and its rows, and answers searches
// as before, false positives of the trigrams included.
func TestMigrateV7(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := openWith(ctx, dir, Options{}, migrations[:6])
	if err != nil {
		t.Fatal(err)
	}
	acc := addAccount(t, s, "a@example.org")
	for _, m := range matchCorpus {
		deliver(t, s, []byte("Subject: "+m.subject+"\r\n\r\n"+m.body+"\r\n"), Target{AccountID: acc.ID})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, dir)
	var ddl string
	var rows, automerge int
	for q, dst := range map[string]any{
		`SELECT sql FROM sqlite_schema WHERE name = 'msgtext'`: &ddl,
		`SELECT count(*) FROM msgtext`:                         &rows,
		`SELECT v FROM msgtext_config WHERE k = 'automerge'`:   &automerge,
	} {
		if err := s.rdb.QueryRow(q).Scan(dst); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if !strings.Contains(ddl, "detail = none") || rows != len(matchCorpus) || automerge != 16 {
		t.Errorf("after migration: %q, %d rows, automerge %d", ddl, rows, automerge)
	}
	in := mustMailbox(t, s, acc.ID, "INBOX")
	for term, want := range map[string][]uint32{"abcx": nil, "bcd x": {1}, "äöü": {3}, "s2 abcd": {2}} {
		got, err := s.SearchText(ctx, acc.ID, in.ID, TextQuery{Text: []string{term}})
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("TEXT %q after migration = %v, %v; want %v", term, got, err, want)
		}
	}
	// The index takes new messages.
	m := deliver(t, s, []byte("Subject: new\r\n\r\nthe okapi wakes\r\n"), Target{AccountID: acc.ID})[0]
	if got, err := s.SearchText(ctx, acc.ID, in.ID, TextQuery{Body: []string{"OKAPI"}}); err != nil || !slices.Equal(got, []uint32{m.UID}) {
		t.Errorf("BODY OKAPI = %v, %v; want [%d]", got, err, m.UID)
	}
}

func TestUnion(t *testing.T) {
	for _, c := range []struct{ a, b, want []uint32 }{
		{nil, nil, nil},
		{[]uint32{1, 3}, nil, []uint32{1, 3}},
		{nil, []uint32{2}, []uint32{2}},
		{[]uint32{1, 3, 5}, []uint32{2, 3, 9}, []uint32{1, 2, 3, 5, 9}},
	} {
		if got := union(c.a, c.b); !slices.Equal(got, c.want) {
			t.Errorf("union(%v, %v) = %v", c.a, c.b, got)
		}
	}
}
