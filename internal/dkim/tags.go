package dkim

import (
	"errors"
	"fmt"
	"strings"
)

// Errors of the tag-list parser.
var (
	ErrTagSyntax    = errors.New("dkim: malformed tag list")
	ErrDuplicateTag = errors.New("dkim: duplicate tag")
)

// tag is one tag-spec of a tag list.
type tag struct {
	Name, Value string
}

// tagList is a parsed tag list in the order written.
type tagList []tag

// Get returns the value of tag name and whether it is present.
func (l tagList) Get(name string) (string, bool) {
	for _, t := range l {
		if t.Name == name {
			return t.Value, true
		}
	}
	return "", false
}

// parseTags parses a DKIM tag list (RFC 6376 §3.2), as used by the
// DKIM-Signature header field and by key records:
//
//	tag-list  = tag-spec *( ";" tag-spec ) [ ";" ]
//	tag-spec  = [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
//	tag-name  = ALPHA *ALNUMPUNC
//	tag-value = [ tval *( 1*(WSP / FWS) tval ) ]   ; tval = 1*VALCHAR
//
// Values keep their inner whitespace; surrounding FWS is removed. Tag
// names are case-sensitive. A duplicate tag makes the whole list invalid
// (§3.2), and so does an empty tag-spec (";;" or "; ;"): the grammar
// allows one ";" only at the end, as dkimpy reads it. Octets of 0x80 and
// above are accepted in values (RFC 8616 allows UTF-8 in i=).
func parseTags(s string) (tagList, error) {
	s = trimFWS(s)
	if s == "" {
		return nil, nil
	}
	s = strings.TrimSuffix(s, ";")
	var l tagList
	for spec := range strings.SplitSeq(s, ";") {
		if trimFWS(spec) == "" {
			return nil, fmt.Errorf("%w: empty tag-spec (\";;\")", ErrTagSyntax)
		}
		name, value, ok := strings.Cut(spec, "=")
		if !ok {
			return nil, fmt.Errorf("%w: %q has no =", ErrTagSyntax, trimFWS(spec))
		}
		name, value = trimFWS(name), trimFWS(value)
		if !validTagName(name) {
			return nil, fmt.Errorf("%w: bad tag name %q", ErrTagSyntax, name)
		}
		if err := checkTagValue(value); err != nil {
			return nil, fmt.Errorf("%w: tag %s: %v", ErrTagSyntax, name, err)
		}
		if _, dup := l.Get(name); dup {
			return nil, fmt.Errorf("%w: %s", ErrDuplicateTag, name)
		}
		l = append(l, tag{name, value})
	}
	return l, nil
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// trimFWS removes folding whitespace (SP, HTAB, CR, LF) at both ends.
func trimFWS(s string) string { return strings.Trim(s, " \t\r\n") }

func validTagName(n string) bool {
	if n == "" || !isAlpha(n[0]) {
		return false
	}
	for i := 1; i < len(n); i++ {
		if c := n[i]; !isAlpha(c) && !(c >= '0' && c <= '9') && c != '_' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// checkTagValue checks that v is VALCHARs separated by FWS; a CR or LF
// must be part of a CRLF followed by WSP (a fold).
func checkTagValue(v string) error {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\r':
			if i+2 >= len(v) || v[i+1] != '\n' || !isWSP(v[i+2]) {
				return errors.New("bare CR or bad fold")
			}
			i++
		case c == '\n':
			if i+1 >= len(v) || !isWSP(v[i+1]) {
				return errors.New("bad fold")
			}
		case isWSP(c), c >= 0x21 && c <= 0x7e && c != ';', c >= 0x80:
		default:
			return fmt.Errorf("invalid octet 0x%02x", c)
		}
	}
	return nil
}

// stripWSP removes all whitespace (FWS) from a value such as b=, bh= or p=.
func stripWSP(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

// splitColon splits a colon-separated list such as h= and trims each item.
func splitColon(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ":") {
		out = append(out, stripWSP(item))
	}
	return out
}
