package spf

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

// TestSyntaxErrorsArePermerror: every record below would pass 192.0.2.1
// if its error were skipped, so an evaluator that stops at the first match
// or ignores what it does not know gives pass. RFC 7208 §4.6: a syntax
// error anywhere in the record is a permerror.
func TestSyntaxErrorsArePermerror(t *testing.T) {
	for _, rec := range []string{
		// Unknown mechanisms and trailing garbage.
		"v=spf1 ip4:192.0.2.1 -all moo",
		"v=spf1 ip4:192.0.2.1 moo -all",
		"v=spf1 ip4:192.0.2.1 -all,",
		"v=spf1 ip4:192.0.2.1 -all.",
		"v=spf1 ip4:192.0.2.1 -all:x",
		"v=spf1 ip4:192.0.2.1 -all/8",
		"v=spf1 ip4:192.0.2.1 redirect:other.test",
		"v=spf1 ip4:192.0.2.1 +-all",
		"v=spf1 ip4:192.0.2.1 include",
		"v=spf1 ip4:192.0.2.1 exists",
		"v=spf1 ip4:192.0.2.1 ip6",
		"v=spf1 ip4:192.0.2.1 ptr/24",
		"v=spf1 ip4:192.0.2.1 a:x.test:8080",
		"v=spf1 ip4:192.0.2.1 ip4:192.0.2.1:25",
		"v=spf1 ip4:192.0.2.1 ip4:192.0.2",
		"v=spf1 ip4:192.0.2.1 ip6::cafe::babe",
		"v=spf1 ip4:192.0.2.1\tmx",
		"v=spf1 ip4:192.0.2.1 a:x.test\r",
		"v=spf1 ip4:192.0.2.1 a:\u00e9.test",
		// Modifier names.
		"v=spf1 ip4:192.0.2.1 1up=foo",
		"v=spf1 ip4:192.0.2.1 =foo",
		"v=spf1 ip4:192.0.2.1 a.b/c=d",
		// Bad macros, in mechanisms and in unknown modifiers.
		"v=spf1 ip4:192.0.2.1 exists:%(i).x.test",
		"v=spf1 ip4:192.0.2.1 exists:x%.test",
		"v=spf1 ip4:192.0.2.1 exists:%{i}%",
		"v=spf1 ip4:192.0.2.1 exists:%{z}.x.test",
		"v=spf1 ip4:192.0.2.1 exists:%{d0}.x.test",
		"v=spf1 ip4:192.0.2.1 exists:%{d2x}.x.test",
		"v=spf1 ip4:192.0.2.1 exists:%{d.x.test",
		"v=spf1 ip4:192.0.2.1 exists:%{}.x.test",
		"v=spf1 ip4:192.0.2.1 exists:%{c}.x.test",
		"v=spf1 ip4:192.0.2.1 exists:%{r}.x.test",
		"v=spf1 ip4:192.0.2.1 exists:%{t}.x.test",
		"v=spf1 ip4:192.0.2.1 foo=%abc",
		// Domain-specs: empty, or not ending in a top label or a macro.
		"v=spf1 ip4:192.0.2.1 a:",
		"v=spf1 ip4:192.0.2.1 mx:",
		"v=spf1 ip4:192.0.2.1 ptr:",
		"v=spf1 ip4:192.0.2.1 include:",
		"v=spf1 ip4:192.0.2.1 exists:",
		"v=spf1 ip4:192.0.2.1 a:museum",
		"v=spf1 ip4:192.0.2.1 a:museum.",
		"v=spf1 ip4:192.0.2.1 a:192.0.2.1",
		"v=spf1 ip4:192.0.2.1 a:x.123",
		"v=spf1 ip4:192.0.2.1 a:x.-com",
		"v=spf1 ip4:192.0.2.1 a:x.com-",
		"v=spf1 ip4:192.0.2.1 include:x.test/24",
		"v=spf1 ip4:192.0.2.1 exists:x.test/24",
		// CIDR lengths.
		"v=spf1 ip4:192.0.2.1 ip4:192.0.2.0/33",
		"v=spf1 ip4:192.0.2.1 ip4:192.0.2.0/024",
		"v=spf1 ip4:192.0.2.1 ip4:192.0.2.0//24",
		"v=spf1 ip4:192.0.2.1 ip4:192.0.2.0/",
		"v=spf1 ip4:192.0.2.1 ip6:2001:db8::/129",
		"v=spf1 ip4:192.0.2.1 ip6:2001:db8::/32/1",
		"v=spf1 ip4:192.0.2.1 ip6:2001:db8::%eth0",
		"v=spf1 ip4:192.0.2.1 ip4:2001:db8::",
		"v=spf1 ip4:192.0.2.1 ip6:192.0.2.1",
		"v=spf1 ip4:192.0.2.1 a/33",
		"v=spf1 ip4:192.0.2.1 a//129",
		"v=spf1 ip4:192.0.2.1 mx/24/64",
		"v=spf1 ip4:192.0.2.1 a/-1",
		// exp= and redirect=: empty, malformed, twice.
		"v=spf1 ip4:192.0.2.1 exp=",
		"v=spf1 ip4:192.0.2.1 redirect=",
		"v=spf1 ip4:192.0.2.1 exp=-all",
		"v=spf1 ip4:192.0.2.1 redirect=x",
		"v=spf1 ip4:192.0.2.1 exp=a.test exp=b.test",
		"v=spf1 ip4:192.0.2.1 EXP=a.test exp=a.test",
		"v=spf1 ip4:192.0.2.1 redirect=a.test redirect=a.test",
		"v=spf1 ip4:192.0.2.1 exp=%{r}.test",
	} {
		r := dnstest.NewResolver(dnstest.Zone{"example.com": {TXT: []string{rec}}})
		v := verify(t, r, "192.0.2.1", "a@example.com")
		if v.Result != PermError || v.Problem == "" {
			t.Errorf("%q: %s (%s), want permerror", rec, v.Result, v.Problem)
		}
	}
}

