package store

// Directory methods of the SQLite store: domains, accounts, credentials,
// app passwords, aliases and DKIM keys.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
)

// notFound turns sql.ErrNoRows into a wrapped ErrNotFound.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: %s: %w", what, ErrNotFound)
	}
	return err
}

// affected returns ErrNotFound when res changed no row.
func affected(res sql.Result, err error, what string) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("store: %s: %w", what, ErrNotFound)
	}
	return nil
}

func exists(w *wtx, q string, args ...any) (bool, error) {
	var one int
	err := w.queryRow(q, args...).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, err
}

func (s *SQLite) stamp(t time.Time) time.Time {
	if t.IsZero() {
		return s.now()
	}
	return t
}

// ------------------------------------------------------------------ domains

// AddDomain implements Directory.
func (s *SQLite) AddDomain(ctx context.Context, d Domain) error {
	if d.Name.IsZero() {
		return fmt.Errorf("%w: empty domain", ErrInvalid)
	}
	d.Created = s.stamp(d.Created)
	return s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		if ok, err := exists(w, `SELECT 1 FROM domains WHERE name = ?`, d.Name.ASCII); err != nil || ok {
			return nil, errors.Join(err, existsErr(ok, "domain "+d.Name.ASCII))
		}
		_, err := w.exec(`INSERT INTO domains (name, unicode, subaddress_sep, created) VALUES (?, ?, ?, ?)`,
			d.Name.ASCII, d.Name.Unicode, d.SubaddressSep, toNanos(d.Created))
		return nil, err
	})
}

func existsErr(ok bool, what string) error {
	if !ok {
		return nil
	}
	return fmt.Errorf("store: %s: %w", what, ErrExists)
}

const domainCols = `name, unicode, subaddress_sep, created`

func scanDomain(sc interface{ Scan(...any) error }) (Domain, error) {
	var d Domain
	var created int64
	err := sc.Scan(&d.Name.ASCII, &d.Name.Unicode, &d.SubaddressSep, &created)
	d.Created = fromNanos(created)
	return d, err
}

// Domain implements Directory.
func (s *SQLite) Domain(ctx context.Context, name addr.Domain) (Domain, error) {
	db, err := s.reader()
	if err != nil {
		return Domain{}, err
	}
	d, err := scanDomain(db.QueryRowContext(ctx, `SELECT `+domainCols+` FROM domains WHERE name = ?`, name.ASCII))
	return d, s.readErr(notFound(err, "domain "+name.ASCII))
}

// Domains implements Directory.
func (s *SQLite) Domains(ctx context.Context) ([]Domain, error) {
	return queryList(s, ctx, scanDomain, `SELECT `+domainCols+` FROM domains ORDER BY name`)
}

// queryList runs a read query and scans every row.
func queryList[T any](s *SQLite, ctx context.Context, scan func(interface{ Scan(...any) error }) (T, error), q string, args ...any) ([]T, error) {
	db, err := s.reader()
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.readErr(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, s.readErr(err)
		}
		out = append(out, v)
	}
	return out, s.readErr(rows.Err())
}

// DeleteDomain implements Directory.
func (s *SQLite) DeleteDomain(ctx context.Context, name addr.Domain) error {
	return s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		for _, t := range []string{"accounts", "aliases"} {
			ok, err := exists(w, `SELECT 1 FROM `+t+` WHERE domain = ? LIMIT 1`, name.ASCII)
			if err != nil {
				return nil, err
			}
			if ok {
				return nil, fmt.Errorf("store: domain %s has %s: %w", name.ASCII, t, ErrInUse)
			}
		}
		if _, err := w.exec(`DELETE FROM dkim_keys WHERE domain = ?`, name.ASCII); err != nil {
			return nil, err
		}
		res, err := w.exec(`DELETE FROM domains WHERE name = ?`, name.ASCII)
		return nil, affected(res, err, "domain "+name.ASCII)
	})
}

// ----------------------------------------------------------------- accounts

var defaultMailboxes = []struct{ name, special string }{
	{"INBOX", ""},
	{"Sent", SpecialSent},
	{"Drafts", SpecialDrafts},
	{"Junk", SpecialJunk},
	{"Trash", SpecialTrash},
	{"Archive", SpecialArchive},
}

