package imapwire

import (
	"slices"
	"strings"
	"time"
)

// StoreArgs is STORE / UID STORE (RFC 9051 §6.4.6, RFC 7162 §3.1.3).
type StoreArgs struct {
	Set            SeqSet
	UnchangedSince uint64 // 0: none
	HasUnchanged   bool   // UNCHANGEDSINCE was given (it may be 0)
	Op             byte   // 0 replace, '+' add, '-' remove
	Silent         bool
	Flags          []string
}

// ParseStore parses: sequence-set [SP "(" UNCHANGEDSINCE n ")"] SP
// ["+"/"-"] "FLAGS" [".SILENT"] SP (flag-list / flag *(SP flag)).
func ParseStore(p *Parser) StoreArgs {
	var a StoreArgs
	a.Set = p.SeqSet()
	p.SP()
	if p.Peek() == '(' {
		p.List(func() {
			if p.Keyword() != "UNCHANGEDSINCE" {
				p.Fail("Unknown STORE modifier")
			}
			p.SP()
			a.UnchangedSince = p.Number64()
			a.HasUnchanged = true
		})
		p.SP()
	}
	if c := p.Peek(); c == '+' || c == '-' {
		a.Op = c
		p.i++
	}
	switch p.Keyword() {
	case "FLAGS":
	case "FLAGS.SILENT":
		a.Silent = true
	default:
		p.Fail("Expected FLAGS, +FLAGS or -FLAGS")
	}
	p.SP()
	if p.Peek() == '(' {
		a.Flags = p.Flags()
	} else {
		for p.err == nil {
			a.Flags = append(a.Flags, p.Flag())
			if !p.Accept(' ') {
				break
			}
		}
	}
	return a
}

// SelectArgs is SELECT / EXAMINE with RFC 7162 parameters.
type SelectArgs struct {
	Mailbox   string
	CondStore bool
	QResync   *QResyncParams
}

// QResyncParams is the QRESYNC select parameter (RFC 7162 §3.2.5).
type QResyncParams struct {
	UIDValidity uint32
	ModSeq      uint64
	KnownUIDs   *SeqSet
	SeqMatch    *[2]SeqSet // known sequence numbers, their UIDs
}

// ParseSelect parses: mailbox [SP "(" select-param *(SP select-param) ")"].
func ParseSelect(p *Parser) SelectArgs {
	var a SelectArgs
	a.Mailbox = p.Mailbox()
	if !p.Accept(' ') {
		return a
	}
	p.List(func() {
		switch p.Keyword() {
		case "CONDSTORE":
			a.CondStore = true
		case "QRESYNC":
			p.SP()
			q := &QResyncParams{}
			p.Expect('(')
			q.UIDValidity = p.NZNumber()
			p.SP()
			q.ModSeq = p.Number64()
			if p.Accept(' ') {
				if p.Peek() != '(' {
					s := p.SeqSet()
					q.KnownUIDs = &s
					p.Accept(' ')
				}
				if p.Peek() == '(' {
					p.i++
					seqs := p.SeqSet()
					p.SP()
					uids := p.SeqSet()
					p.Expect(')')
					q.SeqMatch = &[2]SeqSet{seqs, uids}
				}
			}
			p.Expect(')')
			a.QResync = q
		default:
			p.Fail("Unknown SELECT parameter")
		}
	})
	return a
}

// ListArgs is LIST with LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819)
// and SPECIAL-USE (RFC 6154) options.
type ListArgs struct {
	// Selection options, upper case: SUBSCRIBED, REMOTE, RECURSIVEMATCH,
	// SPECIAL-USE.
	Selection []string
	Reference string
	Patterns  []string
	// Return options, upper case: SUBSCRIBED, CHILDREN, SPECIAL-USE, STATUS.
	Return []string
	Status []string // STATUS items of RETURN (STATUS (...))
	// Extended: the command used any LIST-EXTENDED syntax.
	Extended bool
}

// ParseList parses LIST (and LSUB with no options).
func ParseList(p *Parser) ListArgs {
	var a ListArgs
	if p.Peek() == '(' {
		a.Extended = true
		p.List(func() {
			kw := p.Keyword()
			switch kw {
			case "SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE":
				a.Selection = append(a.Selection, kw)
			default:
				// RFC 5258 §3: an unknown selection option is BAD.
				p.Fail("Unknown LIST selection option")
			}
		})
		// RFC 5258 §3.1: RECURSIVEMATCH needs a selection option to
		// modify; SUBSCRIBED is the one it is defined for.
		if slices.Contains(a.Selection, "RECURSIVEMATCH") && !slices.Contains(a.Selection, "SUBSCRIBED") {
			p.Fail("RECURSIVEMATCH needs SUBSCRIBED")
		}
		p.SP()
	}
	a.Reference = p.Mailbox()
	p.SP()
	if p.Peek() == '(' {
		a.Extended = true
		p.List(func() { a.Patterns = append(a.Patterns, p.ListMailbox()) })
	} else {
		a.Patterns = append(a.Patterns, p.ListMailbox())
	}
	if p.Accept(' ') {
		a.Extended = true
		if p.Keyword() != "RETURN" {
			p.Fail("Expected RETURN")
		}
		p.SP()
		p.List(func() {
			kw := p.Keyword()
			a.Return = append(a.Return, kw)
			switch kw {
			case "STATUS":
				p.SP()
				a.Status = parseStatusItems(p)
			case "SUBSCRIBED", "CHILDREN", "SPECIAL-USE":
			default:
				p.Fail("Unknown LIST return option") // RFC 5258 §3
			}
		})
	}
	return a
}

