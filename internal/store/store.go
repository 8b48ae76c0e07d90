// Package store is posthorn's persistent state: an SQL index (domains,
// accounts and credentials, aliases, DKIM keys, mailboxes, messages with
// UIDs/MODSEQs and flags, expunge tombstones, queue entries, DMARC report
// records, junk-training events) plus immutable message blobs. This file
// declares the interface every backend implements (the embedded SQLite
// one in this package; PostgreSQL later) and the values that cross it.
// storetest holds the conformance suite all backends must pass.
//
// Durability rule: a method that stores a message returns only after the
// message bytes and their index record are durable (fsync'd). A crash at any
// instant leaves no partial message visible and loses nothing acknowledged.
package store

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
)

// Sentinel errors. Backends wrap them with %w.
var (
	ErrNotFound  = errors.New("store: not found")
	ErrExists    = errors.New("store: already exists")
	ErrInUse     = errors.New("store: in use")     // e.g. deleting a domain that still has accounts
	ErrInvalid   = errors.New("store: invalid")    // e.g. renaming INBOX, a mailbox name with an empty level
	ErrOverQuota = errors.New("store: over quota") // a delivery would exceed the account's quota
	ErrModified  = errors.New("store: modified")   // CONDSTORE UNCHANGEDSINCE failed for some messages
	ErrClosed    = errors.New("store: closed")
	ErrTooMany   = errors.New("store: too many") // e.g. METADATA entries over MetadataLimits
	// ErrNoSpace is a write that failed for want of disk space: the file
	// system is full (ENOSPC, SQLITE_FULL) or its quota for the server's
	// user is (EDQUOT). The error wraps the cause too. Nothing was
	// stored; deleting messages frees space (writes that only delete
	// still work on a full disk: nospace.go, docs/operations.md). It
	// also matches syscall.ENOSPC, so code that knows only the errno
	// (smtp.AsError) sees SQLITE_FULL as the full disk it is.
	ErrNoSpace error = noSpaceError{}
)

// Store is the whole persistent state of a posthorn installation.
type Store interface {
	Directory
	Mail
	Queue
	Reports
	Metadata
	JunkTraining
	// Notifier carries every mailbox change after its transaction commits.
	Notifier() Notifier
	// Close waits for pending writes, then releases the store.
	Close() error
}

// ---------------------------------------------------------------- directory

// Domain is a local domain: mail to it is delivered here.
type Domain struct {
	Name addr.Domain
	// SubaddressSep separates the base localpart from a tag (user+tag@);
	// "" disables sub-addressing. Default "+".
	SubaddressSep string
	Created       time.Time
}

// Account is a mail user: one address, its mailboxes and credentials.
type Account struct {
	ID          int64
	Address     addr.Address
	DisplayName string
	QuotaBytes  int64 // 0: unlimited
	UsedBytes   int64 // sum of the sizes of all messages in the account; read-only
	Disabled    bool
	Created     time.Time
}

// SCRAMKeys are the salted SCRAM-SHA-256 credentials of RFC 5802 §3 /
// RFC 7677; the password itself is never stored.
type SCRAMKeys struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// Credentials are an account's password verifiers.
type Credentials struct {
	// PasswordHash is an argon2id hash in PHC string form, for web login.
	PasswordHash string
	// SCRAM verifies IMAP/SMTP logins (SCRAM-SHA-256 directly, PLAIN and
	// LOGIN by recomputing the keys).
	SCRAM SCRAMKeys
}

// AppPassword is an extra, separately revocable password for one client.
type AppPassword struct {
	ID        int64
	AccountID int64
	Name      string
	Scope     []string // e.g. ["imap", "smtp"]; empty: every protocol
	SCRAM     SCRAMKeys
	Created   time.Time
	LastUsed  time.Time // zero: never used
}

// Alias maps an address to one or more targets. An empty Localpart is the
// catch-all of Domain.
type Alias struct {
	Localpart addr.Localpart
	Domain    addr.Domain
	Targets   []addr.Address // local or remote
	Created   time.Time
}

