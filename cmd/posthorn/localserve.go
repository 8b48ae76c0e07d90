package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/admin"
	"github.com/posthorn/posthorn/internal/config"
	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/store"
)

// The localserve account and ports.
const (
	localAccount  = "you@localhost"
	localPassword = "posthorn"
)

// localConfig is the configuration localserve runs with: everything on
// loopback, data in dir.
func localConfig(dir string) config.Config {
	cfg := config.Default()
	cfg.Hostname = "localhost"
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.User = ""
	cfg.AllowRoot = true // loopback only, for development
	cfg.Listen = config.Listen{
		SMTP:        []string{"127.0.0.1:1025"},
		Submission:  []string{"127.0.0.1:1587"},
		Submissions: []string{"127.0.0.1:1465"},
		IMAP:        []string{"127.0.0.1:1143"},
		IMAPS:       []string{"127.0.0.1:1993"},
		HTTP:        []string{"127.0.0.1:1080"},
	}
	cfg.Log = config.Log{Level: "info", Format: "text"}
	cfg.SMTP.GreetDelay = 0 // no early-talker wait for local tools
	// Mail is checked and the results recorded, but DMARC is not enforced
	// (annotateOnly); without --dns no DNS query is made (localResolver),
	// and with it a slow server costs at most a few seconds per message.
	cfg.Auth.CheckTimeout = 5 * time.Second
	return cfg
}

func cmdLocalserve(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "localserve", "[--dir DIR] [--password PASSWORD] [--dns IP:PORT]", `
Run posthorn on loopback for a newcomer or an application developer, with no
configuration file: SMTP 127.0.0.1:1025, submission 1587 (STARTTLS) and 1465
(TLS), IMAP 1143 (STARTTLS) and 1993 (TLS), HTTP 1080, a self-signed
certificate for localhost and 127.0.0.1, and one account you@localhost.
Every address at any domain is delivered to that account, and mail submitted
to remote addresses is delivered to it as well instead of leaving the machine.
Services join localserve as they are implemented; the start-up lines say
which are running.`)
	home, _ := os.UserHomeDir()
	dir := fs.String("dir", filepath.Join(home, "posthorn-localserve"), "directory for data and the certificate")
	password := fs.String("password", localPassword, "password of you@localhost")
	dnsServer := fs.String("dns", "", "DNS server (ip:port) for the message checks (SPF, DKIM, DMARC); default: none, no query leaves the machine")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{"unexpected arguments"}
	}
	cfg := localConfig(*dir)
	if *dnsServer != "" {
		cfg.DNS.Servers = []string{*dnsServer}
	}
	certFile, keyFile, err := ensureSelfSigned(filepath.Join(*dir, "tls"), []string{"localhost", "127.0.0.1", "::1"}, 10*365*24*time.Hour)
	if err != nil {
		return err
	}
	cfg.TLS = config.TLS{CertFile: certFile, KeyFile: keyFile}
	// The admin CLI finds the running server through this file.
	if err := os.WriteFile(filepath.Join(*dir, "posthorn.toml"), cfg.TOML(), 0o600); err != nil {
		return err
	}
	logger, err := newLogger(env.stderr, cfg.Log)
	if err != nil {
		return err
	}
	return runServer(ctx, serverParams{
		cfg:          cfg,
		logger:       logger,
		create:       true, // the dev mode keeps its own data directory
		redirectAll:  addr.MustParseAddress(localAccount),
		annotateOnly: true,
		resolver:     localResolver(cfg),
		setup: func(ctx context.Context, st store.Store) error {
			if err := setupLocalAccount(ctx, st, *password); err != nil {
				return fmt.Errorf("localserve account: %w", err)
			}
			return nil
		},
		ready: func(listening map[string][]string) {
			printLocalserve(env, cfg, listening, *password)
		},
	})
}

