package store

// The full-text index (table msgtext, schema v2; without positions since
// v7): one FTS5 row per message blob, rowid = blobs.id, with the trigram
// tokenizer. A term of 3 or more characters is found as a case-insensitive
// substring (RFC 9051 §6.4.4 SEARCH BODY/TEXT semantics) of one column:
// the index gives the rows that have all its trigrams, and their stored
// text is searched for the term, folded as the tokenizer folds case
// (matchTerm, textfold.go). Shorter terms cannot use trigrams; they are
// answered by scanning the indexed text of the mailbox's messages.
//
// What is indexed (extractText): the blob's header fields as "Name: value"
// lines with RFC 2047 words decoded (column header); the text/* parts with
// their transfer encoding and charset undone, HTML tags stripped and
// entities decoded, and the header fields of embedded messages (column
// body); text parts that turn out to be binary (looksBinary) are skipped.
// At most MaxIndexedText bytes per message. The per-message header
// prefix (Received, Authentication-Results) is not in the index: it is
// searched directly in messages.header_prefix (ASCII case folding).
//
// The text is extracted by Deliver's caller goroutine, before the write
// request, from the part tree the caller passed (shifted past its header
// prefix) or, without one, from a parse of the blob; the row is inserted in
// the transaction that inserts the blob and deleted in the one that deletes
// it (unrefBlob), both at the end of the writer's batch (applyText).

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/posthorn/posthorn/internal/message"
)

// indexText is the text of one blob for msgtext.
type indexText struct {
	header, body string
}

// textOp is a change to msgtext queued by a write request: the row of a
// new blob, or the removal of a deleted blob's row.
type textOp struct {
	id   int64
	text indexText
	del  bool
}

// insertText queues the index row of a new blob for the end of the batch
// (applyText).
func insertText(w *wtx, blobID int64, t indexText) {
	w.texts = append(w.texts, textOp{id: blobID, text: t})
}

// deleteText queues the removal of a deleted blob's index row.
func deleteText(w *wtx, blobID int64) {
	w.texts = append(w.texts, textOp{id: blobID, del: true})
}

// applyText writes the msgtext changes of a batch's committed requests, in
// the batch transaction after the last request. FTS5 turns its pending
// terms into a new index segment at every savepoint boundary, so writing
// each request's row inside its own savepoint would make one small segment
// (and later merge work) per message; here a batch makes one. ops are in
// request order: a row queued and then deleted within the batch (the blob
// id freed and possibly reused) is never written. Removals go first, then
// the rows in rowid order, which FTS5 keeps in one pending segment.
func applyText(w *wtx, ops []textOp) error {
	if len(ops) == 0 {
		return nil
	}
	inserts, deletes := reduceTextOps(ops)
	for _, id := range deletes {
		if _, err := w.exec(`DELETE FROM msgtext WHERE rowid = ?`, id); err != nil {
			return fmt.Errorf("store: text index: %w", err)
		}
	}
	for _, op := range inserts {
		if _, err := w.exec(qInsertText, op.id, op.text.header, op.text.body); err != nil {
			return fmt.Errorf("store: text index: %w", err)
		}
	}
	return nil
}

const qInsertText = `INSERT INTO msgtext (rowid, header, body) VALUES (?, ?, ?)`

// reduceTextOps returns the rows to insert, by rowid, and the rowids to
// delete, ascending, that together have the effect of ops in order.
func reduceTextOps(ops []textOp) (inserts []textOp, deletes []int64) {
	hasDel, sorted := false, true
	for i, op := range ops {
		hasDel = hasDel || op.del
		sorted = sorted && (i == 0 || ops[i-1].id < op.id)
	}
	if !hasDel && sorted { // the common batch: deliveries only
		return ops, nil
	}
	last := map[int64]int{} // rowid → index in ops of its queued row
	for i, op := range ops {
		if op.del {
			delete(last, op.id)
			deletes = append(deletes, op.id)
		} else {
			last[op.id] = i
		}
	}
	for _, i := range last {
		inserts = append(inserts, ops[i])
	}
	slices.SortFunc(inserts, func(a, b textOp) int { return cmp.Compare(a.id, b.id) })
	slices.Sort(deletes)
	return inserts, slices.Compact(deletes)
}