// TestValidRecords: records that are odd but follow the grammar of RFC
// 7208 §12, with the result for 192.0.2.1.
func TestValidRecords(t *testing.T) {
	for _, tc := range []struct {
		rec  string
		want Result
	}{
		{"v=spf1", Neutral},
		{"V=SPF1 IP4:192.0.2.1 -ALL", Pass},
		{"v=spf1  ip4:192.0.2.1   -all   ", Pass},
		{"v=spf1 moo.cow-far_out=man:dog/cat ip4:192.0.2.1 -all", Pass},
		{"v=spf1 default=+ ?all", Neutral},
		{"v=spf1 -ip4:192.0.2.1 +all", Fail},
		{"v=spf1 ~ip4:192.0.2.0/24 +all", SoftFail},
		{"v=spf1 ?ip4:0.0.0.0/0", Neutral},
		{"v=spf1 ip4:192.0.2.1/32 -all", Pass},
		{"v=spf1 ip6:::ffff:192.0.2.1 ip6:::/0 -all", Fail}, // an IPv4 client matches no ip6 (RFC 7208 §5.6)
		{"v=spf1 a:x.example.com/24 -all", Pass},
		{"v=spf1 a:x.example.com/24//64 -all", Pass},
		{"v=spf1 a:foo:bar/baz.example.com -all", Pass},
		{"v=spf1 a:x.example.xn--zckzah -all", Pass},
		{"v=spf1 a:x.example.com./24 -all", Pass},
		{"v=spf1 a:%{d} -all", Fail},
		{"v=spf1 exists:%{ir}.%{v}.%{d2}.%% -all", Fail},
		{"v=spf1 exists:%{i}._%-%_.example.com -all", Fail},
		{"v=spf1 -all exp=%{d}", Fail},
		{"v=spf1 -all foo=%{c}%{r}%{t}", Fail},
		{"v=spf1 redirect=other.example.com", Pass},
		{"v=spf1 ?all redirect=other.example.com", Neutral}, // all wins over redirect (RFC 7208 §6.1)
		// A target that cannot exist: no match for a, none (so permerror)
		// for include and redirect (RFC 7208 §4.3, §5.2, §6.1).
		{"v=spf1 a:%{l}" + strings.Repeat("x", 63) + ".example.com ip4:192.0.2.1", Pass},
		{"v=spf1 include:%{l}" + strings.Repeat("x", 63) + ".example.com ip4:192.0.2.1", PermError},
		{"v=spf1 redirect=%{l}" + strings.Repeat("x", 63) + ".example.com", PermError},
	} {
		r := dnstest.NewResolver(dnstest.Zone{
			"example.com":               {TXT: []string{tc.rec}},
			"other.example.com":         {TXT: []string{"v=spf1 ip4:192.0.2.1 -all"}},
			"x.example.com":             {A: []string{"192.0.2.200"}},
			"x.example.xn--zckzah":      {A: []string{"192.0.2.1"}},
			"foo:bar/baz.example.com":   {A: []string{"192.0.2.1"}},
			"1.2.0.192.in-addr.example": {A: []string{"127.0.0.2"}},
		})
		v := verify(t, r, "192.0.2.1", "a@example.com")
		if v.Result != tc.want {
			t.Errorf("%q: %s (%s), want %s", tc.rec, v.Result, v.Problem, tc.want)
		}
	}
}

