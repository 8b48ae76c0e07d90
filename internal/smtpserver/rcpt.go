package smtpserver

import (
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/posthorn/posthorn/internal/accounts"
	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/smtp"
	"github.com/posthorn/posthorn/internal/srs"
)

// parsePath parses an address as go-smtp passes it: source route already
// dropped (RFC 5321 §4.1.1.3 allows ignoring it), a quoted local part
// already unquoted. The domain is after the last "@"; IP literals,
// trailing dots and bare names are refused (the bare postmaster was
// rewritten by wireConn). Non-ASCII needs SMTPUTF8 (RFC 6531 §3.4).
func parsePath(s string, utf8OK bool) (addr.Address, error) {
	if !utf8OK && !isASCII(s) {
		return addr.Address{}, smtp.Errorf(553, smtp.Enhanced{5, 6, 7}, "<%s>: non-ASCII address without SMTPUTF8", s)
	}
	if !utf8.ValidString(s) {
		return addr.Address{}, smtp.Errorf(553, smtp.Enhanced{5, 1, 3}, "Address is not valid UTF-8")
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 {
		return addr.Address{}, smtp.Errorf(553, smtp.Enhanced{5, 1, 3}, "<%s>: address must have a domain", s)
	}
	dom := s[at+1:]
	if strings.HasPrefix(dom, "[") {
		return addr.Address{}, smtp.Errorf(553, smtp.Enhanced{5, 1, 3}, "<%s>: address literals are not accepted", s)
	}
	d, err := addr.ParseDomain(dom)
	if err != nil {
		return addr.Address{}, smtp.Errorf(553, smtp.Enhanced{5, 1, 3}, "<%s>: invalid domain", s).Wrap(err)
	}
	lp, err := addr.ParseLocalpart(s[:at])
	if err != nil {
		// go-smtp unquoted it: quote it again to parse the meaning.
		lp, err = addr.ParseLocalpart(addr.Localpart(s[:at]).String())
	}
	if err != nil {
		return addr.Address{}, smtp.Errorf(553, smtp.Enhanced{5, 1, 3}, "<%s>: invalid local part", s).Wrap(err)
	}
	return addr.Address{Localpart: lp, Domain: d}, nil
}

// postmaster maps postmaster@hostname (what the bare "postmaster" became)
// to postmaster@ the first local domain when the host name itself is not
// a local domain, so RFC 5321 §4.5.1 mail reaches someone.
func (s *session) postmaster(a addr.Address) addr.Address {
	if _, err := s.srv.opt.Store.Domain(s.ctx, a.Domain); err == nil {
		return a
	}
	ds, err := s.srv.opt.Store.Domains(s.ctx)
	if err != nil || len(ds) == 0 {
		return a
	}
	return addr.Address{Localpart: "postmaster", Domain: ds[0].Name}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// rcpt checks one recipient. Unauthenticated clients (MX, LMTP) may only
// send to addresses that resolve to local accounts: never relaying,
// whatever the address looks like (see docs/smtp.md, "Open relay").
func (s *session) rcpt(to string, opts *gosmtp.RcptOptions) error {
	tx := s.tx
	a, err := parsePath(to, tx.opts.UTF8)
	if err != nil {
		return err
	}
	if i, dup := tx.index[a.Key()]; dup {
		tx.raw[i] = append(tx.raw[i], to)
		return nil
	}
	if s.st.account == nil && strings.ContainsAny(string(a.Localpart), "@%!") {
		// Sender-specified routing (user%host@, host!user@, "user@host"@):
		// refused from unauthenticated clients like Postfix's
		// allow_untrusted_routing = no.
		return smtp.Errorf(550, smtp.Enhanced{5, 7, 1}, "<%s>: sender-specified routing is not accepted", to)
	}
	if r, ok, err := s.reverseSRS(a); ok || err != nil {
		if err != nil {
			return err
		}
		return s.addRecipient(to, opts, r)
	}
	target := a
	if !s.srv.opt.RedirectAll.IsZero() {
		target = s.srv.opt.RedirectAll
	} else if a.Key() == "postmaster@"+s.srv.opt.Hostname.ASCII {
		target = s.postmaster(a)
	}
	res, err := s.srv.opt.Directory.Resolve(s.ctx, target)
	switch {
	case errors.Is(err, accounts.ErrNotLocal):
		return s.rcptRemote(a, to, opts)
	case errors.Is(err, accounts.ErrUnknownRecipient):
		return smtp.Errorf(550, smtp.Enhanced{5, 1, 1}, "<%s>: no such user here", a)
	case errors.Is(err, accounts.ErrAliasLoop):
		return smtp.Errorf(550, smtp.Enhanced{5, 4, 6}, "<%s>: alias loop", a)
	case err != nil:
		return smtp.ErrLocal.Wrap(err)
	}
	r := delivery.Recipient{Address: a, Accounts: res.Accounts}
	if len(res.Remote) > 0 {
		if !s.canQueue() {
			return smtp.Errorf(451, smtp.Enhanced{4, 4, 3}, "<%s>: forwards to other domains, which is not available yet; try again later", a)
		}
		r.Remote, r.Forwarded = res.Remote, true
	}
	if len(res.Accounts) == 0 && len(r.Remote) == 0 {
		return smtp.Errorf(550, smtp.Enhanced{5, 1, 1}, "<%s>: no such user here", a)
	}
	for _, acc := range res.Accounts {
		if delivery.OverQuota(acc, max(tx.opts.Size, 1)) {
			return smtp.Errorf(452, smtp.Enhanced{4, 2, 2}, "<%s>: mailbox full", a)
		}
	}
	return s.addRecipient(to, opts, r)
}

// addRecipient adds r with its DSN parameters to the transaction.
func (s *session) addRecipient(to string, opts *gosmtp.RcptOptions, r delivery.Recipient) error {
	tx := s.tx
	for _, n := range opts.Notify {
		r.Notify = append(r.Notify, string(n))
	}
	if opts.OriginalRecipient != "" {
		r.ORcpt = string(opts.OriginalRecipientType) + ";" + opts.OriginalRecipient
	}
	tx.index[r.Address.Key()] = len(tx.rcpts)
	tx.rcpts = append(tx.rcpts, r)
	tx.raw = append(tx.raw, []string{to})
	return nil
}

// canQueue reports whether mail can be queued for other servers.
func (s *session) canQueue() bool {
	d := s.srv.opt.Deliverer
	return d != nil && d.Outbound != nil
}

// rcptRemote checks a recipient at a domain that is not local: allowed
// for authenticated clients (within their outbound limits) and for the
// domains this server is a backup MX for; refused otherwise, whatever
// the client (no open relay).
func (s *session) rcptRemote(a addr.Address, to string, opts *gosmtp.RcptOptions) error {
	r := delivery.Recipient{Address: a, Remote: []addr.Address{a}}
	if acc := s.st.account; acc != nil {
		if !s.canQueue() {
			return smtp.Errorf(451, smtp.Enhanced{4, 4, 3}, "<%s>: sending to other domains is not available yet (no outbound queue in this version); try again later", a)
		}
		if lim := s.srv.opt.OutboundLimits; lim != nil {
			if err := lim.AllowRecipient(acc.Address.String(), !s.tx.remote); err != nil {
				return err
			}
		}
		s.tx.remote = true
		return s.addRecipient(to, opts, r)
	}
	rd, ok := s.relayDomain(a.Domain)
	if !ok {
		return smtp.Errorf(550, smtp.Enhanced{5, 7, 1}, "<%s>: relaying denied: %s is not a domain of this server", a, a.Domain)
	}
	if len(rd.Recipients) > 0 && !slices.ContainsFunc(rd.Recipients, func(b addr.Address) bool { return b.Key() == a.Key() }) {
		return smtp.Errorf(550, smtp.Enhanced{5, 1, 1}, "<%s>: not a recipient this backup MX accepts mail for", a)
	}
	if !s.canQueue() {
		return smtp.Errorf(451, smtp.Enhanced{4, 4, 3}, "<%s>: the outbound queue is not available; try again later", a)
	}
	return s.addRecipient(to, opts, r)
}

// relayDomain returns the backup-MX configuration of d, if any.
func (s *session) relayDomain(d addr.Domain) (RelayDomain, bool) {
	for _, rd := range s.srv.opt.RelayDomains {
		if strings.EqualFold(rd.Domain.ASCII, d.ASCII) {
			return rd, true
		}
	}
	return RelayDomain{}, false
}

// reverseSRS handles an SRS address at a local domain (a bounce of mail
// we forwarded): it goes back to the address it stands for. A forged or
// expired one is refused (ok with an error).
func (s *session) reverseSRS(a addr.Address) (delivery.Recipient, bool, error) {
	rev := s.srv.opt.SRS
	if rev == nil || !srs.IsSRS(a.Localpart) || !s.canQueue() {
		return delivery.Recipient{}, false, nil
	}
	if _, err := s.srv.opt.Store.Domain(s.ctx, a.Domain); err != nil {
		return delivery.Recipient{}, false, nil // not ours: the usual rules
	}
	orig, err := rev.Reverse(a)
	if err != nil {
		why := "forged"
		if errors.Is(err, srs.ErrExpired) {
			why = "expired"
		}
		return delivery.Recipient{}, true, smtp.Errorf(550, smtp.Enhanced{5, 1, 1}, "<%s>: invalid SRS address (%s); bounces of forwarded mail are accepted only for addresses this server made", a, why).Wrap(err)
	}
	return delivery.Recipient{Address: a, Remote: []addr.Address{orig}}, true, nil
}
