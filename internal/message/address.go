package message

import "strings"

// Address list parsing for the envelope: RFC 5322 §3.4 with the obsolete
// syntax of §4.4 (routes, empty list elements, phrases with dots) and
// whatever else real mail contains, on a best-effort basis.

type tokKind uint8

const (
	tokAtom    tokKind = iota // atom or dot-atom, including 8-bit bytes (RFC 6532)
	tokQuoted                 // quoted-string, unescaped
	tokLiteral                // domain-literal, with its brackets
	tokSpecial                // one of < > @ , ; :
)

type token struct {
	kind  tokKind
	text  string
	space bool // white space or a comment precedes the token
	// comment is the text of the first comment right after the token:
	// the display name of the old form "user@example.org (Real Name)".
	comment string
}

// lexAddress splits s into tokens, dropping white space and comments (RFC
// 5322 §3.2.2). It caps the token count at len(s), so it is linear.
func lexAddress(s string) []token {
	toks := make([]token, 0, len(s)/4+1)
	space := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			space = true
			i++
			continue
		case c == '(':
			space = true
			end := len(s) - len(skipComment(s[i:]))
			if n := len(toks); n > 0 && !hasComment(toks[n-1]) && end > i+1 && s[end-1] == ')' {
				toks[n-1].comment = commentText(s[i+1 : end-1])
			}
			i = end
			continue
		case c == '"':
			v, rest := quotedString(s[i:])
			toks = append(toks, token{kind: tokQuoted, text: v, space: space})
			i = len(s) - len(rest)
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				j = len(s) - i - 1
			}
			toks = append(toks, token{kind: tokLiteral, text: s[i : i+j+1], space: space})
			i += j + 1
		case strings.IndexByte("<>@,;:", c) >= 0:
			toks = append(toks, token{kind: tokSpecial, text: s[i : i+1], space: space})
			i++
		default:
			j := i
			for j < len(s) && strings.IndexByte(" \t\r\n()\"[<>@,;:", s[j]) < 0 {
				j++
			}
			if j == i {
				j++ // a stray ")": keep it as text
			}
			toks = append(toks, token{kind: tokAtom, text: s[i:j], space: space})
			i = j
		}
		space = false
	}
	return toks
}

// hasComment reports whether t already has its comment.
func hasComment(t token) bool { return t.comment != "" }

// commentText is the text of a comment (without its parentheses): quoted
// pairs unescaped, white space runs made one space, RFC 2047 decoded.
func commentText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			i++
			c = s[i]
		}
		if c == '\r' || c == '\n' || c == '\t' {
			c = ' '
		}
		b.WriteByte(c)
	}
	return DecodeWords(strings.Join(strings.Fields(b.String()), " "))
}

func (t token) is(special byte) bool {
	return t.kind == tokSpecial && t.text[0] == special
}

// ParseAddressList parses an address-list header field body (From, To, …)
// into envelope addresses, with group syntax represented as RFC 9051 §7.5.2
// prescribes: a group start (Mailbox = group name, Host empty), the group's
// members and a group end (all fields empty). It never fails: malformed
// input gives best-effort addresses, and pieces that are not addresses at
// all are dropped.
func ParseAddressList(s string) []EnvAddress {
	toks := lexAddress(s)
	var out []EnvAddress
	inGroup := false
	for i := 0; i < len(toks); {
		j := i
		for j < len(toks) && !toks[j].is(',') && !toks[j].is(';') && !toks[j].is(':') && !toks[j].is('<') {
			j++
		}
		var stop byte
		if j < len(toks) {
			stop = toks[j].text[0]
		}
		switch stop {
		case '<':
			// RFC 5322 §3.4: name-addr = [display-name] angle-addr.
			a, next := angleAddr(toks, j+1)
			a.Name = phrase(toks[i:j])
			out = append(out, a)
			// Skip anything up to the next separator.
			for next < len(toks) && !toks[next].is(',') && !toks[next].is(';') {
				next++
			}
			i = next
			continue
		case ':':
			if !inGroup {
				// RFC 5322 §3.4: group = display-name ":" [group-list] ";".
				name := phrase(toks[i:j])
				if name == "" {
					name = MissingMailbox // an empty name would read as a group end
				}
				out = append(out, EnvAddress{Mailbox: name})
				inGroup = true
				i = j + 1
				continue
			}
		}
		if j > i {
			a := addrSpec(toks[i:j])
			// "user@example.org (Real Name)": the comment after a bare
			// addr-spec is its display name, as in RFC 822 practice.
			a.Name = toks[j-1].comment
			out = append(out, a)
		}
		if stop == ';' && inGroup {
			out = append(out, EnvAddress{})
			inGroup = false
		}
		i = j + 1
	}
	if inGroup {
		out = append(out, EnvAddress{})
	}
	return out
}

