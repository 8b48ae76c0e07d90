package msgauth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"

	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/message"
	"github.com/posthorn/posthorn/internal/smtp"
)

// maxReply bounds the reason in an SMTP reply (RFC 5321 §4.5.3.1.5 allows
// 512 octets per reply line).
const maxReply = 400

// Hook is the delivery.Hook of message authentication. For every message
// it removes Authentication-Results fields forged with our authserv-id.
// Mail from authenticated clients (submission) is DKIM-signed by Signer;
// all other mail (MX, LMTP) is checked by Checker, gets the
// Authentication-Results and Received-SPF fields, and the DMARC verdict is
// applied: a *smtp.Error for reject (550 5.7.1) and defer (451 4.4.3),
// the junk verdict for quarantine.
type Hook struct {
	// AuthServID is the authserv-id of our results; required.
	AuthServID string
	// Checker checks inbound mail; nil: inbound mail is not checked.
	Checker *Checker
	// Signer signs submitted mail; nil: it is not signed.
	Signer *Signer
	// Sealer ARC-seals inbound mail that aliases forward to other
	// servers, with the forwarding domain's RSA key; nil: not sealed.
	Sealer *Signer
	Logger *slog.Logger
}

var _ delivery.Hook = (*Hook)(nil)

// Check implements delivery.Hook.
func (h *Hook) Check(ctx context.Context, env *delivery.Envelope, msg delivery.Message) (delivery.Verdict, error) {
	log := h.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var v delivery.Verdict
	stripped, n, head, err := stripForged(msg, h.AuthServID)
	if err != nil {
		return v, smtp.Errorf(554, smtp.Enhanced{5, 6, 0}, "Message header is unreadable").Wrap(err)
	}
	if n > 0 {
		log.Info("removed Authentication-Results claiming to be ours", "id", env.ID, "fields", n)
		v.Message, msg = stripped, stripped
	}
	if env.Client.Login != "" {
		if h.Signer != nil {
			if conv, ok := to7Bit(msg); ok {
				log.Info("8-bit message converted to 7 bits before DKIM signing", "id", env.ID)
				v.Message, msg = conv, conv
			}
			sig, err := h.Signer.Sign(ctx, msg)
			if err != nil {
				// Local delivery does not need the signature; the
				// operator must hear about the broken key.
				log.Error("DKIM signing failed; delivering unsigned", "id", env.ID, "err", err)
			}
			v.Header = append(v.Header, sig...)
		}
		return v, nil
	}
	if h.Checker == nil {
		return v, nil
	}
	c := env.Client
	res, err := h.Checker.check(ctx, Input{
		IP: c.Addr, HELO: c.HELO, MailFrom: env.Sender, Message: msg,
		Local: !c.Addr.IsValid() || c.Addr.Unmap().IsLoopback(),
	}, head)
	if err != nil {
		return v, smtp.Errorf(554, smtp.Enhanced{5, 6, 0}, "Message header is unreadable").Wrap(err)
	}
	log.Info("message authentication", "id", env.ID, "results", res.Summary(), "action", string(res.Action), "reason", res.Reason)
	v.Header = append(v.Header, h.Checker.Header(res)...)
	if d, ok := forwardingDomain(env); ok && h.Sealer != nil && res.Action != Reject {
		ar := authResultsValue(AuthenticationResults(h.Checker.AuthServID(), res))
		set, err := h.Sealer.Seal(ctx, d, msg, ar, res.ARC)
		if err != nil {
			log.Warn("ARC sealing failed; forwarding unsealed", "id", env.ID, "err", err)
		}
		v.ForwardHeader = set
	}
	switch {
	case res.Refused:
		return v, smtp.Errorf(550, smtp.Enhanced{5, 7, 1}, "Message refused: %s; DMARC needs one From field naming the author's domain (RFC 7489 section 6.6.1)", clip(res.Reason, maxReply))
	case res.Action == Reject:
		// The verdict's reason without its notes, which name our DNS
		// servers; the log line has them.
		return v, smtp.Errorf(550, smtp.Enhanced{5, 7, 1}, "Message rejected by the DMARC policy of the sender's domain: %s", clip(res.DMARC.Reason, maxReply)).Wrap(errors.New(res.Reason))
	case res.Action == Defer:
		// The reason names DNS servers and sockets: it stays in the log.
		return v, smtp.Errorf(451, smtp.Enhanced{4, 4, 3}, "DMARC could not be checked for the From domain %s because a DNS lookup failed temporarily; try again later", res.DMARC.Domain).Wrap(errors.New(res.Reason))
	case res.Action == Junk:
		v.Junk = true
		v.Reason = "DMARC: " + res.Reason
	}
	return v, nil
}

// to7Bit converts a submitted message with 8-bit body parts to 7 bits
// (quoted-printable or base64 parts, message.To7Bit) before it is signed.
// A next hop without 8BITMIME would otherwise get a converted copy whose
// body hash no longer matches our own DKIM signature, and DMARC would fail
// under the domain's own policy (RFC 6376 §5.3 asks signers to convert
// first). A 7-bit message, or one that cannot be converted (8-bit header
// fields: it needs SMTPUTF8 anyway), is left as it is.
func to7Bit(msg delivery.Message) (delivery.Message, bool) {
	if msg.Size() > maxConvert {
		return nil, false
	}
	raw, err := io.ReadAll(delivery.Reader(msg))
	if err != nil || !slices.ContainsFunc(raw, func(c byte) bool { return c >= 0x80 }) {
		return nil, false
	}
	out, err := message.To7Bit(raw)
	if err != nil {
		return nil, false
	}
	return delivery.Bytes(out), true
}

// maxConvert bounds the message converted in memory by to7Bit (the
// largest SIZE posthorn advertises is 50 MiB; a larger message is left
// 8-bit).
const maxConvert = 64 << 20

// clip cuts s to at most n octets at a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n] + "..."
}
