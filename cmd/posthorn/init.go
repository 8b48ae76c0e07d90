package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/admin"
	"github.com/posthorn/posthorn/internal/config"
	"github.com/posthorn/posthorn/internal/store"
)

func cmdInit(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "init", "--dir DIR --domain DOMAIN --hostname HOST [--data-dir DATA_DIR] [--user USER] [--admin ADDRESS]", `
Set up a new installation:
  - DIR/posthorn.toml, with every key and its meaning;
  - the data directory DATA_DIR (default /var/lib/posthorn) with the store;
  - the local domain DOMAIN with DKIM keys (one Ed25519, one RSA-2048 selector);
  - the admin account (default postmaster@DOMAIN), whose generated password
    is printed once;
  - a self-signed certificate for HOST in DATA_DIR/tls until you configure a
    real one;
and print every DNS record DOMAIN needs, in zone-file syntax.
The server reads the configuration before it drops privileges and
everything else as its "user" (default posthorn): run as root, init gives
DATA_DIR to that user if it exists already; otherwise serve, started as root,
does it.`)
	dir := fs.String("dir", "", "directory for the configuration file, e.g. /etc/posthorn (required)")
	dataDir := fs.String("data-dir", config.Default().DataDir, "data directory: store, certificates, control socket")
	domain := fs.String("domain", "", "the first mail domain, e.g. example.com (required)")
	hostname := fs.String("hostname", "", "this server's host name as in the MX record, e.g. mail.example.com (required)")
	adminAddr := fs.String("admin", "", "admin account address (default postmaster@DOMAIN)")
	runAs := fs.String("user", config.Default().User, "the unprivileged user the server switches to after binding its ports")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *domain == "" || *hostname == "" || *dataDir == "" {
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
	absData, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	paths := dataPaths(absData)
	help := accessHelp{dataDir: paths.dir}
	configPath := filepath.Join(absDir, "posthorn.toml")
	if _, err := os.Stat(configPath); err == nil {
		return fmt.Errorf("%s exists already; not overwriting", configPath)
	} else if !errors.Is(err, os.ErrNotExist) {
		return help.explain(err)
	}
	if err := checkStore(paths, false); err == nil {
		return fmt.Errorf("%s holds a store already; not overwriting (give another --data-dir)", paths.dir)
	}
	if err := mkdirLeaf(absDir); err != nil {
		return help.explain(err)
	}

	cfg := config.Default()
	cfg.Hostname = host.ASCII
	cfg.DataDir = paths.dir
	cfg.User = *runAs
	// MTA-STS starts in testing (docs/http.md): senders report failures
	// and still deliver until the operator switches to enforce.
	cfg.MTASTS.Mode = "testing"
	if err := mkdirLeaf(paths.dir); errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%w; or give --data-dir a directory you may write", help.explain(err))
	} else if err != nil {
		return help.explain(err)
	}
	owner := serviceOwner(cfg)
	cfg.TLS.CertFile, cfg.TLS.KeyFile, err = initCertificate(paths, host, owner)
	if err != nil {
		return help.explain(err)
	}
	st, err := openStore(ctx, paths, nil, owner)
	if err != nil {
		return help.explain(err)
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
		return help.explain(err)
	}

	return printInit(ctx, env.stdout, adm, cfg, configPath, user, dom.String(), os.Geteuid() == 0 && owner == nil && cfg.User != "")
}

// printInit tells what init made: files, the admin password (once), the
// DNS records of domain and, with needUser, the command that creates the
// service user.
func printInit(ctx context.Context, w io.Writer, adm *admin.Admin, cfg config.Config, configPath string, user admin.UserInfo, domain string, needUser bool) error {
	fmt.Fprintf(w, "Wrote %s and created the data directory %s.\n\n", configPath, cfg.DataDir)
	fmt.Fprintf(w, "Admin account: %s\nPassword:      %s\n(shown once; store it now)\n\n", user.Address, user.Password)
	fmt.Fprintf(w, "A self-signed certificate for %s is in %s; configure a real one in [tls].\n\n", cfg.Hostname, filepath.Dir(cfg.TLS.CertFile))
	fmt.Fprintf(w, "Publish these DNS records for %s:\n\n", domain)
	if err := printRecords(ctx, w, adm, domain); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if needUser {
		fmt.Fprintf(w, "The server runs as the user %q once its ports are bound; create it:\n  %s\n", cfg.User, useraddCommand(cfg.User, cfg.DataDir))
	}
	fmt.Fprintf(w, "Then start the server: posthorn serve --config %s\n", configPath)
	return nil
}

// mkdirLeaf creates dir with mode 0750 and any missing parent with mode
// 0755, so that the service user can reach a data directory init creates
// below directories that did not exist either.
func mkdirLeaf(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

// initCertificate makes the self-signed certificate for host in
// DATA_DIR/tls, owned by owner if set, and returns its files.
func initCertificate(paths dataDirPaths, host addr.Domain, owner *store.Owner) (certFile, keyFile string, err error) {
	certFile, keyFile, err = ensureSelfSigned(filepath.Join(paths.dir, "tls"), []string{host.ASCII}, 90*24*time.Hour)
	if err != nil {
		return "", "", fmt.Errorf("self-signed certificate: %w", err)
	}
	if owner != nil {
		for _, p := range []string{filepath.Dir(certFile), certFile, keyFile} {
			if err := os.Lchown(p, owner.UID, owner.GID); err != nil {
				return "", "", err
			}
		}
	}
	return certFile, keyFile, nil
}
