package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/posthorn/posthorn/internal/admin"
)

func cmdUser(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "user", "[--config FILE] add|del|passwd|list|quota|admin|app-password [ARGS] [FLAGS]", `
Manage accounts.
  add ADDRESS        create an account in a local domain; prints a generated
                     password once, unless --password-stdin gives one
  del ADDRESS        delete an account and all its mail, after confirmation
                     (or --yes); says what it deleted
  passwd ADDRESS     set a new password (generated, or from --password-stdin)
  list [DOMAIN]      list accounts with their use, quota and the admin mark
  quota ADDRESS SIZE set the storage quota: 500M, 2G, 1.5T…; 0 or none = unlimited
  admin ADDRESS      make ADDRESS the admin account, which receives
                     postmaster@ and abuse@ of every local domain
  app-password add ADDRESS [--scope smtp|imap|all] [--name NAME]
                     create an app password; prints its secret once
  app-password list ADDRESS
                     list app passwords: name, scope, created, last used
  app-password del ADDRESS NAME
                     revoke an app password (NAME or the ID list shows)

Given passwords must pass the password policy (docs/operations.md).`)
	yes := fs.Bool("yes", false, "del: do not ask for confirmation")
	scope := fs.String("scope", "all", "app-password add: what it logs in to: smtp, imap or all")
	appName := fs.String("name", "", "app-password add: its name (default app1, app2, …)")
	return adminCommandFlags(ctx, env, fs, args, func(api admin.API, sub string, rest []string) error {
		switch sub {
		case "add", "passwd":
			return userAddPasswd(ctx, env, api, sub, rest)
		case "del":
			if err := needArgs(rest, 1, "ADDRESS"); err != nil {
				return err
			}
			return userDel(ctx, env, api, rest[0], *yes)
		case "list":
			return userList(ctx, env, api, rest)
		case "quota":
			if err := needArgs(rest, 2, "ADDRESS or SIZE"); err != nil {
				return err
			}
			u, err := api.SetQuota(ctx, admin.QuotaRequest{Address: rest[0], Size: rest[1]})
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "%s: quota %s (used %s)\n", u.Address, quotaString(u.QuotaBytes), admin.FormatSize(u.UsedBytes))
			return nil
		case "admin":
			if err := needArgs(rest, 1, "ADDRESS"); err != nil {
				return err
			}
			u, err := api.SetAdminUser(ctx, admin.UserRequest{Address: rest[0]})
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "%s is the admin account: it receives postmaster@ and abuse@ of every local domain\n", u.Address)
			return nil
		case "app-password":
			return userAppPassword(ctx, env, api, rest, *scope, *appName)
		}
		return usageError{fmt.Sprintf("unknown subcommand %q", sub)}
	})
}

func userAddPasswd(ctx context.Context, env *cliEnv, api admin.API, sub string, rest []string) error {
	if err := needArgs(rest, 1, "ADDRESS"); err != nil {
		return err
	}
	f := api.AddUser
	if sub == "passwd" {
		f = api.SetPassword
	}
	info, err := f(ctx, admin.UserRequest{Address: rest[0]})
	if err != nil {
		return err
	}
	if info.Password != "" {
		fmt.Fprintf(env.stdout, "%s password: %s\n(shown once; store it now)\n", info.Address, info.Password)
	} else {
		fmt.Fprintf(env.stdout, "%s: password set\n", info.Address)
	}
	return nil
}

func quotaString(n int64) string {
	if n <= 0 {
		return "none"
	}
	return admin.FormatSize(n)
}

func userList(ctx context.Context, env *cliEnv, api admin.API, rest []string) error {
	r := admin.DomainRequest{}
	if len(rest) > 0 {
		r.Domain = rest[0]
	}
	us, err := api.ListUsers(ctx, r)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tUSED\tQUOTA\tADMIN")
	for _, u := range us {
		mark := ""
		if u.Admin {
			mark = "admin"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", u.Address, u.UsedBytes, quotaString(u.QuotaBytes), mark)
	}
	return tw.Flush()
}

// userDel shows what deleting address removes, asks for confirmation on
// a terminal (refuses without --yes otherwise), deletes and reports.
func userDel(ctx context.Context, env *cliEnv, api admin.API, address string, yes bool) error {
	plan, err := api.DeleteUser(ctx, admin.UserRequest{Address: address, DryRun: true})
	if err != nil {
		return err
	}
	if !yes {
		if !isTerminal(env.stdin) {
			return fmt.Errorf("not deleting %s (%s): standard input is not a terminal to confirm on; add --yes to delete without asking",
				plan.Address, deletionSummary(plan))
		}
		fmt.Fprintf(env.stdout, "Delete %s: %s? This cannot be undone. [y/N] ", plan.Address, deletionSummary(plan))
		line, _ := bufio.NewReader(io.LimitReader(env.stdin, 256)).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			fmt.Fprintf(env.stdout, "%s not deleted\n", plan.Address)
			return nil
		}
	}
	rep, err := api.DeleteUser(ctx, admin.UserRequest{Address: address})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "deleted %s: %s\n", rep.Address, deletionSummary(rep))
	if len(rep.AliasesTargeting) > 0 {
		fmt.Fprintf(env.stdout, "aliases still pointing to it (kept; mail to them no longer reaches it): %s\n", strings.Join(rep.AliasesTargeting, ", "))
	}
	return nil
}

func deletionSummary(d admin.DeletedUser) string {
	s := fmt.Sprintf("%d messages (%s) in %d mailboxes, %d app passwords", d.Messages, admin.FormatSize(d.Bytes), d.Mailboxes, d.AppPasswords)
	if n := len(d.AliasesTargeting); n > 0 {
		s += fmt.Sprintf("; %d aliases point to it: %s", n, strings.Join(d.AliasesTargeting, ", "))
	}
	return s
}

// isTerminal reports whether r is a terminal (not merely a character
// device such as /dev/null).
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func userAppPassword(ctx context.Context, env *cliEnv, api admin.API, rest []string, scope, name string) error {
	if len(rest) == 0 {
		return usageError{"missing app-password subcommand (add, list or del)"}
	}
	sub, rest := rest[0], rest[1:]
	if err := needArgs(rest, 1, "ADDRESS"); err != nil {
		return err
	}
	switch sub {
	case "add":
		p, err := api.AddAppPassword(ctx, admin.AppPasswordRequest{Address: rest[0], Name: name, Scope: scope})
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%s app password %q (scope %s): %s\n(shown once; store it now. It logs in with PLAIN or LOGIN, not SCRAM)\n",
			p.Address, p.Name, p.Scope, p.Password)
		return nil
	case "list":
		ps, err := api.ListAppPasswords(ctx, admin.UserRequest{Address: rest[0]})
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSCOPE\tCREATED\tLAST USED")
		for _, p := range ps {
			used := "never"
			if !p.LastUsed.IsZero() {
				used = p.LastUsed.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", p.ID, p.Name, p.Scope, p.Created.UTC().Format(time.RFC3339), used)
		}
		return tw.Flush()
	case "del":
		if err := needArgs(rest, 2, "NAME"); err != nil {
			return err
		}
		if _, err := api.DeleteAppPassword(ctx, admin.AppPasswordRequest{Address: rest[0], Name: rest[1]}); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%s: app password %s deleted\n", rest[0], rest[1])
		return nil
	}
	return usageError{fmt.Sprintf("unknown app-password subcommand %q", sub)}
}
