package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestARCSealFlags: "posthorn arc seal --timestamp --headers" makes the
// set dkimpy's arc_sign makes from the same message, key, authserv-id,
// timestamp and header list: ARC-Seal and ARC-Message-Signature byte for
// byte (internal/arc's TestSealSameAsDkimpy covers more chains).
func TestARCSealFlags(t *testing.T) {
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import dkim, authres").CombinedOutput(); err != nil {
		t.Skipf("needs Debian's python3-dkim and python3-authres: %v\n%s", err, out)
	}
	dir := t.TempDir()
	key, _ := filepath.Abs(filepath.Join("..", "..", "internal", "arc", "testdata", "rsa2048.pem"))
	const ar = "mx.posthorn.example; spf=pass smtp.mailfrom=alice@posthorn.example; arc=none"
	msg := "Authentication-Results: " + ar + "\r\nFrom: Alice <alice@posthorn.example>\r\nTo: bob@other.example\r\n" +
		"Subject: vectors\r\nDate: Fri, 05 Jun 2026 10:00:00 +0000\r\n\r\nHello  there.\r\n"
	file := filepath.Join(dir, "m.eml")
	if err := os.WriteFile(file, []byte(msg), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"arc", "seal", "--domain", "posthorn.example", "--selector", "rsa", "--key", key, "--authres", ar,
		"--timestamp", "1780653600", "--headers", "from:to:subject:date", "--dns", "127.0.0.1:9", file}
	out, errOut, code := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("arc seal: exit %d: %s", code, errOut)
	}
	if again, _, _ := runCLI(t, args...); again != out {
		t.Errorf("two runs differ:\n%s\n%s", out, again)
	}
	if !strings.HasSuffix(out, msg) || !strings.Contains(out, "t=1780653600;") || !strings.Contains(out, "h=from : to : subject : date;") {
		t.Fatalf("output:\n%s", out)
	}
	py := `import dkim, sys
m = open(sys.argv[1], "rb").read()
f = dkim.arc_sign(m, b"rsa", b"posthorn.example", open(sys.argv[2], "rb").read(), b"mx.posthorn.example",
    include_headers=[b"from", b"to", b"subject", b"date"], timestamp=1780653600)
sys.stdout.buffer.write(b"".join(f))`
	theirs, err := exec.Command(python, "-c", py, file, key).Output()
	if err != nil {
		t.Fatalf("dkimpy: %v", err)
	}
	ours := strings.TrimSuffix(out, msg)
	// The first two fields are equal; the AAR (last) is folded differently.
	aar := strings.Index(ours, "ARC-Authentication-Results:")
	if aar < 0 || !strings.HasPrefix(string(theirs), ours[:aar]) {
		t.Errorf("posthorn:\n%s\ndkimpy:\n%s", ours, theirs)
	}
	// Refused lists name the rule.
	for _, h := range []string{"to:subject", "from:arc-seal", "from:authentication-results"} {
		bad := append(append([]string{}, args[:len(args)-3]...), "--headers", h, file)
		if _, e, code := runCLI(t, bad...); code == 0 || !strings.Contains(e, "RFC") {
			t.Errorf("--headers %s: exit %d: %s", h, code, e)
		}
	}
}
