package imapwire

import (
	"strings"
	"time"
)

// SearchKey is one search key of SEARCH (RFC 9051 §6.4.4) with the keys
// of CONDSTORE (MODSEQ, RFC 7162 §3.1.5), WITHIN (OLDER, YOUNGER,
// RFC 5032) and SAVEDATE (SAVEDBEFORE, SAVEDON, SAVEDSINCE, SAVEDATESUPPORTED,
// RFC 8514). Op is the upper-case key name, or one of the pseudo-keys
// KeyAnd (a parenthesised list, or the whole program) and KeySeqSet (a
// bare sequence set).
type SearchKey struct {
	Op    string
	Str   string      // the string of BCC, BODY, CC, FROM, HEADER, KEYWORD, SUBJECT, TEXT, TO, UNKEYWORD
	Field string      // the field name of HEADER
	Date  time.Time   // BEFORE, ON, SINCE, SENT*, SAVED* (midnight UTC of the date)
	Num   uint64      // LARGER, SMALLER (octets), MODSEQ, OLDER, YOUNGER (seconds)
	Set   SeqSet      // KeySeqSet, UID
	Sub   []SearchKey // KeyAnd: the keys; NOT: one; OR: two
}

// Pseudo search keys.
const (
	KeyAnd    = "AND"
	KeySeqSet = "SEQSET"
)

// ESEARCH return options (RFC 4731 §3.1, SAVE RFC 5182 §2.2).
const (
	ReturnMin   = "MIN"
	ReturnMax   = "MAX"
	ReturnAll   = "ALL"
	ReturnCount = "COUNT"
	ReturnSave  = "SAVE"
)

// SearchArgs is SEARCH / UID SEARCH.
type SearchArgs struct {
	// Return holds the RETURN options (upper case, no duplicates) when
	// Extended; an empty list means ALL (RFC 4731 §3.1).
	Return   []string
	Extended bool // RETURN was given
	Charset  string
	Key      SearchKey // KeyAnd of the program's keys
}

// Returns reports whether option opt was asked for.
func (a SearchArgs) Returns(opt string) bool {
	for _, o := range a.Return {
		if o == opt {
			return true
		}
	}
	return false
}

// maxSearchDepth bounds the nesting of NOT, OR and parentheses.
const maxSearchDepth = 64

// maxSearchKeys bounds the number of keys in one program.
const maxSearchKeys = 1000

// ParseSearch parses: [SP "RETURN" SP "(" [opts] ")"] SP ["CHARSET" SP
// astring SP] search-key *(SP search-key) — without the leading space,
// which the dispatcher strips.
func ParseSearch(p *Parser) SearchArgs {
	var a SearchArgs
	if p.AcceptKeyword("RETURN") {
		a.Extended = true
		p.SP()
		a.Return = p.returnOpts()
		p.SP()
	}
	if p.AcceptKeyword("CHARSET") {
		p.SP()
		a.Charset = p.AString()
		p.SP()
	}
	a.Key = p.searchProgram()
	return a
}

// searchProgram reads search-key *(SP search-key) into a KeyAnd.
func (p *Parser) searchProgram() SearchKey {
	n := 0
	k := SearchKey{Op: KeyAnd}
	for p.err == nil {
		k.Sub = append(k.Sub, p.searchKey(0, &n))
		if !p.Accept(' ') {
			break
		}
	}
	return k
}

// searchKey reads one key; n counts the keys read.
func (p *Parser) searchKey(depth int, n *int) SearchKey {
	*n++
	if depth > maxSearchDepth || *n > maxSearchKeys {
		p.Fail("SEARCH too complex")
		return SearchKey{}
	}
	if p.err != nil {
		return SearchKey{}
	}
	switch c := p.Peek(); {
	case c == '(':
		k := SearchKey{Op: KeyAnd}
		p.i++
		for p.err == nil {
			k.Sub = append(k.Sub, p.searchKey(depth+1, n))
			if p.Accept(')') {
				break
			}
			p.SP()
		}
		return k
	case c == '$' || c == '*' || c >= '0' && c <= '9':
		return SearchKey{Op: KeySeqSet, Set: p.SeqSet()}
	}
	k := SearchKey{Op: p.Keyword()}
	switch k.Op {
	case "ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "NEW", "OLD", "RECENT", "SEEN",
		"UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN", "SAVEDATESUPPORTED":
	case "BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO":
		p.SP()
		k.Str = p.AString()
	case "KEYWORD", "UNKEYWORD":
		p.SP()
		k.Str = p.Flag()
	case "HEADER":
		p.SP()
		k.Field = p.AString()
		p.SP()
		k.Str = p.AString()
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE", "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE":
		p.SP()
		k.Date = p.searchDate()
	case "LARGER", "SMALLER":
		p.SP()
		k.Num = p.Number64()
	case "OLDER", "YOUNGER":
		p.SP()
		k.Num = uint64(p.NZNumber())
	case "UID":
		p.SP()
		k.Set = p.SeqSet()
	case "NOT":
		p.SP()
		k.Sub = []SearchKey{p.searchKey(depth+1, n)}
	case "OR":
		p.SP()
		a := p.searchKey(depth+1, n)
		p.SP()
		k.Sub = []SearchKey{a, p.searchKey(depth+1, n)}
	case "MODSEQ":
		// RFC 7162 §3.1.5: MODSEQ [SP entry-name SP entry-type-req] SP
		// mod-sequence-valzer. The entry (a metadata item) is ignored:
		// every flag's MODSEQ is the message's.
		p.SP()
		if p.Peek() == '"' {
			p.quoted()
			p.SP()
			switch p.Keyword() {
			case "PRIV", "SHARED", "ALL":
			default:
				p.Fail("Expected priv, shared or all")
			}
			p.SP()
		}
		k.Num = p.Number64()
	case "":
		p.Fail("Expected search key")
	default:
		p.Fail("Unknown search key %s", sanitizeKey(k.Op))
	}
	return k
}

func sanitizeKey(s string) string {
	if len(s) > 30 {
		s = s[:30]
	}
	return s
}

// searchDate reads date = date-text / DQUOTE date-text DQUOTE, date-text
// = date-day "-" date-month "-" date-year (RFC 9051 §9).
func (p *Parser) searchDate() time.Time {
	quoted := p.Accept('"')
	start := p.i
	for p.i < len(p.b) && (isAtomChar(p.b[p.i]) || quoted && p.b[p.i] == ' ') && p.b[p.i] != '"' {
		p.i++
	}
	s := string(p.b[start:p.i])
	if quoted {
		p.Expect('"')
	}
	t, err := time.Parse("2-Jan-2006", strings.TrimSpace(s))
	if err != nil {
		p.Fail("Invalid date")
	}
	return t
}
