package spf

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

// appendixA is the zone of RFC 7208 Appendix A.
const appendixA = `
example.com.          A     192.0.2.10
example.com.          A     192.0.2.11
amy.example.com.      A     192.0.2.65
bob.example.com.      A     192.0.2.66
mail-a.example.com.   A     192.0.2.129
mail-b.example.com.   A     192.0.2.130
www.example.com.      CNAME example.com.
example.com.          MX    10 mail-a.example.com.
example.com.          MX    20 mail-b.example.com.
example.org.          MX    10 mail-c.example.org.
mail-c.example.org.   A     192.0.2.140
10.2.0.192.in-addr.arpa.  PTR example.com.
11.2.0.192.in-addr.arpa.  PTR example.com.
65.2.0.192.in-addr.arpa.  PTR amy.example.com.
66.2.0.192.in-addr.arpa.  PTR bob.example.com.
129.2.0.192.in-addr.arpa. PTR mail-a.example.com.
130.2.0.192.in-addr.arpa. PTR mail-b.example.com.
140.2.0.192.in-addr.arpa. PTR mail-c.example.org.
10.0.0.10.in-addr.arpa.   PTR bob.example.com.
`

// zoneWith returns the Appendix A zone with extra records.
func zoneWith(extra dnstest.Zone) dnstest.Zone {
	z := dnstest.MustParseZone(appendixA)
	for n, r := range extra {
		old := z[n]
		old.TXT = append(old.TXT, r.TXT...)
		old.A = append(old.A, r.A...)
		old.AAAA = append(old.AAAA, r.AAAA...)
		old.MX = append(old.MX, r.MX...)
		old.ServFail = old.ServFail || r.ServFail
		z[n] = old
	}
	return z
}

func from(s string) addr.Address { return addr.MustParseAddress(s) }

