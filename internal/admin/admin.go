// Package admin is the one API that changes posthorn's state: domains (with
// their DKIM keys and DNS records), accounts and passwords, aliases. The
// CLI, the control socket (package admin/ctl) and later the web UI are its
// front-ends. Inputs arrive as strings from people and are parsed here, at
// the edge, into typed values.
//
// Every method takes one request struct and returns one response struct, so
// front-ends can carry them as JSON unchanged.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dkim"
	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/store"
	"github.com/posthorn/posthorn/internal/tlsmgr"
)

// API is the set of operations every front-end offers. *Admin implements it
// in process; ctl.Client implements it over the control socket.
type API interface {
	AddDomain(ctx context.Context, r DomainRequest) (DomainInfo, error)
	DeleteDomain(ctx context.Context, r DomainRequest) (Empty, error)
	ListDomains(ctx context.Context, r Empty) ([]DomainInfo, error)
	DomainRecords(ctx context.Context, r DomainRequest) ([]Record, error)
	AddUser(ctx context.Context, r UserRequest) (UserInfo, error)
	DeleteUser(ctx context.Context, r UserRequest) (DeletedUser, error)
	SetPassword(ctx context.Context, r UserRequest) (UserInfo, error)
	ListUsers(ctx context.Context, r DomainRequest) ([]UserInfo, error)
	SetQuota(ctx context.Context, r QuotaRequest) (UserInfo, error)
	SetAdminUser(ctx context.Context, r UserRequest) (UserInfo, error)
	AddAppPassword(ctx context.Context, r AppPasswordRequest) (AppPasswordInfo, error)
	ListAppPasswords(ctx context.Context, r UserRequest) ([]AppPasswordInfo, error)
	DeleteAppPassword(ctx context.Context, r AppPasswordRequest) (Empty, error)
	AddAlias(ctx context.Context, r AliasRequest) (AliasInfo, error)
	DeleteAlias(ctx context.Context, r AliasRequest) (Empty, error)
	ListAliases(ctx context.Context, r DomainRequest) ([]AliasInfo, error)
	RotateDKIM(ctx context.Context, r DomainRequest) (DKIMRotation, error)
	CheckDKIMRotation(ctx context.Context, r DomainRequest) (DKIMRotation, error)
	TLSStatus(ctx context.Context, r Empty) (tlsmgr.Status, error)
	ListQueue(ctx context.Context, r Empty) ([]QueueEntryInfo, error)
	ShowQueue(ctx context.Context, r QueueRequest) (QueueEntryInfo, error)
	RetryQueue(ctx context.Context, r QueueRequest) ([]QueueEntryInfo, error)
	HoldQueue(ctx context.Context, r QueueRequest) (QueueEntryInfo, error)
	ReleaseQueue(ctx context.Context, r QueueRequest) (QueueEntryInfo, error)
	DropQueue(ctx context.Context, r QueueRequest) (Empty, error)
	SendTLSReports(ctx context.Context, r Empty) (TLSReportsInfo, error)
}

var _ API = (*Admin)(nil)

// Empty is the request or response of methods that need none.
type Empty struct{}

// DomainRequest names a domain; "" means all domains where that makes sense.
type DomainRequest struct {
	Domain string `json:"domain"`
}

// DomainInfo describes a local domain.
type DomainInfo struct {
	Domain        string    `json:"domain"`
	ASCII         string    `json:"ascii"`
	SubaddressSep string    `json:"subaddress_sep"`
	Accounts      int       `json:"accounts"`
	Created       time.Time `json:"created"`
	DKIMSelectors []string  `json:"dkim_selectors,omitempty"`
}

// UserRequest names an account; Password "" means generate one. DryRun
// (DeleteUser) reports what would be deleted without deleting it.
type UserRequest struct {
	Address  string `json:"address"`
	Password string `json:"password,omitempty"`
	DryRun   bool   `json:"dry_run,omitempty"`
}

// UserInfo describes an account. Password is set only when the call
// generated one, so the front-end can show it once.
type UserInfo struct {
	Address    string    `json:"address"`
	QuotaBytes int64     `json:"quota_bytes"`
	UsedBytes  int64     `json:"used_bytes"`
	Disabled   bool      `json:"disabled"`
	Created    time.Time `json:"created"`
	Password   string    `json:"password,omitempty"`
	// Admin marks the admin account, which receives the implicit
	// postmaster@ and abuse@ of every local domain.
	Admin bool `json:"admin,omitempty"`
}

// AliasRequest names an alias ("@domain" is the catch-all) and its targets.
type AliasRequest struct {
	Address string   `json:"address"`
	Targets []string `json:"targets,omitempty"`
}

// AliasInfo describes an alias. Implicit aliases (postmaster@ and abuse@
// of a domain, to the admin account) exist without having been added and
// disappear when an account or alias of that name is added.
type AliasInfo struct {
	Address  string    `json:"address"`
	Targets  []string  `json:"targets"`
	Created  time.Time `json:"created"`
	Implicit bool      `json:"implicit,omitempty"`
}