// blobText extracts the text of a spooled blob, using the first target's
// part tree when it has one.
func (s *SQLite) blobText(b *newBlob, targets []Target) indexText {
	var r io.ReaderAt
	if b.path == "" {
		r = bytes.NewReader(b.data)
	} else {
		f, err := os.Open(b.path)
		if err != nil {
			s.log.Warn("store: text index: opening blob", "err", err)
			return indexText{}
		}
		defer f.Close()
		r = f
	}
	var root *message.Part
	for _, t := range targets {
		if root = treeOfBlob(t.Structure, int64(len(t.HeaderPrefix)), b.size); root != nil {
			break
		}
	}
	return extractText(r, b.size, root)
}

// treeOfBlob decodes a part tree computed over prefix + blob and shifts it
// to offsets into the blob; nil if there is none or it does not fit.
func treeOfBlob(structure []byte, prefixLen, size int64) *message.Part {
	if len(structure) == 0 {
		return nil
	}
	root, err := message.Unmarshal(structure)
	if err != nil {
		return nil
	}
	ok := true
	root.Walk(func(p *message.Part) bool {
		for _, o := range []*int64{&p.HeaderStart, &p.HeaderEnd, &p.BodyStart, &p.BodyEnd} {
			*o = max(*o-prefixLen, 0)
			if *o > size {
				ok = false
			}
		}
		return ok
	})
	if !ok {
		return nil
	}
	return root
}

// extractText returns the searchable text of the message in r. root is its
// part tree; nil parses r.
func extractText(r io.ReaderAt, size int64, root *message.Part) indexText {
	if root == nil {
		var err error
		if root, err = message.Parse(r, size); err != nil {
			return indexText{}
		}
	}
	budget := MaxIndexedText
	hdr := headerText(r, root, &budget)
	var body []string // joined by newlines; usually one text part
	root.Walk(func(p *message.Part) bool {
		if budget <= 0 {
			return false
		}
		if p.Message != nil {
			body = appendText(body, headerText(r, p.Message, &budget))
		}
		if p.MediaType == "text" && len(p.Parts) == 0 && p.Message == nil {
			body = appendText(body, partText(r, p, &budget))
		}
		return true
	})
	return indexText{header: hdr, body: strings.Join(body, "\n")}
}

func appendText(texts []string, s string) []string {
	if s == "" {
		return texts
	}
	return append(texts, s)
}

