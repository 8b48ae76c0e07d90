package admin

import (
	"context"
	"errors"
	"strings"

	"github.com/posthorn/posthorn/internal/accounts"
	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

// AddUser creates an account in an existing local domain. With an empty
// Password one is generated and returned once in UserInfo.Password.
func (a *Admin) AddUser(ctx context.Context, r UserRequest) (UserInfo, error) {
	address, err := parseAddress(r.Address)
	if err != nil {
		return UserInfo{}, err
	}
	if _, err := a.Store.Domain(ctx, address.Domain); err != nil {
		return UserInfo{}, storeErr(err, "domain "+address.Domain.String())
	}
	password, generated, cred, err := a.credentials(r.Password, address)
	if err != nil {
		return UserInfo{}, err
	}
	acc, err := a.Store.AddAccount(ctx, store.Account{Address: address, Created: a.now()}, cred)
	if err != nil {
		return UserInfo{}, storeErr(err, "account or alias "+address.String())
	}
	a.log().Info("account added", "account", address.String())
	if _, err := a.Store.AdminAccount(ctx); errors.Is(err, store.ErrNotFound) {
		// The first account (init's) becomes the admin account.
		if err := a.Store.SetAdminAccount(ctx, acc.ID); err != nil {
			return UserInfo{}, err
		}
	} else if err != nil {
		return UserInfo{}, err
	}
	info := a.userInfo(ctx, acc)
	if generated {
		info.Password = password
	}
	return info, nil
}

// credentials derives the verifiers of a password given for account, or
// of a generated one when given is "" (generated reports which). A given
// password must pass the password policy unless AcceptWeakPasswords.
func (a *Admin) credentials(given string, account addr.Address) (password string, generated bool, cred store.Credentials, err error) {
	password = given
	if password == "" {
		password, generated = accounts.GeneratePassword(), true
	} else if !a.AcceptWeakPasswords {
		if err := accounts.CheckPassword(password, account); err != nil {
			return "", false, cred, userErr(err, "password for %s refused: %s; choose another, or let posthorn generate one",
				account, strings.TrimPrefix(err.Error(), accounts.ErrWeakPassword.Error()+": "))
		}
	}
	cred, err = accounts.NewCredentials(password)
	if err != nil {
		return "", false, cred, userErr(err, "%v", err)
	}
	return password, generated, cred, nil
}

func userInfo(acc store.Account) UserInfo {
	return UserInfo{
		Address:    acc.Address.String(),
		QuotaBytes: acc.QuotaBytes,
		UsedBytes:  acc.UsedBytes,
		Disabled:   acc.Disabled,
		Created:    acc.Created,
	}
}

func (a *Admin) account(ctx context.Context, s string) (store.Account, error) {
	address, err := parseAddress(s)
	if err != nil {
		return store.Account{}, err
	}
	acc, err := a.Store.Account(ctx, address)
	return acc, storeErr(err, "account "+address.String())
}

// SetPassword replaces an account's password; with an empty Password one is
// generated and returned once.
func (a *Admin) SetPassword(ctx context.Context, r UserRequest) (UserInfo, error) {
	acc, err := a.account(ctx, r.Address)
	if err != nil {
		return UserInfo{}, err
	}
	password, generated, cred, err := a.credentials(r.Password, acc.Address)
	if err != nil {
		return UserInfo{}, err
	}
	if err := a.Store.SetCredentials(ctx, acc.ID, cred); err != nil {
		return UserInfo{}, storeErr(err, "account "+acc.Address.String())
	}
	a.log().Info("password changed", "account", acc.Address.String())
	info := userInfo(acc)
	if generated {
		info.Password = password
	}
	return info, nil
}

// ListUsers lists the accounts of one domain, or of all when Domain is "".
func (a *Admin) ListUsers(ctx context.Context, r DomainRequest) ([]UserInfo, error) {
	var d addr.Domain
	if r.Domain != "" {
		var err error
		if d, err = parseDomain(r.Domain); err != nil {
			return nil, err
		}
	}
	accs, err := a.Store.Accounts(ctx, d)
	if err != nil {
		return nil, err
	}
	out := make([]UserInfo, 0, len(accs))
	for _, acc := range accs {
		out = append(out, a.userInfo(ctx, acc))
	}
	return out, nil
}

// parseAliasAddress parses "local@domain" or the catch-all "@domain".
func parseAliasAddress(s string) (addr.Localpart, addr.Domain, error) {
	s = strings.TrimSpace(s)
	if d, ok := strings.CutPrefix(s, "@"); ok {
		dom, err := parseDomain(d)
		return "", dom, err
	}
	a, err := parseAddress(s)
	return a.Localpart, a.Domain, err
}

func aliasName(lp addr.Localpart, d addr.Domain) string {
	if lp == "" {
		return "@" + d.String()
	}
	return addr.Address{Localpart: lp, Domain: d}.String()
}

// AddAlias creates an alias with one or more targets (local or remote).
// "@domain" creates the domain's catch-all.
func (a *Admin) AddAlias(ctx context.Context, r AliasRequest) (AliasInfo, error) {
	lp, d, err := parseAliasAddress(r.Address)
	if err != nil {
		return AliasInfo{}, err
	}
	if len(r.Targets) == 0 {
		return AliasInfo{}, userErr(nil, "alias %s needs at least one target", r.Address)
	}
	if _, err := a.Store.Domain(ctx, d); err != nil {
		return AliasInfo{}, storeErr(err, "domain "+d.String())
	}
	al := store.Alias{Localpart: lp, Domain: d, Created: a.now()}
	for _, t := range r.Targets {
		ta, err := parseAddress(t)
		if err != nil {
			return AliasInfo{}, err
		}
		if ta.Localpart == lp && ta.Domain == d {
			return AliasInfo{}, userErr(nil, "alias %s cannot target itself", r.Address)
		}
		al.Targets = append(al.Targets, ta)
	}
	if err := a.Store.AddAlias(ctx, al); err != nil {
		return AliasInfo{}, storeErr(err, "account or alias "+aliasName(lp, d))
	}
	a.log().Info("alias added", "alias", aliasName(lp, d), "targets", len(al.Targets))
	return aliasInfo(al), nil
}

func aliasInfo(al store.Alias) AliasInfo {
	info := AliasInfo{Address: aliasName(al.Localpart, al.Domain), Created: al.Created}
	for _, t := range al.Targets {
		info.Targets = append(info.Targets, t.String())
	}
	return info
}

// DeleteAlias removes an alias.
func (a *Admin) DeleteAlias(ctx context.Context, r AliasRequest) (Empty, error) {
	lp, d, err := parseAliasAddress(r.Address)
	if err != nil {
		return Empty{}, err
	}
	if err := a.Store.DeleteAlias(ctx, lp, d); err != nil {
		return Empty{}, storeErr(err, "alias "+aliasName(lp, d))
	}
	a.log().Info("alias deleted", "alias", aliasName(lp, d))
	return Empty{}, nil
}

// ListAliases lists the aliases of one domain, or of all when Domain is "".
func (a *Admin) ListAliases(ctx context.Context, r DomainRequest) ([]AliasInfo, error) {
	var domains []addr.Domain
	if r.Domain != "" {
		d, err := parseDomain(r.Domain)
		if err != nil {
			return nil, err
		}
		domains = []addr.Domain{d}
	} else {
		ds, err := a.Store.Domains(ctx)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			domains = append(domains, d.Name)
		}
	}
	var out []AliasInfo
	for _, d := range domains {
		als, err := a.Store.Aliases(ctx, d)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		for _, al := range als {
			out = append(out, aliasInfo(al))
		}
		implicit, err := a.implicitAliases(ctx, d)
		if err != nil {
			return nil, err
		}
		out = append(out, implicit...)
	}
	return out, nil
}

// implicitAliases lists the role names of domain d (postmaster@, abuse@)
// that no account or alias overrides, with the admin account as target.
func (a *Admin) implicitAliases(ctx context.Context, d addr.Domain) ([]AliasInfo, error) {
	if _, err := a.Store.Domain(ctx, d); errors.Is(err, store.ErrNotFound) {
		return nil, nil // not a local domain: no role names
	} else if err != nil {
		return nil, err
	}
	adm, err := a.Store.AdminAccount(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var out []AliasInfo
	for _, lp := range accounts.RoleNames {
		_, err := a.Store.Account(ctx, addr.Address{Localpart: lp, Domain: d})
		if err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		_, err = a.Store.Alias(ctx, lp, d)
		if err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		out = append(out, AliasInfo{Address: aliasName(lp, d), Targets: []string{adm.Address.String()}, Implicit: true})
	}
	return out, nil
}