// AddAccount implements Directory.
func (s *SQLite) AddAccount(ctx context.Context, a Account, c Credentials) (Account, error) {
	if a.Address.Localpart == "" || a.Address.Domain.IsZero() {
		return Account{}, fmt.Errorf("%w: empty address", ErrInvalid)
	}
	if a.QuotaBytes < 0 {
		return Account{}, fmt.Errorf("%w: negative quota", ErrInvalid)
	}
	a.Created = s.stamp(a.Created)
	a.UsedBytes = 0
	key := a.Address.Key()
	err := s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		var uni string
		err := w.queryRow(`SELECT unicode FROM domains WHERE name = ?`, a.Address.Domain.ASCII).Scan(&uni)
		if err != nil {
			return nil, notFound(err, "domain "+a.Address.Domain.ASCII)
		}
		a.Address.Domain.Unicode = uni
		if ok, err := exists(w, `SELECT 1 FROM accounts WHERE addr_key = ?`, key); err != nil || ok {
			return nil, errors.Join(err, existsErr(ok, "account "+key))
		}
		if ok, err := exists(w, `SELECT 1 FROM aliases WHERE domain = ? AND localpart_key = ?`,
			a.Address.Domain.ASCII, a.Address.Localpart.Key()); err != nil || ok {
			return nil, errors.Join(err, existsErr(ok, "alias "+key))
		}
		res, err := w.exec(`INSERT INTO accounts (addr_key, localpart, domain, domain_unicode, display_name,
			quota_bytes, disabled, password_hash, scram_salt, scram_iter, scram_stored, scram_server, created)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			key, string(a.Address.Localpart), a.Address.Domain.ASCII, uni, a.DisplayName,
			a.QuotaBytes, boolInt(a.Disabled), c.PasswordHash, c.SCRAM.Salt, c.SCRAM.Iterations,
			c.SCRAM.StoredKey, c.SCRAM.ServerKey, toNanos(a.Created))
		if err != nil {
			return nil, err
		}
		if a.ID, err = res.LastInsertId(); err != nil {
			return nil, err
		}
		var changes []Change
		for _, m := range defaultMailboxes {
			mb, err := createMailbox(w, a.ID, m.name, m.special, true)
			if err != nil {
				return nil, err
			}
			changes = append(changes, Change{Kind: ChangeMailboxCreate, AccountID: a.ID, MailboxID: mb.ID, MailboxName: mb.Name})
		}
		return changes, nil
	})
	if err != nil {
		return Account{}, err
	}
	return a, nil
}

const accountCols = `id, localpart, domain, domain_unicode, display_name, quota_bytes, used_bytes, disabled, created`

func scanAccount(sc interface{ Scan(...any) error }) (Account, error) {
	var a Account
	var lp string
	var disabled int
	var created int64
	err := sc.Scan(&a.ID, &lp, &a.Address.Domain.ASCII, &a.Address.Domain.Unicode, &a.DisplayName,
		&a.QuotaBytes, &a.UsedBytes, &disabled, &created)
	a.Address.Localpart = addr.Localpart(lp)
	a.Disabled = disabled != 0
	a.Created = fromNanos(created)
	return a, err
}

// Account implements Directory.
func (s *SQLite) Account(ctx context.Context, address addr.Address) (Account, error) {
	db, err := s.reader()
	if err != nil {
		return Account{}, err
	}
	a, err := scanAccount(db.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE addr_key = ?`, address.Key()))
	return a, s.readErr(notFound(err, "account "+address.Key()))
}

// AccountByID implements Directory.
func (s *SQLite) AccountByID(ctx context.Context, id int64) (Account, error) {
	db, err := s.reader()
	if err != nil {
		return Account{}, err
	}
	a, err := scanAccount(db.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id))
	return a, s.readErr(notFound(err, fmt.Sprintf("account %d", id)))
}

// Credentials implements Directory.
func (s *SQLite) Credentials(ctx context.Context, accountID int64) (Credentials, error) {
	db, err := s.reader()
	if err != nil {
		return Credentials{}, err
	}
	var c Credentials
	err = db.QueryRowContext(ctx, `SELECT password_hash, scram_salt, scram_iter, scram_stored, scram_server
		FROM accounts WHERE id = ?`, accountID).Scan(&c.PasswordHash, &c.SCRAM.Salt, &c.SCRAM.Iterations,
		&c.SCRAM.StoredKey, &c.SCRAM.ServerKey)
	return c, s.readErr(notFound(err, fmt.Sprintf("account %d", accountID)))
}

