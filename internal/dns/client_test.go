package dns_test

import (
	"context"
	"errors"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

var longTXT = "v=DKIM1; k=rsa; p=" + strings.Repeat("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA", 45)

const zoneText = `
example.test.          IN TXT  "v=spf1 ip4:192.0.2.0/24 -all"
example.test.          IN MX   10 mx.example.test.
example.test.          IN A    192.0.2.1
mx.example.test.       IN A    192.0.2.25
mx.example.test.       IN AAAA 2001:db8::25
multi.example.test.    IN TXT  "first " "second"
alias.example.test.    IN CNAME mx.example.test.
dangling.example.test. IN CNAME nx.example.test.
a\032b.example.test.   IN TXT  "odd name"
a\032b.example.test.   IN A    192.0.2.7
x.123.45.              IN TXT  "numeric parent"
123.45.                IN A    192.0.2.45
_25._tcp.mx.example.test. IN TLSA 3 1 1 0123456789abcdef
25.2.0.192.in-addr.arpa. IN PTR mx.example.test.
deep.empty.example.test. IN TXT "below an empty non-terminal"
`

func newClient(t *testing.T, srv *dnstest.Server, opts dns.Options) *dns.Client {
	t.Helper()
	opts.Servers = []string{srv.Addr}
	c, err := dns.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testZone(t *testing.T) dnstest.Zone {
	z := dnstest.MustParseZone(zoneText)
	z["long.example.test"] = dnstest.Records{TXT: []string{longTXT}}
	z["broken.example.test"] = dnstest.Records{ServFail: true}
	return z
}

func TestClientAnswers(t *testing.T) {
	srv := dnstest.Start(t, testZone(t), dnstest.ServerOptions{})
	c := newClient(t, srv, dns.Options{CacheSize: -1})
	ctx := context.Background()

	txt, res, err := c.LookupTXT(ctx, "example.test")
	if err != nil || len(txt) != 1 || txt[0] != "v=spf1 ip4:192.0.2.0/24 -all" || res.Authentic {
		t.Errorf("TXT example.test = %q, %+v, %v", txt, res, err)
	}
	if txt, _, err := c.LookupTXT(ctx, "multi.example.test."); err != nil || len(txt) != 1 || txt[0] != "first second" {
		t.Errorf("TXT multi = %q, %v", txt, err)
	}
	if txt, _, err := c.LookupTXT(ctx, "long.example.test"); err != nil || len(txt) != 1 || txt[0] != longTXT {
		t.Errorf("TXT long: %d records, %v", len(txt), err)
	}
	mxs, _, err := c.LookupMX(ctx, "example.test")
	if err != nil || len(mxs) != 1 || mxs[0].Host != "mx.example.test." || mxs[0].Pref != 10 {
		t.Errorf("MX = %v, %v", mxs, err)
	}
	ips, _, err := c.LookupIP(ctx, "ip", "alias.example.test")
	want := []netip.Addr{netip.MustParseAddr("192.0.2.25"), netip.MustParseAddr("2001:db8::25")}
	if err != nil || !sameAddrs(ips, want) {
		t.Errorf("LookupIP alias = %v, %v", ips, err)
	}
	if ips, _, err := c.LookupIP(ctx, "ip4", "mx.example.test"); err != nil || !sameAddrs(ips, want[:1]) {
		t.Errorf("LookupIP ip4 = %v, %v", ips, err)
	}
	if names, _, err := c.LookupAddr(ctx, netip.MustParseAddr("192.0.2.25")); err != nil || len(names) != 1 || names[0] != "mx.example.test." {
		t.Errorf("LookupAddr = %v, %v", names, err)
	}
	if cn, _, err := c.LookupCNAME(ctx, "alias.example.test"); err != nil || cn != "mx.example.test." {
		t.Errorf("LookupCNAME = %q, %v", cn, err)
	}
	tl, _, err := c.LookupTLSA(ctx, 25, "tcp", "mx.example.test")
	if err != nil || len(tl) != 1 || tl[0].Usage != 3 || tl[0].Selector != 1 || tl[0].MatchingType != 1 || len(tl[0].Data) != 8 {
		t.Errorf("LookupTLSA = %+v, %v", tl, err)
	}
}

func sameAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[netip.Addr]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		if seen[x] == 0 {
			return false
		}
		seen[x]--
	}
	return true
}

