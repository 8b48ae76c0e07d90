package store

// Messages of the SQLite store: delivery, listing, flags, expunge, copy
// and move. MODSEQs are per account (accounts.modseq): each operation bumps
// the counter once per account it changes, inside its transaction, and
// every message it touches gets that value (RFC 7162 §3.1).

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// normKeywords dedupes keywords case-insensitively, keeping the first
// spelling, and sorts them. Keywords are IMAP atoms (RFC 9051 §9 flag-keyword):
// no spaces or controls, which lets the index store them space-separated.
func normKeywords(kws []string) ([]string, error) {
	if len(kws) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(kws))
	for _, k := range kws {
		if k == "" || strings.ContainsFunc(k, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return nil, fmt.Errorf("%w: keyword %q", ErrInvalid, k)
		}
		if !containsFold(out, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out, nil
}

func containsFold(list []string, k string) bool {
	for _, x := range list {
		if strings.EqualFold(x, k) {
			return true
		}
	}
	return false
}

func joinKeywords(kws []string) string { return strings.Join(kws, " ") }

func splitKeywords(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

const messageCols = `id, account_id, mailbox_id, uid, modseq, flags, keywords, internaldate, internaldate_tz,
	savedate, size, header_prefix, structure, blob_id`

func scanMessage(sc interface{ Scan(...any) error }) (Message, error) {
	var m Message
	var uid, modseq int64
	var flags, tz int
	var kw string
	var idate, sdate int64
	err := sc.Scan(&m.ID, &m.AccountID, &m.MailboxID, &uid, &modseq, &flags, &kw, &idate, &tz, &sdate, &m.Size,
		&m.HeaderPrefix, &m.Structure, &m.BlobID)
	m.UID, m.ModSeq, m.Flags = uint32(uid), uint64(modseq), Flags(flags)
	m.Keywords = splitKeywords(kw)
	m.InternalDate, m.SaveDate = fromNanosZone(idate, tz), fromNanos(sdate)
	return m, err
}

const indexCols = `uid, modseq, flags, keywords, internaldate, internaldate_tz, savedate, size`

func scanIndexEntry(sc interface{ Scan(...any) error }) (IndexEntry, error) {
	var e IndexEntry
	var uid, modseq, idate, sdate int64
	var flags, tz int
	var kw string
	err := sc.Scan(&uid, &modseq, &flags, &kw, &idate, &tz, &sdate, &e.Size)
	e.UID, e.ModSeq, e.Flags = uint32(uid), uint64(modseq), Flags(flags)
	e.Keywords = splitKeywords(kw)
	e.InternalDate, e.SaveDate = fromNanosZone(idate, tz), fromNanos(sdate)
	return e, err
}

const qInsertMessage = `INSERT INTO messages (account_id, mailbox_id, uid, modseq, flags, keywords, internaldate,
	internaldate_tz, savedate, size, header_prefix, structure, blob_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func insertMessage(w *wtx, m *Message) error {
	res, err := w.exec(qInsertMessage,
		m.AccountID, m.MailboxID, int64(m.UID), int64(m.ModSeq), int(m.Flags), joinKeywords(m.Keywords),
		toNanos(m.InternalDate), zoneOffset(m.InternalDate), toNanos(m.SaveDate), m.Size, m.HeaderPrefix, m.Structure, m.BlobID)
	if err != nil {
		return fmt.Errorf("store: insert message: %w", err)
	}
	m.ID, err = res.LastInsertId()
	return err
}

// ------------------------------------------------------------------ deliver

// Deliver implements Mail.
func (s *SQLite) Deliver(ctx context.Context, d Delivery) ([]Message, error) {
	out, err := s.DeliverAll(ctx, []Delivery{d})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// preparedDelivery is a Delivery checked and spooled, ready for its
// transaction.
type preparedDelivery struct {
	blob    *newBlob
	idate   time.Time
	targets []Target
}

// DeliverAll implements Mail. The bodies are spooled and their text
// extracted before the write request, outside the writer goroutine.
func (s *SQLite) DeliverAll(ctx context.Context, ds []Delivery) (_ [][]Message, err error) {
	if len(ds) == 0 {
		return nil, fmt.Errorf("%w: no deliveries", ErrInvalid)
	}
	preps := make([]preparedDelivery, 0, len(ds))
	blobs := make([]*newBlob, 0, len(ds))
	defer func() {
		if err != nil {
			for _, b := range blobs {
				b.discard()
			}
		}
	}()
	for _, d := range ds {
		targets, err := checkTargets(d.Targets)
		if err != nil {
			return nil, err
		}
		blob, err := s.spool(d.Body)
		if err != nil {
			return nil, err
		}
		blobs = append(blobs, blob)
		blob.text = s.blobText(blob, targets)
		preps = append(preps, preparedDelivery{blob: blob, idate: s.stamp(d.InternalDate), targets: targets})
	}
	out := make([][]Message, len(preps))
	err = s.writeBlobs(ctx, blobs, func(w *wtx) ([]Change, error) {
		var all []Change
		for i, p := range preps {
			msgs, changes, err := s.deliverTx(w, p.blob, p.idate, p.targets)
			if err != nil {
				return nil, err
			}
			out[i] = msgs
			all = append(all, changes...)
		}
		return all, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkTargets validates targets and returns them with canonical mailbox
// names and normalized keywords.
func checkTargets(ts []Target) ([]Target, error) {
	if len(ts) == 0 {
		return nil, fmt.Errorf("%w: delivery without targets", ErrInvalid)
	}
	targets := slices.Clone(ts)
	for i := range targets {
		t := &targets[i]
		name, err := canonicalMailbox(t.Mailbox, true)
		if err != nil {
			return nil, err
		}
		t.Mailbox = name
		if t.Keywords, err = normKeywords(t.Keywords); err != nil {
			return nil, err
		}
	}
	return targets, nil
}

// qChargeAccount takes an account's next MODSEQ and adds to its usage.
const qChargeAccount = `UPDATE accounts SET modseq = modseq + 1, used_bytes = used_bytes + ? WHERE id = ?
	RETURNING modseq, quota_bytes, used_bytes`

func (s *SQLite) deliverTx(w *wtx, blob *newBlob, idate time.Time, targets []Target) ([]Message, []Change, error) {
	blobID, err := insertBlob(w, blob, len(targets))
	if err != nil {
		return nil, nil, err
	}
	insertText(w, blobID, blob.text)
	// One MODSEQ per account; quota checked on the account's new total.
	modseqs := map[int64]uint64{}
	for _, t := range targets {
		if _, ok := modseqs[t.AccountID]; ok {
			continue
		}
		var add int64
		strict := false
		for _, u := range targets {
			if u.AccountID == t.AccountID {
				add += int64(len(u.HeaderPrefix)) + blob.size
				strict = strict || !u.IgnoreQuota
			}
		}
		var modseq, quota, used int64
		err := w.queryRow(qChargeAccount, add, t.AccountID).Scan(&modseq, &quota, &used)
		if err != nil {
			return nil, nil, notFound(err, fmt.Sprintf("account %d", t.AccountID))
		}
		if strict && quota > 0 && used > quota {
			return nil, nil, fmt.Errorf("store: account %d: %d bytes over a quota of %d: %w",
				t.AccountID, used-quota, quota, ErrOverQuota)
		}
		modseqs[t.AccountID] = uint64(modseq)
	}
	out := make([]Message, 0, len(targets))
	changes := make([]Change, 0, len(targets))
	for _, t := range targets {
		m := Message{
			AccountID: t.AccountID, ModSeq: modseqs[t.AccountID], Flags: t.Flags, Keywords: t.Keywords,
			InternalDate: idate, SaveDate: w.now, Size: int64(len(t.HeaderPrefix)) + blob.size,
			HeaderPrefix: t.HeaderPrefix, Structure: t.Structure, BlobID: blobID,
		}
		created, err := allocUID(w, &m, t.Mailbox, !t.NoCreate)
		if err != nil {
			return nil, nil, err
		}
		if created {
			changes = append(changes, Change{Kind: ChangeMailboxCreate, AccountID: m.AccountID, MailboxID: m.MailboxID, MailboxName: t.Mailbox})
		}
		if err := insertMessage(w, &m); err != nil {
			return nil, nil, err
		}
		out = append(out, m)
		changes = append(changes, Change{Kind: ChangeNew, AccountID: m.AccountID, MailboxID: m.MailboxID,
			UIDs: []uint32{m.UID}, ModSeq: m.ModSeq})
	}
	return out, changes, nil
}

const qAllocUID = `UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = ?, messages = messages + 1,
	size = size + ? WHERE account_id = ? AND name = ? RETURNING id, uidnext - 1`

// allocUID takes the next UID of the named mailbox for m (creating the
// mailbox, subscribed, if missing and create is set) and accounts for m in
// the mailbox's counters.
func allocUID(w *wtx, m *Message, mailbox string, create bool) (created bool, err error) {
	for try := 0; try < 2; try++ {
		var uid int64
		err := w.queryRow(qAllocUID,
			int64(m.ModSeq), m.Size, m.AccountID, mailbox).Scan(&m.MailboxID, &uid)
		if err == nil {
			if uid > math.MaxUint32 {
				return false, fmt.Errorf("store: mailbox %s: UIDs exhausted", mailbox)
			}
			m.UID = uint32(uid)
			return created, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return false, err
		}
		if !create {
			return false, notFound(err, "mailbox "+mailbox)
		}
		if _, err := createMailbox(w, m.AccountID, mailbox, "", true); err != nil {
			return false, err
		}
		created = true
	}
	return false, fmt.Errorf("store: mailbox %s vanished", mailbox)
}

// -------------------------------------------------------------------- reads

// Messages implements Mail.
func (s *SQLite) Messages(ctx context.Context, accountID, mailboxID int64, first, last uint32) ([]Message, error) {
	hi := int64(last)
	if last == 0 {
		hi = math.MaxUint32
	}
	msgs, err := queryList(s, ctx, scanMessage, `SELECT `+messageCols+` FROM messages
		WHERE mailbox_id = ? AND account_id = ? AND uid >= ? AND uid <= ? ORDER BY uid`, mailboxID, accountID, int64(first), hi)
	if err == nil && len(msgs) == 0 {
		_, err = s.MailboxByID(ctx, accountID, mailboxID)
	}
	return msgs, err
}

// MessagesByUID implements Mail.
func (s *SQLite) MessagesByUID(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]Message, error) {
	return s.MessageFieldsByUID(ctx, accountID, mailboxID, uids, FieldDates|FieldStructure|FieldContent)
}

// MessageFieldsByUID implements Mail.
func (s *SQLite) MessageFieldsByUID(ctx context.Context, accountID, mailboxID int64, uids []uint32, fields MessageFields) ([]Message, error) {
	if len(uids) == 0 {
		_, err := s.MailboxByID(ctx, accountID, mailboxID)
		return nil, err
	}
	db, err := s.reader()
	if err != nil {
		return nil, err
	}
	cols := `uid, modseq, flags, keywords, size`
	if fields&FieldDates != 0 {
		cols += `, internaldate, internaldate_tz, savedate`
	}
	if fields&FieldStructure != 0 {
		cols += `, structure`
	}
	if fields&FieldContent != 0 {
		cols += `, id, header_prefix, blob_id`
	}
	msgs := make([]Message, 0, len(uids))
	err = forUIDChunks(uids, func(where string, args []any, keep func(uint32) bool) error {
		rows, err := db.QueryContext(ctx, `SELECT `+cols+` FROM messages WHERE account_id = ? AND `+where+` ORDER BY uid`,
			append([]any{accountID, mailboxID}, args...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		sc := newFieldScanner(fields)
		for rows.Next() {
			m := Message{AccountID: accountID, MailboxID: mailboxID}
			if err := sc.scan(rows, &m); err != nil {
				return err
			}
			if keep(m.UID) {
				msgs = append(msgs, m)
			}
		}
		return rows.Err()
	})
	if err == nil && len(msgs) == 0 {
		_, err = s.MailboxByID(ctx, accountID, mailboxID)
	}
	return msgs, s.readErr(err)
}

// fieldScanner scans the columns MessageFieldsByUID selects, reusing its
// destinations from row to row.
type fieldScanner struct {
	fields                    MessageFields
	uid, modseq, idate, sdate int64
	flags, tz                 int
	kw                        sql.RawBytes
	dest                      []any
}

func newFieldScanner(fields MessageFields) *fieldScanner {
	f := &fieldScanner{fields: fields}
	f.dest = []any{&f.uid, &f.modseq, &f.flags, &f.kw, nil}
	if fields&FieldDates != 0 {
		f.dest = append(f.dest, &f.idate, &f.tz, &f.sdate)
	}
	if fields&FieldStructure != 0 {
		f.dest = append(f.dest, nil)
	}
	if fields&FieldContent != 0 {
		f.dest = append(f.dest, nil, nil, nil)
	}
	return f
}

func (f *fieldScanner) scan(rows *sql.Rows, m *Message) error {
	f.dest[4] = &m.Size
	i := 5
	if f.fields&FieldDates != 0 {
		i += 3
	}
	if f.fields&FieldStructure != 0 {
		f.dest[i] = &m.Structure
		i++
	}
	if f.fields&FieldContent != 0 {
		f.dest[i], f.dest[i+1], f.dest[i+2] = &m.ID, &m.HeaderPrefix, &m.BlobID
	}
	if err := rows.Scan(f.dest...); err != nil {
		return err
	}
	m.UID, m.ModSeq, m.Flags = uint32(f.uid), uint64(f.modseq), Flags(f.flags)
	if len(f.kw) > 0 {
		m.Keywords = splitKeywords(string(f.kw))
	}
	if f.fields&FieldDates != 0 {
		m.InternalDate, m.SaveDate = fromNanosZone(f.idate, f.tz), fromNanos(f.sdate)
	}
	return nil
}

// uidChunk is how many UIDs one "uid IN (...)" query lists, well below
// SQLite's limit on bound parameters.
const uidChunk = 500

// forUIDChunks calls query with WHERE conditions ("mailbox_id = ? AND
// ...", the mailbox ID being the caller's first argument) that together
// select the UIDs of uids, ascending, from the (mailbox_id, uid) index.
// A dense set is one range scan, filtered by keep; a sparse one is
// looked up in chunks of uidChunk, so that the work follows len(uids)
// rather than the span of the set.
func forUIDChunks(uids []uint32, query func(where string, args []any, keep func(uint32) bool) error) error {
	if !isStrictlyAscending(uids) {
		uids = slices.Clone(uids)
		slices.Sort(uids)
		uids = slices.Compact(uids)
	}
	lo, hi := uids[0], uids[len(uids)-1]
	if int64(hi)-int64(lo) < 2*int64(len(uids)) {
		keep := func(u uint32) bool { _, ok := slices.BinarySearch(uids, u); return ok }
		return query(`mailbox_id = ? AND uid >= ? AND uid <= ?`, []any{int64(lo), int64(hi)}, keep)
	}
	all := func(uint32) bool { return true }
	for len(uids) > 0 {
		n := min(len(uids), uidChunk)
		var sb strings.Builder
		sb.WriteString(`mailbox_id = ? AND uid IN (`)
		args := make([]any, n)
		for i, u := range uids[:n] {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteByte('?')
			args[i] = int64(u)
		}
		sb.WriteByte(')')
		if err := query(sb.String(), args, all); err != nil {
			return err
		}
		uids = uids[n:]
	}
	return nil
}

func isStrictlyAscending(uids []uint32) bool {
	for i := 1; i < len(uids); i++ {
		if uids[i] <= uids[i-1] {
			return false
		}
	}
	return true
}

// ChangedSince implements Mail.
func (s *SQLite) ChangedSince(ctx context.Context, accountID, mailboxID int64, modseq uint64) ([]Message, error) {
	msgs, err := queryList(s, ctx, scanMessage, `SELECT `+messageCols+` FROM messages
		WHERE mailbox_id = ? AND account_id = ? AND modseq > ? ORDER BY uid`, mailboxID, accountID, int64(modseq))
	if err == nil && len(msgs) == 0 {
		_, err = s.MailboxByID(ctx, accountID, mailboxID)
	}
	return msgs, err
}

// MessageIndex implements Mail.
func (s *SQLite) MessageIndex(ctx context.Context, accountID, mailboxID int64) ([]IndexEntry, error) {
	if _, err := s.MailboxByID(ctx, accountID, mailboxID); err != nil {
		return nil, err
	}
	return queryList(s, ctx, scanIndexEntry, `SELECT `+indexCols+` FROM messages
		WHERE mailbox_id = ? AND account_id = ? ORDER BY uid`, mailboxID, accountID)
}

// MailboxUIDs implements Mail. It reads only the (mailbox_id, uid) and
// messages_unseen indexes, in one read transaction. A mailbox whose
// message count spans exactly its lowest to highest UID (none expunged in
// between, the common case) costs a few index probes whatever its size;
// otherwise the UIDs come joined in one string.
func (s *SQLite) MailboxUIDs(ctx context.Context, accountID, mailboxID int64) (UIDList, error) {
	if _, err := s.MailboxByID(ctx, accountID, mailboxID); err != nil {
		return UIDList{}, err
	}
	db, err := s.reader()
	if err != nil {
		return UIDList{}, err
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return UIDList{}, s.readErr(err)
	}
	defer tx.Rollback()
	// One aggregate per subquery, so that SQLite answers each from one
	// end of an index rather than scanning it.
	var lo, hi, unseen sql.NullInt64
	var count int64
	err = tx.QueryRowContext(ctx, `SELECT
		(SELECT min(uid) FROM messages WHERE mailbox_id = ?1),
		(SELECT max(uid) FROM messages WHERE mailbox_id = ?1),
		(SELECT messages FROM mailboxes WHERE id = ?1),
		(SELECT min(uid) FROM messages WHERE mailbox_id = ?1 AND flags & 1 = 0)`,
		mailboxID).Scan(&lo, &hi, &count, &unseen)
	if err != nil {
		return UIDList{}, s.readErr(err)
	}
	l := UIDList{FirstUnseen: uint32(unseen.Int64)}
	if !lo.Valid {
		return l, nil
	}
	span := hi.Int64 - lo.Int64 + 1
	if span == count {
		l.UIDs = appendRun(make([]uint32, 0, span), uint32(lo.Int64), uint32(hi.Int64))
		return l, nil
	}
	l.UIDs, err = uidsByList(ctx, tx, mailboxID, min(max(count, 0), span))
	return l, s.readErr(err)
}

// appendRun appends the UIDs lo through hi to uids.
func appendRun(uids []uint32, lo, hi uint32) []uint32 {
	for u := lo; ; u++ {
		uids = append(uids, u)
		if u == hi {
			return uids
		}
	}
}

// uidsByList lists a mailbox's UIDs from one row: SQLite joins them in
// a string as it walks the index, which costs far less than a row each
// through database/sql.
func uidsByList(ctx context.Context, tx *sql.Tx, mailboxID, capacity int64) ([]uint32, error) {
	var list sql.RawBytes
	rows, err := tx.QueryContext(ctx, `SELECT group_concat(uid, ',') FROM
		(SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid)`, mailboxID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	uids := make([]uint32, 0, capacity)
	for rows.Next() {
		if err := rows.Scan(&list); err != nil {
			return nil, err
		}
		var u uint64
		for i, c := range list {
			if c == ',' {
				uids = append(uids, uint32(u))
				u = 0
				continue
			}
			if c < '0' || c > '9' || u > math.MaxUint32 {
				return nil, fmt.Errorf("store: UID list of mailbox %d: bad byte at %d", mailboxID, i)
			}
			u = u*10 + uint64(c-'0')
		}
		if len(list) > 0 {
			uids = append(uids, uint32(u))
		}
	}
	if !slices.IsSorted(uids) {
		slices.Sort(uids) // group_concat's order is SQLite's choice
	}
	return uids, rows.Err()
}

// MailboxCounts implements Mail. The conditions are spelled as the
// partial indexes messages_unseen and messages_deleted are.
func (s *SQLite) MailboxCounts(ctx context.Context, accountID, mailboxID int64) (MailboxCounts, error) {
	mb, err := s.MailboxByID(ctx, accountID, mailboxID)
	if err != nil {
		return MailboxCounts{}, err
	}
	db, err := s.reader()
	if err != nil {
		return MailboxCounts{}, err
	}
	c := MailboxCounts{Messages: mb.Messages}
	err = db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM messages WHERE mailbox_id = ?1 AND flags & 1 = 0),
		(SELECT count(*) FROM messages WHERE mailbox_id = ?1 AND flags & 8 <> 0)`, mailboxID).Scan(&c.Unseen, &c.Deleted)
	return c, s.readErr(err)
}

// Vanished implements Mail.
func (s *SQLite) Vanished(ctx context.Context, accountID, mailboxID int64, modseq uint64) ([]uint32, error) {
	if _, err := s.MailboxByID(ctx, accountID, mailboxID); err != nil {
		return nil, err
	}
	return queryList(s, ctx, func(sc interface{ Scan(...any) error }) (uint32, error) {
		var u int64
		err := sc.Scan(&u)
		return uint32(u), err
	}, `SELECT uid FROM tombstones WHERE mailbox_id = ? AND modseq > ? ORDER BY uid`, mailboxID, int64(modseq))
}

// Open implements Mail.
func (s *SQLite) Open(ctx context.Context, m Message) (Content, error) {
	return s.openBlob(ctx, m.BlobID, m.HeaderPrefix)
}

// OpenAll implements Mail.
func (s *SQLite) OpenAll(ctx context.Context, msgs []Message) ([]Content, error) {
	return s.openBlobs(ctx, msgs)
}

// ------------------------------------------------------------------- writes

// messagesByUID returns the mailbox's messages whose UIDs are in uids, by UID.
func messagesByUID(w *wtx, mailboxID int64, uids []uint32) ([]Message, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	var out []Message
	err := forUIDChunks(uids, func(where string, args []any, keep func(uint32) bool) error {
		ms, err := messagesWhere(w, func(m Message) bool { return keep(m.UID) }, where, append([]any{mailboxID}, args...)...)
		out = append(out, ms...)
		return err
	})
	return out, err
}

func messagesWhere(w *wtx, keep func(Message) bool, where string, args ...any) ([]Message, error) {
	rows, err := w.query(`SELECT `+messageCols+` FROM messages WHERE `+where+` ORDER BY uid`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		if keep == nil || keep(m) {
			out = append(out, m)
		}
	}
	return out, rows.Err()
}

// applyFlags returns m's flags and keywords after c.
func applyFlags(m Message, c FlagChange, kws []string) (Flags, []string) {
	switch c.Op {
	case FlagsAdd:
		out := slices.Clone(m.Keywords)
		for _, k := range kws {
			if !containsFold(out, k) {
				out = append(out, k)
			}
		}
		slices.Sort(out)
		return m.Flags | c.Flags, out
	case FlagsRemove:
		var out []string
		for _, k := range m.Keywords {
			if !containsFold(kws, k) {
				out = append(out, k)
			}
		}
		return m.Flags &^ c.Flags, out
	default:
		return c.Flags, kws
	}
}

// flagsByUID is messagesByUID reading only what StoreFlags needs.
func flagsByUID(w *wtx, mb Mailbox, uids []uint32) ([]Message, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	var out []Message
	err := forUIDChunks(uids, func(where string, args []any, keep func(uint32) bool) error {
		rows, err := w.query(`SELECT id, uid, modseq, flags, keywords FROM messages WHERE `+where+` ORDER BY uid`,
			append([]any{mb.ID}, args...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m := Message{AccountID: mb.AccountID, MailboxID: mb.ID}
			var uid, modseq int64
			var flags int
			var kw string
			if err := rows.Scan(&m.ID, &uid, &modseq, &flags, &kw); err != nil {
				return err
			}
			m.UID, m.ModSeq, m.Flags, m.Keywords = uint32(uid), uint64(modseq), Flags(flags), splitKeywords(kw)
			if keep(m.UID) {
				out = append(out, m)
			}
		}
		return rows.Err()
	})
	return out, err
}

// flagState is a message's flags and joined keywords.
type flagState struct {
	flags    Flags
	keywords string
}

// updateFlags sets st and modseq on the messages ids, uidChunk rows per
// statement: one statement per row would be prepared and run 10,000
// times for a STORE 1:* on a large mailbox.
func updateFlags(w *wtx, st flagState, modseq uint64, ids []int64) error {
	for len(ids) > 0 {
		n := min(len(ids), uidChunk)
		args := make([]any, 0, n+3)
		args = append(args, int(st.flags), st.keywords, int64(modseq))
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		q := `UPDATE messages SET flags = ?, keywords = ?, modseq = ? WHERE id IN (?` + strings.Repeat(",?", n-1) + `)`
		if _, err := w.exec(q, args...); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// StoreFlags implements Mail. Messages whose flags would not change keep
// their MODSEQ and are not reported in Changed; UIDs that do not exist are
// ignored. A non-empty Failed is not an error.
func (s *SQLite) StoreFlags(ctx context.Context, c FlagChange) (FlagResult, error) {
	kws, err := normKeywords(c.Keywords)
	if err != nil {
		return FlagResult{}, err
	}
	if c.Op < FlagsReplace || c.Op > FlagsRemove {
		return FlagResult{}, fmt.Errorf("%w: flag op %d", ErrInvalid, c.Op)
	}
	var res FlagResult
	err = s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		res = FlagResult{}
		mb, err := mailboxByIDTx(w, c.AccountID, c.MailboxID)
		if err != nil {
			return nil, err
		}
		if runs := uidRuns(c.UIDs); flagsOnly(c, kws) && len(runs) <= maxFlagRuns {
			return storeFlagRuns(w, mb, c, runs, &res)
		}
		msgs, err := flagsByUID(w, mb, c.UIDs)
		if err != nil {
			return nil, err
		}
		var modseq uint64
		var uids []uint32
		// The messages that end with the same flags are updated together.
		groups := map[flagState][]int64{}
		var order []flagState
		for _, m := range msgs {
			// RFC 7162 §3.1.3: skip messages modified since UNCHANGEDSINCE.
			if c.UnchangedSince != 0 && m.ModSeq > c.UnchangedSince {
				res.Failed = append(res.Failed, m.UID)
				continue
			}
			flags, kw := applyFlags(m, c, kws)
			if flags == m.Flags && slices.Equal(kw, m.Keywords) {
				continue
			}
			if modseq == 0 {
				if modseq, err = nextModSeq(w, c.AccountID); err != nil {
					return nil, err
				}
			}
			m.Flags, m.Keywords, m.ModSeq = flags, kw, modseq
			st := flagState{flags, joinKeywords(kw)}
			if _, ok := groups[st]; !ok {
				order = append(order, st)
			}
			groups[st] = append(groups[st], m.ID)
			res.Changed = append(res.Changed, m)
			uids = append(uids, m.UID)
		}
		if modseq == 0 {
			return nil, nil
		}
		for _, st := range order {
			if err := updateFlags(w, st, modseq, groups[st]); err != nil {
				return nil, err
			}
		}
		if _, err := w.exec(`UPDATE mailboxes SET highestmodseq = ? WHERE id = ?`, int64(modseq), mb.ID); err != nil {
			return nil, err
		}
		return []Change{{Kind: ChangeFlags, AccountID: c.AccountID, MailboxID: mb.ID, UIDs: uids, ModSeq: modseq}}, nil
	})
	if err != nil {
		return FlagResult{}, err
	}
	return res, nil
}

// maxFlagRuns bounds the runs of consecutive UIDs that storeFlagRuns
// updates with one statement each; a more scattered set goes row by row.
const maxFlagRuns = 64

// flagsOnly reports whether c adds or removes system flags only, with no
// condition: the new flags of a message follow from its old ones in SQL.
func flagsOnly(c FlagChange, kws []string) bool {
	return (c.Op == FlagsAdd || c.Op == FlagsRemove) && len(kws) == 0 && c.UnchangedSince == 0
}

// uidRuns returns the runs of consecutive UIDs of uids, ascending, as
// [first, last] pairs.
func uidRuns(uids []uint32) [][2]uint32 {
	if !isStrictlyAscending(uids) {
		uids = slices.Clone(uids)
		slices.Sort(uids)
		uids = slices.Compact(uids)
	}
	var runs [][2]uint32
	for i, u := range uids {
		if i > 0 && u == uids[i-1]+1 {
			runs[len(runs)-1][1] = u
		} else {
			runs = append(runs, [2]uint32{u, u})
		}
	}
	return runs
}

// storeFlagRuns is StoreFlags of a flagsOnly change: one UPDATE per run
// of UIDs, over the (mailbox_id, uid) index, changing only the rows whose
// flags differ and returning them. The MODSEQ is taken only if some row
// changes.
func storeFlagRuns(w *wtx, mb Mailbox, c FlagChange, runs [][2]uint32, res *FlagResult) ([]Change, error) {
	var modseq int64
	if err := w.queryRow(`SELECT modseq + 1 FROM accounts WHERE id = ?`, c.AccountID).Scan(&modseq); err != nil {
		return nil, notFound(err, fmt.Sprintf("account %d", c.AccountID))
	}
	set, cond := `flags | ?1`, `flags | ?1 <> flags`
	if c.Op == FlagsRemove {
		set, cond = `flags & ~?1`, `flags & ?1 <> 0`
	}
	q := `UPDATE messages SET flags = ` + set + `, modseq = ?2 WHERE mailbox_id = ?3 AND uid >= ?4 AND uid <= ?5 AND ` +
		cond + ` RETURNING id, uid, flags, keywords`
	for _, r := range runs {
		if err := collectFlagRows(w, q, mb, modseq, res, int(c.Flags), int64(modseq), mb.ID, int64(r[0]), int64(r[1])); err != nil {
			return nil, err
		}
	}
	if len(res.Changed) == 0 {
		return nil, nil
	}
	slices.SortFunc(res.Changed, func(a, b Message) int { return cmp.Compare(a.UID, b.UID) })
	if _, err := w.exec(`UPDATE accounts SET modseq = ? WHERE id = ?`, modseq, c.AccountID); err != nil {
		return nil, err
	}
	if _, err := w.exec(`UPDATE mailboxes SET highestmodseq = ? WHERE id = ?`, modseq, mb.ID); err != nil {
		return nil, err
	}
	uids := make([]uint32, len(res.Changed))
	for i, m := range res.Changed {
		uids[i] = m.UID
	}
	return []Change{{Kind: ChangeFlags, AccountID: c.AccountID, MailboxID: mb.ID, UIDs: uids, ModSeq: uint64(modseq)}}, nil
}

// collectFlagRows runs one UPDATE ... RETURNING of storeFlagRuns and
// appends the changed messages to res.
func collectFlagRows(w *wtx, q string, mb Mailbox, modseq int64, res *FlagResult, args ...any) error {
	rows, err := w.query(q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var kw sql.RawBytes
	for rows.Next() {
		m := Message{AccountID: mb.AccountID, MailboxID: mb.ID, ModSeq: uint64(modseq)}
		var uid int64
		var flags int
		if err := rows.Scan(&m.ID, &uid, &flags, &kw); err != nil {
			return err
		}
		m.UID, m.Flags = uint32(uid), Flags(flags)
		if len(kw) > 0 {
			m.Keywords = splitKeywords(string(kw))
		}
		res.Changed = append(res.Changed, m)
	}
	return rows.Err()
}

// Expunge implements Mail.
func (s *SQLite) Expunge(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]uint32, error) {
	return s.expunge(ctx, accountID, mailboxID, uids, func(Message) bool { return true })
}

// ExpungeDeleted implements Mail.
func (s *SQLite) ExpungeDeleted(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]uint32, error) {
	return s.expunge(ctx, accountID, mailboxID, uids, func(m Message) bool { return m.Flags&FlagDeleted != 0 })
}

// expunge removes the messages with the given UIDs that pass keep, or all
// \Deleted ones when uids is nil, in one transaction.
func (s *SQLite) expunge(ctx context.Context, accountID, mailboxID int64, uids []uint32, keep func(Message) bool) ([]uint32, error) {
	var removed []uint32
	err := s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		mb, err := mailboxByIDTx(w, accountID, mailboxID)
		if err != nil {
			return nil, err
		}
		// The condition is spelled as the partial index messages_deleted is.
		var msgs []Message
		if uids == nil {
			msgs, err = messagesWhere(w, nil, `mailbox_id = ? AND flags & 8 <> 0`, mb.ID)
		} else {
			var all []Message
			all, err = messagesByUID(w, mb.ID, uids)
			for _, m := range all {
				if keep(m) {
					msgs = append(msgs, m)
				}
			}
		}
		if err != nil {
			return nil, err
		}
		var ch *Change
		removed, ch, err = s.expungeTx(w, accountID, mb.ID, msgs)
		if ch == nil || err != nil {
			return nil, err
		}
		return []Change{*ch}, nil
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

// expungeTx removes msgs from a mailbox, leaving tombstones.
func (s *SQLite) expungeTx(w *wtx, accountID, mailboxID int64, msgs []Message) ([]uint32, *Change, error) {
	if len(msgs) == 0 {
		return nil, nil, nil
	}
	modseq, err := nextModSeq(w, accountID)
	if err != nil {
		return nil, nil, err
	}
	uids := make([]uint32, 0, len(msgs))
	blobs := map[int64]int{}
	var size int64
	for _, m := range msgs {
		if _, err := w.exec(`DELETE FROM messages WHERE id = ?`, m.ID); err != nil {
			return nil, nil, err
		}
		if _, err := w.exec(`INSERT OR REPLACE INTO tombstones (mailbox_id, uid, modseq) VALUES (?, ?, ?)`,
			mailboxID, int64(m.UID), int64(modseq)); err != nil {
			return nil, nil, err
		}
		uids = append(uids, m.UID)
		blobs[m.BlobID]++
		size += m.Size
	}
	if err := s.unrefBlobs(w, blobs); err != nil {
		return nil, nil, err
	}
	if _, err := w.exec(`UPDATE mailboxes SET messages = messages - ?, size = size - ?, highestmodseq = ? WHERE id = ?`,
		len(msgs), size, int64(modseq), mailboxID); err != nil {
		return nil, nil, err
	}
	if _, err := w.exec(`UPDATE accounts SET used_bytes = used_bytes - ? WHERE id = ?`, size, accountID); err != nil {
		return nil, nil, err
	}
	return uids, &Change{Kind: ChangeExpunge, AccountID: accountID, MailboxID: mailboxID, UIDs: uids, ModSeq: modseq}, nil
}

// Copy implements Mail. It fails with ErrOverQuota if the copies would
// exceed the account's quota.
func (s *SQLite) Copy(ctx context.Context, accountID, srcMailboxID int64, uids []uint32, dstMailboxID int64) (CopyResult, error) {
	return s.copyOrMove(ctx, CopyRequest{AccountID: accountID, SrcMailboxID: srcMailboxID, UIDs: uids, DstMailboxID: dstMailboxID}, false)
}

// Move implements Mail.
func (s *SQLite) Move(ctx context.Context, accountID, srcMailboxID int64, uids []uint32, dstMailboxID int64) (CopyResult, error) {
	return s.copyOrMove(ctx, CopyRequest{AccountID: accountID, SrcMailboxID: srcMailboxID, UIDs: uids, DstMailboxID: dstMailboxID, Move: true}, false)
}

// copyOrMove is Copy, Move and, with train, TrainingCopy.
func (s *SQLite) copyOrMove(ctx context.Context, r CopyRequest, train bool) (CopyResult, error) {
	var res CopyResult
	err := s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		src, err := mailboxByIDTx(w, r.AccountID, r.SrcMailboxID)
		if err != nil {
			return nil, err
		}
		dst, err := mailboxByIDTx(w, r.AccountID, r.DstMailboxID)
		if err != nil {
			return nil, err
		}
		res = CopyResult{UIDValidity: dst.UIDValidity}
		msgs, err := messagesByUID(w, src.ID, r.UIDs)
		if err != nil || len(msgs) == 0 {
			return nil, err
		}
		ch, copies, err := s.copyTx(w, &res, dst, msgs, !r.Move)
		if err != nil {
			return nil, err
		}
		if train {
			if err := addJunkEventsTx(w, src, dst, copies); err != nil {
				return nil, err
			}
		}
		changes := []Change{ch}
		if r.Move {
			_, ech, err := s.expungeTx(w, r.AccountID, src.ID, msgs)
			if err != nil {
				return nil, err
			}
			changes = append(changes, *ech)
		}
		return changes, nil
	})
	if err != nil {
		return CopyResult{}, err
	}
	return res, nil
}