func verify(t *testing.T, r dns.Resolver, ip, mailFrom string) Verdict {
	t.Helper()
	a := Args{IP: netip.MustParseAddr(ip), HELO: "mta.example.net", LocalHostname: "mx.posthorn.test"}
	if mailFrom != "" {
		a.MailFrom = from(mailFrom)
	}
	v, err := Verify(context.Background(), r, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// RFC 7208 Appendix A.1: example.com's record is "v=spf1 <mechanism> -all".
func TestAppendixA1(t *testing.T) {
	pass := func(ips ...string) []string { return ips }
	for _, tc := range []struct {
		record string
		pass   []string
	}{
		{"v=spf1 +all", pass("192.0.2.10", "192.0.2.11", "192.0.2.65", "192.0.2.66", "192.0.2.128", "192.0.2.129",
			"192.0.2.130", "192.0.2.131", "192.0.2.140", "192.0.2.141", "192.0.2.143", "192.0.2.99", "10.0.0.10")},
		{"v=spf1 a -all", pass("192.0.2.10", "192.0.2.11")},
		{"v=spf1 a:example.org -all", nil},
		{"v=spf1 mx -all", pass("192.0.2.129", "192.0.2.130")},
		{"v=spf1 mx:example.org -all", pass("192.0.2.140")},
		{"v=spf1 mx mx:example.org -all", pass("192.0.2.129", "192.0.2.130", "192.0.2.140")},
		{"v=spf1 mx/30 mx:example.org/30 -all", pass("192.0.2.128", "192.0.2.129", "192.0.2.130", "192.0.2.131",
			"192.0.2.140", "192.0.2.141", "192.0.2.143")},
		{"v=spf1 ptr -all", pass("192.0.2.10", "192.0.2.11", "192.0.2.65", "192.0.2.66", "192.0.2.129", "192.0.2.130")},
		{"v=spf1 ip4:192.0.2.128/28 -all", pass("192.0.2.128", "192.0.2.129", "192.0.2.130", "192.0.2.131",
			"192.0.2.140", "192.0.2.141", "192.0.2.143")},
	} {
		r := dnstest.NewResolver(zoneWith(dnstest.Zone{"example.com": {TXT: []string{tc.record}}}))
		for _, ip := range []string{"192.0.2.10", "192.0.2.11", "192.0.2.65", "192.0.2.66", "192.0.2.128",
			"192.0.2.129", "192.0.2.130", "192.0.2.131", "192.0.2.140", "192.0.2.141", "192.0.2.143", "192.0.2.99", "10.0.0.10"} {
			want := Fail
			for _, p := range tc.pass {
				if p == ip {
					want = Pass
				}
			}
			if v := verify(t, r, ip, "user@example.com"); v.Result != want {
				t.Errorf("%q from %s: %s (%s), want %s", tc.record, ip, v.Result, v.Reason, want)
			}
		}
	}
}

// RFC 7208 Appendix A.2 (multiple domains) and A.3 (DNSBL style), in the
// shape of the RFC's examples.
func TestAppendixA2A3(t *testing.T) {
	z := zoneWith(dnstest.Zone{
		"la.example.org":              {TXT: []string{"v=spf1 redirect=example.org"}},
		"ny.example.org":              {TXT: []string{"v=spf1 redirect=example.org"}},
		"example.org":                 {TXT: []string{"v=spf1 include:example.com include:example.net -all"}},
		"example.com":                 {TXT: []string{"v=spf1 ip4:192.0.2.0/24 -all"}},
		"example.net":                 {TXT: []string{"v=spf1 ip4:198.51.100.0/24 -all"}},
		"dnsbl.example.test":          {TXT: []string{"v=spf1 -exists:%{ir}.bl.example.test ip4:203.0.113.0/24 -all"}},
		"2.113.0.203.bl.example.test": {A: []string{"127.0.0.2"}},
	})
	r := dnstest.NewResolver(z)
	for _, tc := range []struct {
		ip, from string
		want     Result
	}{
		{"192.0.2.7", "a@la.example.org", Pass},
		{"198.51.100.7", "a@ny.example.org", Pass},
		{"203.0.113.7", "a@la.example.org", Fail},
		{"203.0.113.1", "a@dnsbl.example.test", Pass},
		{"203.0.113.2", "a@dnsbl.example.test", Fail},
	} {
		if v := verify(t, r, tc.ip, tc.from); v.Result != tc.want {
			t.Errorf("%s from %s: %s (%s), want %s", tc.from, tc.ip, v.Result, v.Reason, tc.want)
		}
	}
}

func TestResults(t *testing.T) {
	z := dnstest.Zone{
		"pass.test":      {TXT: []string{"v=spf1 ip4:192.0.2.1 -all"}},
		"softfail.test":  {TXT: []string{"v=spf1 ~all"}},
		"neutral.test":   {TXT: []string{"v=spf1 ?all"}},
		"fallthru.test":  {TXT: []string{"v=spf1 ip4:198.51.100.1"}},
		"empty.test":     {TXT: []string{"v=spf1"}},
		"norecord.test":  {TXT: []string{"google-site-verification=x"}, A: []string{"192.0.2.1"}},
		"two.test":       {TXT: []string{"v=spf1 -all", "v=spf1 +all"}},
		"syntax.test":    {TXT: []string{"v=spf1 ip4:300.1.1.1 -all"}},
		"unknown.test":   {TXT: []string{"v=spf1 foo:bar -all"}},
		"badmacro.test":  {TXT: []string{"v=spf1 exists:%{q}.x.test -all"}},
		"inclnone.test":  {TXT: []string{"v=spf1 include:norecord.test -all"}},
		"redirnone.test": {TXT: []string{"v=spf1 redirect=norecord.test"}},
		"servfail.test":  {ServFail: true},
		"tempmech.test":  {TXT: []string{"v=spf1 a:servfail.test -all"}},
		"case.test":      {TXT: []string{"V=SPF1 IP4:192.0.2.1 -ALL"}},
		"mod.test":       {TXT: []string{"v=spf1 foo=bar ip4:192.0.2.1 -all"}},
	}
	r := dnstest.NewResolver(z)
	for _, tc := range []struct {
		from string
		want Result
	}{
		{"a@pass.test", Pass},
		{"a@softfail.test", SoftFail},
		{"a@neutral.test", Neutral},
		{"a@fallthru.test", Neutral},
		{"a@empty.test", Neutral},
		{"a@norecord.test", None},
		{"a@nxdomain.test", None},
		{"a@two.test", PermError},
		{"a@syntax.test", PermError},
		{"a@unknown.test", PermError},
		{"a@badmacro.test", PermError},
		{"a@inclnone.test", PermError},
		{"a@redirnone.test", PermError},
		{"a@servfail.test", TempError},
		{"a@tempmech.test", TempError},
		{"a@case.test", Pass},
		{"a@mod.test", Pass},
	} {
		v := verify(t, r, "192.0.2.1", tc.from)
		if v.Result != tc.want {
			t.Errorf("%s: %s (%s; %s), want %s", tc.from, v.Result, v.Reason, v.Problem, tc.want)
		}
		if (v.Result == TempError || v.Result == PermError) && v.Problem == "" {
			t.Errorf("%s: %s without a problem", tc.from, v.Result)
		}
		if v.Identity != MailFrom || v.Domain != strings.TrimPrefix(tc.from, "a@") || v.Reason == "" {
			t.Errorf("%s: verdict %+v", tc.from, v)
		}
	}
	if _, err := Verify(context.Background(), r, Args{}); !errors.Is(err, ErrInvalidIP) {
		t.Errorf("no IP: %v", err)
	}
}

// chain returns n records each including the next, the last passing all.
func chain(n int) dnstest.Zone {
	z := dnstest.Zone{}
	for i := range n {
		z[fmt.Sprintf("d%d.test", i)] = dnstest.Records{TXT: []string{fmt.Sprintf("v=spf1 include:d%d.test -all", i+1)}}
	}
	z[fmt.Sprintf("d%d.test", n)] = dnstest.Records{TXT: []string{"v=spf1 +all"}}
	return z
}

// RFC 7208 §4.6.4: at most 10 terms causing DNS lookups; the 11th is a
// permerror, and no query is made for it.
func TestLookupLimit(t *testing.T) {
	for _, tc := range []struct {
		includes int
		want     Result
	}{{9, Pass}, {10, Pass}, {11, PermError}, {30, PermError}} {
		r := dnstest.NewResolver(chain(tc.includes))
		v := verify(t, r, "192.0.2.1", "a@d0.test")
		if v.Result != tc.want {
			t.Errorf("%d includes: %s (%s), want %s", tc.includes, v.Result, v.Problem, tc.want)
		}
		if got, max := r.Total(), min(tc.includes, 10)+1; got != max || v.Lookups != got {
			t.Errorf("%d includes: %d queries (verdict says %d), want %d", tc.includes, got, v.Lookups, max)
		}
	}
	// Mechanisms count too: 10 a: terms pass the limit, the 11th does not.
	var terms []string
	z := dnstest.Zone{}
	for i := range 11 {
		terms = append(terms, fmt.Sprintf("a:h%d.test", i))
		z[fmt.Sprintf("h%d.test", i)] = dnstest.Records{A: []string{"198.51.100.1"}}
	}
	z["many.test"] = dnstest.Records{TXT: []string{"v=spf1 " + strings.Join(terms, " ") + " -all"}}
	r := dnstest.NewResolver(z)
	if v := verify(t, r, "192.0.2.1", "a@many.test"); v.Result != PermError || r.Queries("h10.test") != 0 {
		t.Errorf("11 a: terms: %s, h10 queried %d times", v.Result, r.Queries("h10.test"))
	}
}

// RFC 7208 §4.6.4: more than 2 void lookups is a permerror.
func TestVoidLookupLimit(t *testing.T) {
	r := dnstest.NewResolver(dnstest.Zone{
		"two.test":    {TXT: []string{"v=spf1 a:nx1.test a:nx2.test -all"}},
		"three.test":  {TXT: []string{"v=spf1 a:nx1.test mx:nx2.test exists:nx3.test a:nx4.test -all"}},
		"nodata.test": {TXT: []string{"v=spf1 a:nodata.test mx:nodata.test a:nodata.test -all"}},
	})
	if v := verify(t, r, "192.0.2.1", "a@two.test"); v.Result != Fail {
		t.Errorf("two void lookups: %s (%s)", v.Result, v.Problem)
	}
	r.Reset()
	if v := verify(t, r, "192.0.2.1", "a@three.test"); v.Result != PermError || r.Queries("nx4.test") != 0 {
		t.Errorf("three void lookups: %s (%s), nx4 queried %d", v.Result, v.Problem, r.Queries("nx4.test"))
	}
	if v := verify(t, r, "192.0.2.1", "a@nodata.test"); v.Result != PermError {
		t.Errorf("three no-data lookups: %s (%s)", v.Result, v.Problem)
	}
}

// Macros (RFC 7208 §7) reach DNS as expanded, including names Go's
// resolver would refuse: a local part with a space or a label over 63
// octets, and names over 253 octets (§4.8).
func TestMacrosInLookups(t *testing.T) {
	z := dnstest.Zone{
		"email.example.com":                  {TXT: []string{"v=spf1 exists:%{ir}.%{v}._spf.%{d2} exists:%{l}.lp._spf.%{d2} -all"}},
		"3.2.0.192.in-addr._spf.example.com": {A: []string{"127.0.0.2"}},
		"strong bad.lp._spf.example.com":     {A: []string{"127.0.0.2"}},
		"long.test":                          {TXT: []string{"v=spf1 exists:%{l}.%{l}.%{l}.%{l}.%{l}.x.test -all"}},
	}
	r := dnstest.NewResolver(z)
	if v := verify(t, r, "192.0.2.3", "strong-bad@email.example.com"); v.Result != Pass {
		t.Errorf("%%{ir}.%%{v}: %s (%s)", v.Result, v.Problem)
	}
	if v := verify(t, r, "192.0.2.4", `"strong bad"@email.example.com`); v.Result != Pass {
		t.Errorf("space in %%{l}: %s (%s) %v", v.Result, v.Problem, r.Log())
	}
	if r.Queries("strong bad.lp._spf.example.com") != 1 {
		t.Errorf("odd name not queried: %v", r.Log())
	}
	// A 60-octet local part five times: 305 octets, trimmed from the left.
	lp := strings.Repeat("x", 60)
	r.Reset()
	if v := verify(t, r, "192.0.2.4", lp+"@long.test"); v.Result != Fail {
		t.Errorf("long name: %s (%s)", v.Result, v.Problem)
	}
	for _, q := range r.Log() {
		if len(q.Name) > 253 {
			t.Errorf("queried a %d-octet name", len(q.Name))
		}
	}
	if r.Queries(strings.Repeat(lp+".", 4)+"x.test") != 1 {
		t.Errorf("trimmed name not queried: %v", r.Log())
	}
}

// RFC 7208 §7.4's examples, for our expander (explanations, redirect targets).
func TestMacroExamples(t *testing.T) {
	env := macroEnv{ip: netip.MustParseAddr("192.0.2.3"), sender: "strong-bad@email.example.com",
		domain: "email.example.com", helo: "mx.example.org", receiver: "mx.posthorn.test",
		now: func() time.Time { return time.Unix(1700000000, 0) }}
	for _, tc := range []struct{ in, want string }{
		{"%{s}", "strong-bad@email.example.com"},
		{"%{o}", "email.example.com"},
		{"%{d}", "email.example.com"},
		{"%{d4}", "email.example.com"},
		{"%{d3}", "email.example.com"},
		{"%{d2}", "example.com"},
		{"%{d1}", "com"},
		{"%{dr}", "com.example.email"},
		{"%{d2r}", "example.email"},
		{"%{l}", "strong-bad"},
		{"%{l-}", "strong.bad"},
		{"%{lr}", "strong-bad"},
		{"%{lr-}", "bad.strong"},
		{"%{l1r-}", "strong"},
		{"%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
		{"%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
		{"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
		{"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"},
		{"%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"},
		{"%%%_%-", "% %20"},
		{"%{S}", "strong-bad%40email.example.com"},
		{"%{h}", "mx.example.org"},
		{"%{p}", "unknown"},
	} {
		got, err := expand(tc.in, env, false)
		if err != nil || got != tc.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	env6 := env
	env6.ip = netip.MustParseAddr("2001:db8::cb01")
	if got, _ := expand("%{ir}.%{v}._spf.%{d2}", env6, false); got != "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com" {
		t.Errorf("IPv6 %%{ir}: %q", got)
	}
	if got, _ := expand("%{c} %{r} %{t}", env6, true); got != "2001:db8::cb01 mx.posthorn.test 1700000000" {
		t.Errorf("explain letters: %q", got)
	}
	for _, bad := range []string{"%", "%{", "%{x}", "%{d0}", "%{c}", "%{t}", "%{d2r+x}", "%a", "a b"} {
		if got, err := expand(bad, env, false); err == nil {
			t.Errorf("expand(%q) = %q, want error", bad, got)
		}
	}
}

func TestExplanation(t *testing.T) {
	z := dnstest.Zone{
		"exp.test":      {TXT: []string{"v=spf1 ip4:198.51.100.0/24 -all exp=why.exp.test"}},
		"why.exp.test":  {TXT: []string{"%{i} is not one of %{d}'s designated mail servers (sender %{s})."}},
		"redir.test":    {TXT: []string{"v=spf1 redirect=exp.test exp=outer.test"}},
		"outer.test":    {TXT: []string{"outer text must not be used"}},
		"own.test":      {TXT: []string{"v=spf1 -ip4:192.0.2.1 redirect=exp.test exp=outer.test"}},
		"noexp.test":    {TXT: []string{"v=spf1 -all"}},
		"badexp.test":   {TXT: []string{"v=spf1 -all exp=two.exp.test"}},
		"two.exp.test":  {TXT: []string{"one", "two"}},
		"nxexp.test":    {TXT: []string{"v=spf1 -all exp=nx.exp.test"}},
		"inclfail.test": {TXT: []string{"v=spf1 include:inner.test -all exp=outer.test"}},
		"inner.test":    {TXT: []string{"v=spf1 -all exp=why.exp.test"}},
		"soft.test":     {TXT: []string{"v=spf1 ~all exp=why.exp.test"}},
	}
	r := dnstest.NewResolver(z)
	for _, tc := range []struct{ from, want string }{
		{"a@exp.test", "192.0.2.1 is not one of exp.test's designated mail servers (sender a@exp.test)."},
		{"a@redir.test", "192.0.2.1 is not one of exp.test's designated mail servers (sender a@redir.test)."},
		{"a@own.test", "outer text must not be used"}, // own mechanism failed: its own exp=
		{"a@noexp.test", ""},
		{"a@badexp.test", ""},
		{"a@nxexp.test", ""},
		{"a@inclfail.test", "outer text must not be used"},
		{"a@soft.test", ""}, // only fail has an explanation
	} {
		v := verify(t, r, "192.0.2.1", tc.from)
		if v.Explanation != tc.want {
			t.Errorf("%s (%s): explanation %q, want %q", tc.from, v.Result, v.Explanation, tc.want)
		}
	}
}

// RFC 7208 §2.4: the null sender is checked as postmaster@HELO; §2.3: a
// HELO that is not a domain name gives none.
func TestHELOIdentity(t *testing.T) {
	r := dnstest.NewResolver(dnstest.Zone{
		"mta.example.net": {TXT: []string{"v=spf1 a:%{h} ip4:192.0.2.1 -all"}, A: []string{"192.0.2.5"}},
	})
	v := verify(t, r, "192.0.2.1", "")
	if v.Result != Pass || v.Identity != HELO || v.Sender != "postmaster@mta.example.net" || v.Domain != "mta.example.net" {
		t.Errorf("null sender: %+v", v)
	}
	if res, prop, val, _ := v.AuthResult(); res != "pass" || prop != "smtp.helo" || val != "mta.example.net" {
		t.Errorf("AuthResult: %s %s=%s", res, prop, val)
	}
	for _, helo := range []string{"[192.0.2.1]", "localhost", "", "bad_name..x"} {
		v, err := VerifyHELO(context.Background(), r, Args{IP: netip.MustParseAddr("192.0.2.1"), HELO: helo})
		if err != nil || v.Result != None {
			t.Errorf("HELO %q: %s, %v", helo, v.Result, err)
		}
	}
	if v, _ := VerifyHELO(context.Background(), r, Args{IP: netip.MustParseAddr("192.0.2.9"), HELO: "MTA.example.net"}); v.Result != Fail {
		t.Errorf("HELO fail: %s", v.Result)
	}
}

func TestIPv6(t *testing.T) {
	r := dnstest.NewResolver(dnstest.Zone{
		"six.test":      {TXT: []string{"v=spf1 ip6:2001:db8::/32 a:host.six.test exists:%{ir}.x.six.test -all"}, A: []string{"192.0.2.1"}},
		"host.six.test": {AAAA: []string{"2001:db8:1::1"}, A: []string{"192.0.2.66"}},
		"four.test":     {TXT: []string{"v=spf1 a:host.six.test -all"}},
	})
	for _, tc := range []struct {
		ip, from string
		want     Result
	}{
		{"2001:db8::1", "a@six.test", Pass},
		{"2001:db9::1", "a@six.test", Fail},
		{"::ffff:192.0.2.66", "a@four.test", Pass}, // mapped: checked as IPv4
		{"192.0.2.66", "a@four.test", Pass},
	} {
		if v := verify(t, r, tc.ip, tc.from); v.Result != tc.want {
			t.Errorf("%s from %s: %s (%s)", tc.from, tc.ip, v.Result, v.Problem)
		}
	}
}

// Golden Received-SPF values (RFC 7208 §9.1).
func TestReceivedSPF(t *testing.T) {
	r := dnstest.NewResolver(dnstest.Zone{
		"example.com": {TXT: []string{"v=spf1 ip4:192.0.2.1 -all"}},
		"broken.test": {TXT: []string{"v=spf1 ip4:x -all"}},
	})
	for _, tc := range []struct{ ip, from, want string }{
		{"192.0.2.1", "myname@example.com", `pass (mx.posthorn.test: domain of myname@example.com designates 192.0.2.1 as permitted sender) client-ip=192.0.2.1; envelope-from="myname@example.com"; helo=mta.example.net; receiver=mx.posthorn.test; identity=mailfrom`},
		{"192.0.2.2", "myname@example.com", `fail (mx.posthorn.test: domain of myname@example.com does not designate 192.0.2.2 as permitted sender) client-ip=192.0.2.2; envelope-from="myname@example.com"; helo=mta.example.net; receiver=mx.posthorn.test; identity=mailfrom`},
		{"192.0.2.2", `"a (b)"@example.com`, `fail (mx.posthorn.test: domain of a \(b\)@example.com does not designate 192.0.2.2 as permitted sender) client-ip=192.0.2.2; envelope-from="a (b)@example.com"; helo=mta.example.net; receiver=mx.posthorn.test; identity=mailfrom`},
		{"192.0.2.2", "a@broken.test", `permerror (mx.posthorn.test: SPF policy of broken.test is unusable: record of broken.test, term "ip4:x": "x" is not an IP address \(RFC 7208 section 5.6\)) client-ip=192.0.2.2; envelope-from="a@broken.test"; helo=mta.example.net; problem="record of broken.test, term \"ip4:x\": \"x\" is not an IP address (RFC 7208 section 5.6)"; receiver=mx.posthorn.test; identity=mailfrom`},
		{"192.0.2.2", "", `none (mx.posthorn.test: mta.example.net publishes no SPF record) client-ip=192.0.2.2; helo=mta.example.net; receiver=mx.posthorn.test; identity=helo`},
	} {
		v := verify(t, r, tc.ip, tc.from)
		if got := v.ReceivedSPF(); got != tc.want {
			t.Errorf("Received-SPF:\n got %s\nwant %s", got, tc.want)
		}
	}
}

func TestContextCancelled(t *testing.T) {
	r := dnstest.NewResolver(dnstest.Zone{"example.com": {TXT: []string{"v=spf1 -all"}}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	v, err := Verify(ctx, r, Args{IP: netip.MustParseAddr("192.0.2.1"), MailFrom: from("a@example.com")})
	if err != nil || v.Result != TempError {
		t.Errorf("cancelled: %s, %v", v.Result, err)
	}
}

// End to end: the real resolver and the test DNS server, with a macro
// producing a name with a space.
func TestVerifyOverDNS(t *testing.T) {
	srv := dnstest.Start(t, dnstest.Zone{
		"example.com":                 {TXT: []string{"v=spf1 exists:%{l}._spf.%{d} -all exp=exp.example.com"}},
		"strong bad._spf.example.com": {A: []string{"127.0.0.2"}},
		"exp.example.com":             {TXT: []string{"See https://example.com/spf for %{s}"}},
	}, dnstest.ServerOptions{})
	c, err := dns.New(dns.Options{Servers: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	if v := verify(t, c, "192.0.2.1", `"strong bad"@example.com`); v.Result != Pass {
		t.Errorf("space in local part: %s (%s)", v.Result, v.Problem)
	}
	v := verify(t, c, "192.0.2.1", "other@example.com")
	if v.Result != Fail || v.Explanation != "See https://example.com/spf for other@example.com" {
		t.Errorf("fail: %s, %q", v.Result, v.Explanation)
	}
}
