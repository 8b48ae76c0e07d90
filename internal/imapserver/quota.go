package imapserver

import (
	"github.com/posthorn/posthorn/internal/imapwire"
)

// QUOTA (RFC 9208) with the STORAGE resource: one quota root, "", holds
// every mailbox of the account; its limit is the account's QuotaBytes and
// its usage UsedBytes, both reported in units of 1024 octets (rounded
// up, §5.1). Quotas are set by the administrator, so SETQUOTA is refused.
// An account without a quota has no quota root. APPEND, COPY and MOVE
// over the quota fail with [OVERQUOTA] (the store enforces the limit;
// see session.internalError).

// quotaRoot is the name of the account's one quota root.
const quotaRoot = ""

// writeQuota writes "* QUOTA "" (STORAGE used limit)" for the account as
// it is now; it reports false when the account has no quota.
func (s *session) writeQuota() (bool, error) {
	acct, err := s.srv.Store.AccountByID(s.ctx, s.acct.ID)
	if err != nil {
		return false, err
	}
	if acct.QuotaBytes <= 0 {
		return false, nil
	}
	s.w.Raw("* QUOTA ")
	s.w.String(quotaRoot)
	s.w.Raw(" (STORAGE ")
	s.w.Number(uint64(kib(acct.UsedBytes)))
	s.w.SP()
	s.w.Number(uint64(kib(acct.QuotaBytes)))
	s.w.Raw(")\r\n")
	return true, nil
}

// kib converts octets to KiB, rounding up.
func kib(n int64) int64 { return (max(n, 0) + 1023) / 1024 }

// cmdGetQuota is GETQUOTA root (RFC 9208 §4.2).
func (s *session) cmdGetQuota(tag string, p *imapwire.Parser) error {
	root := p.AString()
	if err := p.End(); err != nil {
		return err
	}
	if root != quotaRoot {
		return no("NONEXISTENT", "No such quota root")
	}
	ok, err := s.writeQuota()
	if err != nil {
		return err
	}
	if !ok {
		return no("NONEXISTENT", "No quota is set for this account")
	}
	return nil
}

// cmdGetQuotaRoot is GETQUOTAROOT mailbox (RFC 9208 §4.3).
func (s *session) cmdGetQuotaRoot(tag string, p *imapwire.Parser) error {
	name := p.Mailbox()
	if err := p.End(); err != nil {
		return err
	}
	mb, err := s.srv.Store.MailboxByName(s.ctx, s.acct.ID, name)
	if err != nil {
		return err
	}
	acct, err := s.srv.Store.AccountByID(s.ctx, s.acct.ID)
	if err != nil {
		return err
	}
	s.w.Raw("* QUOTAROOT ")
	s.w.Mailbox(mb.Name)
	if acct.QuotaBytes > 0 {
		s.w.SP()
		s.w.String(quotaRoot)
	}
	s.w.Raw("\r\n")
	_, err = s.writeQuota()
	return err
}

// cmdSetQuota is SETQUOTA (RFC 9208 §4.1): quotas are the administrator's.
func (s *session) cmdSetQuota(tag string, p *imapwire.Parser) error {
	imapwire.ParseSetQuota(p)
	if err := p.End(); err != nil {
		return err
	}
	return no("NOPERM", "Quotas are set by the administrator")
}
