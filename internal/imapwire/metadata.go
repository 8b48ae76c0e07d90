package imapwire

import "strings"

// DepthInfinity is the GETMETADATA DEPTH "infinity" (RFC 5464 §4.2.2).
const DepthInfinity = -1

// GetMetadataArgs is GETMETADATA (RFC 5464 §4.2).
type GetMetadataArgs struct {
	MaxSize    uint64 // with HasMaxSize: MAXSIZE (§4.2.1)
	HasMaxSize bool
	Depth      int    // 0, 1 or DepthInfinity (§4.2.2)
	Mailbox    string // "" for server entries
	Entries    []string
}

// ParseGetMetadata parses: [SP "(" option *(SP option) ")"] SP mailbox SP
// (entry / "(" entry *(SP entry) ")"), without the first space.
func ParseGetMetadata(p *Parser) GetMetadataArgs {
	var a GetMetadataArgs
	if p.Peek() == '(' {
		p.List(func() {
			switch p.Keyword() {
			case "MAXSIZE":
				p.SP()
				a.MaxSize, a.HasMaxSize = p.Number64(), true
			case "DEPTH":
				p.SP()
				switch d := strings.ToLower(p.Atom()); d {
				case "0":
					a.Depth = 0
				case "1":
					a.Depth = 1
				case "infinity":
					a.Depth = DepthInfinity
				default:
					p.Fail("DEPTH must be 0, 1 or infinity")
				}
			default:
				p.Fail("Unknown GETMETADATA option")
			}
		})
		p.SP()
	}
	a.Mailbox = p.Mailbox()
	p.SP()
	if p.Peek() == '(' {
		p.List(func() { a.Entries = append(a.Entries, p.AString()) })
	} else {
		a.Entries = append(a.Entries, p.AString())
	}
	if len(a.Entries) == 0 {
		p.Fail("GETMETADATA needs an entry")
	}
	return a
}

// MetadataValue is one entry and value of SETMETADATA; Value is nil for NIL.
type MetadataValue struct {
	Entry string
	Value []byte
}

// SetMetadataArgs is SETMETADATA (RFC 5464 §4.3).
type SetMetadataArgs struct {
	Mailbox string // "" for server entries
	Values  []MetadataValue
}

// ParseSetMetadata parses: mailbox SP "(" entry SP value *(SP entry SP
// value) ")", a value being NIL, a string or a literal8.
func ParseSetMetadata(p *Parser) SetMetadataArgs {
	var a SetMetadataArgs
	a.Mailbox = p.Mailbox()
	p.SP()
	p.List(func() {
		v := MetadataValue{Entry: p.AString()}
		p.SP()
		switch {
		case p.AcceptKeyword("NIL"):
		case p.Peek() == '~':
			v.Value = append([]byte{}, p.Literal8()...)
		default:
			v.Value = []byte(p.String())
		}
		a.Values = append(a.Values, v)
	})
	if len(a.Values) == 0 {
		p.Fail("SETMETADATA needs an entry")
	}
	return a
}