// DKIMKey is a signing key of a local domain.
type DKIMKey struct {
	Domain     addr.Domain
	Selector   string
	Algorithm  string // "ed25519" or "rsa"
	PrivateKey []byte // PKCS#8 PEM
	State      string // "active", "pending" (published, not yet signing), "retired"
	Created    time.Time
}

// Directory holds domains, accounts, credentials, aliases and DKIM keys.
type Directory interface {
	AddDomain(ctx context.Context, d Domain) error
	Domain(ctx context.Context, name addr.Domain) (Domain, error)
	Domains(ctx context.Context) ([]Domain, error)
	// DeleteDomain fails with ErrInUse while accounts or aliases remain in it.
	// It removes the domain's DKIM keys.
	DeleteDomain(ctx context.Context, name addr.Domain) error

	// AddAccount creates the account and its default mailboxes (INBOX,
	// Sent, Drafts, Junk, Trash, Archive with their special-use flags,
	// subscribed). The
	// domain must exist; the address must not be an account or alias.
	AddAccount(ctx context.Context, a Account, c Credentials) (Account, error)
	// Account looks an account up by address, case-insensitively (Address.Key).
	Account(ctx context.Context, address addr.Address) (Account, error)
	AccountByID(ctx context.Context, id int64) (Account, error)
	Credentials(ctx context.Context, accountID int64) (Credentials, error)
	// Accounts lists accounts ordered by address; a zero domain lists all.
	Accounts(ctx context.Context, domain addr.Domain) ([]Account, error)
	SetCredentials(ctx context.Context, accountID int64, c Credentials) error
	SetQuota(ctx context.Context, accountID int64, quotaBytes int64) error
	// DeleteAccount removes the account with its mailboxes, messages and app
	// passwords, and frees blobs no longer referenced.
	DeleteAccount(ctx context.Context, accountID int64) error

	// AdminAccount returns the admin account (the target of the implicit
	// postmaster@ and abuse@ aliases): the one SetAdminAccount recorded,
	// or, when none was ever recorded, the oldest postmaster@ account.
	// ErrNotFound when there is none.
	AdminAccount(ctx context.Context) (Account, error)
	// SetAdminAccount records the admin account. Deleting that account
	// removes the record.
	SetAdminAccount(ctx context.Context, accountID int64) error

	AddAppPassword(ctx context.Context, p AppPassword) (AppPassword, error)
	AppPasswords(ctx context.Context, accountID int64) ([]AppPassword, error)
	DeleteAppPassword(ctx context.Context, accountID, id int64) error
	TouchAppPassword(ctx context.Context, id int64, used time.Time) error

	// AddAlias fails with ErrExists if the address is an alias or account.
	AddAlias(ctx context.Context, a Alias) error
	// Alias looks up by (localpart key, domain); "" localpart: catch-all.
	Alias(ctx context.Context, localpart addr.Localpart, domain addr.Domain) (Alias, error)
	Aliases(ctx context.Context, domain addr.Domain) ([]Alias, error)
	DeleteAlias(ctx context.Context, localpart addr.Localpart, domain addr.Domain) error

	AddDKIMKey(ctx context.Context, k DKIMKey) error
	DKIMKeys(ctx context.Context, domain addr.Domain) ([]DKIMKey, error)
	SetDKIMKeyState(ctx context.Context, domain addr.Domain, selector, state string) error
}

// --------------------------------------------------------------------- mail

// Flags is the set of IMAP system flags (RFC 9051 §2.3.2).
type Flags uint8

// System flags.
const (
	FlagSeen Flags = 1 << iota
	FlagAnswered
	FlagFlagged
	FlagDeleted
	FlagDraft
)

// Special-use attributes (RFC 6154) of the default mailboxes.
const (
	SpecialSent    = `\Sent`
	SpecialDrafts  = `\Drafts`
	SpecialJunk    = `\Junk`
	SpecialTrash   = `\Trash`
	SpecialArchive = `\Archive`
)

// Mailbox is one folder of an account. Names use "/" as the hierarchy
// separator; "INBOX" is case-insensitive and always exists.
type Mailbox struct {
	ID            int64
	AccountID     int64
	Name          string
	SpecialUse    string // "" or one of the Special* constants
	Subscribed    bool
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Messages      int   // number of messages
	Size          int64 // sum of message sizes
}

