package spf

import (
	"strings"
)

// ReceivedSPF returns the value of a Received-SPF header field for v
// (RFC 7208 §9.1), without the field name or the final CRLF:
//
//	pass (mx.example.org: domain of a@example.com designates 192.0.2.1 as permitted sender) client-ip=192.0.2.1; envelope-from="a@example.com"; helo=mail.example.com; receiver=mx.example.org; identity=mailfrom
func (v Verdict) ReceivedSPF() string {
	var b strings.Builder
	b.WriteString(string(v.Result))
	b.WriteString(" (")
	b.WriteString(comment(v.Receiver + ": " + v.Reason))
	b.WriteString(")")
	kv := func(k, val string) {
		if val == "" {
			return
		}
		b.WriteString(" " + k + "=" + value(val) + ";")
	}
	if v.IP.IsValid() {
		kv("client-ip", v.IP.String())
	}
	if v.Identity == MailFrom {
		kv("envelope-from", v.Sender)
	}
	kv("helo", v.HELOName)
	kv("problem", v.Problem)
	kv("receiver", v.Receiver)
	kv("identity", string(v.Identity))
	return strings.TrimSuffix(b.String(), ";")
}

// AuthResult returns what an Authentication-Results resinfo needs for
// method "spf" (RFC 8601 §2.7.2, RFC 7208 §9.2): the result word and the
// property, "smtp.mailfrom" with the MAIL FROM address or "smtp.helo" with
// the HELO name, and a comment (the reason).
func (v Verdict) AuthResult() (result, property, value, reason string) {
	if v.Identity == HELO {
		return string(v.Result), "smtp.helo", v.HELOName, v.Reason
	}
	return string(v.Result), "smtp.mailfrom", v.Sender, v.Reason
}

// comment makes s safe inside an RFC 5322 comment: printable ASCII, with
// parentheses and backslashes quoted (RFC 5322 §3.2.2); the "§" of our
// RFC references is spelled "section".
func comment(s string) string {
	s = strings.ReplaceAll(s, "§", "section ")
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '(' || c == ')' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// value returns s as a dot-atom when it is one, else as a quoted-string
// (RFC 7208 §9.1 key-value-pair, RFC 5322 §3.2.4); "§" is spelled
// "section", other non-ASCII octets and controls become '?'.
func value(s string) string {
	s = strings.ReplaceAll(s, "§", "section ")
	atom := s != "" && !strings.HasPrefix(s, ".") && !strings.HasSuffix(s, ".") && !strings.Contains(s, "..")
	for i := 0; atom && i < len(s); i++ {
		c := s[i]
		atom = c == '.' || isAtext(c)
	}
	if atom {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func isAtext(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}
