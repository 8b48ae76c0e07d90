package arc

import (
	"strings"

	"github.com/posthorn/posthorn/internal/addr"
)

// MethodResult is one resinfo of Authentication-Results (RFC 8601 §2.2):
// "dmarc=pass header.from=example.com".
type MethodResult struct {
	// Method and Result in lower case, without a method version.
	Method, Result string
	// Props maps "reason" and "ptype.property" (lower case) to values.
	Props map[string]string
}

// Methods returns the results the set's AAR records.
func (s Set) Methods() []MethodResult { return ParseResults(s.Results) }

// ParseResults parses the results part of an Authentication-Results or AAR
// payload, after the authserv-id: resinfos separated by ";", comments
// dropped. "none" and malformed resinfos are skipped.
func ParseResults(results string) []MethodResult {
	var out []MethodResult
	for _, ri := range splitOutsideQuotes(stripComments(results), ';') {
		toks := splitOutsideQuotes(tightenEquals(ri), ' ')
		if len(toks) == 0 {
			continue
		}
		method, result, ok := strings.Cut(toks[0], "=")
		method, _, _ = strings.Cut(method, "/") // method-version
		if !ok || method == "" || result == "" {
			continue
		}
		m := MethodResult{Method: strings.ToLower(method), Result: strings.ToLower(result), Props: map[string]string{}}
		for _, t := range toks[1:] {
			if k, v, ok := strings.Cut(t, "="); ok && k != "" {
				m.Props[strings.ToLower(k)] = strings.Trim(v, `"`)
			}
		}
		out = append(out, m)
	}
	return out
}

// TrustedOverride returns what the latest sealer of a passing chain recorded
// for DMARC, when that sealer (the d= of the latest ARC-Seal) is one of
// trusted: its authserv-id and its DMARC result ("pass", "fail", ...). It is
// for the DMARC local policy override "arc" (RFC 8617 §7.2, RFC 7489
// §7.2.1.1 "local_policy"): override a local DMARC failure only when ok and
// dmarcResult is "pass". ok is false when the chain did not pass, the sealer
// is not trusted, or its AAR records no DMARC result. The SPF and DKIM
// results of the same AAR are in res.Sets[res.Instances-1].Methods().
func TrustedOverride(res Result, trusted []addr.Domain) (authservID, dmarcResult string, ok bool) {
	if res.Chain != StatusPass || res.Instances == 0 || len(res.Sets) != res.Instances {
		return "", "", false
	}
	latest := res.Sets[res.Instances-1]
	if latest.SealDomain.IsZero() || !containsDomain(trusted, latest.SealDomain) {
		return "", "", false
	}
	for _, m := range latest.Methods() {
		if m.Method == "dmarc" {
			return latest.AuthServID, m.Result, true
		}
	}
	return "", "", false
}

func containsDomain(list []addr.Domain, d addr.Domain) bool {
	for _, t := range list {
		if strings.EqualFold(t.ASCII, d.ASCII) {
			return true
		}
	}
	return false
}

// stripComments removes RFC 5322 comments (nested, with quoted-pairs),
// leaving quoted strings alone.
func stripComments(s string) string {
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (depth > 0 || quoted):
			if depth == 0 && i+1 < len(s) {
				b.WriteByte(c)
				b.WriteByte(s[i+1])
			}
			i++
		case quoted:
			b.WriteByte(c)
			quoted = c != '"'
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
			if depth == 0 {
				b.WriteByte(' ')
			}
		case depth > 0:
		default:
			b.WriteByte(c)
			quoted = c == '"'
		}
	}
	return b.String()
}

// splitOutsideQuotes splits s at sep (or, for ' ', at any whitespace)
// outside quoted strings, dropping empty items.
func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	isSep := func(c byte) bool {
		if sep == ' ' {
			return c == ' ' || c == '\t' || c == '\r' || c == '\n'
		}
		return c == sep
	}
	add := func(t string) {
		if t = trimFWS(t); t != "" {
			out = append(out, t)
		}
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && isSep(c):
			add(s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		add(s[start:])
	}
	return out
}

// tightenEquals removes whitespace around "=" outside quoted strings
// (CFWS may surround it, RFC 8601 §2.2).
func tightenEquals(s string) string {
	var b strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			quoted = !quoted
		}
		if !quoted && (c == ' ' || c == '\t') {
			j := i
			for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
				j++
			}
			if j < len(s) && s[j] == '=' || b.Len() > 0 && strings.HasSuffix(b.String(), "=") {
				i = j - 1
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}