// setupLocalAccount makes sure the domain localhost, the account
// you@localhost with the given password and the catch-all exist.
func setupLocalAccount(ctx context.Context, st store.Store, password string) error {
	adm := &admin.Admin{Store: st, Hostname: addr.MustParseDomain("localhost"), AcceptWeakPasswords: true} // the documented default password "posthorn"
	_, err := adm.AddDomain(ctx, admin.DomainRequest{Domain: "localhost"})
	if err != nil && !errors.Is(err, store.ErrExists) {
		return err
	}
	_, err = adm.AddUser(ctx, admin.UserRequest{Address: localAccount, Password: password})
	if errors.Is(err, store.ErrExists) {
		_, err = adm.SetPassword(ctx, admin.UserRequest{Address: localAccount, Password: password})
	}
	if err != nil {
		return err
	}
	_, err = adm.AddAlias(ctx, admin.AliasRequest{Address: "@localhost", Targets: []string{localAccount}})
	if err != nil && !errors.Is(err, store.ErrExists) {
		return err
	}
	return nil
}

func printLocalserve(env *cliEnv, cfg config.Config, listening map[string][]string, password string) {
	w := env.stdout
	fmt.Fprintln(w, "posthorn localserve: everything on loopback, for development")
	fmt.Fprintf(w, "  account      %s  password %s\n", localAccount, password)
	fmt.Fprintf(w, "  data         %s\n", cfg.DataDir)
	fmt.Fprintf(w, "  certificate  %s (self-signed: localhost, 127.0.0.1)\n", cfg.TLS.CertFile)
	for _, svc := range []struct{ name, key, what string }{
		{"smtp", "smtp", "MX, no auth; any recipient is delivered to " + localAccount},
		{"submission", "submission", "STARTTLS; AUTH PLAIN/LOGIN/SCRAM; any recipient is delivered to " + localAccount},
		{"submissions", "submissions", "implicit TLS; same as submission"},
		{"imap", "imap", "STARTTLS; LOGIN/AUTHENTICATE"},
		{"imaps", "imaps", "implicit TLS"},
		{"http", "http", "GET /healthz"},
		{"control", "control", "admin CLI socket"},
	} {
		if a := listening[svc.key]; len(a) > 0 {
			fmt.Fprintf(w, "  %-12s %s  (%s)\n", svc.name, strings.Join(a, ", "), svc.what)
		}
	}
	fmt.Fprintf(w, "Admin commands work on it too, e.g.: posthorn user list --config %s\n", filepath.Join(filepath.Dir(cfg.DataDir), "posthorn.toml"))
	fmt.Fprintln(w, "Stop with Ctrl-C.")
}

// localResolver is the DNS localserve checks mail with: none at all unless
// --dns names a server, so that a development server sends no query off the
// machine; every name then "does not exist" and the Authentication-Results
// say none. nil means the configured servers.
func localResolver(cfg config.Config) dns.Resolver {
	if len(cfg.DNS.Servers) > 0 {
		return nil
	}
	return offlineResolver{}
}

// offlineResolver answers every query with "no such name".
type offlineResolver struct{}

var _ dns.Resolver = offlineResolver{}

func offline(name string) error {
	return fmt.Errorf("%w: %s (localserve answers no DNS; start it with --dns IP:PORT)", dns.ErrNotFound, name)
}

func (offlineResolver) LookupTXT(_ context.Context, name string) ([]string, dns.Result, error) {
	return nil, dns.Result{}, offline(name)
}

func (offlineResolver) LookupMX(_ context.Context, name string) ([]*net.MX, dns.Result, error) {
	return nil, dns.Result{}, offline(name)
}

func (offlineResolver) LookupIP(_ context.Context, _, host string) ([]netip.Addr, dns.Result, error) {
	return nil, dns.Result{}, offline(host)
}

func (offlineResolver) LookupAddr(_ context.Context, ip netip.Addr) ([]string, dns.Result, error) {
	return nil, dns.Result{}, offline(ip.String())
}

func (offlineResolver) LookupCNAME(_ context.Context, name string) (string, dns.Result, error) {
	return "", dns.Result{}, offline(name)
}

func (offlineResolver) LookupTLSA(_ context.Context, port int, proto, host string) ([]dns.TLSA, dns.Result, error) {
	return nil, dns.Result{}, offline(fmt.Sprintf("_%d._%s.%s", port, proto, host))
}
