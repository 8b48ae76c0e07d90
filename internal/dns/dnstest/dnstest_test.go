package dnstest

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/posthorn/posthorn/internal/dns"
)

func TestResolver(t *testing.T) {
	r := NewResolver(MustParseZone(`
example.test.         TXT   "v=spf1" " -all"
example.test.         MX    10 mx.example.test.
mx.example.test.      A     192.0.2.1
mx.example.test.      AAAA  2001:db8::1
www.example.test.     CNAME mx.example.test.
a\032b.example.test.  TXT   "odd"
deep.ent.example.test. A    192.0.2.9
_25._tcp.mx.example.test. TLSA 3 1 1 aabb
1.2.0.192.in-addr.arpa. PTR mx.example.test.
`))
	r.Set(mergeZone(r, Zone{"broken.example.test": {ServFail: true}, "signed.example.test": {TXT: []string{"s"}, Authentic: true}}))
	ctx := context.Background()
	if txt, _, err := r.LookupTXT(ctx, "EXAMPLE.test."); err != nil || len(txt) != 1 || txt[0] != "v=spf1 -all" {
		t.Errorf("TXT: %q %v", txt, err)
	}
	if txt, _, err := r.LookupTXT(ctx, "a b.example.test"); err != nil || txt[0] != "odd" {
		t.Errorf("odd TXT: %q %v", txt, err)
	}
	if ips, _, err := r.LookupIP(ctx, "ip", "www.example.test"); err != nil || len(ips) != 2 {
		t.Errorf("CNAME ip: %v %v", ips, err)
	}
	if mxs, _, err := r.LookupMX(ctx, "example.test"); err != nil || mxs[0].Host != "mx.example.test." {
		t.Errorf("MX: %v %v", mxs, err)
	}
	if names, _, err := r.LookupAddr(ctx, netip.MustParseAddr("192.0.2.1")); err != nil || names[0] != "mx.example.test." {
		t.Errorf("PTR: %v %v", names, err)
	}
	if cn, _, err := r.LookupCNAME(ctx, "www.example.test"); err != nil || cn != "mx.example.test." {
		t.Errorf("CNAME: %q %v", cn, err)
	}
	if tl, _, err := r.LookupTLSA(ctx, 25, "tcp", "mx.example.test"); err != nil || len(tl) != 1 || len(tl[0].Data) != 2 {
		t.Errorf("TLSA: %v %v", tl, err)
	}
	for _, tc := range []struct {
		name string
		want error
	}{
		{"nx.example.test", dns.ErrNotFound},
		{"mx.example.test", dns.ErrNoData},
		{"ent.example.test", dns.ErrNoData}, // empty non-terminal (RFC 8020)
		{"broken.example.test", dns.ErrTemporary},
	} {
		if _, _, err := r.LookupTXT(ctx, tc.name); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, res, _ := r.LookupTXT(ctx, "signed.example.test"); !res.Authentic {
		t.Error("Authentic not set")
	}
	r.Fail("example.test", dns.ErrPermanent)
	if _, _, err := r.LookupTXT(ctx, "example.test"); !errors.Is(err, dns.ErrPermanent) {
		t.Errorf("injected: %v", err)
	}
	if r.Queries("example.test") != 3 || r.Queries("a b.example.test") != 1 {
		t.Errorf("counts: %v", r.Log())
	}
	r.Reset()
	if r.Total() != 0 {
		t.Error("Reset")
	}
}

func mergeZone(r *Resolver, extra Zone) Zone {
	z := Zone{}
	for k, v := range r.zone {
		z[k] = v
	}
	for k, v := range extra {
		z[k] = v
	}
	return z
}

func TestParseZoneErrors(t *testing.T) {
	for _, bad := range []string{
		"x.test. IN SRV 0 0 25 mx.test.",
		"x.test. IN A 300.1.1.1",
		"x.test. IN CNAME y.test.\nx.test. IN A 192.0.2.1",
	} {
		if _, err := ParseZone(strings.NewReader(bad), "."); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestEscapes(t *testing.T) {
	for _, raw := range []string{"a b.example", "x\\y.\"q\".test", "\x00\xff.test", "plain.test"} {
		if got := unescape(escapeName(raw)); got != raw+"." {
			t.Errorf("round trip %q: %q", raw, got)
		}
	}
}
