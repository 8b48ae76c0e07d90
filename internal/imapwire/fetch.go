package imapwire

import (
	"strings"
)

// FetchAttr names. BODY without a section is the non-extensible
// BODYSTRUCTURE; BodySection, Binary and BinarySize carry a Section.
const (
	FetchFlags         = "FLAGS"
	FetchUID           = "UID"
	FetchInternalDate  = "INTERNALDATE"
	FetchRFC822Size    = "RFC822.SIZE"
	FetchEnvelope      = "ENVELOPE"
	FetchBodyStructure = "BODYSTRUCTURE"
	FetchBody          = "BODY"
	FetchBodySection   = "BODY[]"
	FetchBinary        = "BINARY[]"
	FetchBinarySize    = "BINARY.SIZE[]"
	FetchRFC822        = "RFC822"
	FetchRFC822Header  = "RFC822.HEADER"
	FetchRFC822Text    = "RFC822.TEXT"
	FetchModSeq        = "MODSEQ"
	FetchSaveDate      = "SAVEDATE"
	FetchPreview       = "PREVIEW"
)

// Section is a body section: part numbers, then a specifier "" (the
// whole part), "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT" or
// "MIME", with header field names for the HEADER.FIELDS forms.
type Section struct {
	Part      []int
	Specifier string
	Fields    []string
}

// String formats the section as in a response: "1.2.HEADER.FIELDS (A B)".
func (s Section) String() string {
	var b strings.Builder
	for i, n := range s.Part {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(itoa(n))
	}
	if s.Specifier != "" {
		if len(s.Part) > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.Specifier)
	}
	if strings.HasPrefix(s.Specifier, "HEADER.FIELDS") {
		b.WriteString(" (")
		for i, f := range s.Fields {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(f)
		}
		b.WriteByte(')')
	}
	return b.String()
}

// Partial is <offset.count>; Count < 0 means no count was given (never
// from clients: the syntax requires it).
type Partial struct {
	Offset, Count int64
}

// FetchAttr is one requested data item.
type FetchAttr struct {
	Name    string
	Section Section
	Peek    bool
	Partial *Partial
}

// FetchArgs is FETCH / UID FETCH.
type FetchArgs struct {
	Set          SeqSet
	Attrs        []FetchAttr
	ChangedSince uint64 // 0: none (RFC 7162 §3.1.4)
	Vanished     bool   // RFC 7162 §3.2.6; only with UID FETCH
}

// ParseFetch parses the arguments of FETCH: sequence-set SP
// (macro / att / "(" att *(SP att) ")") [SP "(" modifiers ")"].
func ParseFetch(p *Parser) FetchArgs {
	var a FetchArgs
	a.Set = p.SeqSet()
	p.SP()
	if p.Peek() == '(' {
		p.List(func() { a.Attrs = append(a.Attrs, p.fetchAttr()) })
	} else {
		switch kw := strings.ToUpper(p.peekAtom()); kw {
		case "ALL", "FAST", "FULL":
			p.Atom()
			a.Attrs = append(a.Attrs, FetchAttr{Name: FetchFlags}, FetchAttr{Name: FetchInternalDate}, FetchAttr{Name: FetchRFC822Size})
			if kw != "FAST" {
				a.Attrs = append(a.Attrs, FetchAttr{Name: FetchEnvelope})
			}
			if kw == "FULL" {
				a.Attrs = append(a.Attrs, FetchAttr{Name: FetchBody})
			}
		default:
			a.Attrs = append(a.Attrs, p.fetchAttr())
		}
	}
	if p.Accept(' ') {
		p.List(func() {
			switch p.Keyword() {
			case "CHANGEDSINCE":
				p.SP()
				a.ChangedSince = p.Number64()
			case "VANISHED":
				a.Vanished = true
			default:
				p.Fail("Unknown FETCH modifier")
			}
		})
	}
	if a.Vanished && a.ChangedSince == 0 {
		p.Fail("VANISHED requires CHANGEDSINCE")
	}
	return a
}

// peekAtom returns the atom ahead without consuming it (stopping at "[",
// "<" and "." so "BODY.PEEK[" yields "BODY").
func (p *Parser) peekAtom() string {
	j := p.i
	for j < len(p.b) && isAtomChar(p.b[j]) && p.b[j] != '[' && p.b[j] != '<' {
		j++
	}
	return string(p.b[p.i:j])
}

func (p *Parser) fetchAttr() FetchAttr {
	name := strings.ToUpper(p.peekAtom())
	if p.err != nil {
		return FetchAttr{}
	}
	p.i += len(name)
	switch name {
	case FetchFlags, FetchUID, FetchInternalDate, FetchRFC822Size, FetchEnvelope,
		FetchBodyStructure, FetchRFC822, FetchRFC822Header, FetchRFC822Text, FetchModSeq, FetchSaveDate:
		return FetchAttr{Name: name}
	case FetchPreview:
		if p.Accept(' ') {
			// RFC 8970 §3: PREVIEW (LAZY); LAZY is accepted and ignored.
			if p.Peek() == '(' {
				p.List(func() {
					if p.Keyword() != "LAZY" {
						p.Fail("Unknown PREVIEW modifier")
					}
				})
			} else {
				p.i--
			}
		}
		return FetchAttr{Name: name}
	case "BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE":
	default:
		p.Fail("Unknown FETCH attribute %q", name)
		return FetchAttr{}
	}
	if name == "BODY" && p.Peek() != '[' {
		return FetchAttr{Name: FetchBody}
	}
	a := FetchAttr{Peek: strings.HasSuffix(name, ".PEEK")}
	binary := strings.HasPrefix(name, "BINARY")
	switch {
	case name == "BINARY.SIZE":
		a.Name = FetchBinarySize
	case binary:
		a.Name = FetchBinary
	default:
		a.Name = FetchBodySection
	}
	p.Expect('[')
	a.Section = p.section(binary)
	p.Expect(']')
	if a.Name != FetchBinarySize && p.Accept('<') {
		off := p.Number64()
		p.Expect('.')
		n := p.Number64()
		if n == 0 {
			p.Fail("Partial length must be non-zero")
		}
		p.Expect('>')
		a.Partial = &Partial{Offset: int64(off), Count: int64(n)}
	}
	return a
}

// section parses section-spec inside "[...]" (RFC 9051 §9); binary
// sections (section-binary) take part numbers only.
func (p *Parser) section(binary bool) Section {
	var s Section
	for p.err == nil && p.Peek() >= '0' && p.Peek() <= '9' {
		n := p.NZNumber()
		if n > 1<<20 {
			p.Fail("Section part number too big")
		}
		s.Part = append(s.Part, int(n))
		if len(s.Part) > 100 {
			p.Fail("Section too deep")
		}
		if !p.Accept('.') {
			return s
		}
	}
	if p.Peek() == ']' {
		if len(s.Part) > 0 {
			p.Fail("Section ends with a dot")
		}
		return s
	}
	if binary {
		p.Fail("BINARY takes part numbers only")
		return s
	}
	spec := strings.ToUpper(p.Atom())
	switch spec {
	case "HEADER", "TEXT":
	case "MIME":
		if len(s.Part) == 0 {
			p.Fail("MIME needs a part number")
		}
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		p.SP()
		p.List(func() { s.Fields = append(s.Fields, strings.ToUpper(p.AString())) })
		if len(s.Fields) == 0 {
			p.Fail("Empty header field list")
		}
	default:
		p.Fail("Unknown section specifier")
	}
	s.Specifier = spec
	return s
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return string(buf[i:])
}
