package dkim

// Interop with Debian's python3-dkim (dkimpy): posthorn's signatures verify
// in dkimpy, dkimpy's signatures verify in posthorn, and tampering fails in
// both. dkimpy's library is driven with a dnsfunc answering from testZone;
// TestInteropDkimverifyNetns also runs the dkimverify command unmodified in
// a network namespace whose resolv.conf points at a dnstest.Server.

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

const (
	dkimverifyCmd = "/usr/bin/dkimverify"
	dkimsignCmd   = "/usr/bin/dkimsign"
	debianPython  = "/usr/bin/python3"
)

func needDkimpy(t *testing.T) {
	t.Helper()
	for _, p := range []string{dkimverifyCmd, dkimsignCmd, debianPython} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s missing: apt-get install -y python3-dkim", p)
		}
	}
}

// dkimpyVerify is dkimverify with a dnsfunc: it verifies signature index of
// msg with the TXT records of testZone and prints "ok" or "fail".
const dkimpyVerify = `
import dkim, json, sys
records = json.load(open(sys.argv[1]))
def dnsfunc(name, timeout=5):
    v = records.get(name.decode().rstrip(".").lower())
    return v.encode() if v is not None else None
msg = sys.stdin.buffer.read()
d = dkim.DKIM(msg)
print("ok" if d.verify(idx=int(sys.argv[2]), dnsfunc=dnsfunc) else "fail")
`

func dkimpyVerifies(t *testing.T, msg string, idx int) bool {
	t.Helper()
	recs := map[string]string{}
	for name, r := range testZone(t) {
		if len(r.TXT) == 1 {
			recs[strings.ToLower(strings.TrimSuffix(name, "."))] = r.TXT[0]
		}
	}
	j, _ := json.Marshal(recs)
	path := filepath.Join(t.TempDir(), "records.json")
	if err := os.WriteFile(path, j, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(debianPython, "-c", dkimpyVerify, path, fmt.Sprint(idx))
	cmd.Stdin = strings.NewReader(msg)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dkimpy: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out)) == "ok"
}

func TestInteropPosthornToDkimpy(t *testing.T) {
	needDkimpy(t)
	signed := signMsg(t, readFile(t, "unsigned.eml"))
	for idx, alg := range []string{"ed25519", "rsa"} {
		if !dkimpyVerifies(t, signed, idx) {
			t.Errorf("dkimpy rejects posthorn's %s signature", alg)
		}
		tampered := strings.Replace(signed, "Friday?", "Monday?", 1)
		if dkimpyVerifies(t, tampered, idx) {
			t.Errorf("dkimpy accepts a tampered body under posthorn's %s signature", alg)
		}
		added := strings.Replace(signed, "To: bob", "From: mallory@evil.example\r\nTo: bob", 1)
		if dkimpyVerifies(t, added, idx) {
			t.Errorf("dkimpy accepts an added From under posthorn's %s signature", alg)
		}
	}
}

