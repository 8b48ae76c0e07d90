package dmarc

// Differential tests against independent DMARC implementations: Debian's
// Mail::DMARC (libmail-dmarc-perl 1.20211209, Mail::DMARC::PurePerl with a
// Net::DNS resolver pointed at a dnstest.Server on loopback) and npm mailauth
// 4.13.3 (its dmarc() with a resolver answering from the same zone). All
// three get the same authentication results (SPF result and domain, DKIM
// results) and are compared on the DMARC result and the disposition applied.
//
// Both tools implement RFC 7489; posthorn implements DMARCbis. Where that
// legitimately changes the verdict, the case asserts posthorn's behaviour
// and records what each tool says:
//
//   - Policy discovery: both look at the From domain's own record, then at
//     the organisational domain's. RFC 7489 takes the organisational domain
//     from the public-suffix list; DMARCbis from the DNS tree walk, where it
//     is the name with the fewest labels holding a record (psd= aside). So
//     a record at sub.example-walk.com, with none at example-walk.com, is
//     the policy for x.sub.example-walk.com in posthorn and ignored by the
//     tools ("tree walk finds a nearer record"); when example-sub.com has a
//     record too, all three apply that one.
//   - np= (RFC 9091, DMARCbis): the policy for non-existent subdomains.
//     Neither tool reads it; they apply sp= or p= ("np").
//   - pct=: DMARCbis drops it; posthorn reads pct=0 as t=y (test mode, no
//     action). Mail::DMARC samples, and with pct=0 downgrades reject to
//     quarantine; mailauth ignores pct ("pct=0").
//   - An invalid p= without rua: RFC 7489 §6.6.3 says take no action;
//     posthorn reports permerror (none applied). Mail::DMARC reports "fail"
//     with disposition none and mailauth evaluates alignment anyway
//     ("bad p").
//
// And one mailauth bug: in 4.13.3 strict alignment (adkim=s, aspf=s) is
// relaxed alignment, because getAlignment compares the organisational
// domain of the authenticated domain with the From domain and then falls
// through to the relaxed comparison (lib/tools.js) ("strict").

