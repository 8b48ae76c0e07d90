package delivery

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
)

// Client describes where a message came from, for the Received header and
// the logs.
type Client struct {
	HELO  string     // the HELO/EHLO argument as sent (sanitised when printed)
	Addr  netip.Addr // the client IP (after PROXY/XCLIENT); zero: unknown
	Name  string     // verified reverse DNS name, "" if none
	Proto string     // RFC 3848 "with" protocol: SMTP, ESMTP, ESMTPS, ESMTPSA, LMTP…
	TLS   *tls.ConnectionState
	// Login is the authenticated account, "" if none.
	Login string
	// Private leaves the client's address and name out of the Received
	// header (submission privacy); the HELO name is also left out.
	Private bool
}

// Received returns a Received header field (RFC 5321 §4.4, RFC 3848
// protocol names) ending in CRLF. for_ is named only for one recipient,
// so the header does not disclose the other recipients. A message this
// server generated itself (a zero Client: no protocol, no address) gets
// "by HOST (posthorn) id ID" alone, as RFC 5322 §3.6.7 allows.
func Received(c Client, by addr.Domain, id string, rcpts []addr.Address, now time.Time) []byte {
	var b strings.Builder
	b.WriteString("Received:")
	generated := c.Proto == "" && !c.Addr.IsValid() && c.HELO == ""
	if generated {
		b.WriteByte(' ')
	} else if !c.Private {
		fmt.Fprintf(&b, " from %s", printable(c.HELO))
		var info []string
		if c.Name != "" {
			info = append(info, printable(c.Name))
		}
		if c.Addr.IsValid() {
			info = append(info, "["+c.Addr.Unmap().String()+"]")
		}
		if len(info) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(info, " "))
		}
		b.WriteString("\r\n\t")
	} else {
		b.WriteByte(' ')
	}
	if generated {
		fmt.Fprintf(&b, "by %s (posthorn) id %s", by.ASCII, id)
	} else {
		fmt.Fprintf(&b, "by %s (posthorn) with %s id %s", by.ASCII, c.Proto, id)
	}
	if c.TLS != nil {
		fmt.Fprintf(&b, "\r\n\t(version=%s cipher=%s)", tls.VersionName(c.TLS.Version), tls.CipherSuiteName(c.TLS.CipherSuite))
	}
	if len(rcpts) == 1 {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", printable(rcpts[0].ASCIIString()))
	}
	fmt.Fprintf(&b, ";\r\n\t%s\r\n", now.Format(time.RFC1123Z))
	return []byte(b.String())
}

// printable keeps s safe inside a header: printable ASCII and UTF-8, at
// most 255 bytes, no parentheses or line breaks; "unknown" when empty.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x21 || r == 0x7f || r == '(' || r == ')' || r == ';' {
			return '_'
		}
		return r
	}, s)
	if len(s) > 255 {
		s = s[:255]
	}
	if s == "" {
		return "unknown"
	}
	return s
}
