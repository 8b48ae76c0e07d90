package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/admin"
	"github.com/posthorn/posthorn/internal/config"
)

// defaultConfigPaths are tried in order when --config is not given.
var defaultConfigPaths = []string{"posthorn.toml", "/etc/posthorn/posthorn.toml"}

// findConfig returns the config path to use.
func findConfig(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	for _, p := range defaultConfigPaths {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no configuration file: give --config FILE (looked for %s)", strings.Join(defaultConfigPaths, ", "))
}

// openAdmin returns the admin API of the installation configured in path:
// the running server's, over its control socket, or — when no server runs —
// one on the store opened directly. close releases what was opened.
func openAdmin(ctx context.Context, path string) (api admin.API, close func(), err error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	paths := dataPaths(cfg.DataDir)
	c, err := dialControl(paths)
	if err != nil {
		return nil, nil, err
	}
	if c != nil {
		return c, func() {}, nil
	}
	// No server answers: open the store directly. Its lock refuses this
	// while a server runs without a reachable socket.
	host, err := addr.ParseDomain(cfg.Hostname)
	if err != nil {
		return nil, nil, err
	}
	st, err := openExisting(ctx, cfg, paths)
	if err != nil {
		return nil, nil, err
	}
	resolver, err := newResolver(cfg.DNS, nil)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	a := &admin.Admin{Store: st, Hostname: host, Resolver: resolver, KeepRetired: cfg.DKIM.KeepRetired,
		MTASTSMode: cfg.MTASTS.Mode, MTASTSMaxAge: cfg.MTASTS.MaxAge}
	return a, func() { st.Close() }, nil
}

// adminCommand parses the common --config flag and runs f with the API.
func adminCommand(ctx context.Context, env *cliEnv, name, synopsis, explain string, args []string,
	f func(api admin.API, sub string, rest []string) error) error {
	fs := newFlags(env, name, "[--config FILE] "+synopsis, explain)
	return adminCommandFlags(ctx, env, fs, args, f)
}

// adminCommandFlags is adminCommand with a flag set the command made
// (and added its own flags to).
func adminCommandFlags(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string,
	f func(api admin.API, sub string, rest []string) error) error {
	name := fs.Name()
	configPath := fs.String("config", "", "configuration file (default ./posthorn.toml, then /etc/posthorn/posthorn.toml)")
	passwordStdin := false
	if name == "user" {
		fs.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input instead of generating one")
	}
	args, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return usageError{"missing subcommand"}
	}
	path, err := findConfig(*configPath)
	if err != nil {
		return err
	}
	api, closeAPI, err := openAdmin(ctx, path)
	if err != nil {
		return err
	}
	defer closeAPI()
	if passwordStdin {
		pw, err := readPassword(env.stdin)
		if err != nil {
			return err
		}
		api = passwordAPI{API: api, password: pw}
	}
	return f(api, args[0], args[1:])
}

// parseInterspersed parses flags that may come after positional arguments
// ("user add a@b --password-stdin"), returning the positional ones.
func parseInterspersed(fs interface {
	Parse([]string) error
	Args() []string
}, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// passwordAPI fills in the password read from standard input.
type passwordAPI struct {
	admin.API
	password string
}

func (p passwordAPI) AddUser(ctx context.Context, r admin.UserRequest) (admin.UserInfo, error) {
	r.Password = p.password
	return p.API.AddUser(ctx, r)
}

func (p passwordAPI) SetPassword(ctx context.Context, r admin.UserRequest) (admin.UserInfo, error) {
	r.Password = p.password
	return p.API.SetPassword(ctx, r)
}

func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("empty password on standard input")
	}
	return pw, nil
}

func needArgs(rest []string, n int, what string) error {
	if len(rest) < n {
		return usageError{"missing " + what}
	}
	return nil
}

