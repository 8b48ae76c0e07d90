package message

import (
	"fmt"
	"strings"
)

// AuthorError says why a header has no usable author: the From field is
// missing, repeated, empty or holds an address without a domain.
type AuthorError struct {
	Reason string
}

func (e *AuthorError) Error() string { return e.Reason }

// Authors returns the mailboxes of h's author: the addresses of its one
// From field, group syntax left out (RFC 5322 §3.6: exactly one From
// field; §3.6.2: a mailbox-list of one or more addresses). A missing or
// repeated From field, one without an address, or an address without a
// local part or domain gives an *AuthorError: two From fields, or an
// address a reader cannot attribute, would let a message show one author
// and be checked (DMARC, sender ownership) as another.
func (h Header) Authors() ([]EnvAddress, error) {
	froms := h.Values("From")
	switch {
	case len(froms) == 0:
		return nil, &AuthorError{"the message has no From header field (RFC 5322 section 3.6 requires exactly one)"}
	case len(froms) > 1:
		return nil, &AuthorError{fmt.Sprintf("the message has %d From header fields (RFC 5322 section 3.6 allows exactly one)", len(froms))}
	}
	var out []EnvAddress
	for _, a := range ParseAddressList(froms[0]) {
		if a.Host == "" {
			continue // group start or end
		}
		switch {
		case a.Host == MissingDomain || a.Mailbox == MissingMailbox:
			return nil, &AuthorError{fmt.Sprintf("the From address %s is incomplete: it needs a local part and a domain", quoteAuthor(a))}
		case strings.HasPrefix(a.Host, "["):
			return nil, &AuthorError{fmt.Sprintf("the From address %s has an address literal, not a domain", quoteAuthor(a))}
		case strings.Contains(a.Mailbox, "@") && !strings.HasPrefix(a.Mailbox, `"`):
			return nil, &AuthorError{fmt.Sprintf("the From address %s has more than one unquoted @", quoteAuthor(a))}
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, &AuthorError{"the From header field holds no address (RFC 5322 section 3.6.2 requires at least one)"}
	}
	return out, nil
}

// quoteAuthor formats a for a reason, short and on one line.
func quoteAuthor(a EnvAddress) string {
	var s string
	switch {
	case a.Mailbox == MissingMailbox && a.Host == MissingDomain:
		s = "<>"
	case a.Host == MissingDomain:
		s = "<" + a.Mailbox + ">"
	case a.Mailbox == MissingMailbox:
		s = "<@" + a.Host + ">"
	default:
		s = "<" + a.Mailbox + "@" + a.Host + ">"
	}
	if len(s) > 100 {
		s = s[:100] + "...>"
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
