package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/admin"
	"github.com/posthorn/posthorn/internal/config"
)

func cmdInit(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "init", "--dir DIR --domain DOMAIN --hostname HOST [--admin ADDRESS]", `
Set up a new installation in DIR:
  - DIR/posthorn.toml, with every key and its meaning;
  - the data directory DIR/data with the store;
  - the local domain DOMAIN with DKIM keys (one Ed25519, one RSA-2048 selector);
  - the admin account (default postmaster@DOMAIN), whose generated password
    is printed once;
  - a self-signed certificate for HOST in DIR/tls until you configure a real one;
and print every DNS record DOMAIN needs, in zone-file syntax.`)
	dir := fs.String("dir", "", "directory for the configuration and data (required)")
	domain := fs.String("domain", "", "the first mail domain, e.g. example.com (required)")
	hostname := fs.String("hostname", "", "this server's host name as in the MX record, e.g. mail.example.com (required)")
	adminAddr := fs.String("admin", "", "admin account address (default postmaster@DOMAIN)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *domain == "" || *hostname == "" {
		return usageError{"--dir, --domain and --hostname are required"}
	}
	if fs.NArg() > 0 {
		return usageError{"unexpected arguments"}
	}
	host, err := addr.ParseDomain(*hostname)
	if err != nil {
		return fmt.Errorf("--hostname: %w", err)
	}
	dom, err := addr.ParseDomain(*domain)
	if err != nil {
		return fmt.Errorf("--domain: %w", err)
	}
	if *adminAddr == "" {
		*adminAddr = "postmaster@" + dom.String()
	}
	absDir, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	configPath := filepath.Join(absDir, "posthorn.toml")
	if _, err := os.Stat(configPath); err == nil {
		return fmt.Errorf("%s exists already; not overwriting", configPath)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(absDir, 0o750); err != nil {
		return err
	}

	cfg := config.Default()
	cfg.Hostname = host.ASCII
	cfg.DataDir = "data"
	// MTA-STS starts in testing (docs/http.md): senders report failures
	// and still deliver until the operator switches to enforce.
	cfg.MTASTS.Mode = "testing"
	cfg.TLS.CertFile, cfg.TLS.KeyFile, err = ensureSelfSigned(filepath.Join(absDir, "tls"), []string{host.ASCII}, 90*24*time.Hour)
	if err != nil {
		return fmt.Errorf("self-signed certificate: %w", err)
	}
	paths := dataPaths(filepath.Join(absDir, cfg.DataDir))
	if err := os.MkdirAll(paths.dir, 0o750); err != nil {
		return err
	}
	st, err := openStore(ctx, paths, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	adm := &admin.Admin{Store: st, Hostname: host, MTASTSMode: cfg.MTASTS.Mode, MTASTSMaxAge: cfg.MTASTS.MaxAge}
	if _, err := adm.AddDomain(ctx, admin.DomainRequest{Domain: dom.String()}); err != nil {
		return err
	}
	user, err := adm.AddUser(ctx, admin.UserRequest{Address: *adminAddr})
	if err != nil {
		return err
	}
	if err := os.WriteFile(configPath, cfg.TOML(), 0o640); err != nil {
		return err
	}

	w := env.stdout
	fmt.Fprintf(w, "Wrote %s and created the data directory %s.\n\n", configPath, paths.dir)
	fmt.Fprintf(w, "Admin account: %s\nPassword:      %s\n(shown once; store it now)\n\n", user.Address, user.Password)
	fmt.Fprintf(w, "A self-signed certificate for %s is in %s; configure a real one in [tls].\n\n", host.ASCII, filepath.Dir(cfg.TLS.CertFile))
	fmt.Fprintf(w, "Publish these DNS records for %s:\n\n", dom.String())
	if err := printRecords(ctx, w, adm, dom.String()); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nThen start the server: posthorn serve --config %s\n", configPath)
	return nil
}