// headerText returns p's header fields as decoded "Name: value" lines.
func headerText(r io.ReaderAt, p *message.Part, budget *int) string {
	n := min(p.HeaderEnd-p.HeaderStart, int64(message.MaxHeaderBytes))
	if n <= 0 || *budget <= 0 {
		return ""
	}
	raw := make([]byte, n)
	if k, err := r.ReadAt(raw, p.HeaderStart); err != nil && k < len(raw) {
		raw = raw[:k]
	}
	var b strings.Builder
	for _, f := range message.ParseHeader(raw).Fields {
		value := f.Value()
		if !FullyIndexedField(f.Name) {
			value = stripSignatureValues(value)
		}
		line := f.Name + ": " + message.DecodeWords(value)
		if f.Name == "" {
			line = message.DecodeWords(f.Value())
		}
		line = strings.ToValidUTF8(line, "\uFFFD")
		if b.Len()+len(line)+1 > *budget {
			break
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	*budget -= b.Len()
	return b.String()
}

// signatureFields are the header fields whose b= and bh= tags carry base64
// signatures and body hashes (RFC 6376 §3.5, RFC 8617 §4.1.2-4.1.3):
// hundreds of random characters per message, nearly every trigram of them
// a new index term, which made a DKIM-signed message cost the index about
// half as much again as the same message unsigned. The index keeps these
// fields with those two values emptied; everything else in them (d=, s=,
// h=, i= …) stays searchable. SEARCH HEADER on these fields does not use the
// index as a pre-filter (FullyIndexedField), so it stays exact; SEARCH
// TEXT does not find text that occurs only inside a signature or body hash
// (docs/imap.md).
var signatureFields = []string{"DKIM-Signature", "X-Google-DKIM-Signature", "ARC-Seal", "ARC-Message-Signature"}

// FullyIndexedField reports whether the full-text index holds the whole
// value of header fields named name. It runs for every header field of
// every delivered message, so it compares without allocating.
func FullyIndexedField(name string) bool {
	for _, f := range signatureFields {
		if strings.EqualFold(name, f) {
			return false
		}
	}
	return true
}

// stripSignatureValues empties the b= and bh= tags of a tag-list value
// (RFC 6376 §3.2; tag names are case-sensitive).
func stripSignatureValues(v string) string {
	tags := strings.Split(v, ";")
	for i, t := range tags {
		name, _, ok := strings.Cut(t, "=")
		if !ok {
			continue
		}
		if n := strings.TrimSpace(name); n == "b" || n == "bh" {
			tags[i] = name + "="
		}
	}
	return strings.Join(tags, ";")
}

// partText returns the decoded text of a text/* leaf part.
func partText(r io.ReaderAt, p *message.Part, budget *int) string {
	body, _ := message.DecodeTransfer(p.Encoding, io.NewSectionReader(r, p.BodyStart, p.Size()))
	raw, _ := readAll(body, int64(*budget), p.Size()) // a decoding error ends the text
	text, err := message.DecodeCharset(p.Params["charset"], raw)
	if err != nil {
		text = strings.ToValidUTF8(string(raw), "\uFFFD")
	}
	if looksBinary(text) {
		return ""
	}
	if p.MediaSubtype == "html" {
		text = stripHTML(text)
	}
	if len(text) > *budget {
		text = truncUTF8(text, *budget)
	}
	*budget -= len(text)
	return text
}

// looksBinary reports whether decoded "text" is really binary data (a
// mislabelled attachment): more than 1 in 16 of its first 4,096 characters
// are U+FFFD (undecodable bytes) or control characters other than white
// space. Indexing such data costs a trigram per byte and finds nothing.
func looksBinary(s string) bool {
	n, bad := 0, 0
	for _, r := range s {
		if n == 4096 {
			break
		}
		n++
		if r == utf8.RuneError || r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != '\f' || r == 0x7f {
			bad++
		}
	}
	return bad*16 > n
}

func truncUTF8(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// stripHTML crudely turns HTML into text: tags (and the content of script
// and style elements) become a space, entities are decoded.
func stripHTML(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			b.WriteString(html.UnescapeString(s))
			break
		}
		b.WriteString(html.UnescapeString(s[:i]))
		s = s[i:]
		j := strings.IndexByte(s, '>')
		if j < 0 {
			break
		}
		tag := strings.ToLower(s[1:min(j, 8)])
		s = s[j+1:]
		for _, skip := range []string{"script", "style"} {
			if strings.HasPrefix(tag, skip) {
				if k := strings.Index(strings.ToLower(s), "</"+skip); k >= 0 {
					s = s[k:]
				} else {
					s = ""
				}
			}
		}
		b.WriteByte(' ')
	}
	return b.String()
}

// ------------------------------------------------------------------ search

// SearchText implements Mail. See TextQuery and the top of this file.
func (s *SQLite) SearchText(ctx context.Context, accountID, mailboxID int64, q TextQuery) ([]uint32, error) {
	if _, err := s.MailboxByID(ctx, accountID, mailboxID); err != nil {
		return nil, err
	}
	db, err := s.reader()
	if err != nil {
		return nil, err
	}
	type term struct {
		text   string
		header bool // in the header columns (and the prefix)
		body   bool
	}
	var terms []term
	for _, t := range q.Body {
		terms = append(terms, term{t, false, true})
	}
	for _, t := range q.Text {
		terms = append(terms, term{t, true, true})
	}
	for _, t := range q.Header {
		terms = append(terms, term{t, true, false})
	}
	var result []uint32
	first := true
	for _, t := range terms {
		if t.text == "" {
			continue
		}
		var uids []uint32
		if utf8.RuneCountInString(t.text) >= 3 {
			uids, err = s.matchTerm(ctx, db, accountID, mailboxID, t.text, t.header, t.body)
		} else {
			uids, err = s.scanTerm(ctx, db, accountID, mailboxID, t.text, t.header, t.body)
		}
		if err != nil {
			return nil, err
		}
		if first {
			result, first = uids, false
		} else {
			result = intersect(result, uids)
		}
		if len(result) == 0 {
			return nil, nil
		}
	}
	if first {
		return queryList(s, ctx, scanUID, `SELECT uid FROM messages WHERE mailbox_id = ? AND account_id = ? ORDER BY uid`,
			mailboxID, accountID)
	}
	return result, nil
}

func scanUID(sc interface{ Scan(...any) error }) (uint32, error) {
	var u int64
	err := sc.Scan(&u)
	return uint32(u), err
}

// trigramQuery returns an FTS5 query for the rows whose text has every
// trigram of term (3 or more characters). msgtext keeps no positions
// (schema v7), so FTS5 takes no phrase of more than one trigram and no
// column filter: the rows are candidates, which matchTerm re-checks. All
// the trigrams, not just enough to cover the term, keep the candidates
// few (in BenchmarkSearchBody's "common" search, 649 rows for 385 matches
// instead of 5,904 with every third trigram).
func trigramQuery(term string) string {
	runes := []rune(term)
	var parts []string
	for i := 0; i+3 <= len(runes); i++ {
		p := `"` + strings.ReplaceAll(string(runes[i:i+3]), `"`, `""`) + `"`
		if !slices.Contains(parts, p) {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " AND ")
}

// matchTerm answers a term of 3 or more characters: the trigram index
// gives the candidate messages, whose text (header and/or body column) is
// then searched for the term with the tokenizer's case folding (foldText),
// so the result is what a positional phrase match gave before schema v7:
// the term as a case-insensitive substring of one column. The per-message
// header prefix is searched directly (ASCII case folding).
func (s *SQLite) matchTerm(ctx context.Context, db *sql.DB, accountID, mailboxID int64, term string, header, body bool) ([]uint32, error) {
	fold, err := ftsFold()
	if err != nil {
		return nil, fmt.Errorf("store: text index: %w", err)
	}
	rows, err := db.QueryContext(ctx, `SELECT m.uid, t.header, t.body FROM messages m JOIN msgtext t ON t.rowid = m.blob_id
		WHERE m.mailbox_id = ?1 AND m.account_id = ?2 AND m.blob_id IN (SELECT rowid FROM msgtext WHERE msgtext MATCH ?3)
		ORDER BY m.uid`, mailboxID, accountID, trigramQuery(term))
	if err != nil {
		return nil, s.readErr(err)
	}
	defer rows.Close()
	needle := foldText(nil, []byte(term), fold)
	var out []uint32
	var buf []byte
	for rows.Next() {
		var uid int64
		var h, b sql.RawBytes
		if err := rows.Scan(&uid, &h, &b); err != nil {
			return nil, s.readErr(err)
		}
		if header && hasFoldedTerm(&buf, h, needle, fold) || body && hasFoldedTerm(&buf, b, needle, fold) {
			out = append(out, uint32(uid))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.readErr(err)
	}
	if !header {
		return out, nil
	}
	prefixed, err := queryList(s, ctx, scanUID, `SELECT uid FROM messages WHERE mailbox_id = ? AND account_id = ?
		AND header_prefix IS NOT NULL AND instr(lower(CAST(header_prefix AS TEXT)), ?) > 0 ORDER BY uid`,
		mailboxID, accountID, strings.ToLower(term))
	if err != nil {
		return nil, err
	}
	return union(out, prefixed), nil
}

// scanTerm answers a term too short for trigrams by scanning the indexed
// text of the mailbox.
func (s *SQLite) scanTerm(ctx context.Context, db *sql.DB, accountID, mailboxID int64, term string, header, body bool) ([]uint32, error) {
	rows, err := db.QueryContext(ctx, `SELECT m.uid, t.header, t.body, m.header_prefix FROM messages m
		LEFT JOIN msgtext t ON t.rowid = m.blob_id
		WHERE m.mailbox_id = ? AND m.account_id = ? ORDER BY m.uid`, mailboxID, accountID)
	if err != nil {
		return nil, s.readErr(err)
	}
	defer rows.Close()
	needle := strings.ToLower(term)
	var out []uint32
	for rows.Next() {
		var uid int64
		var h, b sql.NullString
		var prefix []byte
		if err := rows.Scan(&uid, &h, &b, &prefix); err != nil {
			return nil, s.readErr(err)
		}
		if header && (hasFold(h.String, needle) || hasFold(string(prefix), needle)) ||
			body && hasFold(b.String, needle) {
			out = append(out, uint32(uid))
		}
	}
	return out, s.readErr(rows.Err())
}

// hasFold reports whether lower-cased s contains needle (lower case).
func hasFold(s, needle string) bool {
	return strings.Contains(strings.ToLower(s), needle)
}

// intersect returns the UIDs in both ascending lists.
func intersect(a, b []uint32) []uint32 {
	out := a[:0:0]
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// union returns the UIDs in either ascending list.
func union(a, b []uint32) []uint32 {
	if len(b) == 0 {
		return a
	}
	out := make([]uint32, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return append(append(out, a[i:]...), b[j:]...)
}

// ----------------------------------------------------------------- schema

// schemaV6 tunes msgtext's merging (FTS5 configuration options, kept in
// msgtext_config). Every committed batch adds one segment; automerge
// merges a level's segments into the next once it has that many. At 16
// instead of the default 4 each row is rewritten by merges about half as
// often (levels grow 16-fold), which took a fifth of the store's CPU time
// per delivered message off in BenchmarkDeliverText; a search reads up to
// 15 segments per level instead of 3, which did not measurably slow
// SEARCH. crisismerge, the count at which a level is merged at once, must
// stay above automerge.
const schemaV6 = `
INSERT INTO msgtext (msgtext, rank) VALUES ('automerge', 16);
INSERT INTO msgtext (msgtext, rank) VALUES ('crisismerge', 32);
`

func migrate6(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, schemaV6)
	return err
}

// schemaV7 rebuilds msgtext with detail=none: the index keeps, per
// trigram, only the rows that have it, not the columns and positions.
// That took about a quarter of the store's CPU time per delivered message
// off in BenchmarkDeliverText (smaller pending lists and segments, less
// merge work). A term is then found by the rows that have all its
// trigrams, re-checked against the stored text (matchTerm). The rows are
// copied from the old table, so the migration re-tokenises every indexed
// message once; the v6 merge settings are set again (they belong to the
// table).
const schemaV7 = `
CREATE VIRTUAL TABLE msgtext_v7 USING fts5(header, body, tokenize = 'trigram', detail = none);
INSERT INTO msgtext_v7 (msgtext_v7, rank) VALUES ('automerge', 16);
INSERT INTO msgtext_v7 (msgtext_v7, rank) VALUES ('crisismerge', 32);
INSERT INTO msgtext_v7 (rowid, header, body) SELECT rowid, header, body FROM msgtext ORDER BY rowid;
DROP TABLE msgtext;
ALTER TABLE msgtext_v7 RENAME TO msgtext;
`

func migrate7(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, schemaV7)
	return err
}

// ---------------------------------------------------------------- backfill

// backfillBatch is how many blobs one backfill transaction indexes.
const backfillBatch = 200

// backfillText indexes the blobs of messages stored before schema v2. It
// runs at Open, before the writer starts, while meta holds fts_backfill
// (the next blob id to index); each batch commits with its progress, so a
// crash resumes where it stopped.
func (s *SQLite) backfillText(ctx context.Context) error {
	var next int64
	err := s.wdb.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'fts_backfill'`).Scan(&next)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: text index backfill: %w", err)
	}
	total := 0
	for {
		n, last, err := s.backfillOnce(ctx, next)
		if err != nil {
			return fmt.Errorf("store: text index backfill: %w", err)
		}
		if n == 0 {
			break
		}
		total += n
		next = last + 1
		s.log.Info("store: indexing existing messages for search", "blobs", total)
	}
	if _, err := s.wdb.ExecContext(ctx, `DELETE FROM meta WHERE key = 'fts_backfill'`); err != nil {
		return fmt.Errorf("store: text index backfill: %w", err)
	}
	return nil
}

// backfillOnce indexes up to backfillBatch message blobs with id >= from.
func (s *SQLite) backfillOnce(ctx context.Context, from int64) (n int, last int64, err error) {
	type item struct {
		id, size  int64
		data      []byte
		path      sql.NullString
		prefixLen int64
		structure []byte
	}
	rows, err := s.wdb.QueryContext(ctx, `SELECT b.id, b.size, b.data, b.path,
		(SELECT length(header_prefix) FROM messages WHERE blob_id = b.id LIMIT 1),
		(SELECT structure FROM messages WHERE blob_id = b.id LIMIT 1)
		FROM blobs b WHERE b.id >= ? AND EXISTS (SELECT 1 FROM messages WHERE blob_id = b.id)
		ORDER BY b.id LIMIT ?`, from, backfillBatch)
	if err != nil {
		return 0, 0, err
	}
	var items []item
	for rows.Next() {
		var it item
		var plen sql.NullInt64
		if err := rows.Scan(&it.id, &it.size, &it.data, &it.path, &plen, &it.structure); err != nil {
			rows.Close()
			return 0, 0, err
		}
		it.prefixLen = plen.Int64
		items = append(items, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(items) == 0 {
		return 0, 0, err
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback()
	for _, it := range items {
		var r io.ReaderAt = bytes.NewReader(it.data)
		var f *os.File
		if it.path.Valid {
			if f, err = os.Open(filepath.Join(s.dir, "blobs", it.path.String)); err != nil {
				s.log.Warn("store: text index backfill: blob missing", "blob", it.id, "err", err)
				continue
			}
			r = f
		}
		text := extractText(r, it.size, treeOfBlob(it.structure, it.prefixLen, it.size))
		if f != nil {
			f.Close()
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO msgtext (rowid, header, body) VALUES (?, ?, ?)`,
			it.id, text.header, text.body); err != nil {
			return 0, 0, err
		}
	}
	last = items[len(items)-1].id
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'fts_backfill'`, last+1); err != nil {
		return 0, 0, err
	}
	return len(items), last, tx.Commit()
}
