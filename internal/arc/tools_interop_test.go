package arc

// Chains sealed by posthorn verify with independent ARC validators: npm
// mailauth 4.13.3 (authenticate() with a resolver answering from testZone)
// and Debian's arcverify command (python3-dkim), run unmodified in a network
// namespace whose resolv.conf points at a dnstest.Server. Tampering after
// the last seal fails in both. arcverify always exits 0; its verdict is the
// cv= on its output line.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

// toolChain is a posthorn-sealed message, the chain status posthorn and
// the tools must give it and, when it differs, the one both tools give.
type toolChain struct{ name, msg, want, tools string }

func (c toolChain) toolWant() string {
	if c.tools != "" {
		return c.tools
	}
	return c.want
}

// toolChains are the chains compared. An Ed25519 seal passes in posthorn
// and fails in both tools, which implement only rsa-sha256 for ARC
// (mailauth: "seal signature validation failed", dkimpy: "unknown
// signature algorithm"): the reason Sealer's documentation says to seal
// with RSA.
func toolChains(t *testing.T) []toolChain {
	res := testResolver(t)
	one := seal(t, res, readFile(t, "message.eml"), rsaSigner(t))
	list := strings.Replace(one, "Subject: Lunch", "Subject: [friends] Lunch", 1) + "-- \r\nfriends mailing list\r\n"
	two := sealAfter(t, res, one, list, fwdSigner(t))
	return []toolChain{
		{"one hop, rsa", one, "pass", ""},
		{"one hop, ed25519", seal(t, res, readFile(t, "message.eml"), edSigner(t)), "pass", "fail"},
		{"two hops, list changed the message in between", two, "pass", ""},
		{"one hop, body changed after sealing", strings.Replace(one, "Friday?", "Monday?", 1), "fail", ""},
		{"two hops, subject changed after the last seal", strings.Replace(two, "[friends]", "[foes]", 1), "fail", ""},
		{"two hops, first AS tampered", strings.Replace(two, "cv=none", "cv=pass", 1), "fail", ""},
	}
}

// mailauthARCScript prints the ARC status mailauth's authenticate() gives
// each message of the JSON array on stdin (argv: RESOLVER MAILAUTH).
const mailauthARCScript = `
const [resolverPath, mailauthDir] = process.argv.slice(1);
const { resolve } = require(resolverPath);
const { authenticate } = require(mailauthDir);
const msgs = JSON.parse(require('fs').readFileSync(0, 'utf8'));
(async () => {
    const out = [];
    for (const m of msgs) {
        const r = await authenticate(Buffer.from(m, 'binary'), {
            resolver: resolve, ip: '192.0.2.1', helo: 'mx.forwarder.example',
            sender: 'list@lists.forwarder.example', mta: 'mx.receiver.example', disableBimi: true,
        });
        out.push({ result: r.arc.status.result, comment: r.arc.status.comment || '' });
    }
    console.log(JSON.stringify(out));
})().catch(err => { console.error(err); process.exit(1); });
`

func TestInteropMailauthARC(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node missing: mailauth interop needs Node.js 20")
	}
	dir, _ := filepath.Abs(filepath.Join("..", "..", "test", "e2e", "node", "node_modules", "mailauth"))
	if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
		t.Skip("mailauth missing: run `npm ci` in test/e2e/node")
	}
	chains := toolChains(t)
	var msgs []string
	for _, c := range chains {
		msgs = append(msgs, c.msg)
	}
	in, _ := json.Marshal(msgs)
	cmd := exec.Command("node", "-e", mailauthARCScript, dnstest.WriteNodeResolver(t, testZone(t)), dir)
	cmd.Stdin = strings.NewReader(string(in))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mailauth: %v\n%s", err, stderr.String())
	}
	var got []struct{ Result, Comment string }
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(chains) {
		t.Fatalf("mailauth output %q: %v", out, err)
	}
	res := testResolver(t)
	for i, c := range chains {
		p := verify(t, res, c.msg)
		t.Logf("%-48s posthorn=%-4s mailauth=%s %s", c.name, p.Chain, got[i].Result, got[i].Comment)
		if string(p.Chain) != c.want {
			t.Errorf("%s: posthorn says %s (%s), want %s", c.name, p.Chain, p.Reason, c.want)
		}
		if got[i].Result != c.toolWant() {
			t.Errorf("%s: mailauth says %s (%s), want %s", c.name, got[i].Result, got[i].Comment, c.toolWant())
		}
	}
}

var arcverifyCV = regexp.MustCompile(`arc verification: cv=(?:b')?([a-z]+)`)

func TestInteropArcverifyNetns(t *testing.T) {
	const arcverify = "/usr/bin/arcverify"
	if _, err := os.Stat(arcverify); err != nil {
		t.Skipf("%s missing: apt-get install -y python3-dkim python3-authres", arcverify)
	}
	chains := toolChains(t)
	ns := dnstest.StartNetns(t, testZone(t))
	res := testResolver(t)
	for _, c := range chains {
		cmd := ns.Command(arcverify)
		cmd.Stdin = strings.NewReader(c.msg)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: arcverify: %v\n%s", c.name, err, out)
		}
		m := arcverifyCV.FindSubmatch(out)
		if m == nil {
			t.Fatalf("%s: arcverify said %q", c.name, out)
		}
		p := verify(t, res, c.msg)
		t.Logf("%-48s posthorn=%-4s arcverify: %s", c.name, p.Chain, strings.TrimSpace(string(out)))
		if string(p.Chain) != c.want {
			t.Errorf("%s: posthorn says %s (%s), want %s", c.name, p.Chain, p.Reason, c.want)
		}
		if got := string(m[1]); got != c.toolWant() {
			t.Errorf("%s: arcverify says %s, want %s", c.name, got, c.toolWant())
		}
	}
}
