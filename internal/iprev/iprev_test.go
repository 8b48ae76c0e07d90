package iprev

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

func TestVerify(t *testing.T) {
	ip := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	rev := func(s string) string { return dnstest.ReverseName(ip(s)) }
	z := dnstest.Zone{
		rev("192.0.2.1"):     {PTR: []string{"mx.example.test"}},
		"mx.example.test":    {A: []string{"192.0.2.1"}, AAAA: []string{"2001:db8::1"}},
		rev("2001:db8::1"):   {PTR: []string{"mx.example.test"}},
		rev("192.0.2.2"):     {PTR: []string{"liar.example.test"}},
		"liar.example.test":  {A: []string{"198.51.100.1"}},
		rev("192.0.2.3"):     {PTR: []string{"gone.example.test"}},
		rev("192.0.2.4"):     {ServFail: true},
		rev("192.0.2.5"):     {PTR: []string{"flaky.example.test"}},
		"flaky.example.test": {ServFail: true},
		rev("192.0.2.6"):     {PTR: []string{"liar.example.test", "flaky.example.test", "six.example.test"}},
		"six.example.test":   {A: []string{"192.0.2.6"}},
	}
	r := dnstest.NewResolver(z)
	for _, tc := range []struct {
		ip   string
		want Result
		name string
	}{
		{"192.0.2.1", Pass, "mx.example.test"},
		{"::ffff:192.0.2.1", Pass, "mx.example.test"},
		{"2001:db8::1", Pass, "mx.example.test"},
		{"192.0.2.2", Fail, ""},
		{"192.0.2.3", Fail, ""}, // forward NXDOMAIN
		{"192.0.2.4", TempError, ""},
		{"192.0.2.5", TempError, ""},
		{"192.0.2.6", Pass, "six.example.test"}, // one confirming name is enough
		{"192.0.2.99", PermError, ""},           // no PTR
	} {
		v, err := Verify(context.Background(), r, ip(tc.ip))
		if err != nil || v.Result != tc.want || v.Name() != tc.name || v.Reason == "" {
			t.Errorf("%s: %+v, %v; want %s %q", tc.ip, v, err, tc.want, tc.name)
		}
	}
	v, _ := Verify(context.Background(), r, ip("192.0.2.1"))
	if res, prop, val, cm := v.AuthResult(); res != "pass" || prop != "policy.iprev" || val != "192.0.2.1" || cm != "mx.example.test" {
		t.Errorf("AuthResult: %s %s=%s (%s)", res, prop, val, cm)
	}
	if _, err := Verify(context.Background(), r, netip.Addr{}); !errors.Is(err, ErrInvalidIP) {
		t.Errorf("invalid IP: %v", err)
	}
}

// At most MaxNames PTR names get a forward lookup.
func TestMaxNames(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.7")
	var names []string
	z := dnstest.Zone{}
	for i := range 25 {
		n := fmt.Sprintf("h%d.example.test", i)
		names = append(names, n)
		z[n] = dnstest.Records{A: []string{"198.51.100.1"}}
	}
	z["h24.example.test"] = dnstest.Records{A: []string{"192.0.2.7"}} // beyond the bound
	z[dnstest.ReverseName(ip)] = dnstest.Records{PTR: names}
	r := dnstest.NewResolver(z)
	v, _ := Verify(context.Background(), r, ip)
	if v.Result != Fail || len(v.Names) != MaxNames || r.Total() != 1+MaxNames {
		t.Errorf("%s, %d names, %d queries", v.Result, len(v.Names), r.Total())
	}
}

// The real resolver against the test server.
func TestVerifyOverDNS(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.1")
	srv := dnstest.Start(t, dnstest.Zone{
		dnstest.ReverseName(ip): {PTR: []string{"mx.example.test"}},
		"mx.example.test":       {A: []string{"192.0.2.1"}},
	}, dnstest.ServerOptions{})
	c, err := dns.New(dns.Options{Servers: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := Verify(context.Background(), c, ip); err != nil || v.Result != Pass || v.Name() != "mx.example.test" {
		t.Errorf("%+v, %v", v, err)
	}
	if v, _ := Verify(context.Background(), c, netip.MustParseAddr("192.0.2.2")); v.Result != PermError {
		t.Errorf("no PTR: %s", v.Result)
	}
}
