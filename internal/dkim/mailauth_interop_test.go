package dkim

// Interop with npm mailauth 4.13.3 (test/e2e/node, installed by `npm ci`):
// posthorn's Ed25519 and RSA signatures verify in mailauth's dkimVerify,
// mailauth's dkimSign signatures (both algorithms, both canonicalizations)
// verify in posthorn, and tampering fails in both. mailauth resolves keys
// through dnstest.WriteNodeResolver, so no network namespace is needed.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

// mailauthDKIM verifies the message on stdin (argv: RESOLVER MAILAUTH
// verify) and prints one {d, s, a, result, comment} per signature, or signs
// it (argv: RESOLVER MAILAUTH sign DOMAIN SELECTOR KEYFILE ALGORITHM CANON)
// and prints the signed message.
const mailauthDKIM = `
const [resolverPath, mailauthDir, mode, ...args] = process.argv.slice(1);
const { resolve } = require(resolverPath);
const { dkimVerify, dkimSign } = require(mailauthDir);
const fs = require('fs');
const msg = fs.readFileSync(0);
(async () => {
    if (mode === 'verify') {
        const res = await dkimVerify(msg, { resolver: resolve });
        console.log(JSON.stringify(res.results.map(r => ({
            d: r.signingDomain, s: r.selector, a: r.algo,
            result: r.status.result, comment: r.status.comment || '' }))));
        return;
    }
    const [domain, selector, keyFile, algorithm, canonicalization] = args;
    const res = await dkimSign(msg, {
        canonicalization,
        signatureData: [{ signingDomain: domain, selector, privateKey: fs.readFileSync(keyFile), algorithm }],
    });
    if (res.errors.length) throw res.errors[0];
    process.stdout.write(res.signatures + msg.toString('binary'));
})().catch(err => { console.error(err); process.exit(1); });
`

// mailauth returns the mailauth package directory, skipping t when node or
// the package is missing.
func mailauth(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node missing: mailauth interop needs Node.js 20")
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "test", "e2e", "node", "node_modules", "mailauth"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
		t.Skip("mailauth missing: run `npm ci` in test/e2e/node")
	}
	return dir
}

// runMailauthDKIM runs mailauthDKIM with z's records and returns stdout.
func runMailauthDKIM(t *testing.T, z dnstest.Zone, stdin string, args ...string) string {
	t.Helper()
	argv := append([]string{"-e", mailauthDKIM, dnstest.WriteNodeResolver(t, z), mailauth(t)}, args...)
	cmd := exec.Command("node", argv...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mailauth %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

type mailauthSig struct {
	D, S, A, Result, Comment string
}

func mailauthVerify(t *testing.T, z dnstest.Zone, msg string) []mailauthSig {
	t.Helper()
	var sigs []mailauthSig
	out := runMailauthDKIM(t, z, msg, "verify")
	if err := json.Unmarshal([]byte(out), &sigs); err != nil {
		t.Fatalf("mailauth output %q: %v", out, err)
	}
	return sigs
}

func TestInteropPosthornToMailauth(t *testing.T) {
	z := testZone(t)
	signed := signMsg(t, readFile(t, "unsigned.eml"))
	sigs := mailauthVerify(t, z, signed)
	if len(sigs) != 2 {
		t.Fatalf("mailauth saw %d signatures: %+v", len(sigs), sigs)
	}
	for i, alg := range []string{"ed25519-sha256", "rsa-sha256"} {
		if sigs[i].A != alg || sigs[i].Result != "pass" {
			t.Errorf("signature %d: mailauth says %+v, want %s pass", i, sigs[i], alg)
		}
	}
	for name, tamper := range tamperings() {
		sigs := mailauthVerify(t, z, tamper(signed))
		for i, s := range sigs {
			if s.Result == "pass" {
				t.Errorf("%s: mailauth passes posthorn's signature %d: %+v", name, i, s)
			}
		}
	}
}

// tamperings are the changes every verifier must catch.
func tamperings() map[string]func(string) string {
	return map[string]func(string) string{
		"body":     func(s string) string { return strings.Replace(s, "Friday?", "Monday?", 1) },
		"appended": func(s string) string { return s + "P.S. wire the money\r\n" },
		"subject":  func(s string) string { return strings.Replace(s, "Lunch on", "Dinner on", 1) },
		"added From": func(s string) string {
			return strings.Replace(s, "\r\nTo: bob", "\r\nFrom: mallory@evil.example\r\nTo: bob", 1)
		},
		"added Subj.": func(s string) string { return strings.Replace(s, "\r\nDate: ", "\r\nSubject: urgent\r\nDate: ", 1) },
	}
}

// testKeyFiles writes the test keys as PKCS#8 PEM files and returns their
// paths: the form mailauth (node:crypto) and opendkim (OpenSSL) read.
func testKeyFiles(t *testing.T) (ed, rsa string) {
	t.Helper()
	_, _, edPEM, rsaPEM := testKeys(t)
	dir := t.TempDir()
	ed, rsa = filepath.Join(dir, "ed.pem"), filepath.Join(dir, "rsa.pem")
	for path, pem := range map[string]string{ed: edPEM, rsa: rsaPEM} {
		if err := os.WriteFile(path, []byte(pem), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ed, rsa
}

func TestInteropMailauthToPosthorn(t *testing.T) {
	edFile, rsaFile := testKeyFiles(t)
	z := testZone(t)
	res := dnstest.NewResolver(z)
	msg := readFile(t, "unsigned.eml")
	for _, c := range []struct {
		name, sel, key, alg, canon string
	}{
		{"ed25519 relaxed/relaxed", "ed", edFile, "ed25519-sha256", "relaxed/relaxed"},
		{"ed25519 simple/simple", "ed", edFile, "ed25519-sha256", "simple/simple"},
		{"rsa relaxed/relaxed", "rsa", rsaFile, "rsa-sha256", "relaxed/relaxed"},
		{"rsa simple/relaxed", "rsa", rsaFile, "rsa-sha256", "simple/relaxed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			signed := runMailauthDKIM(t, z, msg, "sign", "posthorn.example", c.sel, c.key, c.alg, c.canon)
			results := verifyNow(t, res, signed)
			if len(results) != 1 || results[0].Status != StatusPass || results[0].Algorithm != c.alg {
				t.Fatalf("posthorn: %+v, want one %s pass\n%s", results, c.alg, signed)
			}
			// mailauth agrees with itself, so the comparison means something.
			if s := mailauthVerify(t, z, signed); len(s) != 1 || s[0].Result != "pass" {
				t.Fatalf("mailauth rejects its own signature: %+v", s)
			}
			for name, tamper := range tamperings() {
				if r := verifyNow(t, res, tamper(signed)); r[0].Status != StatusFail {
					t.Errorf("%s: posthorn says %+v", name, r[0])
				}
			}
		})
	}
}

// verifyNow is verify with the real clock: tool signatures carry t=now.
func verifyNow(t *testing.T, res *dnstest.Resolver, msg string) []Result {
	t.Helper()
	v := &Verifier{Resolver: res}
	results, err := v.Verify(t.Context(), strings.NewReader(msg))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return results
}