// Accounts implements Directory.
func (s *SQLite) Accounts(ctx context.Context, domain addr.Domain) ([]Account, error) {
	if domain.IsZero() {
		return queryList(s, ctx, scanAccount, `SELECT `+accountCols+` FROM accounts ORDER BY addr_key`)
	}
	return queryList(s, ctx, scanAccount, `SELECT `+accountCols+` FROM accounts WHERE domain = ? ORDER BY addr_key`, domain.ASCII)
}

// SetCredentials implements Directory.
func (s *SQLite) SetCredentials(ctx context.Context, accountID int64, c Credentials) error {
	return s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		res, err := w.exec(`UPDATE accounts SET password_hash = ?, scram_salt = ?, scram_iter = ?,
			scram_stored = ?, scram_server = ? WHERE id = ?`, c.PasswordHash, c.SCRAM.Salt,
			c.SCRAM.Iterations, c.SCRAM.StoredKey, c.SCRAM.ServerKey, accountID)
		return nil, affected(res, err, fmt.Sprintf("account %d", accountID))
	})
}

// SetQuota implements Directory.
func (s *SQLite) SetQuota(ctx context.Context, accountID int64, quotaBytes int64) error {
	if quotaBytes < 0 {
		return fmt.Errorf("%w: negative quota", ErrInvalid)
	}
	return s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		res, err := w.exec(`UPDATE accounts SET quota_bytes = ? WHERE id = ?`, quotaBytes, accountID)
		return nil, affected(res, err, fmt.Sprintf("account %d", accountID))
	})
}

// DeleteAccount implements Directory.
func (s *SQLite) DeleteAccount(ctx context.Context, accountID int64) error {
	return s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		if ok, err := exists(w, `SELECT 1 FROM accounts WHERE id = ?`, accountID); err != nil || !ok {
			return nil, errors.Join(err, notFound(sql.ErrNoRows, fmt.Sprintf("account %d", accountID)))
		}
		var changes []Change
		rows, err := w.query(`SELECT id, name FROM mailboxes WHERE account_id = ?`, accountID)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			ch := Change{Kind: ChangeMailboxDelete, AccountID: accountID}
			if err := rows.Scan(&ch.MailboxID, &ch.MailboxName); err != nil {
				rows.Close()
				return nil, err
			}
			changes = append(changes, ch)
		}
		if err := errors.Join(rows.Close(), rows.Err()); err != nil {
			return nil, err
		}
		refs, err := blobRefsOf(w, `account_id = ?`, accountID)
		if err != nil {
			return nil, err
		}
		if _, err := s.deleteJunkEventsTx(w, `account_id = ?`, accountID); err != nil {
			return nil, err
		}
		for _, q := range []string{
			`DELETE FROM messages WHERE account_id = ?`,
			`DELETE FROM tombstones WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE account_id = ?)`,
			`DELETE FROM mailboxes WHERE account_id = ?`,
			`DELETE FROM metadata WHERE account_id = ?`,
			`DELETE FROM meta WHERE key = '` + adminAccountKey + `' AND value = ?`,
			`DELETE FROM app_passwords WHERE account_id = ?`,
			`DELETE FROM accounts WHERE id = ?`,
		} {
			if _, err := w.exec(q, accountID); err != nil {
				return nil, err
			}
		}
		return changes, s.unrefBlobs(w, refs)
	})
}

// ------------------------------------------------------------ app passwords

