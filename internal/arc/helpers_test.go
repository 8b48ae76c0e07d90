package arc

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
	"github.com/posthorn/posthorn/internal/dkim"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// sealTime is the clock of the golden seals; it is in the past, so
// dkimpy's t= check (no timestamps in the future) accepts it.
var sealTime = time.Date(2026, 6, 5, 10, 5, 0, 0, time.UTC)

var (
	posthornDomain  = addr.MustParseDomain("posthorn.example")
	forwarderDomain = addr.MustParseDomain("lists.forwarder.example")
)

func readFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func parseKey(t testing.TB, name string) crypto.Signer {
	t.Helper()
	k, err := dkim.ParseKey([]byte(readFile(t, name)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Sealers of the tests: posthorn.example with Ed25519 (selector "ed") or
// RSA ("rsa"), and a mailing list with another RSA key ("fwd").
func edSigner(t testing.TB) dkim.Signer {
	return dkim.Signer{Domain: posthornDomain, Selector: "ed", Key: parseKey(t, "ed25519.pem")}
}

func rsaSigner(t testing.TB) dkim.Signer {
	return dkim.Signer{Domain: posthornDomain, Selector: "rsa", Key: parseKey(t, "rsa2048.pem")}
}

func fwdSigner(t testing.TB) dkim.Signer {
	return dkim.Signer{Domain: forwarderDomain, Selector: "fwd", Key: parseKey(t, "forwarder-rsa2048.pem")}
}

// keyRecord returns the TXT record of a PEM key in testdata.
func keyRecord(t testing.TB, pemFile string) string {
	t.Helper()
	rec, err := dkim.Record([]byte(readFile(t, pemFile)))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// testZone publishes the three test keys, a 512-bit key ("short"), a
// revoked one and one whose lookups fail temporarily ("flaky").
func testZone(t testing.TB) dnstest.Zone {
	return dnstest.Zone{
		"ed._domainkey.posthorn.example":         {TXT: []string{keyRecord(t, "ed25519.pem")}},
		"rsa._domainkey.posthorn.example":        {TXT: []string{keyRecord(t, "rsa2048.pem")}},
		"fwd._domainkey.lists.forwarder.example": {TXT: []string{keyRecord(t, "forwarder-rsa2048.pem")}},
		"short._domainkey.posthorn.example":      {TXT: []string{shortKey}},
		"revoked._domainkey.posthorn.example":    {TXT: []string{"v=DKIM1; k=rsa; p="}},
		"flaky._domainkey.posthorn.example":      {ServFail: true},
		"sha1only._domainkey.posthorn.example":   {TXT: []string{strings.Replace(keyRecord(t, "rsa2048.pem"), "k=rsa;", "k=rsa; h=sha1;", 1)}},
		"twokeys._domainkey.posthorn.example":    {TXT: []string{keyRecord(t, "ed25519.pem"), keyRecord(t, "ed25519.pem")}},
		"emptytag._domainkey.posthorn.example":   {TXT: []string{strings.Replace(keyRecord(t, "rsa2048.pem"), "k=rsa;", "k=rsa;;", 1)}},
	}
}

// shortKey is a 512-bit RSA public key, too short (RFC 8301 §3.2).
const shortKey = "v=DKIM1; k=rsa; p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBALwxk1oyMT+k9fuZLgPiO3EfrT8wDjsDLOfCkVSBKX0EQWbgxl6iIk48OnF7NcbYZm0qkOrJiwDPOgr/ZEY/gz0CAwEAAQ=="

func testResolver(t testing.TB) *dnstest.Resolver { return dnstest.NewResolver(testZone(t)) }

// verify validates msg's chain with the clock at sealTime.
func verify(t testing.TB, res *dnstest.Resolver, msg string) Result {
	t.Helper()
	v := &Verifier{Resolver: res, Now: func() time.Time { return sealTime }}
	r, err := v.Verify(context.Background(), strings.NewReader(msg))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return r
}

// arFor is the Authentication-Results a sealer of domain d records.
func arFor(d addr.Domain) string {
	return "mx." + d.ASCII + "; spf=pass smtp.mailfrom=alice@posthorn.example;\r\n\tdkim=pass header.d=posthorn.example header.s=ed;\r\n\tdmarc=pass (p=reject) header.from=posthorn.example"
}

// seal verifies msg, seals it with s at sealTime and returns the sealed
// message.
func seal(t testing.TB, res *dnstest.Resolver, msg string, s dkim.Signer) string {
	t.Helper()
	return sealAfter(t, res, msg, msg, s)
}

// sealAfter verifies received, the message as it came in, and seals msg,
// what became of it (a list adds a subject tag and a footer between the
// two, RFC 8617 §5.1).
func sealAfter(t testing.TB, res *dnstest.Resolver, received, msg string, s dkim.Signer) string {
	t.Helper()
	// A high lookup bound, so that tests can build long chains.
	v := &Verifier{Resolver: res, MaxLookups: 100, Now: verifyNow}
	chain, err := v.Verify(context.Background(), strings.NewReader(received))
	if err != nil {
		t.Fatal(err)
	}
	sealer := &Sealer{Signer: s, Now: func() time.Time { return sealTime }}
	fields, err := sealer.Seal(strings.NewReader(msg), arFor(s.Domain), chain)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return fields + msg
}

// twoHops returns the test message sealed by posthorn (Ed25519), then
// changed by a mailing list (subject tag, footer) and sealed by it (RSA).
func twoHops(t testing.TB, res *dnstest.Resolver) string {
	t.Helper()
	one := seal(t, res, readFile(t, "message.eml"), edSigner(t))
	list := strings.Replace(one, "Subject: Lunch", "Subject: [friends] Lunch", 1) + "-- \r\nfriends mailing list\r\n"
	return sealAfter(t, res, one, list, fwdSigner(t))
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

func dnstestResolver(z dnstest.Zone) *dnstest.Resolver { return dnstest.NewResolver(z) }

func verifyNow() time.Time { return sealTime }
