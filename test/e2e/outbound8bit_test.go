package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
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

	dump := startSink(t, sink, ipSink+":25", "-8") // -8: no 8BITMIME
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
	got := waitSink(t, dump, 1, n.logs)[0]
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

// startSink runs Postfix's smtp-sink on address with extra flags, dumping
// each transaction to a file of the directory it returns.
func startSink(t *testing.T, sink, address string, flags ...string) string {
	t.Helper()
	// smtp-sink writes as nobody: a directory it can reach.
	dump, err := os.MkdirTemp("", "posthorn-sink-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dump) })
	if err := os.Chmod(dump, 0o777); err != nil {
		t.Fatal(err)
	}
	args := append(flags, "-u", "nobody", "-d", filepath.Join(dump, "%Y%m%d%H%M%S."), address, "10")
	daemon(t, sink, args...)
	return dump
}

// waitSink waits until the sink holds n messages and returns them, oldest
// first.
func waitSink(t *testing.T, dump string, n int, logs func() string) [][]byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dump, "*"))
		if len(files) >= n {
			time.Sleep(200 * time.Millisecond) // the sink writes, then answers
			sort.Slice(files, func(i, j int) bool {
				a, _ := os.Stat(files[i])
				b, _ := os.Stat(files[j])
				return a.ModTime().Before(b.ModTime())
			})
			var out [][]byte
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, b)
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("smtp-sink received %d messages, want %d\n%s", len(files), n, logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestOutboundTLSRPT: the TLS-RPT tally of a delivery survives a restart
// of the server, and "posthorn tlsrpt send" sends the report at once (to
// the rua mailto: of the policy domain, here a smtp-sink) instead of after
// midnight (issue 12 §3).
func TestOutboundTLSRPT(t *testing.T) {
	need(t, "swaks")
	sink := need(t, "smtp-sink")
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
		"rpt.example":             {TXT: []string{"v=spf1 ip4:127.0.0.0/8 -all"}},
		"peer.example":            {MX: []dnstest.MX{{Pref: 10, Host: "mx.sink.example."}}},
		"_smtp._tls.peer.example": {TXT: []string{"v=TLSRPTv1; rua=mailto:tlsrpt@reports.example"}},
		"reports.example":         {MX: []dnstest.MX{{Pref: 10, Host: "mx.sink.example."}}},
		"mx.sink.example":         {A: []string{ipSink}},
	}
	dnsSrv := dnstest.Start(t, zone, dnstest.ServerOptions{})
	n := newOutboundNode(t, "rpt.example", "mx.rpt.example", ipNode, dnsSrv.Addr, nil)
	dump := startSink(t, sink, ipSink+":25") // no STARTTLS: a starttls-not-supported failure
	n.addUser("alice@rpt.example", outAlicePW)
	n.start()
	mustSwaks(t, "--server", n.submission, "--tls", "--auth", "PLAIN", "--auth-user", "alice@rpt.example",
		"--auth-password", outAlicePW, "--from", "alice@rpt.example", "--to", "bob@peer.example", "--header", "Subject: tallied")
	waitSink(t, dump, 1, n.logs)
	first := n.stop()
	n.start()
	defer n.stop()
	waitFor(t, "the restarted server", n.logs, `msg="TLS-RPT tallies restored".*policies=1`, 1, 10*time.Second, func() string { return first })
	out := n.admin("tlsrpt", "send")
	if !strings.Contains(out, "reports sent for 1 policies") {
		t.Errorf("posthorn tlsrpt send: %s", out)
	}
	msgs := waitSink(t, dump, 2, n.logs)
	rep := string(msgs[1])
	for _, want := range []string{"TLS-Report-Domain: peer.example", "report-type=\"tlsrpt\"", "application/tlsrpt+gzip"} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
	js := tlsReportJSON(t, rep)
	if !regexp.MustCompile(`"total-failure-session-count":\s*1\b`).MatchString(js) || !strings.Contains(js, "starttls-not-supported") {
		t.Errorf("report JSON after the restart: %s", js)
	}
}

// tlsReportJSON decodes the gzipped JSON attachment of a report mail.
func tlsReportJSON(t *testing.T, msg string) string {
	t.Helper()
	_, att, ok := strings.Cut(strings.ReplaceAll(msg, "\r\n", "\n"), "Content-Disposition: attachment")
	if !ok {
		t.Fatalf("no attachment:\n%s", msg)
	}
	_, body, _ := strings.Cut(att, "\n\n")
	body, _, _ = strings.Cut(body, "\n--")
	gz, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(body, "\n", ""))
	if err != nil {
		t.Fatalf("attachment: %v", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	js, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(js)
}
