package queue

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/message"
)

// DSN actions (RFC 3464 §2.3.3).
const (
	ActionFailed    = "failed"
	ActionDelayed   = "delayed"
	ActionDelivered = "delivered"
	ActionRelayed   = "relayed"
)

// maxReturnedSize is the largest original message returned whole in a
// bounce; larger ones are returned as headers only.
const maxReturnedSize = 10 << 20

// Report is one delivery status notification (RFC 3464) about one
// queued message.
type Report struct {
	ReportingMTA string // our host name
	QueueID      int64  // for the Message-ID and the text
	// MessageID is the id the original got in our 250 reply and logs
	// (X-Posthorn-Queue-ID); "" when it has none.
	MessageID   string
	Sender      string    // the original envelope sender: the DSN's recipient
	ArrivalDate time.Time // when the original was queued
	EnvID       string    // DSN ENVID of the original
	Ret         string    // "FULL", "HDRS" or "": what to return
	Recipients  []ReportRecipient
	// Original is the queued message; OriginalSize its length.
	Original     io.ReaderAt
	OriginalSize int64
	Date         time.Time // the report's Date
	// RetryUntil is when the queue gives up (for delayed reports).
	RetryUntil time.Time
}

// ReportRecipient is the status of one recipient.
type ReportRecipient struct {
	Address   string // Final-Recipient
	ORcpt     string // Original-Recipient, "type;address"
	Action    string
	Status    string // enhanced status code, e.g. "5.1.1"
	RemoteMTA string // host name of the server that answered
	// Diagnostic is the server's reply verbatim ("550 5.1.1 No such
	// user"), or our own explanation when there was no reply.
	Diagnostic string
	// Remote tells Diagnostic came from the remote server (type smtp).
	Remote      bool
	LastAttempt time.Time
}

