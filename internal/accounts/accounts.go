// Package accounts answers questions about the directory of local domains,
// accounts and aliases: who a recipient address resolves to (accounts,
// aliases, catch-all, sub-addressing) and whether a login is valid
// (passwords and app passwords). It reads the store; state changes go
// through package admin.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

// Errors of Resolve and Authenticate.
var (
	ErrNotLocal         = errors.New("accounts: domain is not local")
	ErrUnknownRecipient = errors.New("accounts: no such recipient")
	ErrAliasLoop        = errors.New("accounts: alias expansion too deep or looping")
	ErrAuthFailed       = errors.New("accounts: authentication failed")
)

// MaxAliasDepth bounds alias-to-alias expansion.
const MaxAliasDepth = 8

// Service resolves recipients and authenticates logins against a store.
type Service struct {
	Store store.Store
	Now   func() time.Time // nil: time.Now
}

// Resolution is where mail to one address goes.
type Resolution struct {
	// Accounts are the local accounts to deliver to (deduplicated).
	Accounts []store.Account
	// Remote are non-local targets of aliases (forwarding).
	Remote []addr.Address
	// Detail is the sub-address tag ("tag" of user+tag@), if one was used.
	Detail string
}

// Resolve finds where mail to rcpt is delivered. Order: exact account,
// exact alias, role name (postmaster, abuse: the admin account), the same
// three for the address without its sub-address tag, then the domain's
// catch-all. It fails with ErrNotLocal for non-local
// domains and ErrUnknownRecipient when nothing matches.
func (s *Service) Resolve(ctx context.Context, rcpt addr.Address) (Resolution, error) {
	var res Resolution
	seen := map[string]bool{}
	if err := s.resolve(ctx, rcpt, 0, seen, &res); err != nil {
		return Resolution{}, err
	}
	return res, nil
}

func (s *Service) resolve(ctx context.Context, rcpt addr.Address, depth int, seen map[string]bool, res *Resolution) error {
	if depth > MaxAliasDepth {
		return ErrAliasLoop
	}
	if seen[rcpt.Key()] {
		return nil // a loop back to an address already expanded adds nothing
	}
	seen[rcpt.Key()] = true
	dom, err := s.Store.Domain(ctx, rcpt.Domain)
	if errors.Is(err, store.ErrNotFound) {
		if depth == 0 {
			return ErrNotLocal
		}
		res.Remote = appendAddr(res.Remote, rcpt)
		return nil
	} else if err != nil {
		return err
	}
	found, err := s.resolveName(ctx, rcpt.Localpart, dom, depth, seen, res)
	if err != nil || found {
		return err
	}
	if base, tag, ok := splitDetail(rcpt.Localpart, dom.SubaddressSep); ok {
		found, err = s.resolveName(ctx, base, dom, depth, seen, res)
		if err != nil || found {
			if found && depth == 0 {
				res.Detail = tag
			}
			return err
		}
	}
	found, err = s.resolveLocal(ctx, "", dom, depth, seen, res) // catch-all
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: %s", ErrUnknownRecipient, rcpt)
	}
	return nil
}

// RoleNames are the local parts every local domain has (RFC 5321 §4.5.1
// postmaster, RFC 2142 abuse): implicit aliases to the admin account
// (store.Directory.AdminAccount) that an account or alias of the same
// name overrides.
var RoleNames = []addr.Localpart{"postmaster", "abuse"}

// IsRoleName reports whether lp is one of RoleNames, in any case.
func IsRoleName(lp addr.Localpart) bool {
	return slices.ContainsFunc(RoleNames, func(r addr.Localpart) bool { return r.Key() == lp.Key() })
}

