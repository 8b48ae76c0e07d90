package msgauth

import (
	"context"
	"crypto"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/dkim"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testNow is the clock of the tests (signatures are made at it).
var testNow = time.Date(2026, 6, 5, 10, 5, 0, 0, time.UTC)

const clientIP = "192.0.2.10"

func readFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
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
	want := readFile(t, name)
	if got != want {
		t.Errorf("%s differs (run with -update if intended)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func parseKey(t testing.TB, name string) crypto.Signer {
	t.Helper()
	k, err := dkim.ParseKey([]byte(readFile(t, name)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyRecord(t testing.TB, name string) string {
	t.Helper()
	v, err := dkim.Record([]byte(readFile(t, name)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// testZone is the DNS of the tests:
//
//	sender.example      SPF allows 192.0.2.10; p=reject; DKIM key "ed"
//	quarantine.example  SPF -all; p=quarantine
//	none.example        SPF -all; p=none
//	reject.example      SPF -all; p=reject
//	temp.example        _dmarc SERVFAIL
//	list.example        the forwarder: ARC key "fwd"
func testZone(t testing.TB) dnstest.Zone {
	ip := netip.MustParseAddr(clientIP)
	return dnstest.Zone{
		dnstest.ReverseName(ip):        {PTR: []string{"mail.sender.example."}},
		"mail.sender.example":          {A: []string{clientIP}, TXT: []string{"v=spf1 a -all"}},
		"sender.example":               {TXT: []string{"v=spf1 ip4:192.0.2.10 -all"}},
		"_dmarc.sender.example":        {TXT: []string{"v=DMARC1; p=reject"}},
		"ed._domainkey.sender.example": {TXT: []string{keyRecord(t, "ed25519.pem")}},
		"quarantine.example":           {TXT: []string{"v=spf1 -all"}},
		"_dmarc.quarantine.example":    {TXT: []string{"v=DMARC1; p=quarantine"}},
		"none.example":                 {TXT: []string{"v=spf1 -all"}},
		"_dmarc.none.example":          {TXT: []string{"v=DMARC1; p=none"}},
		"reject.example":               {TXT: []string{"v=spf1 -all"}},
		"_dmarc.reject.example":        {TXT: []string{"v=DMARC1; p=reject"}},
		"_dmarc.temp.example":          {ServFail: true},
		"temp.example":                 {TXT: []string{"v=spf1 -all"}},
		"fwd._domainkey.list.example":  {TXT: []string{keyRecord(t, "forwarder-rsa2048.pem")}},
		"list.example":                 {TXT: []string{"v=spf1 -all"}},
		"_dmarc.list.example":          {TXT: []string{"v=DMARC1; p=none"}},
	}
}

func newTestChecker(t testing.TB, mod func(*Options)) (*Checker, *dnstest.Resolver) {
	r := dnstest.NewResolver(testZone(t))
	o := Options{
		Resolver: r, Hostname: addr.MustParseDomain("mx.example.org"), Enforce: true,
		Now: func() time.Time { return testNow },
	}
	if mod != nil {
		mod(&o)
	}
	return NewChecker(o), r
}

// msg builds a message From: from.
func msg(from, extra string) string {
	return extra + "From: Someone <" + from + ">\r\nTo: alice@example.org\r\nSubject: test\r\n" +
		"Date: Fri, 05 Jun 2026 10:00:00 +0000\r\nMessage-ID: <1@x>\r\n\r\nHello\r\n"
}

// signed returns m with a DKIM signature of sender.example, selector "ed".
func signed(t testing.TB, m string) string {
	t.Helper()
	s := dkim.Signer{Domain: addr.MustParseDomain("sender.example"), Selector: "ed", Key: parseKey(t, "ed25519.pem")}
	sig, err := dkim.Sign(strings.NewReader(m), testNow, s)
	if err != nil {
		t.Fatal(err)
	}
	return sig + m
}

func check(t *testing.T, c *Checker, mailFrom, m string) *Result {
	t.Helper()
	in := Input{IP: netip.MustParseAddr(clientIP), HELO: "mail.sender.example", Message: delivery.Bytes([]byte(m))}
	if mailFrom != "" {
		in.MailFrom = addr.MustParseAddress(mailFrom)
	}
	res, err := c.Check(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return res
}
