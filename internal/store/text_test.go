package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"mime/quotedprintable"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"
)

// TestMigrateV2 builds a schema v1 index by hand (messages in the v1
// layout, an inline and a file blob, mailboxes with HIGHESTMODSEQ 0),
// then opens it with the current program: the messages survive with a
// UTC INTERNALDATE, every HIGHESTMODSEQ is positive, and the text index is
// backfilled.
func TestMigrateV2(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := openWith(ctx, dir, Options{}, migrations[:1])
	if err != nil {
		t.Fatal(err)
	}
	acc := addAccount(t, s, "a@example.org")
	if _, err := s.wdb.ExecContext(ctx, `UPDATE mailboxes SET highestmodseq = 0`); err != nil {
		t.Fatal(err)
	}
	small := []byte("Subject: old small\r\n\r\nthe aardvark sleeps\r\n")
	big := []byte("Subject: old big\r\n\r\n" + strings.Repeat("padding text\r\n", 10000) + "the okapi wakes\r\n")
	date := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, body := range [][]byte{small, big} {
		blob, err := s.spool(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		err = s.write(ctx, blob, func(w *wtx) ([]Change, error) {
			id, err := insertBlob(w, blob, 1)
			if err != nil {
				return nil, err
			}
			for _, q := range []string{
				`INSERT INTO messages (account_id, mailbox_id, uid, modseq, flags, keywords, internaldate, savedate, size,
					header_prefix, structure, blob_id) SELECT ?1, id, ?2, 5, 0, '', ?3, ?3, ?4, NULL, NULL, ?5
					FROM mailboxes WHERE account_id = ?1 AND name = 'INBOX'`,
				`UPDATE mailboxes SET uidnext = ?2 + 1, messages = messages + 1, size = size + ?4, highestmodseq = 5
					WHERE account_id = ?1 AND name = 'INBOX'`,
				`UPDATE accounts SET used_bytes = used_bytes + ?4, modseq = 5 WHERE id = ?1`,
			} {
				if _, err := w.exec(q, acc.ID, i+1, toNanos(date), len(body), id); err != nil {
					return nil, err
				}
			}
			return nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, dir)
	in := mustMailbox(t, s, acc.ID, "INBOX")
	msgs, err := s.Messages(ctx, acc.ID, in.ID, 1, 0)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("after migration: %d messages, %v", len(msgs), err)
	}
	for _, m := range msgs {
		if !m.InternalDate.Equal(date) || m.ModSeq != 5 {
			t.Errorf("migrated message %+v", m)
		}
	}
	mbs, _ := s.Mailboxes(ctx, acc.ID)
	for _, mb := range mbs {
		if mb.HighestModSeq == 0 {
			t.Errorf("mailbox %s: HIGHESTMODSEQ 0 after migration", mb.Name)
		}
	}
	for term, want := range map[string][]uint32{"AARDVARK": {1}, "okapi wakes": {2}, "zebra": nil} {
		got, err := s.SearchText(ctx, acc.ID, in.ID, TextQuery{Body: []string{term}})
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("SearchText(%q) after migration = %v, %v; want %v", term, got, err, want)
		}
	}
	var pending int
	s.rdb.QueryRow(`SELECT count(*) FROM meta WHERE key = 'fts_backfill'`).Scan(&pending)
	if pending != 0 {
		t.Errorf("backfill marker left in meta")
	}
	// A new message after the migration gets a MODSEQ above the old ones.
	m := deliver(t, s, small, Target{AccountID: acc.ID})[0]
	if m.ModSeq <= 5 {
		t.Errorf("new MODSEQ %d after migration", m.ModSeq)
	}
}

// genCorpus makes n messages of random words from a small vocabulary, in
// varied encodings (7bit, base64, quoted-printable, ISO-8859-1, HTML), and
// returns their bodies with the decoded text a brute-force search sees.
func genCorpus(n int, seed uint64) (bodies [][]byte, texts []string) {
	rng := rand.New(rand.NewPCG(seed, 1))
	vocab := strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike " +
		"november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu " +
		"café crème naïve über straße résumé")
	for i := range n {
		words := make([]string, 20+rng.IntN(60))
		for j := range words {
			words[j] = vocab[rng.IntN(len(vocab))]
		}
		if rng.IntN(50) == 0 {
			words = append(words, fmt.Sprintf("rare%dword", i))
		}
		text := strings.Join(words, " ")
		hdr := fmt.Sprintf("From: s%d@example.org\r\nSubject: message %d\r\nMessage-ID: <%d@example.org>\r\n", i, i, i)
		var body string
		switch i % 5 {
		case 0:
			body = hdr + "\r\n" + text + "\r\n"
		case 1:
			body = hdr + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
				base64.StdEncoding.EncodeToString([]byte(text)) + "\r\n"
		case 2:
			var b bytes.Buffer
			w := quotedprintable.NewWriter(&b)
			w.Write([]byte(text))
			w.Close()
			body = hdr + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + b.String() + "\r\n"
		case 3:
			latin, err := charmap.ISO8859_1.NewEncoder().String(text)
			if err != nil {
				panic(err)
			}
			body = hdr + "Content-Type: text/plain; charset=iso-8859-1\r\n\r\n" + latin + "\r\n"
		case 4:
			body = hdr + "Content-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>" +
				strings.ReplaceAll(text, " ", " <i></i>") + "</p></body></html>\r\n"
			// Each tag becomes a space.
			text = "   " + strings.ReplaceAll(text, " ", "   ") + "   "
		}
		bodies = append(bodies, []byte(body))
		texts = append(texts, text)
	}
	return bodies, texts
}