// resolveName resolves lp@dom as an account or alias, then as a role name
// (the implicit alias to the admin account).
func (s *Service) resolveName(ctx context.Context, lp addr.Localpart, dom store.Domain, depth int, seen map[string]bool, res *Resolution) (bool, error) {
	found, err := s.resolveLocal(ctx, lp, dom, depth, seen, res)
	if err != nil || found || !IsRoleName(lp) {
		return found, err
	}
	acc, err := s.Store.AdminAccount(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if !slices.ContainsFunc(res.Accounts, func(a store.Account) bool { return a.ID == acc.ID }) {
		res.Accounts = append(res.Accounts, acc)
	}
	return true, nil
}

// resolveLocal looks lp@dom up as an account, then as an alias ("" is the
// catch-all alias).
func (s *Service) resolveLocal(ctx context.Context, lp addr.Localpart, dom store.Domain, depth int, seen map[string]bool, res *Resolution) (bool, error) {
	if lp != "" {
		acc, err := s.Store.Account(ctx, addr.Address{Localpart: lp, Domain: dom.Name})
		if err == nil {
			if !slices.ContainsFunc(res.Accounts, func(a store.Account) bool { return a.ID == acc.ID }) {
				res.Accounts = append(res.Accounts, acc)
			}
			return true, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return false, err
		}
	}
	al, err := s.Store.Alias(ctx, lp, dom.Name)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	for _, t := range al.Targets {
		if err := s.resolve(ctx, t, depth+1, seen, res); err != nil {
			return false, err
		}
	}
	return true, nil
}

// splitDetail splits "user+tag" at the first separator (RFC 5233 style).
func splitDetail(lp addr.Localpart, sep string) (base addr.Localpart, tag string, ok bool) {
	if sep == "" {
		return "", "", false
	}
	i := strings.Index(string(lp), sep)
	if i <= 0 {
		return "", "", false
	}
	return lp[:i], string(lp[i+len(sep):]), true
}

func appendAddr(list []addr.Address, a addr.Address) []addr.Address {
	for _, b := range list {
		if b.Key() == a.Key() {
			return list
		}
	}
	return append(list, a)
}

// Authenticate checks a login for protocol ("imap", "smtp", …) against the
// account password and the app passwords whose scope allows protocol. The
// username is the account's address. Any failure is ErrAuthFailed, never a
// hint whether the account exists.
func (s *Service) Authenticate(ctx context.Context, username, password, protocol string) (store.Account, error) {
	a, err := addr.ParseAddress(username)
	if err != nil {
		burnSCRAM(password)
		return store.Account{}, ErrAuthFailed
	}
	acc, err := s.Store.Account(ctx, a)
	if errors.Is(err, store.ErrNotFound) {
		burnSCRAM(password)
		return store.Account{}, ErrAuthFailed
	} else if err != nil {
		return store.Account{}, err
	}
	cred, err := s.Store.Credentials(ctx, acc.ID)
	if err != nil {
		return store.Account{}, err
	}
	if VerifySCRAM(cred.SCRAM, password) && !acc.Disabled {
		return acc, nil
	}
	apps, err := s.Store.AppPasswords(ctx, acc.ID)
	if err != nil {
		return store.Account{}, err
	}
	for _, p := range apps {
		if !inScope(p.Scope, protocol) || !VerifySCRAM(p.SCRAM, password) {
			continue
		}
		if acc.Disabled {
			break
		}
		if err := s.Store.TouchAppPassword(ctx, p.ID, s.now()); err != nil {
			return store.Account{}, err
		}
		return acc, nil
	}
	return store.Account{}, ErrAuthFailed
}

func inScope(scope []string, protocol string) bool {
	return len(scope) == 0 || slices.Contains(scope, protocol)
}

// burnSCRAM spends the time a real verification takes, so response timing
// does not tell whether an account exists.
func burnSCRAM(password string) {
	VerifySCRAM(dummyKeys, password)
}

var dummyKeys = store.SCRAMKeys{Salt: make([]byte, scramSaltLen), Iterations: SCRAMIterations, StoredKey: make([]byte, 32)}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