// AddAppPassword implements Directory.
func (s *SQLite) AddAppPassword(ctx context.Context, p AppPassword) (AppPassword, error) {
	p.Created = s.stamp(p.Created)
	scope, err := json.Marshal(nonNil(p.Scope))
	if err != nil {
		return AppPassword{}, err
	}
	err = s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		if ok, err := exists(w, `SELECT 1 FROM accounts WHERE id = ?`, p.AccountID); err != nil || !ok {
			return nil, errors.Join(err, notFound(sql.ErrNoRows, fmt.Sprintf("account %d", p.AccountID)))
		}
		res, err := w.exec(`INSERT INTO app_passwords (account_id, name, scope, scram_salt, scram_iter,
			scram_stored, scram_server, created, last_used) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.AccountID, p.Name, string(scope), p.SCRAM.Salt, p.SCRAM.Iterations, p.SCRAM.StoredKey,
			p.SCRAM.ServerKey, toNanos(p.Created), toNanos(p.LastUsed))
		if err != nil {
			return nil, err
		}
		p.ID, err = res.LastInsertId()
		return nil, err
	})
	if err != nil {
		return AppPassword{}, err
	}
	return p, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func scanAppPassword(sc interface{ Scan(...any) error }) (AppPassword, error) {
	var p AppPassword
	var scope string
	var created, used int64
	err := sc.Scan(&p.ID, &p.AccountID, &p.Name, &scope, &p.SCRAM.Salt, &p.SCRAM.Iterations,
		&p.SCRAM.StoredKey, &p.SCRAM.ServerKey, &created, &used)
	if err != nil {
		return p, err
	}
	p.Created, p.LastUsed = fromNanos(created), fromNanos(used)
	if err := json.Unmarshal([]byte(scope), &p.Scope); err != nil {
		return p, fmt.Errorf("store: app password scope: %w", err)
	}
	if len(p.Scope) == 0 {
		p.Scope = nil
	}
	return p, nil
}

// AppPasswords implements Directory.
func (s *SQLite) AppPasswords(ctx context.Context, accountID int64) ([]AppPassword, error) {
	return queryList(s, ctx, scanAppPassword, `SELECT id, account_id, name, scope, scram_salt, scram_iter,
		scram_stored, scram_server, created, last_used FROM app_passwords WHERE account_id = ? ORDER BY id`, accountID)
}

// DeleteAppPassword implements Directory.
func (s *SQLite) DeleteAppPassword(ctx context.Context, accountID, id int64) error {
	return s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		res, err := w.exec(`DELETE FROM app_passwords WHERE account_id = ? AND id = ?`, accountID, id)
		return nil, affected(res, err, fmt.Sprintf("app password %d", id))
	})
}

// TouchAppPassword implements Directory.
func (s *SQLite) TouchAppPassword(ctx context.Context, id int64, used time.Time) error {
	return s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		res, err := w.exec(`UPDATE app_passwords SET last_used = ? WHERE id = ?`, toNanos(used), id)
		return nil, affected(res, err, fmt.Sprintf("app password %d", id))
	})
}

// ------------------------------------------------------------------ aliases

// AddAlias implements Directory.
func (s *SQLite) AddAlias(ctx context.Context, a Alias) error {
	if a.Domain.IsZero() {
		return fmt.Errorf("%w: alias without domain", ErrInvalid)
	}
	if len(a.Targets) == 0 {
		return fmt.Errorf("%w: alias without targets", ErrInvalid)
	}
	a.Created = s.stamp(a.Created)
	targets, err := json.Marshal(a.Targets)
	if err != nil {
		return err
	}
	lkey := a.Localpart.Key()
	return s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		if ok, err := exists(w, `SELECT 1 FROM domains WHERE name = ?`, a.Domain.ASCII); err != nil || !ok {
			return nil, errors.Join(err, notFound(sql.ErrNoRows, "domain "+a.Domain.ASCII))
		}
		if ok, err := exists(w, `SELECT 1 FROM aliases WHERE domain = ? AND localpart_key = ?`, a.Domain.ASCII, lkey); err != nil || ok {
			return nil, errors.Join(err, existsErr(ok, "alias "+lkey+"@"+a.Domain.ASCII))
		}
		if lkey != "" {
			if ok, err := exists(w, `SELECT 1 FROM accounts WHERE addr_key = ?`, lkey+"@"+a.Domain.ASCII); err != nil || ok {
				return nil, errors.Join(err, existsErr(ok, "account "+lkey+"@"+a.Domain.ASCII))
			}
		}
		_, err := w.exec(`INSERT INTO aliases (domain, localpart_key, localpart, targets, created) VALUES (?, ?, ?, ?, ?)`,
			a.Domain.ASCII, lkey, string(a.Localpart), string(targets), toNanos(a.Created))
		return nil, err
	})
}

const aliasCols = `a.localpart, a.domain, d.unicode, a.targets, a.created`

func scanAlias(sc interface{ Scan(...any) error }) (Alias, error) {
	var a Alias
	var lp, targets string
	var created int64
	if err := sc.Scan(&lp, &a.Domain.ASCII, &a.Domain.Unicode, &targets, &created); err != nil {
		return a, err
	}
	a.Localpart = addr.Localpart(lp)
	a.Created = fromNanos(created)
	if err := json.Unmarshal([]byte(targets), &a.Targets); err != nil {
		return a, fmt.Errorf("store: alias targets: %w", err)
	}
	return a, nil
}

// Alias implements Directory.
func (s *SQLite) Alias(ctx context.Context, localpart addr.Localpart, domain addr.Domain) (Alias, error) {
	db, err := s.reader()
	if err != nil {
		return Alias{}, err
	}
	a, err := scanAlias(db.QueryRowContext(ctx, `SELECT `+aliasCols+` FROM aliases a JOIN domains d ON d.name = a.domain
		WHERE a.domain = ? AND a.localpart_key = ?`, domain.ASCII, localpart.Key()))
	return a, s.readErr(notFound(err, "alias "+localpart.Key()+"@"+domain.ASCII))
}

// Aliases implements Directory. A zero domain lists every alias.
func (s *SQLite) Aliases(ctx context.Context, domain addr.Domain) ([]Alias, error) {
	q := `SELECT ` + aliasCols + ` FROM aliases a JOIN domains d ON d.name = a.domain`
	if domain.IsZero() {
		return queryList(s, ctx, scanAlias, q+` ORDER BY a.domain, a.localpart_key`)
	}
	return queryList(s, ctx, scanAlias, q+` WHERE a.domain = ? ORDER BY a.localpart_key`, domain.ASCII)
}

// DeleteAlias implements Directory.
func (s *SQLite) DeleteAlias(ctx context.Context, localpart addr.Localpart, domain addr.Domain) error {
	return s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		res, err := w.exec(`DELETE FROM aliases WHERE domain = ? AND localpart_key = ?`, domain.ASCII, localpart.Key())
		return nil, affected(res, err, "alias "+localpart.Key()+"@"+domain.ASCII)
	})
}

// ----------------------------------------------------------------- DKIM keys

func validDKIMState(st string) bool {
	return st == "active" || st == "pending" || st == "retired"
}

// AddDKIMKey implements Directory.
func (s *SQLite) AddDKIMKey(ctx context.Context, k DKIMKey) error {
	if k.Selector == "" || strings.ContainsAny(k.Selector, " \t\r\n") {
		return fmt.Errorf("%w: DKIM selector %q", ErrInvalid, k.Selector)
	}
	if k.State == "" {
		k.State = "active"
	}
	if !validDKIMState(k.State) {
		return fmt.Errorf("%w: DKIM key state %q", ErrInvalid, k.State)
	}
	k.Created = s.stamp(k.Created)
	return s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		if ok, err := exists(w, `SELECT 1 FROM domains WHERE name = ?`, k.Domain.ASCII); err != nil || !ok {
			return nil, errors.Join(err, notFound(sql.ErrNoRows, "domain "+k.Domain.ASCII))
		}
		if ok, err := exists(w, `SELECT 1 FROM dkim_keys WHERE domain = ? AND selector = ?`, k.Domain.ASCII, k.Selector); err != nil || ok {
			return nil, errors.Join(err, existsErr(ok, "DKIM key "+k.Selector+"._domainkey."+k.Domain.ASCII))
		}
		_, err := w.exec(`INSERT INTO dkim_keys (domain, selector, algorithm, private_key, state, created)
			VALUES (?, ?, ?, ?, ?, ?)`, k.Domain.ASCII, k.Selector, k.Algorithm, nonNil(k.PrivateKey), k.State, toNanos(k.Created))
		return nil, err
	})
}

// DKIMKeys implements Directory.
func (s *SQLite) DKIMKeys(ctx context.Context, domain addr.Domain) ([]DKIMKey, error) {
	return queryList(s, ctx, func(sc interface{ Scan(...any) error }) (DKIMKey, error) {
		var k DKIMKey
		var created int64
		err := sc.Scan(&k.Domain.ASCII, &k.Domain.Unicode, &k.Selector, &k.Algorithm, &k.PrivateKey, &k.State, &created)
		k.Created = fromNanos(created)
		return k, err
	}, `SELECT k.domain, d.unicode, k.selector, k.algorithm, k.private_key, k.state, k.created
		FROM dkim_keys k JOIN domains d ON d.name = k.domain WHERE k.domain = ? ORDER BY k.created, k.selector`, domain.ASCII)
}

// SetDKIMKeyState implements Directory.
func (s *SQLite) SetDKIMKeyState(ctx context.Context, domain addr.Domain, selector, state string) error {
	if !validDKIMState(state) {
		return fmt.Errorf("%w: DKIM key state %q", ErrInvalid, state)
	}
	return s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		res, err := w.exec(`UPDATE dkim_keys SET state = ? WHERE domain = ? AND selector = ?`, state, domain.ASCII, selector)
		return nil, affected(res, err, "DKIM key "+selector+"._domainkey."+domain.ASCII)
	})
}