// Admin implements API on a store.
type Admin struct {
	Store    store.Store
	Hostname addr.Domain // the MX host name, for DNS records
	// MTASTSMode is the MTA-STS policy mode published for local domains
	// ("enforce" when empty).
	MTASTSMode string
	// MTASTSMaxAge is the policy's max_age (0: MTASTSDefaultMaxAge).
	MTASTSMaxAge time.Duration
	// Resolver looks up the DNS records of DKIM keys being rotated.
	Resolver dns.Resolver
	// KeepRetired is how long DomainRecords lists a retired DKIM key after
	// the rotation that retired it began; 0: not at all.
	KeepRetired time.Duration
	// Queue is the running outbound queue, told when entries change;
	// nil: it sees changes at its next scan.
	Queue QueueWaker
	// TLSReports sends pending TLS-RPT reports (the running queue); nil:
	// SendTLSReports refuses.
	TLSReports TLSReporter
	// Certificates reports the TLS certificates of the running server;
	// nil when there is none (no server, or no certificate).
	Certificates CertificateStatus
	// AcceptWeakPasswords turns the password policy (accounts.CheckPassword)
	// off: only for posthorn localserve's development account on loopback.
	AcceptWeakPasswords bool
	Logger              *slog.Logger     // nil: discard
	Now                 func() time.Time // nil: time.Now
}

// UserError is an error caused by the request (bad input, missing or
// existing object), as opposed to an internal failure.
type UserError struct {
	Msg string
	Err error
}

func (e *UserError) Error() string { return e.Msg }
func (e *UserError) Unwrap() error { return e.Err }

func userErr(err error, format string, args ...any) error {
	return &UserError{Msg: fmt.Sprintf(format, args...), Err: err}
}

// storeErr turns store sentinels into user errors that name the object.
func storeErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return userErr(err, "%s does not exist", what)
	case errors.Is(err, store.ErrExists):
		return userErr(err, "%s already exists", what)
	case errors.Is(err, store.ErrInUse):
		return userErr(err, "%s is still in use", what)
	case errors.Is(err, store.ErrInvalid):
		return userErr(err, "%s: %v", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (a *Admin) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Admin) log() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func parseDomain(s string) (addr.Domain, error) {
	d, err := addr.ParseDomain(strings.TrimSpace(s))
	if err != nil {
		return addr.Domain{}, userErr(err, "invalid domain %q: %v", s, err)
	}
	return d, nil
}

func parseAddress(s string) (addr.Address, error) {
	a, err := addr.ParseAddress(strings.TrimSpace(s))
	if err != nil {
		return addr.Address{}, userErr(err, "invalid address %q: %v", s, err)
	}
	return a, nil
}

// AddDomain adds a local domain and generates its DKIM keys: one Ed25519
// and one RSA-2048 selector, both active.
func (a *Admin) AddDomain(ctx context.Context, r DomainRequest) (DomainInfo, error) {
	name, err := parseDomain(r.Domain)
	if err != nil {
		return DomainInfo{}, err
	}
	d := store.Domain{Name: name, SubaddressSep: "+", Created: a.now()}
	if err := a.Store.AddDomain(ctx, d); err != nil {
		return DomainInfo{}, storeErr(err, "domain "+name.String())
	}
	if err := a.addDKIMKeys(ctx, name); err != nil {
		return DomainInfo{}, err
	}
	a.log().Info("domain added", "domain", name.String())
	return a.domainInfo(ctx, d)
}

func (a *Admin) addDKIMKeys(ctx context.Context, name addr.Domain) error {
	stamp := a.now().UTC().Format("20060102")
	for _, alg := range []string{dkim.AlgEd25519, dkim.AlgRSA} {
		key, err := dkim.GenerateKey(alg)
		if err != nil {
			return err
		}
		k := store.DKIMKey{
			Domain:     name,
			Selector:   "ph" + stamp + alg[:1], // e.g. ph20261121e, ph20261121r
			Algorithm:  alg,
			PrivateKey: key,
			State:      "active",
			Created:    a.now(),
		}
		if err := a.Store.AddDKIMKey(ctx, k); err != nil {
			return storeErr(err, "DKIM key "+k.Selector)
		}
	}
	return nil
}

func (a *Admin) domainInfo(ctx context.Context, d store.Domain) (DomainInfo, error) {
	accs, err := a.Store.Accounts(ctx, d.Name)
	if err != nil {
		return DomainInfo{}, err
	}
	keys, err := a.Store.DKIMKeys(ctx, d.Name)
	if err != nil {
		return DomainInfo{}, err
	}
	info := DomainInfo{
		Domain:        d.Name.String(),
		ASCII:         d.Name.ASCII,
		SubaddressSep: d.SubaddressSep,
		Accounts:      len(accs),
		Created:       d.Created,
	}
	for _, k := range keys {
		if k.State == "active" {
			info.DKIMSelectors = append(info.DKIMSelectors, k.Selector)
		}
	}
	return info, nil
}

// DeleteDomain removes a domain that has no accounts or aliases left.
func (a *Admin) DeleteDomain(ctx context.Context, r DomainRequest) (Empty, error) {
	name, err := parseDomain(r.Domain)
	if err != nil {
		return Empty{}, err
	}
	if err := a.Store.DeleteDomain(ctx, name); err != nil {
		if errors.Is(err, store.ErrInUse) {
			return Empty{}, userErr(err, "domain %s still has accounts or aliases; delete them first", name)
		}
		return Empty{}, storeErr(err, "domain "+name.String())
	}
	a.log().Info("domain deleted", "domain", name.String())
	return Empty{}, nil
}

// ListDomains lists local domains.
func (a *Admin) ListDomains(ctx context.Context, _ Empty) ([]DomainInfo, error) {
	ds, err := a.Store.Domains(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]DomainInfo, 0, len(ds))
	for _, d := range ds {
		info, err := a.domainInfo(ctx, d)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}
