package spf

import (
	"context"
)

// maxExplanation bounds the explanation we pass on (it ends up in an SMTP
// reply and in headers).
const maxExplanation = 512

// explain returns the explanation of a fail (RFC 7208 §6.2): the TXT record
// named by the exp= of the record that decided, expanded as an
// explain-string. Any problem (a DNS error, no record or more than one, a
// syntax error, text that is not printable US-ASCII) means no explanation.
// The lookups are made after the result is known and count toward no limit
// (RFC 7208 §4.6.4).
func (e *evaluator) explain(ctx context.Context, ref expRef) string {
	if usesP(ref.spec) {
		e.validate(ctx)
	}
	name, err := expand(ref.spec, e.env(ref.domain), false)
	if err != nil {
		return ""
	}
	name = domainName(name)
	if name == "" {
		return ""
	}
	e.queries++
	txts, _, err := e.r.LookupTXT(ctx, name)
	if err != nil || len(txts) != 1 {
		return ""
	}
	if usesP(txts[0]) {
		e.validate(ctx)
	}
	text, err := expand(txts[0], e.env(ref.domain), true)
	if err != nil || len(text) > maxExplanation {
		return ""
	}
	for i := 0; i < len(text); i++ {
		if text[i] < ' ' || text[i] > '~' { // RFC 7208 §6.2: US-ASCII only
			return ""
		}
	}
	return text
}
