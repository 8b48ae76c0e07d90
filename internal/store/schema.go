package store

// Schema and migrations. The on-disk format is versioned by the single row
// of schema_version; migrations[i] upgrades version i to i+1. They run
// forward only, at Open, in one transaction, after a VACUUM INTO snapshot
// of a database that already holds a schema (dir/index.db.before-vN, N the
// version being migrated to).
//
// Conventions: times are Unix nanoseconds (0: zero time); UIDs, MODSEQs and
// UIDVALIDITYs are INTEGERs; address keys are lower-case (addr.Address.Key).

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

type migration func(ctx context.Context, tx *sql.Tx) error

var migrations = []migration{migrate1, migrate2, migrate3 /* reports.go */, migrate4 /* metadata.go */, migrate5 /* junk.go */, migrate6 /* text.go */, migrate7 /* text.go */, migrateQueueIDs /* queueids.go */, migrate9 /* subscriptions.go */}

const schemaV1 = `
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
);
CREATE TABLE domains (
	name           TEXT PRIMARY KEY, -- ASCII form
	unicode        TEXT NOT NULL,
	subaddress_sep TEXT NOT NULL,
	created        INTEGER NOT NULL
);
CREATE TABLE accounts (
	id             INTEGER PRIMARY KEY,
	addr_key       TEXT NOT NULL UNIQUE,
	localpart      TEXT NOT NULL,
	domain         TEXT NOT NULL REFERENCES domains(name),
	domain_unicode TEXT NOT NULL,
	display_name   TEXT NOT NULL,
	quota_bytes    INTEGER NOT NULL,
	used_bytes     INTEGER NOT NULL DEFAULT 0,
	disabled       INTEGER NOT NULL,
	modseq         INTEGER NOT NULL DEFAULT 0, -- last MODSEQ given out
	password_hash  TEXT NOT NULL,
	scram_salt     BLOB,
	scram_iter     INTEGER NOT NULL,
	scram_stored   BLOB,
	scram_server   BLOB,
	created        INTEGER NOT NULL
);
CREATE INDEX accounts_domain ON accounts(domain, addr_key);
CREATE TABLE app_passwords (
	id           INTEGER PRIMARY KEY,
	account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	scope        TEXT NOT NULL, -- JSON array
	scram_salt   BLOB,
	scram_iter   INTEGER NOT NULL,
	scram_stored BLOB,
	scram_server BLOB,
	created      INTEGER NOT NULL,
	last_used    INTEGER NOT NULL
);
CREATE INDEX app_passwords_account ON app_passwords(account_id);
CREATE TABLE aliases (
	domain        TEXT NOT NULL REFERENCES domains(name),
	localpart_key TEXT NOT NULL, -- '' for the catch-all
	localpart     TEXT NOT NULL,
	targets       TEXT NOT NULL, -- JSON array of addr.Address
	created       INTEGER NOT NULL,
	PRIMARY KEY (domain, localpart_key)
);
CREATE TABLE dkim_keys (
	domain      TEXT NOT NULL REFERENCES domains(name),
	selector    TEXT NOT NULL,
	algorithm   TEXT NOT NULL,
	private_key BLOB NOT NULL,
	state       TEXT NOT NULL,
	created     INTEGER NOT NULL,
	PRIMARY KEY (domain, selector)
);
CREATE TABLE mailboxes (
	id            INTEGER PRIMARY KEY,
	account_id    INTEGER NOT NULL REFERENCES accounts(id),
	name          TEXT NOT NULL, -- "INBOX" for the inbox, whatever its spelling
	special_use   TEXT NOT NULL,
	subscribed    INTEGER NOT NULL,
	uidvalidity   INTEGER NOT NULL,
	uidnext       INTEGER NOT NULL,
	highestmodseq INTEGER NOT NULL,
	messages      INTEGER NOT NULL DEFAULT 0,
	size          INTEGER NOT NULL DEFAULT 0,
	UNIQUE (account_id, name)
);
CREATE TABLE blobs (
	id   INTEGER PRIMARY KEY,
	size INTEGER NOT NULL,
	refs INTEGER NOT NULL,
	data BLOB,  -- the bytes when small; NULL when in a file
	path TEXT   -- the file under blobs/, relative; NULL when inline
);
CREATE TABLE messages (
	id            INTEGER PRIMARY KEY,
	account_id    INTEGER NOT NULL,
	mailbox_id    INTEGER NOT NULL REFERENCES mailboxes(id),
	uid           INTEGER NOT NULL,
	modseq        INTEGER NOT NULL,
	flags         INTEGER NOT NULL,
	keywords      TEXT NOT NULL, -- space-separated
	internaldate  INTEGER NOT NULL,
	savedate      INTEGER NOT NULL,
	size          INTEGER NOT NULL,
	header_prefix BLOB,
	structure     BLOB,
	blob_id       INTEGER NOT NULL REFERENCES blobs(id),
	UNIQUE (mailbox_id, uid)
);
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
CREATE TABLE tombstones (
	mailbox_id INTEGER NOT NULL,
	uid        INTEGER NOT NULL,
	modseq     INTEGER NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX tombstones_modseq ON tombstones(mailbox_id, modseq);
CREATE TABLE queue (
	id           INTEGER PRIMARY KEY,
	sender       TEXT NOT NULL,
	recipients   TEXT NOT NULL, -- JSON array of QueueRecipient
	domain       TEXT NOT NULL,
	envid        TEXT NOT NULL,
	ret          TEXT NOT NULL,
	smtputf8     INTEGER NOT NULL,
	requiretls   INTEGER NOT NULL,
	size         INTEGER NOT NULL,
	blob_id      INTEGER NOT NULL REFERENCES blobs(id),
	created      INTEGER NOT NULL,
	next_attempt INTEGER NOT NULL,
	attempts     INTEGER NOT NULL,
	last_error   TEXT NOT NULL,
	held         INTEGER NOT NULL
);
CREATE INDEX queue_next ON queue(next_attempt);
`

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("store: fsync %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func migrate1(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, schemaV1)
	return err
}

