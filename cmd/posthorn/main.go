// Command posthorn is a complete mail server in one binary. This package
// parses the command line, loads the configuration and wires the services
// together; it is the only importer of internal/config.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

// command is one subcommand.
type command struct {
	name    string
	args    string // synopsis of the arguments
	summary string
	run     func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv is what a command may touch: its standard streams.
type cliEnv struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// usageError makes main print the command's usage with the message.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func commands() []command {
	return []command{
		{"init", "--dir DIR --domain DOMAIN --hostname HOST [--data-dir DATA_DIR] [--user USER] [--admin ADDRESS]", "create a configuration, data directory, DKIM keys and admin account; print DNS records", cmdInit},
		{"serve", "[--config FILE] [--create]", "run the mail server", cmdServe},
		{"localserve", "[--dir DIR] [--password PASSWORD]", "run everything on loopback for development, with one account you@localhost", cmdLocalserve},
		{"domain", "add|del|list|records [DOMAIN]", "manage local domains and print their DNS records", cmdDomain},
		{"user", "add|del|passwd|list|quota|admin|app-password ...", "manage accounts, passwords, quotas and app passwords", cmdUser},
		{"alias", "add|del|list [ADDRESS [TARGET...]]", "manage aliases (\"@DOMAIN\" is the catch-all)", cmdAlias},
		{"import", "maildir|mbox ACCOUNT PATH [--mailbox NAME]", "import a Maildir or mbox into an account (server stopped)", cmdImport},
		{"export", "ACCOUNT DIR [--format maildir|mbox] [--mailbox NAME]", "export an account to Maildir or mbox (server stopped)", cmdExport},
		{"check", "spf|dkim|dmarc|arc [FILE] [flags]", "check SPF, DKIM, DMARC or ARC the way the server does", cmdCheck},
		{"dkim", "rotate|sign ...", "rotate a domain's DKIM keys; sign a message", cmdDKIM},
		{"queue", "list|show|retry|hold|release|drop [ID]", "inspect and manage the outbound queue", cmdQueue},
		{"tls", "status", "show the TLS certificates, their expiry and renewal state", cmdTLS},
		{"tlsrpt", "send", "send the pending TLS-RPT reports now", cmdTLSRPT},
		{"arc", "seal ...", "add an ARC set to a message", cmdARC},
		{"version", "", "print the version", cmdVersion},
		{"help", "[COMMAND]", "explain a command", nil},
	}
}

// Garbage-collector defaults, used unless GOGC or GOMEMLIMIT are set in
// the environment. A mail server's live heap is small (a few MB of
// sessions and caches) but it allocates per message; GOGC=400 lets the
// heap grow to five times the live data between collections, which cut
// the server's CPU per inbound message by about a tenth in bench/smtpload
// (c=32, 4 KiB) for about 13 MB more peak RSS. The soft memory limit
// brings collections back sooner if the heap ever approaches it.
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 128 << 20
)

// tuneGC applies the garbage-collector defaults the environment does not
// override.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}

func main() {
	tuneGC()
	env := &cliEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, env, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes the command line and returns the exit code.
func run(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 {
		printHelp(env.stderr)
		return 2
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		if len(args) > 1 {
			if c, ok := findCommand(args[1]); ok && c.run != nil {
				c.run(ctx, env, []string{"-h"})
				return 0
			}
		}
		printHelp(env.stdout)
		return 0
	}
	c, ok := findCommand(name)
	if !ok || c.run == nil {
		fmt.Fprintf(env.stderr, "posthorn: unknown command %q\n\n", name)
		printHelp(env.stderr)
		return 2
	}
	err := c.run(ctx, env, args[1:])
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(env.stderr, "posthorn %s: %s\nusage: posthorn %s %s\n", c.name, ue.msg, c.name, c.args)
		return 2
	}
	fmt.Fprintf(env.stderr, "posthorn %s: %v\n", c.name, err)
	return 1
}

func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "posthorn: a complete mail server in one binary.")
	fmt.Fprintln(w, "\nusage: posthorn COMMAND [ARGS]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun \"posthorn help COMMAND\" or \"posthorn COMMAND -h\" for details.")
}

// newFlags returns a flag set whose -h prints the command's usage and
// explanation.
func newFlags(env *cliEnv, name, args, explain string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.stdout, "usage: posthorn %s %s\n\n%s\n", name, args, strings.TrimSpace(explain))
		has := false
		fs.VisitAll(func(*flag.Flag) { has = true })
		if has {
			fmt.Fprintln(env.stdout, "\nflags:")
			fs.SetOutput(env.stdout)
			fs.PrintDefaults()
			fs.SetOutput(env.stderr)
		}
	}
	return fs
}

// version is set at build time with -ldflags "-X main.version=…"; otherwise
// it comes from the module build information.
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
		return v + " " + bi.GoVersion
	}
	return "unknown"
}

func cmdVersion(_ context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "version", "", "Print the version of posthorn and of the Go toolchain that built it.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, "posthorn", versionString())
	return nil
}
