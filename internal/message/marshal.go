package message

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// The encoding of a part tree, version 1 (stored per message, so it never
// changes; a new layout gets a new version byte):
//
//	tree     = version(0x01) part
//	part     = uvarint(HeaderStart) uvarint(HeaderEnd-HeaderStart)
//	           uvarint(BodyStart-HeaderEnd) uvarint(BodyEnd-BodyStart)
//	           str(MediaType) str(MediaSubtype) map(Params)
//	           str(ID) str(Description) str(Encoding) str(MD5) str(Location)
//	           str(Disposition) map(DispositionParams) list(Language)
//	           uvarint(Lines) flags uvarint(len(Parts)) *part
//	           [part (Message, flags&1)] [envelope (flags&2)]
//	str      = uvarint(2*len) bytes | uvarint(2*i+1), entry i of wordTable
//	map      = uvarint(n) n*(str str), keys sorted
//	list     = uvarint(n) n*str
//	envelope = envFlags str(Date) str(Subject) addrs(From) [addrs(Sender) unless envFlags&1]
//	           [addrs(ReplyTo) unless envFlags&2] addrs(To) addrs(Cc) addrs(Bcc)
//	           str(InReplyTo) str(MessageID)
//	addrs    = uvarint(n) n*(str(Name) str(Adl) str(Mailbox) str(Host))
//
// envFlags&1 (&2) means Sender (Reply-To) equals From.
const encodingVersion = 1

// wordTable holds strings common in part trees, encoded as one byte. It is
// read-only, and part of the version 1 format: never reorder or remove.
var wordTable = [...]string{
	"text", "plain", "html", "multipart", "mixed", "alternative", "related",
	"message", "rfc822", "application", "octet-stream", "image", "7bit",
	"8bit", "base64", "quoted-printable", "binary", "charset", "utf-8",
	"us-ascii", "iso-8859-1", "boundary", "name", "filename", "attachment",
	"inline", "pdf", "jpeg", "png", "gif", "report", "delivery-status",
	"signed", "pgp-signature", "pkcs7-signature", "calendar", "format",
	"flowed", "delsp", "yes", "no", "digest", "global", "windows-1252",
	"iso-8859-15", "size", "creation-date", "modification-date", "MISSING_DOMAIN",
	"MISSING_MAILBOX", "zip", "msword", "vnd.ms-excel", "x-zip-compressed", "reply-type",
	"original", "method", "REQUEST", "type", "iso-2022-jp", "protocol", "micalg",
	"sha-256", "sha1", "pgp-sha256", "application/pgp-signature", "encrypted",
	"pgp-encrypted", "application/pgp-encrypted", "disposition-notification",
	"headers", "rfc822-headers", "csv", "xml", "json", "css", "javascript", "svg+xml",
}

// ErrCorrupt is returned by Unmarshal for bytes that are not a part tree it
// can decode.
var ErrCorrupt = errors.New("message: corrupt part tree encoding")

// Marshal encodes the tree rooted at p in the compact binary form described
// above. Unmarshal turns it back into an equal tree.
func (p *Part) Marshal() []byte {
	b := make([]byte, 0, 128)
	b = append(b, encodingVersion)
	return appendPart(b, p)
}

func appendPart(b []byte, p *Part) []byte {
	b = binary.AppendUvarint(b, uint64(p.HeaderStart))
	b = binary.AppendUvarint(b, uint64(p.HeaderEnd-p.HeaderStart))
	b = binary.AppendUvarint(b, uint64(p.BodyStart-p.HeaderEnd))
	b = binary.AppendUvarint(b, uint64(p.BodyEnd-p.BodyStart))
	b = appendStr(b, p.MediaType)
	b = appendStr(b, p.MediaSubtype)
	b = appendMap(b, p.Params)
	for _, s := range [...]string{p.ID, p.Description, p.Encoding, p.MD5, p.Location, p.Disposition} {
		b = appendStr(b, s)
	}
	b = appendMap(b, p.DispositionParams)
	b = binary.AppendUvarint(b, uint64(len(p.Language)))
	for _, s := range p.Language {
		b = appendStr(b, s)
	}
	b = binary.AppendUvarint(b, uint64(p.Lines))
	var flags byte
	if p.Message != nil {
		flags |= 1
	}
	if p.Envelope != nil {
		flags |= 2
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(p.Parts)))
	for _, c := range p.Parts {
		b = appendPart(b, c)
	}
	if p.Message != nil {
		b = appendPart(b, p.Message)
	}
	if p.Envelope != nil {
		b = appendEnvelope(b, p.Envelope)
	}
	return b
}