// Message is the index record of one message in one mailbox.
type Message struct {
	ID        int64 // unique in the store; stable across flag changes
	AccountID int64
	MailboxID int64
	UID       uint32
	ModSeq    uint64
	Flags     Flags
	Keywords  []string // sorted, as given (IMAP keywords are case-insensitive; the store keeps the first spelling)
	// InternalDate keeps the zone offset it was stored with (RFC 9051
	// §2.3.3), as a fixed zone; only the offset survives, not a zone name.
	InternalDate time.Time
	SaveDate     time.Time
	// Size is the size of the message as served: len(HeaderPrefix) + blob size.
	Size         int64
	HeaderPrefix []byte // e.g. Received, Authentication-Results; served before the blob
	// Structure is the encoded message.Part tree, computed by the caller over
	// the message as served (prefix + blob), so its offsets are offsets into
	// what Open returns.
	Structure []byte
	BlobID    int64
}

// Target is one place a delivered message goes.
type Target struct {
	AccountID int64
	// Mailbox is the mailbox name; "" is INBOX. A missing mailbox is
	// created (subscribed) unless NoCreate is set.
	Mailbox      string
	Flags        Flags
	Keywords     []string
	HeaderPrefix []byte
	Structure    []byte // of prefix + body; see Message.Structure
	// IgnoreQuota delivers even over quota (e.g. bounces to the postmaster).
	IgnoreQuota bool
	// NoCreate fails the delivery with ErrNotFound if the mailbox does not
	// exist, instead of creating it (IMAP APPEND answers [TRYCREATE],
	// RFC 9051 §6.3.12).
	NoCreate bool
}

// Delivery is a message to store once and index into one or more mailboxes.
type Delivery struct {
	Body         io.Reader // the raw message without any HeaderPrefix
	InternalDate time.Time // zero: now
	Targets      []Target
}

// FlagOp is how StoreFlags changes flags (IMAP STORE FLAGS, +FLAGS, -FLAGS).
type FlagOp int

// Flag operations.
const (
	FlagsReplace FlagOp = iota
	FlagsAdd
	FlagsRemove
)

// FlagChange is an IMAP STORE request on a set of UIDs.
type FlagChange struct {
	AccountID int64
	MailboxID int64
	UIDs      []uint32
	Op        FlagOp
	Flags     Flags
	Keywords  []string
	// UnchangedSince, if not zero, skips messages whose MODSEQ is greater
	// (RFC 7162 §3.1.3); they are returned in FlagResult.Failed.
	UnchangedSince uint64
}

// FlagResult reports a StoreFlags call.
type FlagResult struct {
	// Changed are the messages whose flags changed, with their new
	// MODSEQ: ID, AccountID, MailboxID, UID, ModSeq, Flags and Keywords
	// only (a STORE on a large mailbox does not read every part tree).
	Changed []Message
	Failed  []uint32 // UIDs skipped by UnchangedSince
}

// CopyResult maps source UIDs to new UIDs (for UIDPLUS COPYUID/MOVE).
type CopyResult struct {
	UIDValidity uint32
	SrcUIDs     []uint32
	DstUIDs     []uint32
}

// IndexEntry is the light record of one message that MessageIndex lists:
// no header prefix, no part tree.
type IndexEntry struct {
	UID          uint32
	ModSeq       uint64
	Flags        Flags
	Keywords     []string
	InternalDate time.Time // with its zone offset, as Message.InternalDate
	SaveDate     time.Time
	Size         int64
}

// MessageFields chooses the optional fields MessageFieldsByUID reads.
type MessageFields uint8

const (
	FieldDates     MessageFields = 1 << iota // InternalDate, SaveDate
	FieldStructure                           // Structure
	FieldContent                             // ID, HeaderPrefix, BlobID: what Open and OpenAll need
)

// UIDList is what MailboxUIDs returns.
type UIDList struct {
	UIDs        []uint32 // ascending
	FirstUnseen uint32   // the lowest UID without \Seen, 0 if none
}

// MailboxCounts are the flag counters of a mailbox (STATUS UNSEEN and
// DELETED, RFC 9051 §6.3.11).
type MailboxCounts struct {
	Messages int
	Unseen   int // messages without \Seen
	Deleted  int // messages with \Deleted
}