// Compose returns the report as a message: multipart/report (RFC 6522)
// with a plain-language part, message/delivery-status (RFC 3464) and the
// original message or its header (RFC 3461 RET).
func (r *Report) Compose() []byte {
	sum := sha256.Sum256(fmt.Appendf(nil, "%d %d %s", r.QueueID, r.Date.UnixNano(), r.Sender))
	boundary := "=_posthorn_" + hex.EncodeToString(sum[:12])
	var b strings.Builder
	b.WriteString("From: Mail Delivery System <MAILER-DAEMON@" + r.ReportingMTA + ">\r\n")
	b.WriteString("To: <" + r.Sender + ">\r\n")
	b.WriteString("Subject: " + r.subject() + "\r\n")
	b.WriteString("Date: " + r.Date.Format(time.RFC1123Z) + "\r\n")
	fmt.Fprintf(&b, "Message-ID: <dsn.%d.%s@%s>\r\n", r.QueueID, hex.EncodeToString(sum[12:18]), r.ReportingMTA)
	b.WriteString("Auto-Submitted: auto-replied\r\n") // RFC 3834 §5
	b.WriteString("MIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"" + boundary + "\"\r\n")
	b.WriteString("\r\nThis is a MIME-encapsulated delivery status notification.\r\n")

	b.WriteString("\r\n--" + boundary + "\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(crlf(r.text()))

	b.WriteString("\r\n--" + boundary + "\r\n")
	b.WriteString("Content-Type: message/delivery-status\r\n\r\n")
	b.WriteString(r.status())

	full := r.returnFull()
	b.WriteString("\r\n--" + boundary + "\r\n")
	if full {
		b.WriteString("Content-Type: message/rfc822\r\n\r\n")
		b.WriteString(r.original(true))
	} else {
		b.WriteString("Content-Type: text/rfc822-headers\r\n\r\n")
		b.WriteString(r.original(false))
	}
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return []byte(b.String())
}

func (r *Report) has(action string) bool {
	for _, rc := range r.Recipients {
		if rc.Action == action {
			return true
		}
	}
	return false
}

func (r *Report) subject() string {
	switch {
	case r.has(ActionFailed):
		return "Undelivered Mail Returned to Sender"
	case r.has(ActionDelayed):
		return "Delayed Mail (still being retried)"
	}
	return "Successful Mail Delivery Report"
}

// returnFull decides between the whole original and its header: RET
// when given (RFC 3461 §4.3); otherwise the whole message for failures
// and the header for delay and success reports. Large messages are
// returned as headers only.
func (r *Report) returnFull() bool {
	full := r.Ret == "FULL" || (r.Ret == "" && r.has(ActionFailed))
	return full && r.OriginalSize <= maxReturnedSize
}

// text is the plain-language part: what happened, the remote server's
// answer verbatim, and what the sender can do.
func (r *Report) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "This is the mail system at %s.\n\n", r.ReportingMTA)
	if r.MessageID != "" {
		fmt.Fprintf(&b, "Your message's id with us: %s\n\n", r.MessageID)
	}
	groups := []struct {
		action, head, advice string
	}{
		{ActionFailed, "Your message could not be delivered to these recipients:",
			"What you can do: check the address for typing mistakes, or reach the recipient another way.\n" +
				"If the receiving server's answer mentions spam, policy or authentication, forward this report to\n" +
				"the postmaster of your own domain. The message is returned below (or its header only)."},
		{ActionDelayed, "Your message has not been delivered yet to these recipients:",
			fmt.Sprintf("You do not need to do anything: delivery will be retried until %s.\n"+
				"If it still fails then, you will get another report.", r.RetryUntil.UTC().Format(time.RFC1123))},
		{ActionDelivered, "Your message was delivered to these recipients:", ""},
		{ActionRelayed, "Your message was passed on to these recipients' mail servers, which do not\nreport deliveries, so this is the last report you will get for them:", ""},
	}
	for _, g := range groups {
		if !r.has(g.action) {
			continue
		}
		b.WriteString(g.head + "\n\n")
		for _, rc := range r.Recipients {
			if rc.Action != g.action {
				continue
			}
			fmt.Fprintf(&b, "  <%s>\n", rc.Address)
			switch {
			case rc.Diagnostic != "" && rc.Remote:
				fmt.Fprintf(&b, "    The server %s answered:\n      %s\n", rc.RemoteMTA, rc.Diagnostic)
			case rc.Diagnostic != "":
				fmt.Fprintf(&b, "    Reason: %s\n", rc.Diagnostic)
			}
		}
		if g.advice != "" {
			b.WriteString("\n" + g.advice + "\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// status is the message/delivery-status body (RFC 3464 §2.2, §2.3).
func (r *Report) status() string {
	var b strings.Builder
	b.WriteString("Reporting-MTA: dns; " + r.ReportingMTA + "\r\n")
	if r.MessageID != "" {
		// RFC 3464 §2.2: an extension field; the id the submitter saw in
		// our 250 reply, which "posthorn queue show" accepts.
		b.WriteString("X-Posthorn-Queue-ID: " + clean(r.MessageID) + "\r\n")
	}
	if r.EnvID != "" {
		b.WriteString("Original-Envelope-Id: " + clean(r.EnvID) + "\r\n")
	}
	if !r.ArrivalDate.IsZero() {
		b.WriteString("Arrival-Date: " + r.ArrivalDate.Format(time.RFC1123Z) + "\r\n")
	}
	for _, rc := range r.Recipients {
		b.WriteString("\r\n")
		b.WriteString("Final-Recipient: rfc822; " + rc.Address + "\r\n")
		if typ, a, ok := strings.Cut(rc.ORcpt, ";"); ok && a != "" {
			b.WriteString("Original-Recipient: " + strings.ToLower(strings.TrimSpace(typ)) + "; " + clean(a) + "\r\n")
		}
		b.WriteString("Action: " + rc.Action + "\r\n")
		b.WriteString("Status: " + rc.Status + "\r\n")
		if rc.RemoteMTA != "" {
			// The dns type names a host (RFC 3464 §2.3.5): "host [ip]"
			// is cut to the host.
			host, _, _ := strings.Cut(rc.RemoteMTA, " ")
			b.WriteString("Remote-MTA: dns; " + host + "\r\n")
		}
		if rc.Diagnostic != "" {
			typ := "X-Posthorn"
			if rc.Remote {
				typ = "smtp"
			}
			b.WriteString("Diagnostic-Code: " + typ + "; " + clean(rc.Diagnostic) + "\r\n")
		}
		if !rc.LastAttempt.IsZero() {
			b.WriteString("Last-Attempt-Date: " + rc.LastAttempt.Format(time.RFC1123Z) + "\r\n")
		}
		if rc.Action == ActionDelayed && !r.RetryUntil.IsZero() {
			b.WriteString("Will-Retry-Until: " + r.RetryUntil.Format(time.RFC1123Z) + "\r\n")
		}
	}
	return b.String()
}

// original returns the whole original message or its header.
func (r *Report) original(full bool) string {
	if r.Original == nil {
		return ""
	}
	sr := io.NewSectionReader(r.Original, 0, r.OriginalSize)
	if full {
		b, _ := io.ReadAll(sr)
		return string(b)
	}
	h, err := message.ReadHeader(bufio.NewReader(sr))
	if err != nil {
		return ""
	}
	var b strings.Builder
	for _, f := range h.Fields {
		b.Write(f.Raw)
	}
	return b.String()
}

// clean makes s one line of printable text.
func clean(s string) string {
	return strings.Map(func(c rune) rune {
		if c == '\r' || c == '\n' || c == '\t' {
			return ' '
		}
		return c
	}, s)
}

// crlf turns LF line endings into CRLF.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
