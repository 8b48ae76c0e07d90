package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/arc"
	"github.com/posthorn/posthorn/internal/config"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/dkim"
	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/msgauth"
	"github.com/posthorn/posthorn/internal/spf"
)

// maxCheckMessage bounds a message read by the check commands.
const maxCheckMessage = 64 << 20

const checkExplain = `
Check message authentication the way the server does, with the same code:
  spf    --ip IP --helo NAME --from ADDRESS   SPF of MAIL FROM (or of HELO for
                                             --from "") and of the HELO name
  dkim   [FILE]                              every DKIM signature, one line each
  dmarc  [FILE] --ip IP --helo NAME --from ADDRESS
                                             all checks, the DMARC verdict, what
                                             the server would do, and the
                                             Authentication-Results it would add
  arc    [FILE]                              the ARC chain, one line per set
The message is read from FILE or standard input. The first line of the output
is the result word alone (pass, fail, none, temperror, ...), so scripts can
read it; the explanation follows. The exit status is 0 whenever the check ran.

DNS: the servers of the configuration's [dns] section when a configuration
file is found (--config, ./posthorn.toml, /etc/posthorn/posthorn.toml),
otherwise the system resolver; --dns HOST:PORT overrides both.`

// checkEnv is what every check needs: a resolver and the configuration.
type checkEnv struct {
	cfg      config.Config
	host     addr.Domain
	resolver dns.Resolver
}

// checkFlags are the flags common to the check, dkim sign and arc seal
// commands.
type checkFlags struct {
	config, dns *string
}

func addCheckFlags(fs *flag.FlagSet) checkFlags {
	return checkFlags{
		config: fs.String("config", "", "configuration file for [dns] and [auth] (optional; default ./posthorn.toml, then /etc/posthorn/posthorn.toml)"),
		dns:    fs.String("dns", "", "DNS server HOST:PORT to query instead of the configured ones"),
	}
}

// env loads the optional configuration and builds the resolver.
func (f checkFlags) env() (*checkEnv, error) {
	e := &checkEnv{cfg: config.Default()}
	path := *f.config
	if path == "" {
		if p, err := findConfig(""); err == nil {
			path = p
		}
	}
	if path != "" {
		cfg, err := config.Load(path)
		if err != nil {
			return nil, err
		}
		e.cfg = cfg
	}
	if e.cfg.Hostname == "" {
		h, _ := os.Hostname()
		e.cfg.Hostname = h
	}
	e.host, _ = addr.ParseDomain(e.cfg.Hostname)
	if e.host.IsZero() {
		e.host = addr.MustParseDomain("localhost")
	}
	if *f.dns != "" {
		e.cfg.DNS.Servers = []string{*f.dns}
	}
	r, err := newResolver(e.cfg.DNS, nil)
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	e.resolver = r
	return e, nil
}

