package smtpserver

import (
	"bufio"
	"fmt"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/message"
	"github.com/posthorn/posthorn/internal/smtp"
)

// checkSender enforces that an authenticated account sends only as
// itself. An account owns (docs/smtp.md, "Sender addresses"):
//   - its own address, compared case-insensitively;
//   - its sub-addresses (user+tag@domain, with the domain's separator);
//   - every alias whose targets include the account's address, directly
//     (not the catch-all, which would be every address of the domain).
//
// The null sender <> is allowed (auto-replies, receipts).
func (s *session) checkSender(a addr.Address, where string) error {
	if a.IsZero() || !s.srv.opt.RedirectAll.IsZero() {
		return nil
	}
	acc := s.st.account
	if acc == nil {
		return smtp.ErrAuthRequired
	}
	ok, err := s.owns(a)
	if err != nil {
		return smtp.ErrLocal.Wrap(err)
	}
	if !ok {
		return smtp.Errorf(550, smtp.Enhanced{5, 7, 1}, "%s <%s> is not an address of %s", where, a, acc.Address)
	}
	return nil
}

func (s *session) owns(a addr.Address) (bool, error) {
	acc := s.st.account
	if a.Key() == acc.Address.Key() {
		return true, nil
	}
	st := s.srv.opt.Store
	dom, err := st.Domain(s.ctx, a.Domain)
	if err != nil {
		return false, nil // not a local domain
	}
	if sep := dom.SubaddressSep; sep != "" {
		if i := strings.Index(string(a.Localpart), sep); i > 0 {
			base := addr.Address{Localpart: a.Localpart[:i], Domain: a.Domain}
			if base.Key() == acc.Address.Key() {
				return true, nil
			}
			a = base // an alias's sub-address is owned like the alias
		}
	}
	al, err := st.Alias(s.ctx, a.Localpart, a.Domain)
	if err != nil || a.Localpart == "" {
		return false, nil
	}
	for _, t := range al.Targets {
		if t.Key() == acc.Address.Key() {
			return true, nil
		}
	}
	return false, nil
}

// checkAuthors enforces that the From field names only addresses of the
// account (docs/smtp.md, "Sender addresses"). The message must have
// exactly one From field with at least one complete address (RFC 5322
// §3.6): a missing, repeated, empty or group-only From is refused rather
// than completed, because receivers would evaluate DMARC on it (RFC 7489
// §6.6.1) and a mail client that sends one is broken. Several addresses
// are accepted when the account owns every one.
func (s *session) checkAuthors(h message.Header) error {
	authors, err := h.Authors()
	if err != nil {
		return smtp.Errorf(550, smtp.Enhanced{5, 6, 0}, "Message refused: %s; a submitted message needs one From field with the account's address", err)
	}
	for _, ea := range authors {
		a, err := addr.ParseAddress(ea.Mailbox + "@" + ea.Host)
		if err != nil {
			a, err = addr.ParseAddress(addr.Localpart(ea.Mailbox).String() + "@" + ea.Host)
		}
		if err != nil {
			return smtp.Errorf(550, smtp.Enhanced{5, 7, 1}, "From: address %s@%s is not valid", ea.Mailbox, ea.Host)
		}
		if err := s.checkSender(a, "From:"); err != nil {
			return err
		}
	}
	return nil
}

// privateFields are removed from submitted mail when SubmissionPrivacy is
// on: they disclose the sender's software.
var privateFields = []string{"User-Agent", "X-Mailer"}

// prepareSubmission checks the From: header and returns the message to
// store (its header rewritten if fields were removed) and the fields to
// add above it (Message-ID and Date when missing, RFC 6409 §8).
func (s *session) prepareSubmission(tx *transaction, spool *delivery.Spool) (delivery.Message, []byte, error) {
	br := bufio.NewReader(delivery.Reader(spool))
	h, err := message.ReadHeader(br)
	if err != nil {
		return nil, nil, smtp.Errorf(554, smtp.Enhanced{5, 6, 0}, "Message header is too large or unreadable").Wrap(err)
	}
	if err := s.checkAuthors(h); err != nil {
		return nil, nil, err
	}
	var extra []byte
	if !h.Has("Message-ID") {
		extra = fmt.Appendf(extra, "Message-ID: <%s@%s>\r\n", tx.id, s.srv.opt.Hostname.ASCII)
	}
	if !h.Has("Date") {
		extra = fmt.Appendf(extra, "Date: %s\r\n", s.srv.opt.Now().Format(time.RFC1123Z))
	}
	if !s.srv.opt.SubmissionPrivacy {
		return spool, extra, nil
	}
	var head []byte
	removed := false
	for _, f := range h.Fields {
		if isPrivateField(f.Name) {
			removed = true
			continue
		}
		head = append(head, f.Raw...)
	}
	if !removed {
		return spool, extra, nil
	}
	// The blank line that ends the header, if any, is what remains of
	// h.Size after the fields.
	last := h.Fields[len(h.Fields)-1]
	end := last.Offset + int64(len(last.Raw))
	blank := make([]byte, h.Size-end)
	spool.ReadAt(blank, end)
	head = append(head, blank...)
	return delivery.Concat(delivery.Bytes(head), delivery.Section(spool, h.Size)), extra, nil
}

func isPrivateField(name string) bool {
	for _, p := range privateFields {
		if strings.EqualFold(strings.TrimSpace(name), p) {
			return true
		}
	}
	return false
}