// StatusArgs is STATUS.
type StatusArgs struct {
	Mailbox string
	Items   []string // upper case
}

// ParseStatus parses: mailbox SP "(" status-att *(SP status-att) ")".
func ParseStatus(p *Parser) StatusArgs {
	var a StatusArgs
	a.Mailbox = p.Mailbox()
	p.SP()
	a.Items = parseStatusItems(p)
	return a
}

func parseStatusItems(p *Parser) []string {
	var items []string
	p.List(func() {
		kw := p.Keyword()
		switch kw {
		case "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "HIGHESTMODSEQ", "RECENT", "APPENDLIMIT":
			items = append(items, kw)
		default:
			p.Fail("Unknown STATUS item")
		}
	})
	if len(items) == 0 {
		p.Fail("Empty STATUS item list")
	}
	return items
}

// AppendMessage is one message of APPEND (several with MULTIAPPEND).
type AppendMessage struct {
	Flags []string
	Date  time.Time // zero: none given
	Data  []byte    // aliases the command arguments
}

// AppendArgs is APPEND (RFC 9051 §6.3.12, MULTIAPPEND RFC 3502).
type AppendArgs struct {
	Mailbox  string
	Messages []AppendMessage
}

// ParseAppend parses: mailbox 1*(SP [flag-list SP] [date-time SP] literal).
// The UTF8 (literal8) form of RFC 6855 is accepted too.
func ParseAppend(p *Parser) AppendArgs {
	var a AppendArgs
	a.Mailbox = p.Mailbox()
	for p.err == nil && p.Accept(' ') {
		var m AppendMessage
		if p.Peek() == '(' {
			m.Flags = p.Flags()
			p.SP()
		}
		if p.Peek() == '"' {
			m.Date = ParseDateTime(p, p.DateTime())
			p.SP()
		}
		if p.AcceptKeyword("UTF8") {
			p.SP()
			p.Expect('(')
			m.Data = p.Literal8()
			p.Expect(')')
		} else {
			m.Data = p.Literal8()
		}
		a.Messages = append(a.Messages, m)
	}
	if len(a.Messages) == 0 {
		p.Fail("APPEND needs a message")
	}
	return a
}

// ParseDateTime parses an IMAP date-time value ("_2-Jan-2006 15:04:05 -0700").
func ParseDateTime(p *Parser, s string) time.Time {
	t, err := time.Parse("_2-Jan-2006 15:04:05 -0700", s)
	if err != nil {
		t, err = time.Parse("2-Jan-2006 15:04:05 -0700", strings.TrimSpace(s))
	}
	if err != nil {
		p.Fail("Invalid date-time")
	}
	return t
}

// CreateArgs is CREATE with CREATE-SPECIAL-USE (RFC 6154 §3).
type CreateArgs struct {
	Mailbox string
	Use     []string
}

// ParseCreate parses: mailbox [SP "(" "USE" SP "(" flags ")" ")"].
func ParseCreate(p *Parser) CreateArgs {
	var a CreateArgs
	a.Mailbox = p.Mailbox()
	if p.Accept(' ') {
		p.List(func() {
			if p.Keyword() != "USE" {
				p.Fail("Unknown CREATE parameter")
			}
			p.SP()
			a.Use = p.Flags()
		})
	}
	return a
}

// ParseAtoms parses 1*(SP atom) as for ENABLE (first SP already consumed).
func ParseAtoms(p *Parser) []string {
	var out []string
	for p.err == nil {
		out = append(out, p.Keyword())
		if !p.Accept(' ') {
			break
		}
	}
	return out
}

// ParseID parses the ID argument: NIL or a list of string pairs (RFC 2971).
func ParseID(p *Parser) map[string]string {
	if p.AcceptKeyword("NIL") {
		return nil
	}
	m := map[string]string{}
	var key string
	n := 0
	p.List(func() {
		if n%2 == 0 {
			key = p.String()
		} else if v, ok := p.NString(); ok && len(m) < 30 {
			m[key] = v
		}
		n++
	})
	if n%2 != 0 {
		p.Fail("ID list needs field-value pairs")
	}
	return m
}

// QuotaLimit is one resource limit of SETQUOTA (RFC 9208 §4.1).
type QuotaLimit struct {
	Resource string // upper case
	Limit    uint64
}

// ParseSetQuota parses: quota-root-name SP "(" [setquota-resource
// *(SP setquota-resource)] ")".
func ParseSetQuota(p *Parser) (root string, limits []QuotaLimit) {
	root = p.AString()
	p.SP()
	p.List(func() {
		r := p.Keyword()
		p.SP()
		limits = append(limits, QuotaLimit{r, p.Number64()})
	})
	return root, limits
}