// dkimsign runs Debian's dkimsign and returns the signed message.
func dkimsign(t *testing.T, msg, selector, keyFile string, args ...string) string {
	t.Helper()
	cmd := exec.Command(dkimsignCmd, append(args, selector, "posthorn.example", keyFile)...)
	cmd.Stdin = strings.NewReader(msg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dkimsign %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

func TestInteropDkimsignToPosthorn(t *testing.T) {
	needDkimpy(t)
	ed, _, _, _ := testKeys(t)
	dir := t.TempDir()
	// dkimpy reads an Ed25519 private key as the base64 32-octet seed.
	edFile := filepath.Join(dir, "ed.key")
	seed := base64.StdEncoding.EncodeToString(ed.(ed25519.PrivateKey).Seed())
	if err := os.WriteFile(edFile, []byte(seed+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rsaFile, _ := filepath.Abs(filepath.Join("testdata", "rsa2048.pem"))
	msg := readFile(t, "unsigned.eml")
	res := testResolver(t)
	for _, c := range []struct {
		name, sel, key string
		args           []string
		want           Status
	}{
		{"ed25519 relaxed", "ed", edFile, []string{"--signalg", "ed25519-sha256", "--hcanon", "relaxed", "--bcanon", "relaxed"}, StatusPass},
		{"rsa relaxed/simple", "rsa", rsaFile, nil, StatusPass},
		{"rsa simple/simple", "rsa", rsaFile, []string{"--hcanon", "simple", "--bcanon", "simple"}, StatusPass},
		{"rsa-sha1", "rsa", rsaFile, []string{"--signalg", "rsa-sha1"}, StatusFail},
	} {
		t.Run(c.name, func(t *testing.T) {
			signed := dkimsign(t, msg, c.sel, c.key, c.args...)
			results := verify(t, res, signed)
			if len(results) != 1 || results[0].Status != c.want {
				t.Fatalf("got %+v, want %s", results, c.want)
			}
			if c.want != StatusPass {
				return
			}
			for name, tamper := range map[string]func(string) string{
				"body":     func(s string) string { return strings.Replace(s, "Friday?", "Monday?", 1) },
				"appended": func(s string) string { return s + "more\r\n" },
				"subject":  func(s string) string { return strings.Replace(s, "Lunch on", "Dinner on", 1) },
			} {
				if r := verify(t, res, tamper(signed)); r[0].Status != StatusFail {
					t.Errorf("%s tampered: %+v", name, r[0])
				}
			}
		})
	}
}

// TestInteropDkimverifyNetns runs the unmodified dkimverify command, which
// resolves keys through dnspython and /etc/resolv.conf, inside a network
// namespace where a dnstest.Server (this test binary, re-executed) answers
// on 127.0.0.1:53. It needs root and ip(8); it is skipped otherwise.
func TestInteropDkimverifyNetns(t *testing.T) {
	needDkimpy(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root for ip netns")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip(8) missing")
	}
	ns := fmt.Sprintf("phdkim%d", os.Getpid())
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	run("ip", "netns", "add", ns)
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", ns).Run()
		os.RemoveAll("/etc/netns/" + ns)
	})
	run("ip", "-n", ns, "link", "set", "lo", "up")
	if err := os.MkdirAll("/etc/netns/"+ns, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("/etc/netns/"+ns+"/resolv.conf", []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	zoneFile, _ := filepath.Abs(filepath.Join("testdata", "zone.txt"))
	extra := filepath.Join(t.TempDir(), "keys.txt")
	var keys strings.Builder
	for _, sel := range []string{"ed", "rsa"} {
		rec := testZone(t)[sel+"._domainkey.posthorn.example"].TXT[0]
		fmt.Fprintf(&keys, "%s._domainkey.posthorn.example. TXT %s\n", sel, quoteTXT(rec))
	}
	if err := os.WriteFile(extra, []byte(keys.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestHelperDNSServer$")
	srv.Env = append(os.Environ(), "POSTHORN_DNS_HELPER="+zoneFile+","+extra)
	stdout, _ := srv.StdoutPipe()
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	ready := make([]byte, 64)
	if _, err := stdout.Read(ready); err != nil || !bytes.HasPrefix(ready, []byte("ready")) {
		t.Fatalf("DNS helper: %v %q", err, ready)
	}

	signed := signMsg(t, readFile(t, "unsigned.eml"))
	dkimverify := func(msg string, idx int) bool {
		cmd := exec.Command("ip", "netns", "exec", ns, dkimverifyCmd, "--index", fmt.Sprint(idx))
		cmd.Stdin = strings.NewReader(msg)
		out, err := cmd.CombinedOutput()
		t.Logf("dkimverify --index %d: %s", idx, bytes.TrimSpace(out))
		return err == nil && bytes.Contains(out, []byte("signature ok"))
	}
	for idx := range 2 {
		if !dkimverify(signed, idx) {
			t.Errorf("dkimverify rejects signature %d", idx)
		}
		if dkimverify(strings.Replace(signed, "Friday?", "Monday?", 1), idx) {
			t.Errorf("dkimverify accepts tampered body under signature %d", idx)
		}
	}
}

// quoteTXT splits a TXT value into quoted character-strings of at most 200
// octets (RFC 1035 §3.3.14 limits them to 255).
func quoteTXT(v string) string {
	var parts []string
	for _, c := range chunks(v, 200) {
		parts = append(parts, `"`+c+`"`)
	}
	return strings.Join(parts, " ")
}

// TestHelperDNSServer is not a test: TestInteropDkimverifyNetns re-executes
// the test binary to serve the zone files named in POSTHORN_DNS_HELPER on
// 127.0.0.1:53 inside the namespace, until killed.
func TestHelperDNSServer(t *testing.T) {
	files := os.Getenv("POSTHORN_DNS_HELPER")
	if files == "" {
		t.Skip("helper process only")
	}
	var text strings.Builder
	for _, f := range strings.Split(files, ",") {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text.Write(b)
	}
	z, err := dnstest.ParseZone(strings.NewReader(text.String()), ".")
	if err != nil {
		t.Fatal(err)
	}
	dnstest.Start(t, z, dnstest.ServerOptions{Addr: "127.0.0.1:53"})
	fmt.Println("ready")
	time.Sleep(10 * time.Minute)
}