// readMessage reads the message from the one optional FILE argument or
// standard input.
func readMessage(env *cliEnv, args []string) ([]byte, error) {
	var r io.Reader = env.stdin
	switch len(args) {
	case 0:
	case 1:
		f, err := os.Open(args[0])
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	default:
		return nil, usageError{"at most one FILE"}
	}
	b, err := io.ReadAll(io.LimitReader(r, maxCheckMessage+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxCheckMessage {
		return nil, fmt.Errorf("message larger than %d bytes", maxCheckMessage)
	}
	return b, nil
}

func cmdCheck(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fs := newFlags(env, "check", "spf|dkim|dmarc|arc [FILE] [flags]", checkExplain)
		if len(args) == 0 {
			return usageError{"missing spf, dkim, dmarc or arc"}
		}
		fs.Usage()
		return flag.ErrHelp
	}
	sub, args := args[0], args[1:]
	fs := newFlags(env, "check "+sub, "[FILE] [flags]", checkExplain)
	cf := addCheckFlags(fs)
	var ip, helo, from *string
	if sub == "spf" || sub == "dmarc" {
		ip = fs.String("ip", "", "IP address of the SMTP client")
		helo = fs.String("helo", "", "name the client gave in HELO/EHLO")
		from = fs.String("from", "", "MAIL FROM address (\"\" for the null sender)")
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	switch sub {
	case "spf":
		if len(pos) > 0 {
			return usageError{"check spf takes no FILE"}
		}
		return checkSPF(ctx, env, cf, *ip, *helo, *from)
	case "dkim", "arc":
		msg, err := readMessage(env, pos)
		if err != nil {
			return err
		}
		ce, err := cf.env()
		if err != nil {
			return err
		}
		if sub == "dkim" {
			return checkDKIM(ctx, env.stdout, ce, msg)
		}
		return checkARC(ctx, env.stdout, ce, msg)
	case "dmarc":
		msg, err := readMessage(env, pos)
		if err != nil {
			return err
		}
		return checkDMARC(ctx, env, cf, msg, *ip, *helo, *from)
	}
	return usageError{fmt.Sprintf("unknown check %q", sub)}
}

// parseClient parses --ip and --from.
func parseClient(ipText, fromText string) (netip.Addr, addr.Address, error) {
	var ip netip.Addr
	if ipText != "" {
		var err error
		if ip, err = netip.ParseAddr(ipText); err != nil {
			return ip, addr.Address{}, usageError{fmt.Sprintf("--ip %q is not an IP address", ipText)}
		}
	}
	var from addr.Address
	if f := strings.Trim(fromText, "<>"); f != "" {
		var err error
		if from, err = addr.ParseAddress(f); err != nil {
			return ip, from, usageError{fmt.Sprintf("--from %q is not an address: %v", fromText, err)}
		}
	}
	return ip, from, nil
}

func checkSPF(ctx context.Context, env *cliEnv, cf checkFlags, ipText, helo, fromText string) error {
	if ipText == "" {
		return usageError{"--ip is required"}
	}
	ip, _, err := parseClient(ipText, "")
	if err != nil {
		return err
	}
	ce, err := cf.env()
	if err != nil {
		return err
	}
	a := spf.Args{IP: ip, HELO: helo, LocalHostname: ce.host.ASCII}
	if f := strings.Trim(fromText, "<>"); f != "" {
		// A MAIL FROM that is not an address still has an SPF result (RFC
		// 7208 §4.3: none for a domain that is not a name to check,
		// postmaster for an empty local part).
		if from, err := addr.ParseAddress(f); err == nil {
			a.MailFrom = from
		} else {
			a.MailFromText = f
		}
	}
	v, err := spf.Verify(ctx, ce.resolver, a)
	if err != nil {
		return err
	}
	w := env.stdout
	fmt.Fprintln(w, v.Result)
	fmt.Fprintf(w, "%s %s: %s\n", identityName(v.Identity), v.Sender, v.Reason)
	if v.Explanation != "" {
		fmt.Fprintf(w, "explanation published by the domain: %s\n", v.Explanation)
	}
	if !a.MailFrom.IsZero() || a.MailFromText != "" {
		if h, err := spf.VerifyHELO(ctx, ce.resolver, a); err == nil {
			fmt.Fprintf(w, "HELO %s: %s (%s)\n", printableName(helo), h.Result, h.Reason)
		}
	}
	fmt.Fprintf(w, "Received-SPF: %s\n", v.ReceivedSPF())
	return nil
}

func identityName(id spf.Identity) string {
	if id == spf.HELO {
		return "HELO identity"
	}
	return "MAIL FROM"
}

func printableName(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func checkDKIM(ctx context.Context, w io.Writer, ce *checkEnv, msg []byte) error {
	v := &dkim.Verifier{Resolver: ce.resolver}
	rs, err := v.Verify(ctx, strings.NewReader(string(msg)))
	if err != nil {
		return err
	}
	word := "none"
	for _, r := range rs {
		if r.Status == dkim.StatusPass {
			word = "pass"
			break
		}
	}
	if word == "none" && len(rs) > 0 {
		word = string(rs[0].Status)
	}
	fmt.Fprintln(w, word)
	if len(rs) == 0 {
		fmt.Fprintln(w, "the message has no DKIM-Signature")
	}
	for _, r := range rs {
		fmt.Fprintf(w, "%s d=%s s=%s a=%s: %s\n", r.Status, r.Domain.ASCII, r.Selector, r.Algorithm, r.Explanation)
	}
	return nil
}

func checkARC(ctx context.Context, w io.Writer, ce *checkEnv, msg []byte) error {
	v := &arc.Verifier{Resolver: ce.resolver}
	r, err := v.Verify(ctx, strings.NewReader(string(msg)))
	if err != nil {
		return err
	}
	chain := string(r.Chain)
	if chain == "" {
		chain = "none"
	}
	fmt.Fprintln(w, chain)
	switch {
	case r.Reason != "":
		fmt.Fprintln(w, r.Reason)
	case r.Instances == 0:
		fmt.Fprintln(w, "the message has no ARC sets")
	}
	for _, s := range r.Sets {
		fmt.Fprintf(w, "i=%d sealed by %s (s=%s) cv=%s, signed by %s (s=%s); %s recorded: %s\n", s.Instance,
			s.SealDomain.ASCII, s.SealSelector, s.CV, s.SignatureDomain.ASCII, s.SignatureSelector, s.AuthServID, s.Results)
	}
	fmt.Fprintln(w, "Authentication-Results: "+r.AuthResult())
	return nil
}

func checkDMARC(ctx context.Context, env *cliEnv, cf checkFlags, msg []byte, ipText, helo, fromText string) error {
	ip, from, err := parseClient(ipText, fromText)
	if err != nil {
		return err
	}
	ce, err := cf.env()
	if err != nil {
		return err
	}
	chk := newChecker(ce.cfg, ce.host, ce.resolver, nil, true, nil)
	res, err := chk.Check(ctx, msgauth.Input{IP: ip, HELO: helo, MailFrom: from, Local: !ip.IsValid(), Message: delivery.Bytes(msg)})
	if err != nil {
		return err
	}
	w := env.stdout
	fmt.Fprintln(w, res.DMARC.Result)
	fmt.Fprintln(w, res.DMARC.Reason)
	if res.Override != "" {
		fmt.Fprintln(w, res.Override)
	}
	if !ip.IsValid() {
		fmt.Fprintln(w, "(no --ip: SPF not checked, only DKIM can align)")
	}
	fmt.Fprintf(w, "the server would: %s\n", actionText(res.Action))
	w.Write(chk.Header(res))
	return nil
}

func actionText(a msgauth.Action) string {
	switch a {
	case msgauth.Reject:
		return "reject the message (550 5.7.1)"
	case msgauth.Junk:
		return "deliver the message to Junk"
	case msgauth.Defer:
		return "defer the message (451 4.4.3)"
	}
	return "deliver the message"
}