// TextQuery is a full-text search (IMAP SEARCH BODY, TEXT, and a
// pre-filter for HEADER). Every term must match (AND). A term matches as
// a case-insensitive substring (RFC 9051 §6.4.4) of the decoded text:
// header fields with RFC 2047 words decoded, text/* bodies with their
// transfer encoding and charset undone and HTML tags stripped; embedded
// messages' headers count as body. Only the first MaxIndexedText bytes of
// a message's text are searchable. The empty term matches every message.
type TextQuery struct {
	Body []string // in the body
	Text []string // in the header (including the per-message HeaderPrefix) or the body
	// Header terms must occur in the header (including the prefix); the
	// match is on decoded "Name: value" lines, so it is a pre-filter for
	// HEADER name value, which callers check exactly.
	Header []string
}

// MaxIndexedText bounds the decoded text indexed per message.
const MaxIndexedText = 1 << 20

// Mail holds mailboxes and messages.
type Mail interface {
	// Deliver stores d.Body once and indexes it into every target in one
	// transaction. It returns after the data is durable. Concurrent calls share
	// fsyncs (group commit). An over-quota target fails the whole call with
	// ErrOverQuota unless it sets IgnoreQuota.
	Deliver(ctx context.Context, d Delivery) ([]Message, error)
	// DeliverAll is Deliver of several messages in one transaction: all
	// are stored or none (IMAP MULTIAPPEND, RFC 3502 §3). The result has
	// one slice per delivery.
	DeliverAll(ctx context.Context, ds []Delivery) ([][]Message, error)

	// CreateMailbox creates an unsubscribed mailbox (RFC 9051 §6.3.4) with
	// a positive HIGHESTMODSEQ below any MODSEQ its changes will get
	// (RFC 7162 §3.1.1), and its missing parents, all or nothing. Names
	// with control characters or over MaxMailboxName or MaxMailboxDepth
	// are ErrInvalid.
	CreateMailbox(ctx context.Context, accountID int64, name, specialUse string) (Mailbox, error)
	Mailboxes(ctx context.Context, accountID int64) ([]Mailbox, error)
	// MailboxByName matches INBOX case-insensitively (also as the parent
	// in "inbox/x"), other names exactly.
	MailboxByName(ctx context.Context, accountID int64, name string) (Mailbox, error)
	MailboxByID(ctx context.Context, accountID, id int64) (Mailbox, error)
	// RenameMailbox renames the mailbox and its children. Renaming INBOX moves
	// its messages to the new mailbox and leaves INBOX empty (RFC 9051 §6.3.6).
	RenameMailbox(ctx context.Context, accountID int64, oldName, newName string) error
	// DeleteMailbox deletes the mailbox and its messages, freeing their storage.
	DeleteMailbox(ctx context.Context, accountID int64, name string) error
	SetSubscribed(ctx context.Context, accountID int64, name string, subscribed bool) error
	// ClaimRecent reports the UIDs [from, to) of the mailbox that no
	// session has seen as \Recent yet, and with claim marks them seen, so
	// that exactly one session sees each message as recent (IMAP4rev1
	// \Recent, RFC 3501 §2.3.2). Without claim it only looks (EXAMINE,
	// STATUS RECENT).
	ClaimRecent(ctx context.Context, accountID, mailboxID int64, claim bool) (from, to uint32, err error)
	// DanglingSubscriptions lists, sorted, the subscribed names that are
	// not mailboxes: those of subscribed mailboxes deleted since
	// (RFC 9051 §6.3.7). Creating the mailbox again subscribes it.
	DanglingSubscriptions(ctx context.Context, accountID int64) ([]string, error)

	// Messages returns the messages of a mailbox with first <= UID <= last,
	// ordered by UID; last 0 means no upper bound.
	Messages(ctx context.Context, accountID, mailboxID int64, first, last uint32) ([]Message, error)
	// MessagesByUID returns the mailbox's messages whose UIDs are in uids
	// (ascending), ordered by UID; missing UIDs are skipped. Its cost
	// follows len(uids), not the mailbox (a sparse IMAP UID set).
	MessagesByUID(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]Message, error)
	// MessageFieldsByUID is MessagesByUID reading only UID, ModSeq, Flags,
	// Keywords, Size and the fields asked for (AccountID and MailboxID
	// are those given): an IMAP FETCH of a few items over a large
	// mailbox reads no more than it sends.
	MessageFieldsByUID(ctx context.Context, accountID, mailboxID int64, uids []uint32, fields MessageFields) ([]Message, error)
	// ChangedSince returns the messages whose MODSEQ > modseq, by UID.
	ChangedSince(ctx context.Context, accountID, mailboxID int64, modseq uint64) ([]Message, error)
	// MessageIndex lists a mailbox's messages by UID without their header
	// prefix and part tree (SELECT, SEARCH on flags, dates and sizes).
	MessageIndex(ctx context.Context, accountID, mailboxID int64) ([]IndexEntry, error)
	// MailboxUIDs lists a mailbox's UIDs, ascending, and its first unseen
	// one: what IMAP SELECT needs, read from the indexes alone.
	MailboxUIDs(ctx context.Context, accountID, mailboxID int64) (UIDList, error)
	// MailboxKeywords lists the keywords set on some message of the
	// mailbox, sorted, each in the first spelling met (IMAP FLAGS and
	// PERMANENTFLAGS, RFC 9051 §7.3.5).
	MailboxKeywords(ctx context.Context, accountID, mailboxID int64) ([]string, error)
	// MailboxCounts counts a mailbox's messages, unseen and deleted ones.
	MailboxCounts(ctx context.Context, accountID, mailboxID int64) (MailboxCounts, error)
	// SearchText returns the UIDs, ascending, of the mailbox's messages
	// that match q.
	SearchText(ctx context.Context, accountID, mailboxID int64, q TextQuery) ([]uint32, error)
	// Vanished returns the UIDs expunged with MODSEQ > modseq (RFC 7162 §3.2.5).
	Vanished(ctx context.Context, accountID, mailboxID int64, modseq uint64) ([]uint32, error)
	// Open returns the message as served: HeaderPrefix then the blob.
	Open(ctx context.Context, m Message) (Content, error)
	// OpenAll is Open of several messages with one index read: out[i] is
	// msgs[i]'s content. The caller closes every one.
	OpenAll(ctx context.Context, msgs []Message) ([]Content, error)

	StoreFlags(ctx context.Context, c FlagChange) (FlagResult, error)
	// Expunge removes the given UIDs (all \Deleted ones if uids is nil),
	// leaving tombstones, and returns the UIDs removed.
	Expunge(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]uint32, error)
	// ExpungeDeleted removes those of the given UIDs whose message has
	// \Deleted, checked in the same transaction (UID EXPUNGE, RFC 4315
	// §2.1; all \Deleted messages if uids is nil), and returns the UIDs
	// removed.
	ExpungeDeleted(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]uint32, error)
	// Copy copies messages into another mailbox of the same account; the blob
	// is shared, not copied.
	Copy(ctx context.Context, accountID, srcMailboxID int64, uids []uint32, dstMailboxID int64) (CopyResult, error)
	// Move is Copy then Expunge of the source, atomically. Neither records
	// junk-training events; JunkTraining.TrainingCopy does.
	Move(ctx context.Context, accountID, srcMailboxID int64, uids []uint32, dstMailboxID int64) (CopyResult, error)
}

