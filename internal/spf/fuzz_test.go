package spf

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

var validResults = map[Result]bool{None: true, Neutral: true, Pass: true, Fail: true, SoftFail: true, TempError: true, PermError: true}

// maxQueries bounds the DNS queries of one check (RFC 7208 §4.6.4): the
// first TXT lookup; 10 counted terms, each with at most 10 MX names behind
// it (the PTR process runs once per check and is one of the terms); then
// the explanation's TXT lookup and, for a %{p} there, the PTR process.
const maxQueries = 1 + maxTerms*(1+maxNames) + 1 + (1 + maxNames)

// FuzzVerify evaluates random records (which may include and redirect to
// each other and to themselves) with the fake: no panic, a valid result,
// and at most maxQueries queries.
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
		if n := r.Total(); n > maxQueries {
			t.Fatalf("%d queries", n)
		}
		_ = v.ReceivedSPF()
	})
}

// FuzzExpand: the macro expander never panics, accepts exactly what the
// macro-string parser accepts, stays within maxExpansion, and emits no
// control characters but those the sender's local part brings.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"%{ir}.%{v}._spf.%{d2}", "%{l1r-}", "%%%_%-", "%{S}", "%{d0}", "%{", "%{c} %{t}",
		"%{p}.x", "%{L9999999999r+-.,/_=}", "%{l}%{l}%{l}%{l}%{l}%{l}%{l}%{l}", "%{o1R}", "a%", "%(i)"} {
		f.Add(s, true)
	}
	env := macroEnv{ip: netip.MustParseAddr("2001:db8::1"), sender: "a\x00b" + strings.Repeat("x", 600) + "@x.test",
		domain: "x.test", helo: "h", receiver: "r", validated: func() string { return "v.x.test" }}
	f.Fuzz(func(t *testing.T, s string, explain bool) {
		_, perr := parseMacros(s, explain)
		out, err := expand(s, env, explain)
		if perr != nil {
			if err == nil {
				t.Fatalf("%q: expand accepts what parseMacros refuses (%v)", s, perr)
			}
			return
		}
		if err != nil {
			if !strings.Contains(err.Error(), "more than") {
				t.Fatalf("%q: parseMacros accepts, expand says %v", s, err)
			}
			return
		}
		if len(out) > maxExpansion {
			t.Fatalf("%q: %d octets", s, len(out))
		}
		for i := 0; i < len(out); i++ {
			if c := out[i]; c < ' ' && c != 0 { // %{l} may carry the sender's octets
				t.Fatalf("control %#x in %q", c, out)
			}
		}
	})
}

// FuzzParseRecord: the record parser never panics, and what it accepts
// does not depend on letter case (RFC 7208 keywords, macro letters, hex
// digits and top labels are all case-insensitive) or on the number of
// spaces between terms (RFC 7208 §4.6.1); a record it accepts has only
// domain-specs that expand, and becomes an error with an unknown
// mechanism appended.
func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		"v=spf1 -all", "v=spf1", "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all",
		"v=spf1 a mx/24//64 ptr:%{d} exists:%{ir}.%{v}.%{d2}.x.test include:_spf.x.test ?all",
		"v=spf1 redirect=%{d}.x.test exp=why.%{o}", "v=spf1 moo.cow-far_out=man:dog/cat -all",
		"v=spf1 a:foo:bar/baz.example.com/24", "v=spf1 -all moo", "v=spf1 exp= -all", "v=spf1 a/33",
		"v=spf1 exists:%(i).x.test", "V=SpF1 IP6:::FFFF:1.2.3.4/128", "v=spf1 a:x.xn--zckzah.",
	} {
		f.Add(s)
	}
	env := macroEnv{ip: netip.MustParseAddr("192.0.2.1"), sender: "a@x.test", domain: "x.test", helo: "h"}
	f.Fuzz(func(t *testing.T, s string) {
		rec, err := parseRecord(s)
		if _, err2 := parseRecord(upperASCII(s)); (err == nil) != (err2 == nil) {
			t.Fatalf("%q: %v, upper case: %v", s, err, err2)
		}
		spaced := strings.ReplaceAll(s, " ", "  ") + " "
		if _, err2 := parseRecord(spaced); (err == nil) != (err2 == nil) && isRecord(s) {
			t.Fatalf("%q: %v, with more spaces: %v", s, err, err2)
		}
		if err != nil {
			return
		}
		if _, err := parseRecord(s + " moo"); err == nil {
			t.Fatalf("%q: accepted with an unknown mechanism appended", s)
		}
		specs := []string{rec.redirect, rec.exp}
		for _, d := range rec.directives {
			specs = append(specs, d.domain)
			if d.qualifier != Pass && d.qualifier != Fail && d.qualifier != SoftFail && d.qualifier != Neutral {
				t.Fatalf("%q: qualifier %q", s, d.qualifier)
			}
		}
		for _, spec := range specs {
			if spec == "" {
				continue
			}
			if _, err := expand(spec, env, false); err != nil {
				t.Fatalf("%q: domain-spec %q does not expand: %v", s, spec, err)
			}
		}
	})
}

func upperASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
