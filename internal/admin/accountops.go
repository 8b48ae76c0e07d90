package admin

// Account operations beyond add/passwd/list: quotas, the admin account,
// app passwords, and deleting an account with a report of what went.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/accounts"
	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

// QuotaRequest sets an account's quota. Size is a number of bytes with an
// optional unit K, M, G or T (powers of 1024, "B" and "iB" allowed:
// 500M, 2G, 1.5GiB); "0" or "none" means unlimited.
type QuotaRequest struct {
	Address string `json:"address"`
	Size    string `json:"size"`
}

// ParseSize parses a human size as QuotaRequest.Size describes.
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	if t == "NONE" || t == "UNLIMITED" {
		return 0, nil
	}
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := 1.0
	if n := len(t); n > 0 {
		if i := strings.IndexByte("KMGT", t[n-1]); i >= 0 {
			mult = math.Pow(1024, float64(i+1))
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("invalid size %q: give bytes or a number with K, M, G or T (e.g. 500M, 2G), or none", s)
	}
	b := v * mult
	if b > math.MaxInt64/2 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(math.Ceil(b)), nil
}

// FormatSize writes bytes the way ParseSize reads them, in the largest
// unit that keeps one decimal (2.0G, 500.0M, 812K, 37B).
func FormatSize(n int64) string {
	const units = "KMGT"
	if n < 1024 {
		return fmt.Sprintf("%dB", n)
	}
	v := float64(n)
	i := -1
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v == math.Trunc(v) {
		return fmt.Sprintf("%d%c", int64(v), units[i])
	}
	return fmt.Sprintf("%.1f%c", v, units[i])
}

// SetQuota sets the account's storage quota (0: unlimited). Deliveries
// and IMAP APPEND/COPY that would exceed it are refused (RCPT 452 4.2.2,
// NO [OVERQUOTA]); mail already stored stays.
func (a *Admin) SetQuota(ctx context.Context, r QuotaRequest) (UserInfo, error) {
	acc, err := a.account(ctx, r.Address)
	if err != nil {
		return UserInfo{}, err
	}
	n, err := ParseSize(r.Size)
	if err != nil {
		return UserInfo{}, userErr(err, "%v", err)
	}
	if err := a.Store.SetQuota(ctx, acc.ID, n); err != nil {
		return UserInfo{}, storeErr(err, "account "+acc.Address.String())
	}
	acc.QuotaBytes = n
	a.log().Info("quota set", "account", acc.Address.String(), "bytes", n)
	return a.userInfo(ctx, acc), nil
}

// SetAdminUser makes the account the admin account: the target of the
// implicit postmaster@ and abuse@ aliases of every local domain.
func (a *Admin) SetAdminUser(ctx context.Context, r UserRequest) (UserInfo, error) {
	acc, err := a.account(ctx, r.Address)
	if err != nil {
		return UserInfo{}, err
	}
	if err := a.Store.SetAdminAccount(ctx, acc.ID); err != nil {
		return UserInfo{}, storeErr(err, "account "+acc.Address.String())
	}
	a.log().Info("admin account set", "account", acc.Address.String())
	return a.userInfo(ctx, acc), nil
}

// userInfo is UserInfo with Admin filled in.
func (a *Admin) userInfo(ctx context.Context, acc store.Account) UserInfo {
	info := userInfo(acc)
	if adm, err := a.Store.AdminAccount(ctx); err == nil && adm.ID == acc.ID {
		info.Admin = true
	}
	return info
}

// AppPasswordRequest names an account's app password. Scope is "smtp",
// "imap" or "all" ("" is all). Name identifies it (generated when empty
// on add); on delete Name may also be its number as list shows it.
type AppPasswordRequest struct {
	Address string `json:"address"`
	Name    string `json:"name,omitempty"`
	Scope   string `json:"scope,omitempty"`
}

// AppPasswordInfo describes an app password. Password is set only by
// AddAppPassword, which shows the secret once; it is never stored.
type AppPasswordInfo struct {
	ID       int64     `json:"id"`
	Address  string    `json:"address"`
	Name     string    `json:"name"`
	Scope    string    `json:"scope"` // "smtp", "imap" or "all"
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used"` // zero: never
	Password string    `json:"password,omitempty"`
}