func cmdDomain(ctx context.Context, env *cliEnv, args []string) error {
	return adminCommand(ctx, env, "domain", "add|del|list|records [DOMAIN]", `
Manage the local domains: mail to them is delivered here.
  add DOMAIN       add a domain and generate its DKIM keys (Ed25519 and RSA-2048)
  del DOMAIN       delete a domain that has no accounts or aliases left
  list             list domains
  records DOMAIN   print the DNS records the domain needs, in zone-file syntax`, args,
		func(api admin.API, sub string, rest []string) error {
			switch sub {
			case "add":
				if err := needArgs(rest, 1, "DOMAIN"); err != nil {
					return err
				}
				info, err := api.AddDomain(ctx, admin.DomainRequest{Domain: rest[0]})
				if err != nil {
					return err
				}
				fmt.Fprintf(env.stdout, "added domain %s; publish these DNS records:\n\n", info.Domain)
				return printRecords(ctx, env.stdout, api, info.Domain)
			case "del":
				if err := needArgs(rest, 1, "DOMAIN"); err != nil {
					return err
				}
				_, err := api.DeleteDomain(ctx, admin.DomainRequest{Domain: rest[0]})
				return err
			case "list":
				ds, err := api.ListDomains(ctx, admin.Empty{})
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "DOMAIN\tACCOUNTS\tDKIM SELECTORS")
				for _, d := range ds {
					fmt.Fprintf(tw, "%s\t%d\t%s\n", d.Domain, d.Accounts, strings.Join(d.DKIMSelectors, " "))
				}
				return tw.Flush()
			case "records":
				if err := needArgs(rest, 1, "DOMAIN"); err != nil {
					return err
				}
				return printRecords(ctx, env.stdout, api, rest[0])
			}
			return usageError{fmt.Sprintf("unknown subcommand %q", sub)}
		})
}

func printRecords(ctx context.Context, w io.Writer, api admin.API, domain string) error {
	recs, err := api.DomainRecords(ctx, admin.DomainRequest{Domain: domain})
	if err != nil {
		return err
	}
	for _, r := range recs {
		fmt.Fprintln(w, r.String())
	}
	return nil
}

func cmdAlias(ctx context.Context, env *cliEnv, args []string) error {
	return adminCommand(ctx, env, "alias", "add|del|list [ADDRESS [TARGET...]]", `
Manage aliases. An alias delivers to one or more targets, local or remote.
"@DOMAIN" is the domain's catch-all: it receives mail for every address of
the domain that is neither an account nor an alias.
  add ADDRESS TARGET...   create an alias
  del ADDRESS             delete an alias
  list [DOMAIN]           list aliases`, args,
		func(api admin.API, sub string, rest []string) error {
			switch sub {
			case "add":
				if err := needArgs(rest, 2, "ADDRESS or TARGET"); err != nil {
					return err
				}
				_, err := api.AddAlias(ctx, admin.AliasRequest{Address: rest[0], Targets: rest[1:]})
				return err
			case "del":
				if err := needArgs(rest, 1, "ADDRESS"); err != nil {
					return err
				}
				_, err := api.DeleteAlias(ctx, admin.AliasRequest{Address: rest[0]})
				return err
			case "list":
				r := admin.DomainRequest{}
				if len(rest) > 0 {
					r.Domain = rest[0]
				}
				as, err := api.ListAliases(ctx, r)
				if err != nil {
					return err
				}
				for _, a := range as {
					note := ""
					if a.Implicit {
						note = "  (implicit: the admin account; an account or alias of this name replaces it)"
					}
					fmt.Fprintf(env.stdout, "%s -> %s%s\n", a.Address, strings.Join(a.Targets, ", "), note)
				}
				return nil
			}
			return usageError{fmt.Sprintf("unknown subcommand %q", sub)}
		})
}

// paths of the things in the data directory.
type dataDirPaths struct {
	dir, store, socket string
}

func dataPaths(dir string) dataDirPaths {
	return dataDirPaths{
		dir:    dir,
		store:  filepath.Join(dir, "store"),
		socket: filepath.Join(dir, "ctl.sock"),
	}
}