// TestPMacro: %{p} is a validated name of the client (RFC 7208 §7.3), one
// under the domain when there is one, "unknown" when none validates.
func TestPMacro(t *testing.T) {
	z := dnstest.Zone{
		"example.com":                   {TXT: []string{"v=spf1 exists:%{p}.ok.example.com -all exp=why.example.com"}},
		"why.example.com":               {TXT: []string{"connect from %{p}"}},
		"mx.example.com.ok.example.com": {A: []string{"127.0.0.2"}},
		"mx.example.com":                {A: []string{"192.0.2.1", "192.0.2.3"}},
		"mx.example.net":                {A: []string{"192.0.2.3"}},
		"liar.example.org":              {A: []string{"198.51.100.1"}},
		dnstest.ReverseName(netip.MustParseAddr("192.0.2.1")): {PTR: []string{"liar.example.org.", "mx.example.com."}},
		dnstest.ReverseName(netip.MustParseAddr("192.0.2.2")): {PTR: []string{"liar.example.org."}},
		dnstest.ReverseName(netip.MustParseAddr("192.0.2.3")): {PTR: []string{"mx.example.net.", "mx.example.com."}},
	}
	for _, tc := range []struct {
		ip, want, explanation string
	}{
		{"192.0.2.1", "pass", ""},
		{"192.0.2.2", "fail", "connect from unknown"},
		// Both names validate; the one under example.com is preferred.
		{"192.0.2.3", "pass", ""},
		{"192.0.2.4", "fail", "connect from unknown"},
	} {
		v := verify(t, dnstest.NewResolver(z), tc.ip, "a@example.com")
		if string(v.Result) != tc.want || v.Explanation != tc.explanation {
			t.Errorf("%s: %s %q (%s), want %s %q", tc.ip, v.Result, v.Explanation, v.Problem, tc.want, tc.explanation)
		}
	}
}

// TestMailFromText: RFC 7208 §4.3 for a MAIL FROM given as text.
func TestMailFromText(t *testing.T) {
	r := dnstest.NewResolver(dnstest.Zone{
		"example.com":              {TXT: []string{"v=spf1 exists:%{l}.u.example.com -all"}},
		"postmaster.u.example.com": {A: []string{"127.0.0.2"}},
		"a b.u.example.com":        {A: []string{"127.0.0.2"}},
	})
	for _, tc := range []struct {
		from   string
		want   Result
		sender string
	}{
		{"@example.com", Pass, "postmaster@example.com"},
		{"<@example.com>", Pass, "postmaster@example.com"},
		{"a b@example.com", Pass, "a b@example.com"},
		{"c@example.com", Fail, "c@example.com"},
		{"x@[192.0.2.1]", None, "x@[192.0.2.1]"},
		{"x@example..com", None, "x@example..com"},
		{"x@" + strings.Repeat("a", 64) + ".example.com", None, ""},
		{"x@com", None, "x@com"},
		{"example.com", Pass, "postmaster@example.com"},
	} {
		v, err := Verify(t.Context(), r, Args{IP: netip.MustParseAddr("192.0.2.1"), HELO: "h.example", MailFromText: tc.from})
		if err != nil {
			t.Fatal(err)
		}
		if v.Result != tc.want || v.Identity != MailFrom || (tc.sender != "" && v.Sender != tc.sender) {
			t.Errorf("%q: %s %s %q (%s), want %s %q", tc.from, v.Identity, v.Result, v.Sender, v.Reason, tc.want, tc.sender)
		}
	}
}

// TestPMacroCountsAsTerm: the PTR query of %{p} is one of the 10
// DNS-querying terms (RFC 7208 §4.6.4), once per check.
func TestPMacroCountsAsTerm(t *testing.T) {
	nine := strings.Repeat("a ", 9)
	for _, tc := range []struct {
		rec  string
		want Result
	}{
		{"v=spf1 " + nine + "exists:x.example.com ip4:192.0.2.1", Pass},
		{"v=spf1 " + nine + "exists:%{p}.example.com ip4:192.0.2.1", PermError},
		{"v=spf1 " + strings.Repeat("a ", 7) + "exists:%{p}.example.com exists:%{p}.example.com ip4:192.0.2.1", Pass},
	} {
		r := dnstest.NewResolver(dnstest.Zone{
			"example.com":   {TXT: []string{tc.rec}, A: []string{"192.0.2.9"}},
			"x.example.com": {A: []string{"192.0.2.9"}},
		})
		v := verify(t, r, "192.0.2.1", "a@example.com")
		if v.Result != tc.want {
			t.Errorf("%q: %s (%s), want %s", tc.rec, v.Result, v.Problem, tc.want)
		}
	}
}
