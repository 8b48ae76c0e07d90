package message

// Part is one node of a message's MIME tree. Offsets are byte offsets into
// the message given to Parse.
type Part struct {
	// HeaderStart and HeaderEnd delimit the header section; HeaderEnd
	// includes the blank line that ends it, if any.
	HeaderStart, HeaderEnd int64
	// BodyStart and BodyEnd delimit the body. For a child of a multipart the
	// body stops before the line ending that precedes the next boundary
	// delimiter, which belongs to the delimiter (RFC 2046 §5.1.1).
	BodyStart, BodyEnd int64

	// MediaType and MediaSubtype are lower-case. Without a valid
	// Content-Type they default to text/plain with charset us-ascii, or to
	// message/rfc822 inside a multipart/digest (RFC 2045 §5.2, RFC 2046
	// §5.1.5).
	MediaType, MediaSubtype string
	// Params holds the Content-Type parameters: keys lower-case, values
	// decoded (RFC 2231 continuations and charsets, RFC 2047 words in
	// values). Nil when there are none.
	Params map[string]string

	ID          string // Content-ID, unfolded
	Description string // Content-Description, RFC 2047 decoded
	Encoding    string // Content-Transfer-Encoding, lower-case, default "7bit"
	MD5         string // Content-MD5
	Location    string // Content-Location (RFC 2557)

	Disposition       string            // Content-Disposition type, lower-case, "" if absent
	DispositionParams map[string]string // like Params; nil when there are none
	Language          []string          // Content-Language tags; nil when absent

	// Lines is the number of lines in the body of a text/* or message/rfc822
	// (or message/global) part, as IMAP BODYSTRUCTURE reports it; a last
	// line without a line ending counts. It is 0 for other types.
	Lines int64

	// Parts are the children of a multipart, nil otherwise. A multipart
	// can have none: no boundary parameter, no delimiter line, or MaxDepth
	// reached. IMAP should then describe it as a non-multipart body, as
	// Dovecot does; Section treats it so.
	Parts []*Part
	// Message is the root part of the embedded message of a message/rfc822
	// or message/global part whose body is not base64 or quoted-printable
	// encoded (and is within MaxDepth and MaxParts); nil otherwise, and IMAP
	// should then describe the part as a non-message body.
	Message *Part
	// Envelope is set on the root and on the root of each embedded message.
	Envelope *Envelope
}

// Envelope is the IMAP ENVELOPE of a message (RFC 9051 §7.5.2).
type Envelope struct {
	Date      string // unfolded, as written
	Subject   string // RFC 2047 decoded to UTF-8
	From      []EnvAddress
	Sender    []EnvAddress // From when absent or empty
	ReplyTo   []EnvAddress // From when absent or empty
	To        []EnvAddress
	Cc        []EnvAddress
	Bcc       []EnvAddress
	InReplyTo string // unfolded, as written
	MessageID string // unfolded, as written
}

// EnvAddress is one address of an Envelope (RFC 9051 §7.5.2). A group start
// has the group name in Mailbox (MissingMailbox if it has none) and an empty
// Host; a group end has all fields empty. Every other address has a non-empty Mailbox and Host:
// missing parts are MissingMailbox and MissingDomain.
type EnvAddress struct {
	Name    string // display name, RFC 2047 decoded to UTF-8
	Adl     string // obsolete source route, e.g. "@a.example,@b.example"
	Mailbox string // local part, or the group name of a group start
	Host    string // domain
}

// Placeholders for the parts of an address that are missing, as Dovecot
// reports them, so that an address is never mistaken for group syntax.
const (
	MissingMailbox = "MISSING_MAILBOX"
	MissingDomain  = "MISSING_DOMAIN"
)

// Size returns the size of the body in bytes.
func (p *Part) Size() int64 { return p.BodyEnd - p.BodyStart }

// IsMultipart reports whether p has the media type multipart.
func (p *Part) IsMultipart() bool { return p.MediaType == "multipart" }

// Section returns the part named by an IMAP section part number, given as
// its numbers ("1.2.3" is []int{1, 2, 3}); no numbers name p itself.
// Numbering follows RFC 9051 §6.4.5: the children of a multipart are
// numbered from 1; part 1 of a message that is not multipart is its body,
// that is the message's root part itself; and the numbers after that of a
// message/rfc822 part go into the embedded message. A multipart without
// parsed children counts as not multipart.
func (p *Part) Section(nums []int) (*Part, bool) {
	cur := p
	msgRoot := true // cur is the root part of a message
	for i, n := range nums {
		switch {
		case n < 1:
			return nil, false
		case len(cur.Parts) > 0:
			if n > len(cur.Parts) {
				return nil, false
			}
			cur = cur.Parts[n-1]
		case msgRoot && n == 1:
			// RFC 9051 §6.4.5: a message that is not multipart has
			// part 1, its body; cur stays.
		default:
			return nil, false
		}
		msgRoot = false
		if i < len(nums)-1 && cur.Message != nil {
			cur, msgRoot = cur.Message, true
		}
	}
	return cur, true
}

// Walk calls fn for p and each part below it, depth first in section order,
// including embedded messages. It stops early when fn returns false.
func (p *Part) Walk(fn func(*Part) bool) bool {
	if !fn(p) {
		return false
	}
	for _, c := range p.Parts {
		if !c.Walk(fn) {
			return false
		}
	}
	if p.Message != nil {
		return p.Message.Walk(fn)
	}
	return true
}
