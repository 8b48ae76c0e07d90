package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posthorn/posthorn/internal/dkim"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

// TestCheckCommands runs "posthorn check", "dkim sign" and "arc seal"
// against a real DNS server on loopback, given with --dns. The first line
// of each check is the result word alone.
func TestCheckCommands(t *testing.T) {
	dir := t.TempDir()
	keyFile := func(name, alg string) (string, string) {
		pem, err := dkim.GenerateKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := dkim.Record(pem)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		writeFile(t, p, string(pem))
		return p, rec
	}
	edKey, edRec := keyFile("ed.pem", dkim.AlgEd25519)
	fwdKey, fwdRec := keyFile("fwd.pem", dkim.AlgRSA)
	srv, err := dnstest.NewServer(dnstest.Zone{
		"10.2.0.192.in-addr.arpa":      {PTR: []string{"mail.sender.example."}},
		"mail.sender.example":          {A: []string{"192.0.2.10"}, TXT: []string{"v=spf1 a -all"}},
		"sender.example":               {TXT: []string{"v=spf1 ip4:192.0.2.10 -all"}},
		"_dmarc.sender.example":        {TXT: []string{"v=DMARC1; p=reject"}},
		"ed._domainkey.sender.example": {TXT: []string{edRec}},
		"reject.example":               {TXT: []string{"v=spf1 -all"}},
		"_dmarc.reject.example":        {TXT: []string{"v=DMARC1; p=reject"}},
		"fwd._domainkey.list.example":  {TXT: []string{fwdRec}},
	}, dnstest.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dnsFlag := []string{"--dns", srv.Addr}
	client := []string{"--ip", "192.0.2.10", "--helo", "mail.sender.example"}
	first := func(out string) string { return strings.SplitN(out, "\n", 2)[0] }
	check := func(want string, args ...string) string {
		t.Helper()
		out := mustRun(t, "", append(args, dnsFlag...)...)
		if got := first(out); got != want {
			t.Errorf("posthorn %s: first line %q, want %q\n%s", strings.Join(args, " "), got, want, out)
		}
		return out
	}

	out := check("pass", append([]string{"check", "spf", "--from", "a@sender.example"}, client...)...)
	if !strings.Contains(out, "Received-SPF: pass") || !strings.Contains(out, "HELO mail.sender.example: pass") {
		t.Errorf("check spf:\n%s", out)
	}
	check("fail", append([]string{"check", "spf", "--from", "x@reject.example"}, client...)...)

	msg := crlf("From: A <a@sender.example>\nTo: b@example.org\nSubject: check\nDate: Fri, 05 Jun 2026 10:00:00 +0000\nMessage-ID: <c1@sender.example>\n\nHello\n")
	plain := filepath.Join(dir, "plain.eml")
	writeFile(t, plain, msg)
	check("none", "check", "dkim", plain)

	signed := mustRun(t, "", "dkim", "sign", "--domain", "sender.example", "--selector", "ed", "--key", edKey, plain)
	signedFile := filepath.Join(dir, "signed.eml")
	writeFile(t, signedFile, signed)
	out = check("pass", "check", "dkim", signedFile)
	if !strings.Contains(out, "pass d=sender.example s=ed a=ed25519-sha256") {
		t.Errorf("check dkim:\n%s", out)
	}
	// From standard input, tampered.
	out, errOut, code := posthorn(t, strings.Replace(signed, "Hello", "Hullo", 1), append([]string{"check", "dkim"}, dnsFlag...)...)
	if code != 0 || first(out) != "fail" {
		t.Errorf("tampered: exit %d, %q %s", code, out, errOut)
	}

	// DMARC: SPF and DKIM aligned; a DKIM pass alone without --ip; a
	// failing reject.example message.
	out = check("pass", append([]string{"check", "dmarc", signedFile, "--from", "bounce@sender.example"}, client...)...)
	if !strings.Contains(out, "the server would: deliver") || !strings.Contains(out, "Authentication-Results: ") {
		t.Errorf("check dmarc:\n%s", out)
	}
	check("pass", "check", "dmarc", signedFile)
	bad := filepath.Join(dir, "bad.eml")
	writeFile(t, bad, strings.Replace(msg, "a@sender.example", "a@reject.example", 1))
	out = check("fail", append([]string{"check", "dmarc", bad, "--from", "x@reject.example"}, client...)...)
	if !strings.Contains(out, "the server would: reject the message (550 5.7.1)") || !strings.Contains(out, "p=reject") {
		t.Errorf("check dmarc fail:\n%s", out)
	}

	// ARC: none, then sealed by the list, then verified.
	check("none", "check", "arc", signedFile)
	sealed := mustRun(t, "", append([]string{"arc", "seal", "--domain", "list.example", "--selector", "fwd", "--key", fwdKey,
		"--authres", "list.example; dkim=pass header.d=sender.example; dmarc=pass header.from=sender.example", signedFile}, dnsFlag...)...)
	sealedFile := filepath.Join(dir, "sealed.eml")
	writeFile(t, sealedFile, sealed)
	out = check("pass", "check", "arc", sealedFile)
	if !strings.Contains(out, "i=1 sealed by list.example (s=fwd) cv=none") {
		t.Errorf("check arc:\n%s", out)
	}

	// Help texts, and usage errors.
	for _, args := range [][]string{{"check", "-h"}, {"help", "check"}, {"dkim", "-h"}, {"arc", "-h"}, {"check", "dmarc", "-h"}} {
		out, _, code := posthorn(t, "", args...)
		if code != 0 || !strings.Contains(out, "usage: posthorn") {
			t.Errorf("posthorn %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
	}
	if _, _, code := posthorn(t, "", "check", "spf", "--from", "a@b.example"); code != 2 {
		t.Errorf("check spf without --ip: exit %d, want 2", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "posthorn.toml")); err == nil {
		t.Fatal("unexpected config")
	}
}