// copyTx adds copies of msgs to dst, sharing their blobs, and returns
// them (with their new IDs).
func (s *SQLite) copyTx(w *wtx, res *CopyResult, dst Mailbox, msgs []Message, checkQuota bool) (Change, []Message, error) {
	var size int64
	for _, m := range msgs {
		size += m.Size
	}
	var modseq, quota, used int64
	err := w.queryRow(`UPDATE accounts SET modseq = modseq + 1, used_bytes = used_bytes + ? WHERE id = ?
		RETURNING modseq, quota_bytes, used_bytes`, size, dst.AccountID).Scan(&modseq, &quota, &used)
	if err != nil {
		return Change{}, nil, notFound(err, fmt.Sprintf("account %d", dst.AccountID))
	}
	if checkQuota && quota > 0 && used > quota {
		return Change{}, nil, fmt.Errorf("store: account %d: %d bytes over a quota of %d: %w",
			dst.AccountID, used-quota, quota, ErrOverQuota)
	}
	if int64(dst.UIDNext)+int64(len(msgs)) > math.MaxUint32 {
		return Change{}, nil, fmt.Errorf("store: mailbox %s: UIDs exhausted", dst.Name)
	}
	uid := dst.UIDNext
	ch := Change{Kind: ChangeNew, AccountID: dst.AccountID, MailboxID: dst.ID, ModSeq: uint64(modseq)}
	copies := make([]Message, 0, len(msgs))
	for _, m := range msgs {
		res.SrcUIDs = append(res.SrcUIDs, m.UID)
		m.MailboxID, m.UID, m.ModSeq, m.SaveDate = dst.ID, uid, uint64(modseq), w.now
		if err := insertMessage(w, &m); err != nil {
			return Change{}, nil, err
		}
		if err := refBlob(w, m.BlobID, 1); err != nil {
			return Change{}, nil, err
		}
		copies = append(copies, m)
		res.DstUIDs = append(res.DstUIDs, uid)
		ch.UIDs = append(ch.UIDs, uid)
		uid++
	}
	_, err = w.exec(`UPDATE mailboxes SET uidnext = ?, messages = messages + ?, size = size + ?, highestmodseq = ?
		WHERE id = ?`, int64(uid), len(msgs), size, modseq, dst.ID)
	return ch, copies, err
}