// MetadataEntry is one METADATA entry (RFC 5464 §3): an entry of the
// account's server (MailboxID 0) or of one of its mailboxes. Name is lower
// case and starts with "/private/" or "/shared/"; a mailbox has no other
// users here, so both kinds belong to the account.
type MetadataEntry struct {
	MailboxID int64
	Name      string
	Value     []byte // nil in SetMetadata deletes the entry
}

// MetadataLimits bound one account's METADATA entries, server and mailbox
// ones together. Zero fields mean no limit.
type MetadataLimits struct {
	MaxEntries int
	MaxBytes   int64 // sum of the lengths of names and values
}

// Metadata holds METADATA entries (RFC 5464). Deleting a mailbox or an
// account deletes its entries; renaming a mailbox keeps them.
type Metadata interface {
	// Metadata returns the entries of a mailbox (mailboxID 0: the
	// account's server entries), ordered by name.
	Metadata(ctx context.Context, accountID, mailboxID int64) ([]MetadataEntry, error)
	// SetMetadata sets and deletes entries in one transaction. It fails
	// with ErrNotFound for a missing mailbox, ErrInvalid for a bad name,
	// and ErrTooMany, changing nothing, when the account would exceed lim.
	SetMetadata(ctx context.Context, accountID, mailboxID int64, entries []MetadataEntry, lim MetadataLimits) error
}