// MaxAppPasswordName bounds an app password's name.
const MaxAppPasswordName = 64

// AppPasswordScopes are the scopes an app password can have; "all" is
// stored as no restriction.
var AppPasswordScopes = []string{"smtp", "imap", "all"}

func parseScope(s string) ([]string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "", "all":
		return nil, nil
	case "smtp", "imap":
		return []string{s}, nil
	}
	return nil, userErr(nil, "invalid scope %q: one of %s", s, strings.Join(AppPasswordScopes, ", "))
}

func scopeName(scope []string) string {
	if len(scope) == 0 {
		return "all"
	}
	return strings.Join(scope, ",")
}

// AddAppPassword creates an app password: a generated secret, returned
// once, that logs in to the account with PLAIN or LOGIN over the
// protocols of its scope only. Names are unique per account.
func (a *Admin) AddAppPassword(ctx context.Context, r AppPasswordRequest) (AppPasswordInfo, error) {
	acc, err := a.account(ctx, r.Address)
	if err != nil {
		return AppPasswordInfo{}, err
	}
	scope, err := parseScope(r.Scope)
	if err != nil {
		return AppPasswordInfo{}, err
	}
	existing, err := a.Store.AppPasswords(ctx, acc.ID)
	if err != nil {
		return AppPasswordInfo{}, err
	}
	name := strings.TrimSpace(r.Name)
	if name == "" {
		for i := len(existing) + 1; name == "" || slices.ContainsFunc(existing, func(p store.AppPassword) bool { return p.Name == name }); i++ {
			name = fmt.Sprintf("app%d", i)
		}
	}
	if len(name) > MaxAppPasswordName || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return AppPasswordInfo{}, userErr(nil, "invalid app password name %q: at most %d characters, no control characters", name, MaxAppPasswordName)
	}
	if _, err := strconv.ParseInt(name, 10, 64); err == nil {
		return AppPasswordInfo{}, userErr(nil, "app password name %q is a number; numbers stand for ids in app-password del", name)
	}
	if slices.ContainsFunc(existing, func(p store.AppPassword) bool { return p.Name == name }) {
		return AppPasswordInfo{}, userErr(store.ErrExists, "account %s already has an app password named %q", acc.Address, name)
	}
	secret := accounts.GeneratePassword()
	keys, err := accounts.NewSCRAMKeys(secret)
	if err != nil {
		return AppPasswordInfo{}, err
	}
	p, err := a.Store.AddAppPassword(ctx, store.AppPassword{AccountID: acc.ID, Name: name, Scope: scope, SCRAM: keys, Created: a.now()})
	if err != nil {
		return AppPasswordInfo{}, storeErr(err, "account "+acc.Address.String())
	}
	a.log().Info("app password added", "account", acc.Address.String(), "name", name, "scope", scopeName(scope))
	info := appPasswordInfo(acc.Address, p)
	info.Password = secret
	return info, nil
}

func appPasswordInfo(address addr.Address, p store.AppPassword) AppPasswordInfo {
	return AppPasswordInfo{ID: p.ID, Address: address.String(), Name: p.Name, Scope: scopeName(p.Scope), Created: p.Created, LastUsed: p.LastUsed}
}

// ListAppPasswords lists an account's app passwords, never their secrets.
func (a *Admin) ListAppPasswords(ctx context.Context, r UserRequest) ([]AppPasswordInfo, error) {
	acc, err := a.account(ctx, r.Address)
	if err != nil {
		return nil, err
	}
	ps, err := a.Store.AppPasswords(ctx, acc.ID)
	if err != nil {
		return nil, err
	}
	out := make([]AppPasswordInfo, 0, len(ps))
	for _, p := range ps {
		out = append(out, appPasswordInfo(acc.Address, p))
	}
	return out, nil
}