import (
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dkim"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

// toolZone: example.com-style names, since Mail::DMARC finds organisational
// domains with the public-suffix list (it refuses .test); every From domain
// or its organisational domain has an address, as Mail::DMARC checks that
// the domain exists before anything else (RFC 7489 §9.6).
const toolZone = `
example.com.              A   192.0.2.1
_dmarc.example.com.       TXT "v=DMARC1; p=reject"
x.example.com.            A   192.0.2.1
example.net.              A   192.0.2.1
_dmarc.example.net.       TXT "v=DMARC1; p=quarantine; adkim=s; aspf=s"
mail.example.net.         A   192.0.2.1
example.org.              A   192.0.2.1
_dmarc.example.org.       TXT "v=DMARC1; p=reject; sp=none"
mail.example.org.         A   192.0.2.1
example-none.com.         A   192.0.2.1
_dmarc.example-none.com.  TXT "v=DMARC1; p=none"
example-norecord.com.     A   192.0.2.1
example-np.com.           A   192.0.2.1
_dmarc.example-np.com.    TXT "v=DMARC1; p=quarantine; np=reject"
www.example-np.com.       A   192.0.2.1
example-sub.com.          A   192.0.2.1
_dmarc.example-sub.com.   TXT "v=DMARC1; p=none"
_dmarc.sub.example-sub.com. TXT "v=DMARC1; p=reject"
x.sub.example-sub.com.    A   192.0.2.1
example-walk.com.         A   192.0.2.1
_dmarc.sub.example-walk.com. TXT "v=DMARC1; p=reject"
x.sub.example-walk.com.   A   192.0.2.1
example.co.uk.            A   192.0.2.1
_dmarc.example.co.uk.     TXT "v=DMARC1; p=reject"
mail.example.co.uk.       A   192.0.2.1
other.co.uk.              A   192.0.2.1
example-bad.com.          A   192.0.2.1
_dmarc.example-bad.com.   TXT "v=DMARC1; p=bogus"
example-pct.com.          A   192.0.2.1
_dmarc.example-pct.com.   TXT "v=DMARC1; p=reject; pct=0"
example-sp.com.           A   192.0.2.1
_dmarc.example-sp.com.    TXT "v=DMARC1; p=none; sp=quarantine"
a.example-sp.com.         A   192.0.2.1
`

// verdict is a DMARC result and the disposition applied.
type verdict struct{ Result, Disposition string }

func (v verdict) String() string { return v.Result + "/" + v.Disposition }

type toolCase struct {
	name     string
	from     string   // RFC5322.From domain
	spf      string   // SPF result for spfDomain
	spfDom   string   // MAIL FROM domain
	dkim     []string // "domain:result" per signature
	want     verdict  // posthorn
	perlDiff verdict  // Mail::DMARC, when it differs (documented above)
	nodeDiff verdict  // mailauth, when it differs
}

var (
	pass   = verdict{"pass", "none"}
	none   = verdict{"none", "none"}
	failN  = verdict{"fail", "none"}
	failQ  = verdict{"fail", "quarantine"}
	failR  = verdict{"fail", "reject"}
	permN  = verdict{"permerror", "none"}
	noDiff verdict
)

var toolCases = []toolCase{
	{"SPF aligned, relaxed", "example.com", "pass", "mail.example.com", nil, pass, noDiff, noDiff},
	{"DKIM aligned, relaxed", "example.com", "fail", "example.org", []string{"sub.example.com:pass"}, pass, noDiff, noDiff},
	{"both unaligned, p=reject", "example.com", "pass", "example.org", []string{"example.org:pass"}, failR, noDiff, noDiff},
	{"aligned DKIM fails", "example.com", "none", "example.com", []string{"example.com:fail"}, failR, noDiff, noDiff},
	{"aligned SPF softfail", "example.com", "softfail", "example.com", nil, failR, noDiff, noDiff},
	{"DKIM pass besides a failure", "example.com", "fail", "example.com", []string{"example.org:pass", "example.com:pass"}, pass, noDiff, noDiff},
	{"subdomain, no sp: p applies", "x.example.com", "none", "x.example.com", nil, failR, noDiff, noDiff},
	{"strict SPF, subdomain", "example.net", "pass", "mail.example.net", nil, failQ, noDiff, pass},
	{"strict SPF, exact", "example.net", "pass", "example.net", nil, pass, noDiff, noDiff},
	{"strict DKIM, subdomain", "example.net", "none", "example.org", []string{"mail.example.net:pass"}, failQ, noDiff, pass},
	{"strict DKIM, exact", "example.net", "none", "example.org", []string{"example.net:pass"}, pass, noDiff, noDiff},
	{"strict DKIM, From subdomain", "mail.example.net", "none", "example.org", []string{"example.net:pass"}, failQ, noDiff, pass},
	{"sp=none for a subdomain", "mail.example.org", "fail", "example.org", nil, failN, noDiff, noDiff},
	{"p=reject at the org domain", "example.org", "fail", "example.org", nil, failR, noDiff, noDiff},
	{"sp=quarantine, p=none", "a.example-sp.com", "fail", "a.example-sp.com", nil, failQ, noDiff, noDiff},
	{"p=none", "example-none.com", "fail", "example-none.com", nil, failN, noDiff, noDiff},
	{"no record", "example-norecord.com", "pass", "example-norecord.com", nil, none, noDiff, noDiff},
	{"public suffix co.uk, aligned", "mail.example.co.uk", "none", "other.co.uk", []string{"example.co.uk:pass"}, pass, noDiff, noDiff},
	{"public suffix co.uk, unaligned", "example.co.uk", "pass", "other.co.uk", []string{"other.co.uk:pass"}, failR, noDiff, noDiff},
	{"np: non-existent subdomain", "nx.example-np.com", "none", "nx.example-np.com", nil, failR, failQ, failQ},
	{"np: existing subdomain", "www.example-np.com", "none", "www.example-np.com", nil, failQ, noDiff, noDiff},
	{"org record wins over a nearer one", "x.sub.example-sub.com", "none", "x.sub.example-sub.com", nil, failN, noDiff, noDiff},
	{"tree walk finds a nearer record", "x.sub.example-walk.com", "none", "x.sub.example-walk.com", nil, failR, none, none},
	{"tree walk, aligned via org", "x.sub.example-sub.com", "pass", "example-sub.com", nil, pass, noDiff, noDiff},
	{"bad p", "example-bad.com", "none", "example-bad.com", nil, permN, failN, failN},
	{"pct=0", "example-pct.com", "none", "example-pct.com", nil, failN, failQ, failR},
}

// toolInput is one case as the scripts read it.
type toolInput struct {
	From   string `json:"from"`
	SPF    string `json:"spf"`
	SPFDom string `json:"spfDomain"`
	DKIM   []struct {
		Domain string `json:"domain"`
		Result string `json:"result"`
	} `json:"dkim"`
}

func toolInputs(t *testing.T) string {
	t.Helper()
	var in []toolInput
	for _, c := range toolCases {
		ti := toolInput{From: c.from, SPF: c.spf, SPFDom: c.spfDom}
		for _, s := range c.dkim {
			dom, res, _ := strings.Cut(s, ":")
			ti.DKIM = append(ti.DKIM, struct {
				Domain string `json:"domain"`
				Result string `json:"result"`
			}{dom, res})
		}
		in = append(in, ti)
	}
	j, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return string(j)
}

func toolDNS(t *testing.T) dnstest.Zone {
	t.Helper()
	z, err := dnstest.ParseZone(strings.NewReader(toolZone), ".")
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func posthornVerdicts(t *testing.T) []verdict {
	t.Helper()
	e := &Evaluator{Resolver: dnstest.NewResolver(toolDNS(t))}
	var out []verdict
	for _, c := range toolCases {
		in := Input{
			From:         []addr.Domain{addr.MustParseDomain(c.from)},
			SPF:          SPFResult(c.spf),
			SPFDomain:    addr.MustParseDomain(c.spfDom),
			SourceIP:     netip.MustParseAddr("192.0.2.1"),
			EnvelopeFrom: addr.MustParseDomain(c.spfDom),
		}
		for _, s := range c.dkim {
			dom, res, _ := strings.Cut(s, ":")
			in.DKIM = append(in.DKIM, dkim.Result{Status: dkim.Status(res), Domain: addr.MustParseDomain(dom), Selector: "s"})
		}
		v := e.Evaluate(t.Context(), in)
		out = append(out, verdict{string(v.Result), string(v.Disposition)})
	}
	return out
}

func compareVerdicts(t *testing.T, tool string, got []verdict, diff func(toolCase) verdict) {
	t.Helper()
	posthorn := posthornVerdicts(t)
	if len(got) != len(toolCases) {
		t.Fatalf("%s gave %d verdicts for %d cases", tool, len(got), len(toolCases))
	}
	for i, c := range toolCases {
		want := c.want
		note := ""
		if d := diff(c); d != noDiff {
			want, note = d, " (documented difference)"
		}
		t.Logf("%-34s posthorn=%-20s %s=%s%s", c.name, posthorn[i], tool, got[i], note)
		if posthorn[i] != c.want {
			t.Errorf("%s: posthorn says %s, want %s", c.name, posthorn[i], c.want)
		}
		if got[i] != want {
			t.Errorf("%s: %s says %s, want %s", c.name, tool, got[i], want)
		}
	}
}

// mailDMARCScript evaluates the cases on stdin with Mail::DMARC::PurePerl,
// resolving through the DNS server at 127.0.0.1:ARGV[0].
const mailDMARCScript = `
use strict; use warnings;
use JSON::PP; use Net::DNS::Resolver; use Mail::DMARC::PurePerl;
my $res = Net::DNS::Resolver->new(nameservers => ['127.0.0.1'], port => $ARGV[0],
    recurse => 1, dnsrch => 0, defnames => 0, udp_timeout => 2, tcp_timeout => 2, retry => 1);
my $cases = decode_json(do { local $/; <STDIN> });
my @out;
for my $c (@$cases) {
    my $d = Mail::DMARC::PurePerl->new;
    $d->set_resolver($res);
    $d->source_ip('192.0.2.1');
    $d->header_from($c->{from});
    $d->spf(domain => $c->{spfDomain}, scope => 'mfrom', result => $c->{spf});
    $d->dkim([ map { { domain => $_->{domain}, selector => 's', result => $_->{result} } } @{ $c->{dkim} || [] } ]);
    my $r = $d->validate;
    push @out, { Result => $r->result, Disposition => $r->disposition };
}
print encode_json(\@out), "\n";
`

func TestInteropMailDMARC(t *testing.T) {
	if out, err := exec.Command("perl", "-MMail::DMARC::PurePerl", "-MNet::DNS", "-e1").CombinedOutput(); err != nil {
		t.Skipf("Mail::DMARC missing (apt-get install -y libmail-dmarc-perl): %v\n%s", err, out)
	}
	srv := dnstest.Start(t, toolDNS(t), dnstest.ServerOptions{})
	_, port, _ := strings.Cut(srv.Addr, ":")
	cmd := exec.Command("perl", "-e", mailDMARCScript, port)
	cmd.Stdin = strings.NewReader(toolInputs(t))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("Mail::DMARC: %v\n%s", err, stderr.String())
	}
	var got []verdict
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("Mail::DMARC output %q: %v\n%s", out, err, stderr.String())
	}
	compareVerdicts(t, "Mail::DMARC", got, func(c toolCase) verdict { return c.perlDiff })
}

