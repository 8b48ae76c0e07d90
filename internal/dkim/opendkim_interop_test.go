package dkim

// Interop with Debian's opendkim-tools: posthorn's Ed25519 and RSA
// signatures verify with opendkim-testmsg (libopendkim), opendkim-testmsg's
// signatures verify in posthorn, and tampering fails in both.
// opendkim-testmsg reads keys through the system resolver, so it runs in a
// network namespace whose resolv.conf points at a dnstest.Server
// (dnstest.StartNetns); that needs root.

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

const opendkimTestmsg = "/usr/sbin/opendkim-testmsg"

func needOpendkim(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(opendkimTestmsg); err != nil {
		t.Skipf("%s missing: apt-get install -y opendkim-tools", opendkimTestmsg)
	}
}

// opendkimVerify runs opendkim-testmsg in verify mode: it exits 0 and
// prints nothing when the message's signature verifies.
func opendkimVerify(t *testing.T, ns *dnstest.Netns, msg string) (bool, string) {
	t.Helper()
	cmd := ns.Command(opendkimTestmsg, "-t", t.TempDir())
	cmd.Stdin = strings.NewReader(msg)
	out, err := cmd.CombinedOutput()
	return err == nil && len(out) == 0, strings.TrimSpace(string(out))
}

func TestInteropPosthornToOpendkim(t *testing.T) {
	needOpendkim(t)
	ns := dnstest.StartNetns(t, testZone(t))
	msg := readFile(t, "unsigned.eml")
	// One signature per message: opendkim-testmsg reports one status for
	// the whole message.
	for _, s := range testSigners(t) {
		t.Run(s.Selector, func(t *testing.T) {
			sig, err := Sign(strings.NewReader(msg), signTime, s)
			if err != nil {
				t.Fatal(err)
			}
			signed := sig + msg
			if ok, out := opendkimVerify(t, ns, signed); !ok {
				t.Fatalf("opendkim-testmsg rejects posthorn's %s signature: %s", s.Selector, out)
			}
			for name, tamper := range tamperings() {
				if ok, out := opendkimVerify(t, ns, tamper(signed)); ok {
					t.Errorf("%s: opendkim-testmsg accepts it", name)
				} else {
					t.Logf("%s: opendkim-testmsg: %s", name, out)
				}
			}
		})
	}
}

// TestInteropOpendkimToPosthorn: opendkim-testmsg signs with rsa-sha1
// only (hard-coded in opendkim 2.11's testmsg; an Ed25519 key gives
// "dkim_eom(): Resource unavailable"), so the cross-check is that posthorn
// fails its signature for the algorithm alone (RFC 8301 §3.1) while
// opendkim verifies it, and that no tampering changes the status.
func TestInteropOpendkimToPosthorn(t *testing.T) {
	needOpendkim(t)
	_, rsaFile := testKeyFiles(t)
	res := testResolver(t)
	// Signing needs no DNS, so no namespace.
	cmd := exec.Command(opendkimTestmsg, "-C", "-d", "posthorn.example", "-s", "rsa", "-k", rsaFile, "-t", t.TempDir())
	cmd.Stdin = strings.NewReader(readFile(t, "unsigned.eml"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("opendkim-testmsg signing: %v\n%s", err, out)
	}
	signed := string(out)
	results := verifyNow(t, res, signed)
	if len(results) != 1 || results[0].Status != StatusFail || results[0].Algorithm != "rsa-sha1" ||
		!strings.Contains(results[0].Explanation, "RFC 8301") {
		t.Fatalf("posthorn: %+v, want rsa-sha1 fail for RFC 8301\n%s", results, signed)
	}
	for name, tamper := range tamperings() {
		if r := verifyNow(t, res, tamper(signed)); r[0].Status != StatusFail {
			t.Errorf("%s: posthorn says %+v", name, r[0])
		}
	}
	ns := dnstest.StartNetns(t, testZone(t))
	if ok, out := opendkimVerify(t, ns, signed); !ok {
		t.Fatalf("opendkim-testmsg rejects its own signature: %s", out)
	}
	if ok, _ := opendkimVerify(t, ns, tamperings()["body"](signed)); ok {
		t.Error("opendkim-testmsg accepts its own signature over a changed body")
	}
}
