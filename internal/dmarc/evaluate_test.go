package dmarc

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dkim"
	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func d(s string) addr.Domain { return addr.MustParseDomain(s) }

func sig(domain string, st dkim.Status) dkim.Result {
	return dkim.Result{Status: st, Domain: d(domain), Selector: "s", Explanation: "test"}
}

// zone builds a dnstest zone of DMARC records: name → TXT, where name is
// the policy domain; extra names (A records) make domains exist.
func zone(records map[string]string, exist ...string) dnstest.Zone {
	z := dnstest.Zone{}
	for name, txt := range records {
		z["_dmarc."+name] = dnstest.Records{TXT: []string{txt}}
	}
	for _, n := range exist {
		z[n] = dnstest.Records{A: []string{"192.0.2.1"}}
	}
	return z
}

type evalCase struct {
	name    string
	zone    dnstest.Zone
	in      Input
	result  Result
	disp    Disposition
	reason  string // substring of the reason
	lookups int    // maximum DNS lookups; 0: not checked
}

func evalCases() []evalCase {
	base := map[string]string{"example.com": "v=DMARC1; p=reject; rua=mailto:dmarc@example.com"}
	strict := map[string]string{"example.com": "v=DMARC1; p=reject; adkim=s; aspf=s"}
	return []evalCase{
		{name: "aligned DKIM, exact", zone: zone(base),
			in:     Input{From: []addr.Domain{d("example.com")}, DKIM: []dkim.Result{sig("example.com", dkim.StatusPass)}},
			result: ResultPass, disp: DispositionNone, reason: "DKIM signature by example.com passed, aligned", lookups: 1},
		{name: "aligned SPF, relaxed subdomain", zone: zone(base),
			in:     Input{From: []addr.Domain{d("example.com")}, SPF: "pass", SPFDomain: d("bounces.example.com")},
			result: ResultPass, reason: "SPF passed for bounces.example.com, aligned (relaxed)"},
		{name: "relaxed DKIM of parent for subdomain From", zone: zone(base, "news.example.com"),
			in:     Input{From: []addr.Domain{d("news.example.com")}, DKIM: []dkim.Result{sig("example.com", dkim.StatusPass)}},
			result: ResultPass},
		{name: "not aligned: the brief's example", zone: zone(base),
			in: Input{From: []addr.Domain{d("example.com")}, SPF: "pass", SPFDomain: d("bounces.other.com"),
				DKIM: []dkim.Result{sig("other.com", dkim.StatusPass)}},
			result: ResultFail, disp: DispositionReject,
			reason: "From domain example.com requires aligned SPF or DKIM (p=reject at _dmarc.example.com, adkim=r aspf=r); SPF passed for bounces.other.com which is not aligned (relaxed); DKIM passed for other.com which is not aligned (relaxed); no DKIM signature from example.com"},
		{name: "strict SPF rejects subdomain", zone: zone(strict),
			in:     Input{From: []addr.Domain{d("example.com")}, SPF: "pass", SPFDomain: d("bounces.example.com")},
			result: ResultFail, disp: DispositionReject, reason: "not aligned (strict)", lookups: 1},
		{name: "strict DKIM exact passes", zone: zone(strict),
			in:     Input{From: []addr.Domain{d("example.com")}, DKIM: []dkim.Result{sig("example.com", dkim.StatusPass)}},
			result: ResultPass},
		{name: "failed aligned DKIM", zone: zone(base),
			in:     Input{From: []addr.Domain{d("example.com")}, SPF: "softfail", SPFDomain: d("example.com"), DKIM: []dkim.Result{sig("example.com", dkim.StatusFail)}},
			result: ResultFail, disp: DispositionReject, reason: "SPF result for example.com is softfail; DKIM signature by example.com is fail: test"},
		{name: "look-alike domain is not aligned", zone: zone(base),
			in:     Input{From: []addr.Domain{d("example.com")}, DKIM: []dkim.Result{sig("notexample.com", dkim.StatusPass)}},
			result: ResultFail, disp: DispositionReject},
		{name: "no policy", zone: zone(nil),
			in:     Input{From: []addr.Domain{d("example.org")}, SPF: "fail", SPFDomain: d("example.org")},
			result: ResultNone, disp: DispositionNone, reason: "publishes no DMARC policy", lookups: 2},
		{name: "quarantine", zone: zone(map[string]string{"example.com": "v=DMARC1; p=quarantine"}),
			in:     Input{From: []addr.Domain{d("example.com")}},
			result: ResultFail, disp: DispositionQuarantine, reason: "no SPF result; no DKIM signature from example.com"},
		{name: "sp for existing subdomain", zone: zone(map[string]string{"example.com": "v=DMARC1; p=none; sp=reject; np=quarantine"}, "shop.example.com"),
			in:     Input{From: []addr.Domain{d("shop.example.com")}},
			result: ResultFail, disp: DispositionReject, reason: "sp=reject at _dmarc.example.com"},
		{name: "np for non-existent subdomain", zone: zone(map[string]string{"example.com": "v=DMARC1; p=none; sp=quarantine; np=reject"}),
			in:     Input{From: []addr.Domain{d("ghost.example.com")}},
			result: ResultFail, disp: DispositionReject, reason: "np=reject at _dmarc.example.com, adkim=r aspf=r, and the From domain does not exist"},
		{name: "sp without np for non-existent subdomain", zone: zone(map[string]string{"example.com": "v=DMARC1; p=none; sp=quarantine"}),
			in:     Input{From: []addr.Domain{d("ghost.example.com")}},
			result: ResultFail, disp: DispositionQuarantine},
		{name: "p for the domain itself ignores sp", zone: zone(map[string]string{"example.com": "v=DMARC1; p=none; sp=reject"}),
			in:     Input{From: []addr.Domain{d("example.com")}},
			result: ResultFail, disp: DispositionNone},
		{name: "subdomain's own record", zone: zone(map[string]string{"example.com": "v=DMARC1; p=none", "mail.example.com": "v=DMARC1; p=reject"}),
			in:     Input{From: []addr.Domain{d("mail.example.com")}, DKIM: []dkim.Result{sig("example.com", dkim.StatusPass)}},
			result: ResultPass, reason: "aligned (relaxed)"},
		{name: "testing t=y", zone: zone(map[string]string{"example.com": "v=DMARC1; p=reject; t=y"}),
			in:     Input{From: []addr.Domain{d("example.com")}},
			result: ResultFail, disp: DispositionNone, reason: "test mode"},
		{name: "pct=50 applies to every message (DMARCbis)", zone: zone(map[string]string{"example.com": "v=DMARC1; p=reject; pct=50"}),
			in:     Input{From: []addr.Domain{d("example.com")}},
			result: ResultFail, disp: DispositionReject},
		{name: "pct=0 is testing", zone: zone(map[string]string{"example.com": "v=DMARC1; p=reject; pct=0"}),
			in:     Input{From: []addr.Domain{d("example.com")}},
			result: ResultFail, disp: DispositionNone, reason: "test mode"},
		// RFC 7489 §6.6.1: every author domain is evaluated and the
		// strictest result applies, so adding an address of a domain
		// without a policy cannot skip example.com's p=reject.
		{name: "multiple From domains: the policy of each applies", zone: zone(base),
			in:     Input{From: []addr.Domain{d("evil.example"), d("example.com")}},
			result: ResultFail, disp: DispositionReject,
			reason: "the From field names 2 domains (evil.example, example.com), each evaluated, the strictest result applies (RFC 7489 section 6.6.1): From domain example.com requires aligned SPF or DKIM"},
		{name: "multiple From domains: a pass does not cover another domain", zone: zone(base),
			in:     Input{From: []addr.Domain{d("example.com"), d("evil.example")}, DKIM: []dkim.Result{sig("evil.example", dkim.StatusPass)}},
			result: ResultFail, disp: DispositionReject, reason: "other author domains: evil.example: none"},
		{name: "multiple From domains: reject beats quarantine", zone: zone(map[string]string{"example.com": "v=DMARC1; p=reject", "example.net": "v=DMARC1; p=quarantine"}),
			in:     Input{From: []addr.Domain{d("example.net"), d("example.com")}},
			result: ResultFail, disp: DispositionReject, reason: "example.net: fail"},
		{name: "multiple From domains: a possible reject beats quarantine", zone: dnstest.Zone{"_dmarc.example.com": {ServFail: true}, "_dmarc.example.net": {TXT: []string{"v=DMARC1; p=quarantine"}}},
			in:     Input{From: []addr.Domain{d("example.net"), d("example.com")}},
			result: ResultTempError, reason: "example.net: fail"},
		{name: "multiple From domains: all pass", zone: zone(map[string]string{"example.com": "v=DMARC1; p=reject", "example.net": "v=DMARC1; p=reject"}),
			in: Input{From: []addr.Domain{d("example.net"), d("example.com")},
				DKIM: []dkim.Result{sig("example.com", dkim.StatusPass), sig("example.net", dkim.StatusPass)}},
			result: ResultPass, reason: "example.com: pass"},
		{name: "too many From domains", zone: zone(base),
			in:     Input{From: []addr.Domain{d("a.example"), d("b.example"), d("c.example"), d("d.example"), d("e.example"), d("example.com")}},
			result: ResultPermError, reason: "names 6 domains", lookups: -1},
		{name: "an empty From domain", zone: zone(base),
			in:     Input{From: []addr.Domain{d("example.com"), {}}},
			result: ResultPermError, reason: "no valid domain", lookups: -1},
		{name: "two From addresses, one domain", zone: zone(base),
			in:     Input{From: []addr.Domain{d("example.com"), d("example.com")}, DKIM: []dkim.Result{sig("example.com", dkim.StatusPass)}},
			result: ResultPass},
		{name: "no From", zone: zone(base), in: Input{}, result: ResultPermError, lookups: -1},
		{name: "invalid record", zone: zone(map[string]string{"example.com": "v=DMARC1; p=bogus"}),
			in:     Input{From: []addr.Domain{d("example.com")}},
			result: ResultPermError, disp: DispositionNone, reason: "invalid"},
		{name: "two records count as none", zone: dnstest.Zone{"_dmarc.example.com": {TXT: []string{"v=DMARC1; p=reject", "v=DMARC1; p=none"}}},
			in:     Input{From: []addr.Domain{d("example.com")}},
			result: ResultPermError},
		{name: "non-DMARC TXT ignored", zone: dnstest.Zone{"_dmarc.example.com": {TXT: []string{"hello", "v=DMARC1; p=reject"}}},
			in:     Input{From: []addr.Domain{d("example.com")}},
			result: ResultFail, disp: DispositionReject},
		{name: "policy lookup fails", zone: dnstest.Zone{"_dmarc.example.com": {ServFail: true}},
			in:     Input{From: []addr.Domain{d("example.com")}},
			result: ResultTempError, disp: DispositionNone, reason: "DNS lookup of _dmarc.example.com failed"},
		{name: "aligned DKIM temperror", zone: zone(base),
			in:     Input{From: []addr.Domain{d("example.com")}, DKIM: []dkim.Result{sig("example.com", dkim.StatusTempError)}},
			result: ResultTempError, disp: DispositionNone},
		{name: "aligned SPF temperror", zone: zone(base),
			in:     Input{From: []addr.Domain{d("example.com")}, SPF: "temperror", SPFDomain: d("example.com")},
			result: ResultTempError},
		{name: "unaligned temperror does not matter", zone: zone(base),
			in:     Input{From: []addr.Domain{d("example.com")}, DKIM: []dkim.Result{sig("other.net", dkim.StatusTempError)}},
			result: ResultFail, disp: DispositionReject},
		// DMARCbis Appendix B.4.1: records at example.com and signing.example.com.
		{name: "B.4.1 relaxed across two records", zone: zone(map[string]string{"example.com": "v=DMARC1; p=reject", "signing.example.com": "v=DMARC1; p=reject"}),
			in:     Input{From: []addr.Domain{d("example.com")}, DKIM: []dkim.Result{sig("signing.example.com", dkim.StatusPass)}},
			result: ResultPass, lookups: 3},
		// DMARCbis Appendix B.4.2 with N=8: a long From domain jumps to 7 labels.
		{name: "B.4.2 deep tree walk", zone: zone(map[string]string{"example.com": "v=DMARC1; p=reject"}),
			in:     Input{From: []addr.Domain{d("a.b.c.d.e.f.g.h.i.j.k.example.com")}, SPF: "pass", SPFDomain: d("example.com")},
			result: ResultPass, lookups: 8},
		// DMARCbis Appendix B.4.3: a PSD record with psd=y.
		{name: "B.4.3 PSD policy for a subdomain", zone: zone(map[string]string{"example": "v=DMARC1; p=none; sp=quarantine; np=reject; psd=y"}, "mail.company.example"),
			in:     Input{From: []addr.Domain{d("mail.company.example")}},
			result: ResultFail, disp: DispositionQuarantine, reason: "_dmarc.example"},
		{name: "PSD org domain decides alignment", zone: zone(map[string]string{"example": "v=DMARC1; p=reject; psd=y"}, "mail.company.example"),
			in: Input{From: []addr.Domain{d("mail.company.example")},
				DKIM: []dkim.Result{sig("company.example", dkim.StatusPass), sig("other.example", dkim.StatusPass)}},
			result: ResultPass, reason: "DKIM signature by company.example passed"},
		{name: "PSD: sibling under the suffix is not aligned", zone: zone(map[string]string{"example": "v=DMARC1; p=reject; psd=y"}, "company.example"),
			in:     Input{From: []addr.Domain{d("company.example")}, DKIM: []dkim.Result{sig("other.example", dkim.StatusPass)}},
			result: ResultFail},
		{name: "psd=n makes its own organisational domain", zone: zone(map[string]string{"example.com": "v=DMARC1; p=reject", "dept.example.com": "v=DMARC1; p=reject; psd=n"}),
			in:     Input{From: []addr.Domain{d("dept.example.com")}, DKIM: []dkim.Result{sig("example.com", dkim.StatusPass)}},
			result: ResultFail, disp: DispositionReject},
		{name: "walk failure falls back to the public suffix list", zone: dnstest.Zone{"_dmarc.example.com": {TXT: []string{"v=DMARC1; p=reject"}}, "_dmarc.com": {ServFail: true}},
			in:     Input{From: []addr.Domain{d("example.com")}, DKIM: []dkim.Result{sig("mail.example.com", dkim.StatusPass)}},
			result: ResultPass},
		{name: "walk failure note in a failing reason", zone: dnstest.Zone{"_dmarc.example.com": {TXT: []string{"v=DMARC1; p=reject"}}, "_dmarc.com": {ServFail: true}},
			in:     Input{From: []addr.Domain{d("example.com")}, DKIM: []dkim.Result{sig("mail.example.com", dkim.StatusFail)}},
			result: ResultFail, disp: DispositionReject, reason: "public suffix list"},
	}
}

