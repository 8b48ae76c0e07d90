package msgauth

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/message"
)

// StripForged removes every Authentication-Results field of msg whose
// authserv-id is authservID (compared case-insensitively): results that
// claim to be ours but arrived from outside (RFC 8601 §5: a border MTA
// removes or obscures them, so a reader never trusts a forgery). It
// returns msg itself when there is none, else the message rebuilt over
// the same body bytes, and how many fields were removed.
//
// Removing rather than renaming: a renamed field still carries the forged
// claim to filters and readers that match on text, and stored mail gains
// nothing from it; the log line records the removal.
func StripForged(msg delivery.Message, authservID string) (delivery.Message, int, error) {
	m, n, _, err := stripForged(msg, authservID)
	return m, n, err
}

// stripForged is StripForged, also returning the header it read when it
// removed nothing (and so is msg's header), for the checks to reuse.
func stripForged(msg delivery.Message, authservID string) (delivery.Message, int, *message.Header, error) {
	h, err := message.ReadHeader(bufio.NewReader(delivery.Reader(msg)))
	if err != nil {
		return nil, 0, nil, fmt.Errorf("msgauth: reading header: %w", err)
	}
	var drop []bool
	n := 0
	for _, f := range h.Fields {
		d := strings.EqualFold(f.Name, "Authentication-Results") && strings.EqualFold(ResultsAuthServID(f.Value()), authservID)
		drop = append(drop, d)
		if d {
			n++
		}
	}
	if n == 0 {
		return msg, 0, &h, nil
	}
	var head []byte
	end := int64(0)
	for i, f := range h.Fields {
		if !drop[i] {
			head = append(head, f.Raw...)
		}
		end = f.Offset + int64(len(f.Raw))
	}
	// What follows the last field up to h.Size is the blank line.
	blank := make([]byte, h.Size-end)
	if _, err := msg.ReadAt(blank, end); err != nil && len(blank) > 0 {
		return nil, 0, nil, fmt.Errorf("msgauth: reading header: %w", err)
	}
	head = append(head, blank...)
	return delivery.Concat(delivery.Bytes(head), delivery.Section(msg, h.Size)), n, nil, nil
}

// ResultsAuthServID returns the authserv-id of an Authentication-Results
// value (RFC 8601 §2.2): the first value after optional comments, without
// quotes, before white space or ";".
func ResultsAuthServID(v string) string {
	v = skipCFWS(v)
	if strings.HasPrefix(v, `"`) {
		var b strings.Builder
		for i := 1; i < len(v); i++ {
			switch v[i] {
			case '\\':
				if i+1 < len(v) {
					i++
					b.WriteByte(v[i])
				}
			case '"':
				return b.String()
			default:
				b.WriteByte(v[i])
			}
		}
		return b.String()
	}
	end := strings.IndexAny(v, " \t\r\n;(")
	if end < 0 {
		end = len(v)
	}
	return v[:end]
}

// skipCFWS drops leading white space and (nested) comments.
func skipCFWS(v string) string {
	for {
		v = strings.TrimLeft(v, " \t\r\n")
		if !strings.HasPrefix(v, "(") {
			return v
		}
		depth := 0
		i := 0
	scan:
		for ; i < len(v); i++ {
			switch v[i] {
			case '\\':
				i++
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					break scan
				}
			}
		}
		if i >= len(v) {
			return ""
		}
		v = v[i+1:]
	}
}
