package dkim

import (
	"context"
	"crypto"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// signTime is the clock of the golden signatures.
var signTime = time.Date(2026, 6, 5, 10, 0, 0, 0, time.UTC)

var testDomain = addr.MustParseDomain("posthorn.example")

func readFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// testKeys returns the Ed25519 and RSA test keys and their PEM.
func testKeys(t testing.TB) (ed, rsa crypto.Signer, edPEM, rsaPEM string) {
	t.Helper()
	edPEM, rsaPEM = readFile(t, "ed25519.pem"), readFile(t, "rsa2048.pem")
	var err error
	if ed, err = ParseKey([]byte(edPEM)); err != nil {
		t.Fatal(err)
	}
	if rsa, err = ParseKey([]byte(rsaPEM)); err != nil {
		t.Fatal(err)
	}
	return ed, rsa, edPEM, rsaPEM
}

// testSigners are the signers of the golden messages: Ed25519 first.
func testSigners(t testing.TB) []Signer {
	ed, rsa, _, _ := testKeys(t)
	return []Signer{
		{Domain: testDomain, Selector: "ed", Key: ed},
		{Domain: testDomain, Selector: "rsa", Key: rsa},
	}
}

// testZone is testdata/zone.txt plus the records of the test keys; the
// selector "flaky" fails temporarily.
func testZone(t testing.TB) dnstest.Zone {
	t.Helper()
	z, err := dnstest.ParseZone(strings.NewReader(readFile(t, "zone.txt")), ".")
	if err != nil {
		t.Fatal(err)
	}
	_, _, edPEM, rsaPEM := testKeys(t)
	for sel, pem := range map[string]string{"ed": edPEM, "rsa": rsaPEM} {
		rec, err := Record([]byte(pem))
		if err != nil {
			t.Fatal(err)
		}
		z[sel+"._domainkey.posthorn.example"] = dnstest.Records{TXT: []string{rec}}
	}
	z["flaky._domainkey.posthorn.example"] = dnstest.Records{ServFail: true}
	return z
}

func testResolver(t testing.TB) *dnstest.Resolver {
	return dnstest.NewResolver(testZone(t))
}

// verify runs a Verifier with the clock at signTime.
func verify(t testing.TB, res dns.Resolver, msg string) []Result {
	t.Helper()
	v := &Verifier{Resolver: res, Now: func() time.Time { return signTime }}
	results, err := v.Verify(context.Background(), strings.NewReader(msg))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return results
}

// signMsg signs msg with the test signers and returns the signed message.
func signMsg(t testing.TB, msg string) string {
	t.Helper()
	sigs, err := Sign(strings.NewReader(msg), signTime, testSigners(t)...)
	if err != nil {
		t.Fatal(err)
	}
	return sigs + msg
}

func statuses(results []Result) string {
	var s []string
	for _, r := range results {
		s = append(s, string(r.Status))
	}
	return strings.Join(s, ",")
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s missing; run go test -update", path)
	} else if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test -update and review the diff):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}