func TestEvaluate(t *testing.T) {
	for _, c := range evalCases() {
		t.Run(c.name, func(t *testing.T) {
			res := dnstest.NewResolver(c.zone)
			v := (&Evaluator{Resolver: res}).Evaluate(context.Background(), c.in)
			if v.Result != c.result || c.disp != "" && v.Disposition != c.disp {
				t.Errorf("got %s/%s, want %s/%s: %s", v.Result, v.Disposition, c.result, c.disp, v.Reason)
			}
			if full := strings.Join(append([]string{v.Reason}, v.Notes...), "; "); !strings.Contains(full, c.reason) {
				t.Errorf("reason and notes %q lack %q", full, c.reason)
			}
			if v.Reason == "" {
				t.Error("no reason")
			}
			switch {
			case c.lookups < 0 && res.Total() != 0:
				t.Errorf("%d lookups, want none", res.Total())
			case c.lookups > 0 && res.Total() > c.lookups:
				t.Errorf("%d lookups, want at most %d: %v", res.Total(), c.lookups, res.Log())
			}
		})
	}
}

// TestEvaluateGolden writes every case's full verdict (result, disposition,
// policy domain, reason, report record, notes) to testdata/evaluate.golden.
func TestEvaluateGolden(t *testing.T) {
	var b strings.Builder
	for _, c := range evalCases() {
		c.in.SourceIP = netip.MustParseAddr("192.0.2.25")
		v := (&Evaluator{Resolver: dnstest.NewResolver(c.zone)}).Evaluate(context.Background(), c.in)
		fmt.Fprintf(&b, "%s:\n  %s disposition=%s requested=%s testing=%v policy-domain=%s spf-aligned=%v dkim-aligned=%v\n  reason: %s\n  record: %+v\n",
			c.name, v.Result, v.Disposition, v.Requested, v.Testing, v.PolicyDomain.ASCII, v.SPFAligned, v.DKIMAligned, v.Reason, v.Record)
		for _, n := range v.Notes {
			fmt.Fprintf(&b, "  note: %s\n", n)
		}
	}
	path := filepath.Join("testdata", "evaluate.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if b.String() != string(want) {
		t.Errorf("evaluate.golden differs; run go test -update and review the diff:\n%s", b.String())
	}
}