// schemaV2:
//
//   - messages gains internaldate_tz (the INTERNALDATE's zone offset in
//     seconds east of UTC, RFC 9051 §2.3.3) and is rebuilt so that the
//     small columns (blob_id included) come before the header prefix and
//     the part tree: listing a mailbox (MessageIndex) then never reads
//     overflow pages.
//   - partial indexes messages_unseen and messages_deleted make the
//     STATUS UNSEEN/DELETED counts and EXPUNGE index lookups; queries must
//     spell their conditions exactly as the index does (flags & 1 = 0,
//     flags & 8 <> 0) for SQLite to use them.
//   - messages_blob finds the messages of a blob (full-text search maps
//     index rows, which are per blob, back to messages).
//   - msgtext is the full-text index: an FTS5 table with the trigram
//     tokenizer (case-insensitive substring matching), one row per message
//     blob (rowid = blobs.id), so copies share it. Columns: header (the
//     decoded header fields of the blob, not the per-message header
//     prefix) and body (decoded text parts). It is filled in the
//     transaction that inserts the blob and emptied in the one that deletes
//     it (v7 rebuilds it without positions: text.go). Existing messages
//     are indexed after the migration, at Open (meta fts_backfill holds
//     the next blob id to index; see text.go).
//   - every mailbox gets a positive HIGHESTMODSEQ (RFC 7162 §3.1.1):
//     mailboxes never changed (0) get the account's MODSEQ after a bump,
//     as new mailboxes now do.
const schemaV2 = `
CREATE TABLE messages_v2 (
	id              INTEGER PRIMARY KEY,
	account_id      INTEGER NOT NULL,
	mailbox_id      INTEGER NOT NULL REFERENCES mailboxes(id),
	uid             INTEGER NOT NULL,
	modseq          INTEGER NOT NULL,
	flags           INTEGER NOT NULL,
	keywords        TEXT NOT NULL, -- space-separated
	internaldate    INTEGER NOT NULL,
	internaldate_tz INTEGER NOT NULL, -- seconds east of UTC
	savedate        INTEGER NOT NULL,
	size            INTEGER NOT NULL,
	blob_id         INTEGER NOT NULL REFERENCES blobs(id),
	header_prefix   BLOB,
	structure       BLOB,
	UNIQUE (mailbox_id, uid)
);
INSERT INTO messages_v2 (id, account_id, mailbox_id, uid, modseq, flags, keywords, internaldate, internaldate_tz,
	savedate, size, blob_id, header_prefix, structure)
	SELECT id, account_id, mailbox_id, uid, modseq, flags, keywords, internaldate, 0,
	savedate, size, blob_id, header_prefix, structure FROM messages;
DROP TABLE messages;
ALTER TABLE messages_v2 RENAME TO messages;
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
CREATE INDEX messages_unseen ON messages(mailbox_id, uid) WHERE flags & 1 = 0;
CREATE INDEX messages_deleted ON messages(mailbox_id, uid) WHERE flags & 8 <> 0;
CREATE INDEX messages_blob ON messages(blob_id);
CREATE VIRTUAL TABLE msgtext USING fts5(header, body, tokenize = 'trigram');
UPDATE accounts SET modseq = modseq + 1;
UPDATE mailboxes SET highestmodseq = (SELECT modseq FROM accounts WHERE accounts.id = mailboxes.account_id)
	WHERE highestmodseq = 0;
INSERT OR REPLACE INTO meta (key, value) VALUES ('fts_backfill', 0);
`

func migrate2(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, schemaV2)
	return err
}

// migrate brings the database at dbPath to len(migs).
func migrate(ctx context.Context, db *sql.DB, dbPath string, migs []migration, log *slog.Logger) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store: schema: %w", err)
	}
	var version int
	err := db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&version)
	if err == sql.ErrNoRows {
		_, err = db.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`)
	}
	if err != nil {
		return fmt.Errorf("store: schema version: %w", err)
	}
	target := len(migs)
	switch {
	case version > target:
		return fmt.Errorf("store: index schema v%d is newer than this program's v%d", version, target)
	case version == target:
		return nil
	}
	if version > 0 {
		snap := fmt.Sprintf("%s.before-v%d", dbPath, target)
		if err := os.Remove(snap); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("store: %w", err)
		}
		if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, snap); err != nil {
			return fmt.Errorf("store: snapshot before migration: %w", err)
		}
		if err := syncFile(snap); err != nil {
			return err
		}
		log.Info("store: snapshot before migration", "path", snap, "from", version, "to", target)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer tx.Rollback()
	for v := version; v < target; v++ {
		if err := migs[v](ctx, tx); err != nil {
			return fmt.Errorf("store: migrate to v%d: %w", v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, target); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	level := slog.LevelInfo
	if version == 0 {
		level = slog.LevelDebug // a new store
	}
	log.Log(ctx, level, "store: migrated index", "from", version, "to", target)
	return nil
}