// mailauthDMARCScript evaluates the cases on stdin with mailauth's dmarc()
// (argv: RESOLVER MAILAUTH). mailauth returns a result and the policy that
// applies; the disposition is that policy when the result is fail.
const mailauthDMARCScript = `
const [resolverPath, mailauthDir] = process.argv.slice(1);
const { resolve } = require(resolverPath);
const { dmarc } = require(mailauthDir);
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
(async () => {
    const out = [];
    for (const c of cases) {
        const r = await dmarc({
            headerFrom: 'someone@' + c.from,
            spfDomains: c.spf === 'pass' ? [c.spfDomain] : [],
            dkimDomains: (c.dkim || []).filter(s => s.result === 'pass').map(s => ({ domain: s.domain })),
            resolver: resolve,
        });
        const result = r.status.result;
        const disposition = result === 'fail' && ['none', 'quarantine', 'reject'].includes(r.policy) ? r.policy : 'none';
        out.push({ Result: result, Disposition: disposition });
    }
    console.log(JSON.stringify(out));
})().catch(err => { console.error(err); process.exit(1); });
`

func TestInteropMailauthDMARC(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node missing: mailauth interop needs Node.js 20")
	}
	dir, _ := filepath.Abs(filepath.Join("..", "..", "test", "e2e", "node", "node_modules", "mailauth"))
	if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
		t.Skip("mailauth missing: run `npm ci` in test/e2e/node")
	}
	cmd := exec.Command("node", "-e", mailauthDMARCScript, dnstest.WriteNodeResolver(t, toolDNS(t)), dir)
	cmd.Stdin = strings.NewReader(toolInputs(t))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mailauth: %v\n%s", err, stderr.String())
	}
	var got []verdict
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("mailauth output %q: %v", out, err)
	}
	compareVerdicts(t, "mailauth", got, func(c toolCase) verdict { return c.nodeDiff })
}