// fillMailbox delivers bodies to the account's INBOX in batches.
func fillMailbox(tb testing.TB, s *SQLite, accountID int64, bodies [][]byte) {
	tb.Helper()
	const batch = 500
	for i := 0; i < len(bodies); i += batch {
		var ds []Delivery
		for _, b := range bodies[i:min(i+batch, len(bodies))] {
			ds = append(ds, Delivery{Body: bytes.NewReader(b), Targets: []Target{{AccountID: accountID}}})
		}
		if _, err := s.DeliverAll(context.Background(), ds); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestSearchText10k checks BODY searches on a mailbox of 10,000 generated
// messages against a brute-force scan of their decoded text: long terms
// (trigram index), short terms (scan), terms across word boundaries,
// rare and absent terms, non-ASCII and case variants.
func TestSearchText10k(t *testing.T) {
	n := 10000
	if testing.Short() {
		n = 1000
	}
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	acc := addAccount(t, s, "a@example.org")
	bodies, texts := genCorpus(n, 42)
	fillMailbox(t, s, acc.ID, bodies)
	in := mustMailbox(t, s, acc.ID, "INBOX")
	lower := make([]string, len(texts))
	for i, x := range texts {
		lower[i] = strings.ToLower(x)
	}
	terms := []string{"alpha", "ZULU", "o q", "ta  ", "café", "CRÈME", "über str", "straSSe", "rare17word",
		fmt.Sprintf("rare%dword", n-50), "nonexistent", "ha", "é", "e", "x", "lpha bra", "india juliet kilo"}
	for _, term := range terms {
		got, err := s.SearchText(ctx, acc.ID, in.ID, TextQuery{Body: []string{term}})
		if err != nil {
			t.Fatal(err)
		}
		var want []uint32
		needle := strings.ToLower(term)
		for i, x := range lower {
			if strings.Contains(x, needle) {
				want = append(want, uint32(i+1))
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("BODY %q: %d matches, brute force %d (first differences: %v)", term, len(got), len(want), firstDiff(got, want))
		}
	}
}

func firstDiff(a, b []uint32) []uint32 {
	var d []uint32
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok && len(d) < 5 {
			d = append(d, x)
		}
	}
	for _, x := range b {
		if _, ok := slices.BinarySearch(a, x); !ok && len(d) < 10 {
			d = append(d, x)
		}
	}
	return d
}

// BenchmarkSearchBody times one BODY search (a trigram-indexed term with
// about 1% matches, a common one, and one too short for trigrams) on a
// mailbox of 10,000 messages. cpu-ns/op (see BenchmarkDeliverText) is
// steadier than ns/op on a shared machine.
func BenchmarkSearchBody(b *testing.B) {
	ctx := context.Background()
	s := openTest(b, b.TempDir())
	acc := addAccount(b, s, "a@example.org")
	bodies, _ := genCorpus(10000, 7)
	fillMailbox(b, s, acc.ID, bodies)
	in := mustMailbox(b, s, acc.ID, "INBOX")
	if _, err := ftsFold(); err != nil { // read once per process, not measured
		b.Fatal(err)
	}
	for _, c := range []struct{ name, term string }{{"rare", "rare5000word"}, {"common", "juliet kilo"}, {"short", "zu"}} {
		b.Run(c.name, func(b *testing.B) {
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := s.SearchText(ctx, acc.ID, in.ID, TextQuery{Body: []string{c.term}}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// TestLooksBinary: random bytes labelled text/plain are not indexed; real
// text in any script is.
func TestLooksBinary(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	raw := make([]byte, 5000)
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	bin := strings.ToValidUTF8(string(raw), "\uFFFD")
	for s, want := range map[string]bool{
		bin: true, "plain text\r\n\twith tabs\f": false, "Grüße, 日本語のテキスト": false, "": false,
		strings.Repeat("ok \x00", 100): true,
	} {
		if got := looksBinary(s); got != want {
			t.Errorf("looksBinary(%.20q) = %v", s, got)
		}
	}
	body := "Subject: bin\r\n\r\n" + string(raw)
	if txt := extractText(strings.NewReader(body), int64(len(body)), nil); txt.body != "" || !strings.Contains(txt.header, "Subject: bin") {
		t.Errorf("binary text/plain indexed: %d bytes of body text", len(txt.body))
	}
}

func TestStripSignatureValues(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{" v=1; a=rsa-sha256; d=x.example; bh=AAAA; b=BBBB", " v=1; a=rsa-sha256; d=x.example; bh=; b="},
		{"i=1; a=rsa-sha256; cv=none; d=x.example; s=s; b=CC\r\n DD", "i=1; a=rsa-sha256; cv=none; d=x.example; s=s; b="},
		{" b = EE ;B=keep", " b =;B=keep"}, // tag names are case-sensitive
		{"no tags at all", "no tags at all"},
		{"", ""},
	} {
		if got := stripSignatureValues(tt.in); got != tt.want {
			t.Errorf("stripSignatureValues(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if FullyIndexedField("Dkim-Signature") || FullyIndexedField("ARC-Seal") || !FullyIndexedField("Subject") {
		t.Error("FullyIndexedField")
	}
}
