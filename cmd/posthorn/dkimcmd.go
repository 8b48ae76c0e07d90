package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/admin"
	"github.com/posthorn/posthorn/internal/arc"
	"github.com/posthorn/posthorn/internal/dkim"
)

const dkimExplain = `
DKIM keys and signatures.
  rotate DOMAIN [--config FILE]
        start a key rotation: generate a new Ed25519 and a new RSA key under
        new selectors, in state "pending", and print their DNS records. The old
        keys keep signing. The server looks the new records up every
        [dkim] rotation_check_interval; once a new record is visible, the new
        key signs and the old key of that algorithm is retired (it stays in
        "posthorn domain records" for [dkim] keep_retired).
  rotate --check DOMAIN [--config FILE]
        look the pending records up now, switch if they are published, and
        show every key's state
  sign --domain D --selector S --key KEYFILE [FILE]
        sign the message in FILE (or standard input) with the PKCS#8 PEM key in
        KEYFILE, as the server signs, and print it with its DKIM-Signature`

func cmdDKIM(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fs := newFlags(env, "dkim", "rotate|sign ...", dkimExplain)
		if len(args) == 0 {
			return usageError{"missing rotate or sign"}
		}
		fs.Usage()
		return flag.ErrHelp
	}
	switch args[0] {
	case "sign":
		return dkimSign(env, args[1:])
	case "rotate":
		return dkimRotate(ctx, env, args[1:])
	}
	return usageError{fmt.Sprintf("unknown subcommand %q", args[0])}
}

// signerFlags are the flags of dkim sign and arc seal.
type signerFlags struct{ domain, selector, key *string }

func addSignerFlags(fs *flag.FlagSet) signerFlags {
	return signerFlags{
		domain:   fs.String("domain", "", "signing domain (d=)"),
		selector: fs.String("selector", "", "selector (s=) under which the public key is published"),
		key:      fs.String("key", "", "file with the private key (PKCS#8 PEM, Ed25519 or RSA)"),
	}
}

func (f signerFlags) signer() (dkim.Signer, error) {
	if *f.domain == "" || *f.selector == "" || *f.key == "" {
		return dkim.Signer{}, usageError{"--domain, --selector and --key are required"}
	}
	d, err := addr.ParseDomain(*f.domain)
	if err != nil {
		return dkim.Signer{}, usageError{fmt.Sprintf("--domain: %v", err)}
	}
	pem, err := os.ReadFile(*f.key)
	if err != nil {
		return dkim.Signer{}, err
	}
	k, err := dkim.ParseKey(pem)
	if err != nil {
		return dkim.Signer{}, fmt.Errorf("%s: %w", *f.key, err)
	}
	return dkim.Signer{Domain: d, Selector: *f.selector, Key: k}, nil
}

func dkimSign(env *cliEnv, args []string) error {
	fs := newFlags(env, "dkim sign", "--domain D --selector S --key KEYFILE [FILE]", dkimExplain)
	sf := addSignerFlags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	s, err := sf.signer()
	if err != nil {
		return err
	}
	msg, err := readMessage(env, pos)
	if err != nil {
		return err
	}
	sig, err := dkim.Sign(bytes.NewReader(msg), time.Now(), s)
	if err != nil {
		return err
	}
	fmt.Fprint(env.stdout, sig)
	_, err = env.stdout.Write(msg)
	return err
}

func dkimRotate(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "dkim rotate", "[--check] DOMAIN [--config FILE]", dkimExplain)
	check := fs.Bool("check", false, "look up the pending keys' records now and switch if they are published")
	configPath := fs.String("config", "", "configuration file (default ./posthorn.toml, then /etc/posthorn/posthorn.toml)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give one DOMAIN"}
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
	w := env.stdout
	req := admin.DomainRequest{Domain: pos[0]}
	if !*check {
		rot, err := api.RotateDKIM(ctx, req)
		if err != nil {
			return err
		}
		if rot.AlreadyPending {
			fmt.Fprintf(w, "a rotation of %s is already under way; its new keys wait for these DNS records:\n\n", rot.Domain)
		} else {
			fmt.Fprintf(w, "new DKIM keys for %s; publish these DNS records (the current keys sign until they are visible):\n\n", rot.Domain)
		}
		for _, r := range rot.Records {
			fmt.Fprintln(w, r.String())
		}
		fmt.Fprintf(w, "\nThe server checks DNS every [dkim] rotation_check_interval; check now with: posthorn dkim rotate --check %s\n", rot.Domain)
		return nil
	}
	rot, err := api.CheckDKIMRotation(ctx, req)
	if err != nil {
		return err
	}
	printRotation(w, rot)
	return nil
}