// Content is a stored message's bytes.
type Content interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// -------------------------------------------------------------------- queue

// QueueEntry is one outbound message to one destination domain.
type QueueEntry struct {
	ID          int64
	Sender      string // envelope MAIL FROM, "" for the null sender
	Recipients  []QueueRecipient
	Domain      string // destination domain (ASCII)
	EnvID       string // DSN ENVID
	Ret         string // DSN RET: "FULL", "HDRS" or ""
	SMTPUTF8    bool
	RequireTLS  bool
	Size        int64
	BlobID      int64
	Created     time.Time
	NextAttempt time.Time
	Attempts    int
	LastError   string
	Held        bool
	// MessageID is the id of the message the entry was queued from: the
	// id of the SMTP server's 250 reply and log lines ("" for reports the
	// queue made itself). Entries of one message to several domains
	// share it.
	MessageID string
}

// QueueRecipient is one recipient of a queue entry with its DSN parameters.
type QueueRecipient struct {
	Address string
	Notify  string // DSN NOTIFY, e.g. "SUCCESS,FAILURE"
	ORcpt   string // DSN ORCPT
	Status  string // "" pending, "delivered", "failed"
	Reply   string // last remote answer for this recipient
	// DelayNotified is set once a delay warning (DSN "delayed") was sent.
	DelayNotified bool `json:",omitempty"`
}

// Queue holds outbound messages until delivered or bounced.
type Queue interface {
	// Enqueue stores body once and adds entries referencing it, durably.
	Enqueue(ctx context.Context, body io.Reader, entries []QueueEntry) ([]QueueEntry, error)
	QueueEntries(ctx context.Context) ([]QueueEntry, error)
	QueueEntry(ctx context.Context, id int64) (QueueEntry, error)
	// UpdateQueueEntry saves attempts, next attempt, last error, held and
	// recipient statuses.
	UpdateQueueEntry(ctx context.Context, e QueueEntry) error
	// DeleteQueueEntry removes the entry and frees its blob if unreferenced.
	DeleteQueueEntry(ctx context.Context, id int64) error
	// OpenQueued returns the entry's message bytes.
	OpenQueued(ctx context.Context, e QueueEntry) (Content, error)
	// State returns the value saved under key, nil when there is none;
	// SetState saves it durably (nil removes it). Small values the
	// outbound services keep across restarts (the TLS-RPT tallies).
	State(ctx context.Context, key string) ([]byte, error)
	SetState(ctx context.Context, key string, value []byte) error
}

// ----------------------------------------------------------------- notifier

// ChangeKind says what changed.
type ChangeKind int

// Kinds of change.
const (
	ChangeNew ChangeKind = iota + 1 // messages added (delivery, append, copy, move)
	ChangeFlags
	ChangeExpunge
	ChangeMailboxCreate
	ChangeMailboxRename
	ChangeMailboxDelete
	ChangeMailboxSubscribe
)

// Change is one committed change to an account's mailboxes.
type Change struct {
	Kind        ChangeKind
	AccountID   int64
	MailboxID   int64
	MailboxName string // for mailbox changes; the new name for a rename
	OldName     string // for a rename
	UIDs        []uint32
	ModSeq      uint64 // the MODSEQ the change was made with
}

// Notifier publishes committed changes to subscribers. It never drops a
// change: a slow subscriber's queue grows.
type Notifier interface {
	// Subscribe returns a subscription to one account's changes.
	Subscribe(accountID int64) *Subscription
	// Publish is called by the store after commit.
	Publish(changes ...Change)
}
