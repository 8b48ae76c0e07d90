package spf

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

var validResults = map[Result]bool{None: true, Neutral: true, Pass: true, Fail: true, SoftFail: true, TempError: true, PermError: true}

// FuzzVerify evaluates random records (which may include and redirect to
// each other and to themselves) with the fake: no panic, a valid result,
// and a bounded number of queries (RFC 7208 §4.6.4: 10 counted terms, each
// with at most 10 MX or PTR names behind it, plus the explanation).
func FuzzVerify(f *testing.F) {
	for _, s := range []string{
		"v=spf1 -all", "v=spf1 include:a.test include:b.test ~all", "v=spf1 redirect=a.test",
		"v=spf1 mx:b.test/24 a:%{l}.%{d} ptr exists:%{ir}.%{v}.x.test -all exp=e.test",
		"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ?all", "v=spf1 redirect=%{d}", "v=spf1 include:%{o}",
		"v=spf1 a:%{l1r-}.x%_y.test -all", "v=spf1 exists:%{S}.%{L}.%{I}.test",
	} {
		f.Add(s, "v=spf1 include:top.test -all", "strong bad")
	}
	f.Fuzz(func(t *testing.T, top, other, local string) {
		lp, err := addr.ParseLocalpart(local)
		if err != nil {
			lp = "x"
		}
		mxs := make([]dnstest.MX, 12)
		for i := range mxs {
			mxs[i] = dnstest.MX{Pref: uint16(i), Host: "a.test"}
		}
		r := dnstest.NewResolver(dnstest.Zone{
			"top.test":               {TXT: []string{top}, MX: mxs},
			"a.test":                 {TXT: []string{other}, A: []string{"192.0.2.1"}},
			"b.test":                 {TXT: []string{top, other}},
			"e.test":                 {TXT: []string{other}},
			"1.2.0.192.in-addr.arpa": {PTR: []string{"a.test", "top.test", "b.test"}},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		v, err := Verify(ctx, r, Args{IP: netip.MustParseAddr("192.0.2.1"), HELO: "h.test",
			MailFrom: addr.Address{Localpart: lp, Domain: addr.MustParseDomain("top.test")}})
		if err != nil {
			t.Fatal(err)
		}
		if !validResults[v.Result] {
			t.Fatalf("result %q", v.Result)
		}
		if n := r.Total(); n > 1+10*(1+10)+2 {
			t.Fatalf("%d queries", n)
		}
		_ = v.ReceivedSPF()
	})
}

// FuzzExpand: the macro expander never panics and never emits controls.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"%{ir}.%{v}._spf.%{d2}", "%{l1r-}", "%%%_%-", "%{S}", "%{d0}", "%{", "%{c} %{t}"} {
		f.Add(s, true)
	}
	env := macroEnv{ip: netip.MustParseAddr("2001:db8::1"), sender: "a\x00b@x.test", domain: "x.test", helo: "h", receiver: "r"}
	f.Fuzz(func(t *testing.T, s string, explain bool) {
		out, err := expand(s, env, explain)
		if err != nil {
			return
		}
		for i := 0; i < len(out); i++ {
			if c := out[i]; c < ' ' && c != 0 { // %{l} may carry the sender's octets
				t.Fatalf("control %#x in %q", c, out)
			}
		}
	})
}