func printRotation(w interface{ Write([]byte) (int, error) }, rot admin.DKIMRotation) {
	pending := false
	for _, k := range rot.Keys {
		pending = pending || k.State == admin.KeyPending
	}
	switch {
	case len(rot.Activated) > 0:
		fmt.Fprintf(w, "switched\nnow signing with %s; retired %s\n", strings.Join(rot.Activated, ", "), strings.Join(rot.Retired, ", "))
	case pending:
		fmt.Fprintln(w, "waiting\nthe new keys' DNS records are not visible yet")
	default:
		fmt.Fprintln(w, "idle\nno rotation is under way")
	}
	for _, k := range rot.Keys {
		line := fmt.Sprintf("  %-16s %-8s %-8s created %s", k.Selector, k.Algorithm, k.State, k.Created.UTC().Format("2006-01-02"))
		if k.Problem != "" {
			line += ": " + k.Problem
		}
		fmt.Fprintln(w, line)
	}
	if pending {
		fmt.Fprintln(w, "\nrecords to publish:")
		for _, r := range rot.Records {
			fmt.Fprintln(w, r.String())
		}
	}
}

const arcExplain = `
ARC (RFC 8617).
  seal --domain D --selector S --key KEYFILE [--authres TEXT]
       [--timestamp UNIX] [--headers NAME:NAME:...] [FILE]
        verify the message's ARC chain, add an ARC set sealed with the key,
        and print the message. --authres is the Authentication-Results value
        to record in the ARC-Authentication-Results ("authserv-id; spf=pass
        ..."); by default the domain alone, to which the chain result is added.
        --timestamp sets t= (seconds since 1970; default now) and --headers
        the header fields the ARC-Message-Signature signs (h=; default those
        posthorn's DKIM signatures cover, and DKIM-Signature), so a set can
        be compared with published signing vectors or with dkimpy's arcsign
        byte for byte. Seal with an RSA key for other verifiers: many accept
        only rsa-sha256 in ARC.`

func cmdARC(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		fs := newFlags(env, "arc", "seal ...", arcExplain)
		if len(args) == 0 {
			return usageError{"missing seal"}
		}
		fs.Usage()
		return flag.ErrHelp
	}
	if args[0] != "seal" {
		return usageError{fmt.Sprintf("unknown subcommand %q", args[0])}
	}
	fs := newFlags(env, "arc seal", "--domain D --selector S --key KEYFILE [--authres TEXT] [--timestamp UNIX] [--headers NAME:NAME:...] [FILE]", arcExplain)
	sf := addSignerFlags(fs)
	cf := addCheckFlags(fs)
	authres := fs.String("authres", "", "Authentication-Results value for the ARC-Authentication-Results")
	timestamp := fs.Int64("timestamp", -1, "t= of the new set, in seconds since 1970 (default now)")
	headers := fs.String("headers", "", "colon-separated names of the header fields the ARC-Message-Signature signs (h=)")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	s, err := sf.signer()
	if err != nil {
		return err
	}
	sealer := &arc.Sealer{Signer: s}
	if *timestamp >= 0 {
		t := time.Unix(*timestamp, 0)
		sealer.Now = func() time.Time { return t }
	}
	if *headers != "" {
		for _, h := range strings.Split(*headers, ":") {
			sealer.Headers = append(sealer.Headers, strings.TrimSpace(h))
		}
	}
	msg, err := readMessage(env, pos)
	if err != nil {
		return err
	}
	ce, err := cf.env()
	if err != nil {
		return err
	}
	chain, err := (&arc.Verifier{Resolver: ce.resolver}).Verify(ctx, bytes.NewReader(msg))
	if err != nil {
		return err
	}
	ar := *authres
	if ar == "" {
		ar = s.Domain.ASCII + ";"
	}
	set, err := sealer.Seal(bytes.NewReader(msg), ar, chain)
	if err != nil {
		return err
	}
	fmt.Fprint(env.stdout, set)
	_, err = env.stdout.Write(msg)
	return err
}