// angleAddr parses the inside of an angle-addr starting at toks[i] (just
// after "<"), including an obsolete route (RFC 5322 §4.4), and returns the
// address and the index after ">".
func angleAddr(toks []token, i int) (EnvAddress, int) {
	var a EnvAddress
	end := i
	for end < len(toks) && !toks[end].is('>') {
		end++
	}
	inner := toks[i:end]
	if len(inner) > 0 && inner[0].is('@') {
		// obs-route = obs-domain-list ":"
		k := 0
		for k < len(inner) && !inner[k].is(':') {
			k++
		}
		if k < len(inner) {
			a.Adl = joinTokens(inner[:k])
			inner = inner[k+1:]
		}
	}
	spec := addrSpec(inner)
	a.Mailbox, a.Host = spec.Mailbox, spec.Host
	if end < len(toks) {
		end++
	}
	return a, end
}

// addrSpec builds an address from the tokens of an addr-spec (RFC 5322
// §3.4.1): the local part before the last "@", the domain after it.
func addrSpec(toks []token) EnvAddress {
	at := -1
	for k := range toks {
		if toks[k].is('@') {
			at = k
		}
	}
	var a EnvAddress
	if at < 0 {
		a.Mailbox = localPart(toks)
	} else {
		a.Mailbox, a.Host = localPart(toks[:at]), joinTokens(toks[at+1:])
	}
	if a.Mailbox == "" {
		a.Mailbox = MissingMailbox
	}
	if a.Host == "" {
		a.Host = MissingDomain
	}
	return a
}

// localPart joins local-part tokens; a quoted-string that is not a valid
// dot-atom keeps its quotes so the result is still a valid local part.
func localPart(toks []token) string {
	var b strings.Builder
	for _, t := range toks {
		if t.kind == tokQuoted && !isDotAtom(t.text) {
			b.WriteByte('"')
			for k := 0; k < len(t.text); k++ {
				if c := t.text[k]; c == '"' || c == '\\' {
					b.WriteByte('\\')
				}
				b.WriteByte(t.text[k])
			}
			b.WriteByte('"')
			continue
		}
		b.WriteString(t.text)
	}
	return b.String()
}

func joinTokens(toks []token) string {
	var b strings.Builder
	for _, t := range toks {
		b.WriteString(t.text)
	}
	return b.String()
}

// isDotAtom reports whether s is a dot-atom (RFC 5322 §3.2.3).
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for k := 0; k < len(s); k++ {
		c := s[k]
		if c < 0x80 && !isAtext(c) && c != '.' {
			return false
		}
	}
	return true
}

// isAtext reports whether the ASCII byte c is atext (RFC 5322 §3.2.3).
func isAtext(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// phrase returns the display name made of toks (RFC 5322 §3.2.5, with the
// obsolete forms of §4.1), words separated by single spaces where the input
// had white space, RFC 2047 decoded.
func phrase(toks []token) string {
	var b strings.Builder
	for k, t := range toks {
		if k > 0 && t.space {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
	}
	return DecodeWords(b.String())
}

// newEnvelope builds the ENVELOPE of a message from its header (RFC 9051
// §7.5.2).
func newEnvelope(h Header) *Envelope {
	e := &Envelope{
		Date:      h.Get("Date"),
		Subject:   DecodeWords(h.Get("Subject")),
		From:      ParseAddressList(h.Get("From")),
		Sender:    ParseAddressList(h.Get("Sender")),
		ReplyTo:   ParseAddressList(h.Get("Reply-To")),
		To:        ParseAddressList(h.Get("To")),
		Cc:        ParseAddressList(h.Get("Cc")),
		Bcc:       ParseAddressList(h.Get("Bcc")),
		InReplyTo: h.Get("In-Reply-To"),
		MessageID: h.Get("Message-ID"),
	}
	// RFC 9051 §7.5.2: an absent or empty Sender or Reply-To is From.
	if len(e.Sender) == 0 {
		e.Sender = cloneAddrs(e.From)
	}
	if len(e.ReplyTo) == 0 {
		e.ReplyTo = cloneAddrs(e.From)
	}
	return e
}

func cloneAddrs(a []EnvAddress) []EnvAddress {
	if len(a) == 0 {
		return nil
	}
	return append([]EnvAddress(nil), a...)
}
