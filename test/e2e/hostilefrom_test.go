package e2e

import (
	"regexp"
	"strings"
	"testing"
)

// TestHostileFromBinary sends messages whose From field hides or adds an
// author through the built binary's MX (swaks, the client presented with
// XCLIENT): sender.example publishes p=reject, none.example nothing. Every
// author domain is evaluated and the strictest result applies (RFC 7489
// §6.6.1); a message without exactly one From field naming authors is
// refused (RFC 5322 §3.6). internal/smtpserver's TestHostileFromMX has
// the whole class; this is the same path through the real binary.
func TestHostileFromBinary(t *testing.T) {
	need(t, "swaks")
	t.Parallel()
	m := newMailServer(t, mailOptions{xclient: []string{"127.0.0.1/32"}, zone: senderZone("v=DKIM1; p=")})
	m.addUser("bob@example.com", bobPW)
	m.start()
	const (
		dmarcRj = `550 5.7.1 Message rejected by the DMARC policy of the sender's domain: the From field names 2 domains`
		refused = `550 5.7.1 Message refused: `
	)
	for _, c := range []struct{ name, header, want string }{
		{"one author", "From: a@none.example\n", ""},
		{"a second author under p=reject", "From: a@none.example, v@sender.example\n", dmarcRj},
		{"a group with a second author", "From: g: a@none.example, v@sender.example;\n", dmarcRj},
		{"two From fields", "From: a@none.example\nFrom: v@sender.example\n", refused + "the message has 2 From header fields"},
		{"two From fields, from and FROM folded", "from: a@none.example\nFROM:\n v@sender.example\n", refused + "the message has 2 From header fields"},
		{"no From", "Sender: a@none.example\n", refused + "the message has no From header field"},
		{"From without a domain", "From: someone\n", refused + "the From address <someone> is incomplete"},
	} {
		t.Run(c.name, func(t *testing.T) {
			file, _ := writeMessage(t, "m.eml", c.header+"To: bob@example.com\nSubject: hostile "+c.name+"\n\nhello\n")
			out, code := sendInbound(t, m, inbound{c.name, senderIP, "a@none.example", "", file})
			if c.want == "" {
				if code != 0 {
					t.Fatalf("swaks exit %d\n%s", code, out)
				}
				return
			}
			reply := regexp.MustCompile(`(?m)^<\*\* +(5\d\d .*)$`).FindStringSubmatch(out)
			if code == 0 || reply == nil || !strings.HasPrefix(reply[1], c.want) {
				t.Fatalf("exit %d, want %q…\n%s", code, c.want, out)
			}
		})
	}
	m.stop()
	if got := m.messages("bob@example.com"); len(got) != 1 {
		t.Errorf("%d messages stored, want 1", len(got))
	}
}