// TestLookupBudget: a message with many long identifiers cannot make an
// evaluation exceed its DNS budget.
func TestLookupBudget(t *testing.T) {
	res := dnstest.NewResolver(zone(map[string]string{"example.com": "v=DMARC1; p=reject"}))
	in := Input{From: []addr.Domain{d("a.b.c.d.e.f.g.h.i.j.example.com")}}
	for i := range 20 {
		in.DKIM = append(in.DKIM, sig(fmt.Sprintf("x%d.y%d.z%d.w%d.v.u.t.s.example.com", i, i, i, i), dkim.StatusPass))
	}
	v := (&Evaluator{Resolver: res}).Evaluate(context.Background(), in)
	if res.Total() > DefaultMaxLookups {
		t.Errorf("%d lookups", res.Total())
	}
	if v.Result != ResultPass { // relaxed alignment still holds via the public suffix list
		t.Errorf("%s: %s", v.Result, v.Reason)
	}
}

func TestEvaluateCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	v := (&Evaluator{Resolver: dnstest.NewResolver(zone(nil))}).Evaluate(ctx, Input{From: []addr.Domain{d("example.com")}})
	if v.Result != ResultTempError {
		t.Errorf("%s: %s", v.Result, v.Reason)
	}
}

func TestParentTarget(t *testing.T) {
	for in, want := range map[string]string{
		"a.b.c.d.e.f.g.h.i.j.k.example.com": "g.h.i.j.k.example.com",
		"b.c.d.e.f.g.example.com":           "c.d.e.f.g.example.com",
		"example.com":                       "com",
		"com":                               "",
	} {
		if got := parentTarget(in); got != want {
			t.Errorf("parentTarget(%s) = %s, want %s", in, got, want)
		}
	}
	if n := strings.Count(parentTarget("a.b.c.d.e.f.g.h.i.j.k.example.com"), ".") + 1; n != MaxLabels-1 {
		t.Errorf("jump to %d labels", n)
	}
}

