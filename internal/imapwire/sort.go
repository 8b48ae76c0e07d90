package imapwire

// SortCriterion is one sort key of SORT (RFC 5256 §3, DISPLAYFROM and
// DISPLAYTO RFC 5957 §3): Key is upper case; Reverse is set when REVERSE
// preceded it.
type SortCriterion struct {
	Key     string
	Reverse bool
}

// SortArgs is SORT / UID SORT (RFC 5256 §3) with ESORT's RETURN options
// (RFC 5267 §3.1: MIN, MAX, ALL, COUNT, and SAVE of RFC 5182).
type SortArgs struct {
	Return   []string // as SearchArgs.Return
	Extended bool     // RETURN was given
	Criteria []SortCriterion
	Charset  string
	Key      SearchKey // KeyAnd of the program's keys
}

// Returns reports whether option opt was asked for.
func (a SortArgs) Returns(opt string) bool { return SearchArgs{Return: a.Return}.Returns(opt) }

// Search returns the search part of the command as SearchArgs.
func (a SortArgs) Search() SearchArgs {
	return SearchArgs{Return: a.Return, Extended: a.Extended, Charset: a.Charset, Key: a.Key}
}

// maxSortCriteria bounds the sort program (each key may appear once).
const maxSortCriteria = 16

// ParseSort parses: [RETURN SP "(" opts ")" SP] "(" [REVERSE SP] key
// *(SP [REVERSE SP] key) ")" SP charset 1*(SP search-key). The charset is
// required (RFC 5256 §5).
func ParseSort(p *Parser) SortArgs {
	var a SortArgs
	if p.AcceptKeyword("RETURN") {
		a.Extended = true
		p.SP()
		a.Return = p.returnOpts()
		p.SP()
	}
	p.Expect('(')
	for p.err == nil {
		c := SortCriterion{Key: p.Keyword()}
		if c.Key == "REVERSE" {
			c.Reverse = true
			p.SP()
			c.Key = p.Keyword()
		}
		switch c.Key {
		case "ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO":
		default:
			p.Fail("Unknown sort key %s", sanitizeKey(c.Key))
		}
		a.Criteria = append(a.Criteria, c)
		if len(a.Criteria) > maxSortCriteria {
			p.Fail("Too many sort keys")
		}
		if p.Accept(')') {
			break
		}
		p.SP()
	}
	p.SP()
	a.Charset = p.AString()
	p.SP()
	a.Key = p.searchProgram()
	return a
}

// returnOpts reads the "(" [opt *(SP opt)] ")" of SEARCH and SORT RETURN.
func (p *Parser) returnOpts() []string {
	var opts []string
	p.List(func() {
		opt := p.Keyword()
		switch opt {
		case ReturnMin, ReturnMax, ReturnAll, ReturnCount, ReturnSave:
			if !(SearchArgs{Return: opts}).Returns(opt) {
				opts = append(opts, opt)
			}
		default:
			p.Fail("Unknown RETURN option")
		}
	})
	return opts
}

// Threading algorithms (RFC 5256 §3).
const (
	ThreadOrderedSubject = "ORDEREDSUBJECT"
	ThreadReferences     = "REFERENCES"
)

// ThreadArgs is THREAD / UID THREAD (RFC 5256 §3).
type ThreadArgs struct {
	Algorithm string // upper case
	Charset   string
	Key       SearchKey
}

// ParseThread parses: thread-alg SP charset 1*(SP search-key).
func ParseThread(p *Parser) ThreadArgs {
	var a ThreadArgs
	a.Algorithm = p.Keyword()
	p.SP()
	a.Charset = p.AString()
	p.SP()
	a.Key = p.searchProgram()
	return a
}
