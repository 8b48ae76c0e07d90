package msgauth

import (
	"strings"
	"unicode/utf8"

	"github.com/posthorn/posthorn/internal/dmarc"
	"github.com/posthorn/posthorn/internal/smtp"
)

// maxComment bounds the reason carried in one comment, so a field stays
// readable and far below the 998-octet line limit (RFC 5322 §2.1.1).
const maxComment = 300

// Header returns the fields to prepend to the checked message, each ending
// in CRLF: Authentication-Results, then Received-SPF when SPF was checked.
func (c *Checker) Header(r *Result) []byte {
	var b []byte
	b = append(b, AuthenticationResults(c.opt.AuthServID, r)...)
	if r.SPF != nil {
		b = append(b, fold("Received-SPF: "+r.SPF.ReceivedSPF())...)
	}
	return b
}

// AuthenticationResults returns the Authentication-Results field (RFC 8601
// §2.2) for r, one resinfo per line, ending in CRLF:
//
//	Authentication-Results: mx.example.org;
//		iprev=pass (mail.example.com) policy.iprev=192.0.2.1;
//		spf=pass (reason) smtp.mailfrom=a@example.com;
//		spf=pass (reason) smtp.helo=mail.example.com;
//		dkim=pass (reason) header.d=example.com header.s=sel header.b="AbCd/123";
//		arc=none;
//		dmarc=pass (reason) policy.dmarc=none header.from=example.com
//
// The comment after each result is the plain-language reason (RFC 8601
// §2.3 allows comments anywhere CFWS is; "reason=" would be the other
// place); policy.dmarc is the disposition applied, policy.iprev the address
// checked (RFC 8601 §3).
func AuthenticationResults(authservID string, r *Result) string {
	var ri []string
	if r.Local {
		ri = append(ri, "iprev=none (not checked: the client is local or its address unknown)",
			"spf=none (not checked: the client is local or its address unknown)")
	}
	if v := r.IPRev; v != nil {
		res, prop, val, com := v.AuthResult()
		if com == "" {
			com = v.Reason
		}
		ri = append(ri, resinfo("iprev", res, com, prop, val))
	}
	if v := r.SPF; v != nil {
		res, prop, val, reason := v.AuthResult()
		ri = append(ri, resinfo("spf", res, reason, prop, val))
	}
	if v := r.HELO; v != nil {
		res, prop, val, reason := v.AuthResult()
		ri = append(ri, resinfo("spf", res, reason, prop, val))
	}
	if len(r.DKIM) == 0 {
		ri = append(ri, "dkim=none (no signature)")
	}
	for _, d := range r.DKIM {
		props := []string{"header.d", d.Domain.ASCII, "header.s", d.Selector, "header.b", d.HeaderB}
		if d.Algorithm != "" {
			props = append(props, "header.a", d.Algorithm)
		}
		ri = append(ri, resinfo("dkim", string(d.Status), d.Explanation, props...))
	}
	ri = append(ri, r.ARC.AuthResult())
	ri = append(ri, dmarcResinfo(r))
	return fold("Authentication-Results: " + authservID + ";\r\n\t" + strings.Join(ri, ";\r\n\t"))
}

func dmarcResinfo(r *Result) string {
	v := r.DMARC
	reason := v.Reason
	if r.Override != "" {
		reason += "; " + r.Override
	}
	var props []string
	if v.Policy != nil {
		applied := v.Record.Disposition
		if applied == "" {
			applied = dmarc.DispositionNone
		}
		props = append(props, "policy.dmarc", string(applied))
	}
	if !v.Domain.IsZero() {
		props = append(props, "header.from", v.Domain.ASCII)
	}
	return resinfo("dmarc", string(v.Result), reason, props...)
}

// resinfo formats "method=result (comment) ptype.prop=value …"; props are
// pairs, and pairs with an empty value are left out.
func resinfo(method, result, comment string, props ...string) string {
	if result == "" {
		result = "none"
	}
	var b strings.Builder
	b.Grow(len(method) + len(result) + len(comment) + 96)
	b.WriteString(method)
	b.WriteByte('=')
	b.WriteString(result)
	if result == "temperror" {
		// The reason quotes a DNS error, which names our resolver's
		// sockets; the header travels on with forwarded mail.
		comment = smtp.Redact(comment)
	}
	if comment != "" {
		b.WriteString(" (")
		b.WriteString(commentText(comment))
		b.WriteByte(')')
	}
	for i := 0; i+1 < len(props); i += 2 {
		if props[i+1] != "" {
			b.WriteByte(' ')
			b.WriteString(props[i])
			b.WriteByte('=')
			b.WriteString(pvalue(props[i+1]))
		}
	}
	return b.String()
}

// commentText makes s safe inside a comment (RFC 5322 §3.2.2): line breaks
// and controls become spaces, "(", ")" and "\" are quoted-pairs, and it is
// cut at maxComment octets.
func commentText(s string) string {
	if len(s) > maxComment {
		s = s[:maxComment]
		for len(s) > 0 && s[len(s)-1]&0xc0 == 0x80 { // a cut UTF-8 sequence
			s = s[:len(s)-1]
		}
		if len(s) > 0 && s[len(s)-1] >= 0xc0 {
			s = s[:len(s)-1]
		}
		s += "..."
	}
	if commentSafe(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f:
			b.WriteByte(' ')
		case r == '(' || r == ')' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// commentSafe reports whether commentText would leave s as it is: valid
// UTF-8 (invalid octets become U+FFFD) without controls, "(", ")" or "\".
func commentSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == 0x7f || c == '(' || c == ')' || c == '\\':
			return false
		}
	}
	return utf8.ValidString(s)
}

// pvalue formats a property value (RFC 8601 §2.2): a token, a domain name,
// a dot-atom local part "@" domain, or else a quoted-string.
func pvalue(v string) string {
	if isToken(v) {
		return v
	}
	if at := strings.LastIndexByte(v, '@'); at >= 0 && isDotAtom(v[:at]) && isToken(v[at+1:]) {
		return v
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// isToken reports a MIME token (RFC 2045 §5.1).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

// isDotAtom reports an RFC 5322 dot-atom (ASCII).
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) < 0 {
			return false
		}
	}
	return true
}

// foldWidth is where fold breaks lines (RFC 5322 §2.1.1 recommends 78).
const foldWidth = 78

// fold folds a field whose lines may be long at spaces, so that lines
// stay within foldWidth where a space allows it, and ends it with CRLF.
// Breaking before a space is legal wherever the field has folding white
// space, which for Authentication-Results and Received-SPF is between
// every element and inside comments and quoted strings.
func fold(field string) string {
	var b strings.Builder
	b.Grow(len(field) + len(field)/32 + 2)
	for i, line := range strings.Split(field, "\r\n") {
		if i > 0 {
			b.WriteString("\r\n")
		}
		for len(line) > foldWidth {
			cut := strings.LastIndexByte(line[:foldWidth], ' ')
			if cut <= 1 || strings.TrimLeft(line[:cut], " \t") == "" {
				cut = strings.IndexByte(line[foldWidth:], ' ')
				if cut < 0 {
					break
				}
				cut += foldWidth
			}
			b.WriteString(line[:cut])
			b.WriteString("\r\n") // the space starts the continuation line
			line = line[cut:]
		}
		b.WriteString(line)
	}
	b.WriteString("\r\n")
	return b.String()
}