func TestClientErrors(t *testing.T) {
	srv := dnstest.Start(t, testZone(t), dnstest.ServerOptions{})
	c := newClient(t, srv, dns.Options{CacheSize: -1})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		look func() error
		want error
	}{
		{"NXDOMAIN", func() error { _, _, err := c.LookupTXT(ctx, "nx.example.test"); return err }, dns.ErrNotFound},
		{"no data", func() error { _, _, err := c.LookupTXT(ctx, "mx.example.test"); return err }, dns.ErrNoData},
		{"empty non-terminal", func() error { _, _, err := c.LookupTXT(ctx, "empty.example.test"); return err }, dns.ErrNoData},
		{"no MX", func() error { _, _, err := c.LookupMX(ctx, "mx.example.test"); return err }, dns.ErrNoData},
		{"no AAAA", func() error { _, _, err := c.LookupIP(ctx, "ip6", "example.test"); return err }, dns.ErrNoData},
		{"NX ip", func() error { _, _, err := c.LookupIP(ctx, "ip", "nx.example.test"); return err }, dns.ErrNotFound},
		{"dangling CNAME", func() error { _, _, err := c.LookupTXT(ctx, "dangling.example.test"); return err }, dns.ErrNotFound},
		{"SERVFAIL", func() error { _, _, err := c.LookupTXT(ctx, "broken.example.test"); return err }, dns.ErrTemporary},
		{"no PTR", func() error { _, _, err := c.LookupAddr(ctx, netip.MustParseAddr("192.0.2.99")); return err }, dns.ErrNotFound},
		{"empty label", func() error { _, _, err := c.LookupTXT(ctx, "a..example.test"); return err }, dns.ErrPermanent},
		{"label too long", func() error { _, _, err := c.LookupTXT(ctx, strings.Repeat("x", 64)+".test"); return err }, dns.ErrPermanent},
		{"bad network", func() error { _, _, err := c.LookupIP(ctx, "tcp", "example.test"); return err }, dns.ErrPermanent},
	} {
		err := tc.look()
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := c.LookupTXT(cctx, "example.test"); !errors.Is(err, dns.ErrTemporary) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

// Names with octets net.Resolver and adns refuse (RFC 2181 §11 allows any)
// reach the server octet for octet.
func TestClientOddNames(t *testing.T) {
	srv := dnstest.Start(t, testZone(t), dnstest.ServerOptions{})
	c := newClient(t, srv, dns.Options{CacheSize: -1})
	ctx := context.Background()
	if txt, _, err := c.LookupTXT(ctx, "a b.example.test"); err != nil || len(txt) != 1 || txt[0] != "odd name" {
		t.Errorf("TXT 'a b' = %q, %v", txt, err)
	}
	if srv.Queries("a b.example.test") != 1 {
		t.Errorf("server saw %d queries for 'a b'", srv.Queries("a b.example.test"))
	}
	if ips, _, err := c.LookupIP(ctx, "ip4", "A B.example.test."); err != nil || len(ips) != 1 || ips[0] != netip.MustParseAddr("192.0.2.7") {
		t.Errorf("A 'A B' = %v, %v", ips, err)
	}
	if ips, _, err := c.LookupIP(ctx, "ip4", "123.45"); err != nil || len(ips) != 1 {
		t.Errorf("A all-numeric = %v, %v", ips, err)
	}
	if _, _, err := c.LookupTXT(ctx, "a\"b\\c;d(e)@$.example.test"); !errors.Is(err, dns.ErrNotFound) {
		t.Errorf("TXT specials: %v, want NXDOMAIN", err)
	}
	if srv.Queries("a\"b\\c;d(e)@$.example.test") != 1 {
		t.Error("specials not sent octet for octet")
	}
	if _, _, err := c.LookupTXT(ctx, "x\x00\xff.example.test"); !errors.Is(err, dns.ErrNotFound) {
		t.Errorf("TXT binary: %v, want NXDOMAIN", err)
	}
	if _, _, err := c.LookupMX(ctx, "b c.example.test"); !errors.Is(err, dns.ErrNotFound) {
		t.Errorf("MX odd: %v", err)
	}
}

// A TXT record larger than the UDP limit comes truncated over UDP and
// whole over TCP (RFC 7766 §5), for adns and for the odd-name path.
func TestClientTCPFallback(t *testing.T) {
	z := testZone(t)
	z["big name.example.test"] = dnstest.Records{TXT: []string{longTXT}}
	srv := dnstest.Start(t, z, dnstest.ServerOptions{MaxUDPSize: 512})
	c := newClient(t, srv, dns.Options{CacheSize: -1})
	for _, name := range []string{"long.example.test", "big name.example.test"} {
		before := srv.TCPQueries()
		txt, _, err := c.LookupTXT(context.Background(), name)
		if err != nil || len(txt) != 1 || txt[0] != longTXT {
			t.Errorf("%s: %d records, %v", name, len(txt), err)
		}
		if srv.TCPQueries() != before+1 {
			t.Errorf("%s: %d TCP queries, want 1", name, srv.TCPQueries()-before)
		}
	}
}

func TestClientAuthentic(t *testing.T) {
	z := testZone(t)
	z["signed.example.test"] = dnstest.Records{TXT: []string{"yes"}, Authentic: true}
	srv := dnstest.Start(t, z, dnstest.ServerOptions{})
	c := newClient(t, srv, dns.Options{CacheSize: -1})
	ctx := context.Background()
	if _, res, err := c.LookupTXT(ctx, "signed.example.test"); err != nil || !res.Authentic {
		t.Errorf("signed: %+v, %v", res, err)
	}
	if _, res, err := c.LookupTXT(ctx, "example.test"); err != nil || res.Authentic {
		t.Errorf("unsigned: %+v, %v", res, err)
	}
	adSrv := dnstest.Start(t, z, dnstest.ServerOptions{AD: true})
	c2 := newClient(t, adSrv, dns.Options{CacheSize: -1})
	if _, res, err := c2.LookupTXT(ctx, "nx.example.test"); !errors.Is(err, dns.ErrNotFound) || !res.Authentic {
		t.Errorf("authenticated denial: %+v, %v", res, err)
	}
	if _, res, err := c2.LookupIP(ctx, "ip", "mx.example.test"); err != nil || !res.Authentic {
		t.Errorf("ip: %+v, %v", res, err)
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func TestClientCache(t *testing.T) {
	srv := dnstest.Start(t, testZone(t), dnstest.ServerOptions{TTL: 300, NegativeTTL: 3600})
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := newClient(t, srv, dns.Options{Now: clk.now, CacheSize: 3, NegativeMaxTTL: 10 * time.Minute})
	ctx := context.Background()
	look := func(name string) error { _, _, err := c.LookupTXT(ctx, name); return err }

	look("example.test")
	look("example.test")
	if n := srv.Queries("example.test"); n != 1 {
		t.Errorf("cached answer: %d queries, want 1", n)
	}
	clk.add(301 * time.Second)
	look("example.test")
	if n := srv.Queries("example.test"); n != 2 {
		t.Errorf("after TTL: %d queries, want 2", n)
	}

	// Negative answers: cached, capped at NegativeMaxTTL (not the SOA's hour).
	look("nx.example.test")
	if err := look("nx.example.test"); !errors.Is(err, dns.ErrNotFound) {
		t.Errorf("cached NXDOMAIN: %v", err)
	}
	if n := srv.Queries("nx.example.test"); n != 1 {
		t.Errorf("negative cache: %d queries, want 1", n)
	}
	clk.add(11 * time.Minute)
	look("nx.example.test")
	if n := srv.Queries("nx.example.test"); n != 2 {
		t.Errorf("negative cap: %d queries, want 2", n)
	}

	// Temporary failures are never cached.
	look("broken.example.test")
	first := srv.Queries("broken.example.test")
	look("broken.example.test")
	if n := srv.Queries("broken.example.test"); n <= first {
		t.Errorf("SERVFAIL was cached: %d then %d queries", first, n)
	}

	// Bounded size: three more names push example.test out.
	for _, n := range []string{"multi.example.test", "long.example.test", "a b.example.test"} {
		look(n)
	}
	before := srv.Queries("example.test")
	look("example.test")
	if srv.Queries("example.test") != before+1 {
		t.Error("LRU entry not evicted")
	}
}

func TestClientMinMaxTTL(t *testing.T) {
	srv := dnstest.Start(t, testZone(t), dnstest.ServerOptions{TTL: 5})
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := newClient(t, srv, dns.Options{Now: clk.now, MinTTL: time.Minute})
	c.LookupTXT(context.Background(), "example.test")
	clk.add(30 * time.Second)
	c.LookupTXT(context.Background(), "example.test")
	if n := srv.Queries("example.test"); n != 1 {
		t.Errorf("MinTTL: %d queries, want 1", n)
	}
	srv2 := dnstest.Start(t, testZone(t), dnstest.ServerOptions{TTL: 86400})
	c2 := newClient(t, srv2, dns.Options{Now: clk.now, MaxTTL: time.Hour})
	c2.LookupTXT(context.Background(), "example.test")
	clk.add(61 * time.Minute)
	c2.LookupTXT(context.Background(), "example.test")
	if n := srv2.Queries("example.test"); n != 2 {
		t.Errorf("MaxTTL: %d queries, want 2", n)
	}
}

func TestNewRejectsBadServer(t *testing.T) {
	if _, err := dns.New(dns.Options{Servers: []string{"localhost:53"}}); err == nil {
		t.Error("host name accepted as server")
	}
}

// Failover: the first server does not answer, the second does.
func TestClientFailover(t *testing.T) {
	srv := dnstest.Start(t, testZone(t), dnstest.ServerOptions{})
	broken := dnstest.Start(t, dnstest.Zone{"example.test": {ServFail: true}, "a b.example.test": {ServFail: true}}, dnstest.ServerOptions{})
	c, err := dns.New(dns.Options{Servers: []string{broken.Addr, srv.Addr}, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	if txt, _, err := c.LookupTXT(context.Background(), "example.test"); err != nil || len(txt) != 1 {
		t.Errorf("failover: %q, %v", txt, err)
	}
	if txt, _, err := c.LookupTXT(context.Background(), "a b.example.test"); err != nil || len(txt) != 1 {
		t.Errorf("failover, odd name: %q, %v", txt, err)
	}
}

// dig, when installed, reads the same answers from the test server.
func TestServerWithDig(t *testing.T) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		t.Skip("dig not installed")
	}
	srv := dnstest.Start(t, testZone(t), dnstest.ServerOptions{})
	host, port, _ := strings.Cut(srv.Addr, ":")
	out, err := exec.Command(dig, "+short", "@"+host, "-p", port, "long.example.test", "TXT").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.NewReplacer(`"`, "", " ", "", "\n", "").Replace(string(out)); got != strings.ReplaceAll(longTXT, " ", "") {
		t.Errorf("dig: %q", out)
	}
}