var _ dns.Resolver = (*dnstest.Resolver)(nil)

// TestEndToEnd: a message signed by posthorn's dkim.Sign, verified by
// dkim.Verifier and evaluated here, over one zone; then tampered with.
func TestEndToEnd(t *testing.T) {
	pemBytes, err := dkim.GenerateKey(dkim.AlgEd25519)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := dkim.ParseKey(pemBytes)
	rec, _ := dkim.Record(pemBytes)
	z := zone(map[string]string{"example.com": "v=DMARC1; p=reject"})
	z["sel._domainkey.mail.example.com"] = dnstest.Records{TXT: []string{rec}}
	res := dnstest.NewResolver(z)

	msg := "From: a@example.com\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nhello\r\n"
	sigs, err := dkim.Sign(strings.NewReader(msg), signTimeForTest, dkim.Signer{Domain: d("mail.example.com"), Selector: "sel", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, msg string
		want      Result
	}{
		{"signed", sigs + msg, ResultPass},
		{"tampered", sigs + strings.Replace(msg, "hello", "pay me", 1), ResultFail},
	} {
		results, err := (&dkim.Verifier{Resolver: res}).Verify(context.Background(), strings.NewReader(c.msg))
		if err != nil {
			t.Fatal(err)
		}
		v := (&Evaluator{Resolver: res}).Evaluate(context.Background(), Input{
			From: []addr.Domain{d("example.com")}, SPF: "fail", SPFDomain: d("example.net"), DKIM: results,
		})
		if v.Result != c.want {
			t.Errorf("%s: %s: %s", c.name, v.Result, v.Reason)
		}
	}
}

var signTimeForTest = time.Date(2026, 6, 5, 10, 0, 0, 0, time.UTC)