func appendEnvelope(b []byte, e *Envelope) []byte {
	var flags byte
	sameSender := slices.Equal(e.Sender, e.From)
	sameReplyTo := slices.Equal(e.ReplyTo, e.From)
	if sameSender {
		flags |= 1
	}
	if sameReplyTo {
		flags |= 2
	}
	b = append(b, flags)
	b = appendStr(b, e.Date)
	b = appendStr(b, e.Subject)
	b = appendAddrs(b, e.From)
	if !sameSender {
		b = appendAddrs(b, e.Sender)
	}
	if !sameReplyTo {
		b = appendAddrs(b, e.ReplyTo)
	}
	b = appendAddrs(b, e.To)
	b = appendAddrs(b, e.Cc)
	b = appendAddrs(b, e.Bcc)
	b = appendStr(b, e.InReplyTo)
	return appendStr(b, e.MessageID)
}

func appendAddrs(b []byte, as []EnvAddress) []byte {
	b = binary.AppendUvarint(b, uint64(len(as)))
	for _, a := range as {
		b = appendStr(b, a.Name)
		b = appendStr(b, a.Adl)
		b = appendStr(b, a.Mailbox)
		b = appendStr(b, a.Host)
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	if len(s) > 0 && len(s) <= 40 {
		if i := slices.Index(wordTable[:], s); i >= 0 {
			return binary.AppendUvarint(b, uint64(2*i+1))
		}
	}
	b = binary.AppendUvarint(b, uint64(2*len(s)))
	return append(b, s...)
}

func appendMap(b []byte, m map[string]string) []byte {
	b = binary.AppendUvarint(b, uint64(len(m)))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b = appendStr(b, k)
		b = appendStr(b, m[k])
	}
	return b
}

// Unmarshal decodes a tree encoded by Part.Marshal. It returns an error
// wrapping ErrCorrupt for anything else, including trees whose offsets are
// not ordered and nested or that exceed MaxDepth or MaxParts.
func Unmarshal(b []byte) (*Part, error) {
	if len(b) == 0 {
		return nil, ErrCorrupt
	}
	if b[0] != encodingVersion {
		return nil, fmt.Errorf("%w: unknown version %d", ErrCorrupt, b[0])
	}
	d := &decoder{b: b[1:]}
	p := d.part(0)
	if d.err == nil && len(d.b) != 0 {
		d.err = ErrCorrupt
	}
	if d.err != nil {
		return nil, d.err
	}
	return p, nil
}

// maxOffset bounds decoded offsets so that sums cannot overflow.
const maxOffset = 1 << 50

type decoder struct {
	b      []byte
	err    error
	nparts int
}

func (d *decoder) fail() { d.err = ErrCorrupt }

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) offset() int64 {
	v := d.uvarint()
	if v > maxOffset {
		d.fail()
		return 0
	}
	return int64(v)
}

// count reads a length of items that each take at least one byte.
func (d *decoder) count() int {
	v := d.uvarint()
	if v > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) str() string {
	v := d.uvarint()
	if v&1 == 1 {
		if v>>1 >= uint64(len(wordTable)) {
			d.fail()
			return ""
		}
		return wordTable[v>>1]
	}
	n := v >> 1
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strMap() map[string]string {
	n := d.count()
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.str()
		m[k] = d.str()
	}
	if len(m) != n {
		d.fail() // duplicate keys: not what Marshal writes
	}
	return m
}