// DeleteAppPassword revokes an app password, named by name or id.
func (a *Admin) DeleteAppPassword(ctx context.Context, r AppPasswordRequest) (Empty, error) {
	acc, err := a.account(ctx, r.Address)
	if err != nil {
		return Empty{}, err
	}
	ps, err := a.Store.AppPasswords(ctx, acc.ID)
	if err != nil {
		return Empty{}, err
	}
	name := strings.TrimSpace(r.Name)
	id, _ := strconv.ParseInt(name, 10, 64)
	i := slices.IndexFunc(ps, func(p store.AppPassword) bool { return p.Name == name || id != 0 && p.ID == id })
	if i < 0 {
		return Empty{}, userErr(store.ErrNotFound, "account %s has no app password %q (see: posthorn user app-password list %s)", acc.Address, name, acc.Address)
	}
	if err := a.Store.DeleteAppPassword(ctx, acc.ID, ps[i].ID); err != nil {
		return Empty{}, storeErr(err, "app password "+ps[i].Name)
	}
	a.log().Info("app password deleted", "account", acc.Address.String(), "name", ps[i].Name)
	return Empty{}, nil
}

// DeletedUser reports what DeleteUser deleted (or, with DryRun, would
// delete). AliasesTargeting are the aliases that still name the account
// as a target: they are kept, and mail to them no longer reaches it.
type DeletedUser struct {
	Address          string   `json:"address"`
	Messages         int      `json:"messages"`
	Mailboxes        int      `json:"mailboxes"`
	Bytes            int64    `json:"bytes"`
	AppPasswords     int      `json:"app_passwords"`
	AliasesTargeting []string `json:"aliases_targeting,omitempty"`
	Deleted          bool     `json:"deleted"`
}

// DeleteUser removes an account with all its mail and reports what it
// removed. The admin account cannot be deleted while other accounts
// exist: another must be made the admin account first (SetAdminUser).
func (a *Admin) DeleteUser(ctx context.Context, r UserRequest) (DeletedUser, error) {
	acc, err := a.account(ctx, r.Address)
	if err != nil {
		return DeletedUser{}, err
	}
	rep, err := a.deletionReport(ctx, acc)
	if err != nil {
		return DeletedUser{}, err
	}
	if adm, err := a.Store.AdminAccount(ctx); err == nil && adm.ID == acc.ID {
		all, err := a.Store.Accounts(ctx, addr.Domain{})
		if err != nil {
			return DeletedUser{}, err
		}
		if len(all) > 1 {
			return DeletedUser{}, userErr(nil, "%s is the admin account (it receives postmaster@ and abuse@ of every local domain); "+
				"make another account the admin first: posthorn user admin ADDRESS", acc.Address)
		}
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return DeletedUser{}, err
	}
	if r.DryRun {
		return rep, nil
	}
	if err := a.Store.DeleteAccount(ctx, acc.ID); err != nil {
		return DeletedUser{}, storeErr(err, "account "+acc.Address.String())
	}
	rep.Deleted = true
	a.log().Info("account deleted", "account", acc.Address.String(), "messages", rep.Messages, "bytes", rep.Bytes)
	return rep, nil
}

func (a *Admin) deletionReport(ctx context.Context, acc store.Account) (DeletedUser, error) {
	rep := DeletedUser{Address: acc.Address.String(), Bytes: acc.UsedBytes}
	mbs, err := a.Store.Mailboxes(ctx, acc.ID)
	if err != nil {
		return rep, err
	}
	rep.Mailboxes = len(mbs)
	for _, mb := range mbs {
		rep.Messages += mb.Messages
	}
	ps, err := a.Store.AppPasswords(ctx, acc.ID)
	if err != nil {
		return rep, err
	}
	rep.AppPasswords = len(ps)
	als, err := a.Store.Aliases(ctx, addr.Domain{})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return rep, err
	}
	for _, al := range als {
		if slices.ContainsFunc(al.Targets, func(t addr.Address) bool { return t.Key() == acc.Address.Key() }) {
			rep.AliasesTargeting = append(rep.AliasesTargeting, aliasName(al.Localpart, al.Domain))
		}
	}
	return rep, nil
}
