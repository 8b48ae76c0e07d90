package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

// dkimVerifyPy verifies the message on stdin with dkimpy (python3-dkim),
// with the TXT records given as NAME=VALUE arguments instead of DNS.
const dkimVerifyPy = `
import sys, dkim
txt = dict(a.split("=", 1) for a in sys.argv[1:])
def dnsfunc(name, timeout=5):
    n = name.decode().rstrip(".")
    return txt.get(n, "").encode() or None
msg = sys.stdin.buffer.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
d = dkim.DKIM(msg)
ok = d.verify(dnsfunc=dnsfunc)
print("pass" if ok else "fail")
sys.exit(0 if ok else 1)
`

// TestOutbound8BitDKIM: an 8-bit message submitted to posthorn and
// delivered to a next hop without 8BITMIME (Postfix's smtp-sink -8) keeps
// a DKIM signature that verifies at the receiver (dkimpy), so DMARC passes
// under the domain's own policy (issue 12 §3). posthorn converts 8-bit
// parts to quoted-printable before it signs (docs/outbound.md).
func TestOutbound8BitDKIM(t *testing.T) {
	need(t, "swaks")
	sink := need(t, "smtp-sink")
	if _, err := os.Stat("/usr/lib/python3/dist-packages/dkim"); err != nil {
		t.Skip("python3-dkim not installed (.ci/run installs it)")
	}
	if os.Geteuid() != 0 {
		t.Skip("port 25 needs root")
	}
	const ipNode, ipSink = "127.0.0.10", "127.0.0.11"
	for _, a := range []string{ipNode + ":25", ipSink + ":25"} {
		if !portFree(a) {
			t.Skipf("%s is in use", a)
		}
	}
	zone := dnstest.Zone{
		"eight.example":   {TXT: []string{"v=spf1 ip4:127.0.0.0/8 -all"}},
		"sink.example":    {MX: []dnstest.MX{{Pref: 10, Host: "mx.sink.example."}}},
		"mx.sink.example": {A: []string{ipSink}},
	}
	dnsSrv := dnstest.Start(t, zone, dnstest.ServerOptions{})
	n := newOutboundNode(t, "eight.example", "mx.eight.example", ipNode, dnsSrv.Addr, nil)
	var txt []string
	for name, v := range n.dkim {
		zone[name] = dnstest.Records{TXT: []string{v}}
		txt = append(txt, strings.TrimSuffix(name, ".")+"="+v)
	}
	dnsSrv.Set(zone)

	// smtp-sink writes as nobody: a directory it can reach.
	dump, err := os.MkdirTemp("", "posthorn-sink-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dump) })
	if err := os.Chmod(dump, 0o777); err != nil {
		t.Fatal(err)
	}
	// -8: no 8BITMIME in the EHLO reply; -d: one file per transaction.
	daemon(t, sink, "-8", "-u", "nobody", "-d", filepath.Join(dump, "%Y%m%d%H%M%S."), ipSink+":25", "10")
	n.addUser("alice@eight.example", outAlicePW)
	n.start()
	defer n.stop()

	msg, _ := writeMessage(t, "8bit.eml", `From: Alice <alice@eight.example>
To: bob@sink.example
Subject: 8-bit body
Message-ID: <eight-1@eight.example>
Date: Mon, 02 Jan 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Grüße aus Köln — ein Text mit 8-bit Zeichen.
`)
	mustSwaks(t, "--server", n.submission, "--tls", "--auth", "PLAIN", "--auth-user", "alice@eight.example",
		"--auth-password", outAlicePW, "--from", "alice@eight.example", "--to", "bob@sink.example", "--data", "@"+msg)
	var got []byte
	deadline := time.Now().Add(30 * time.Second)
	for got == nil {
		files, _ := filepath.Glob(filepath.Join(dump, "*"))
		if len(files) > 0 {
			time.Sleep(200 * time.Millisecond) // the sink writes, then answers
			b, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			got = b
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("smtp-sink received nothing\n%s", n.logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// smtp-sink prepends X-Client-Addr…X-Rcpt-Args and its Received.
	if !strings.Contains(string(got), "DKIM-Signature:") {
		t.Fatalf("no DKIM signature:\n%s", got)
	}
	for _, c := range got {
		if c >= 0x80 {
			t.Fatalf("8-bit octets sent to a server without 8BITMIME:\n%s", got)
		}
	}
	cmd := exec.Command("/usr/bin/python3", append([]string{"-c", dkimVerifyPy}, txt...)...)
	cmd.Stdin = strings.NewReader(string(got))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "pass") {
		t.Errorf("dkimpy: %v\n%s\nmessage:\n%s", err, out, got)
	}
}
