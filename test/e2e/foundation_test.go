// Package e2e runs the built posthorn binary as a user would: init, serve,
// the admin CLI over the control socket and directly, localserve, signals.
package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestInitServeAndAdminCLI(t *testing.T) {
	dir := t.TempDir()
	out := mustRun(t, "", "init", "--dir", dir, "--data-dir", filepath.Join(dir, "data"), "--domain", "example.com", "--hostname", "mail.example.com")
	m := regexp.MustCompile(`Password:\s+(\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("init printed no password:\n%s", out)
	}
	for _, want := range []string{
		"postmaster@example.com",
		"example.com.", "IN MX    10 mail.example.com.", "v=spf1", "._domainkey.example.com.", "k=ed25519", "k=rsa",
		"_dmarc.example.com.", "rua=mailto:", "_mta-sts.example.com.", "mta-sts.example.com.", "_smtp._tls.example.com.",
		"_submissions._tcp.example.com.", "_imaps._tcp.example.com.", "IN CAA",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("init output lacks %q", want)
		}
	}
	configPath := filepath.Join(dir, "posthorn.toml")
	cfgText, err := os.ReadFile(configPath)
	if err != nil {
		t.Fatal(err)
	}
	// The generated file documents every key.
	for _, key := range []string{"hostname", "data_dir", "user", "[listen]", "smtp", "submission", "submissions", "imap", "imaps", "http", "https", "[dns]", "servers", "[tls]", "cert_file", "key_file", "[log]", "level", "format"} {
		if !strings.Contains(string(cfgText), key) {
			t.Errorf("posthorn.toml lacks %q", key)
		}
	}
	if _, _, code := posthorn(t, "", "init", "--dir", dir, "--data-dir", filepath.Join(dir, "data"), "--domain", "example.com", "--hostname", "mail.example.com"); code == 0 {
		t.Error("second init over an existing config succeeded")
	}

	// With the server stopped, the CLI opens the store directly.
	mustRun(t, "", "user", "add", "carol@example.com", "--config", configPath)

	// A config for serving on a free loopback port (tests may run as root).
	httpAddr := freePort(t)
	// As root (CI), the server drops to nobody, which every Debian system
	// has: no user created by hand.
	runAs := `user = ""` + "\nallow_root = true"
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("nobody"); err != nil {
			t.Fatalf("user nobody: %v", err)
		}
		runAs = `user = "nobody"`
		// nobody must be able to reach the data directory.
		os.Chmod(filepath.Dir(dir), 0o755)
		os.Chmod(dir, 0o755)
	}
	serveCfg := filepath.Join(dir, "serve.toml")
	writeFile(t, serveCfg, fmt.Sprintf(`hostname = "mail.example.com"
data_dir = "data"
%s
[listen]
smtp = []
submission = []
submissions = []
imap = []
imaps = []
http = ["%s"]
https = []
[log]
level = "debug"
`, runAs, httpAddr))
	s := startServer(t, io.Discard, "serve", "--config", serveCfg)
	waitHealthy(t, s, "http://"+httpAddr+"/healthz")
	if os.Geteuid() == 0 {
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
		u, _ := user.Lookup("nobody")
		if !regexp.MustCompile(`(?m)^Uid:\s+` + u.Uid + `\s`).Match(status) {
			t.Errorf("server did not drop privileges to nobody:\n%s", status)
		}
	}

	// While it runs, the store is locked: these calls can only succeed
	// through the control socket.
	out = mustRun(t, "bob-Secret-pw-4821\n", "user", "add", "bob@example.com", "--password-stdin", "--config", serveCfg)
	if strings.Contains(out, "bob-Secret-pw-4821") {
		t.Error("CLI echoed a password given on stdin")
	}
	out = mustRun(t, "", "user", "add", "dave@example.com", "--config", serveCfg)
	if !regexp.MustCompile(`dave@example.com password: \S+`).MatchString(out) {
		t.Errorf("generated password not shown once: %q", out)
	}
	mustRun(t, "", "alias", "add", "team@example.com", "bob@example.com", "carol@example.com", "--config", serveCfg)
	mustRun(t, "", "alias", "add", "@example.com", "postmaster@example.com", "--config", serveCfg)
	mustRun(t, "", "domain", "add", "example.org", "--config", serveCfg)
	list := mustRun(t, "", "user", "list", "--config", serveCfg)
	for _, u := range []string{"postmaster@example.com", "bob@example.com", "carol@example.com", "dave@example.com"} {
		if !strings.Contains(list, u) {
			t.Errorf("user list lacks %s:\n%s", u, list)
		}
	}
	aliases := mustRun(t, "", "alias", "list", "--config", serveCfg)
	if !strings.Contains(aliases, "team@example.com -> bob@example.com, carol@example.com") || !strings.Contains(aliases, "@example.com -> postmaster@example.com") {
		t.Errorf("alias list:\n%s", aliases)
	}
	if _, errOut, code := posthorn(t, "", "user", "add", "bob@example.com", "--config", serveCfg); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Errorf("duplicate user: exit %d, %q", code, errOut)
	}
	if _, errOut, code := posthorn(t, "", "domain", "del", "example.com", "--config", serveCfg); code != 1 || !strings.Contains(errOut, "still has accounts") {
		t.Errorf("deleting a domain in use: exit %d, %q", code, errOut)
	}
	// A second server on the same data directory must refuse to start.
	if _, errOut, code := posthorn(t, "", "serve", "--config", serveCfg); code == 0 || !strings.Contains(errOut, "in use") && !strings.Contains(errOut, "address already in use") && !strings.Contains(errOut, "locked") {
		t.Errorf("second server: exit %d, %q", code, errOut)
	}

	s.stop(t)
	logs := s.stderr.String()
	if !strings.Contains(logs, "stopped") {
		t.Errorf("no clean shutdown in logs:\n%s", logs)
	}
	if strings.Contains(logs, "bob-Secret-pw-4821") || strings.Contains(logs, m[1]) {
		t.Error("a password appears in the server log")
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "ctl.sock")); err == nil {
		t.Error("control socket left behind after shutdown")
	}
	// Stopped again: direct store access sees what the server stored.
	list = mustRun(t, "", "user", "list", "example.com", "--config", serveCfg)
	if !strings.Contains(list, "dave@example.com") {
		t.Errorf("after restart, user list lacks dave:\n%s", list)
	}
	mustRun(t, "", "domain", "records", "example.org", "--config", serveCfg)
}

func TestBadConfigNamesLineAndKey(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.toml")
	writeFile(t, p, "hostname = \"mail.example.com\"\ndata_dir = \"d\"\nhostnme = \"x\"\n[log]\nlevel = \"verbose\"\n")
	_, errOut, code := posthorn(t, "", "serve", "--config", p)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{p + ":3: hostnme: unknown key", p + ":5: log.level:"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("error output lacks %q:\n%s", want, errOut)
		}
	}
}

func TestHelp(t *testing.T) {
	out := mustRun(t, "", "help")
	for _, c := range []string{"init", "serve", "localserve", "domain", "user", "alias", "version"} {
		if !strings.Contains(out, c) {
			t.Errorf("help lacks %s", c)
		}
		if c == "help" {
			continue
		}
		sub := mustRun(t, "", c, "-h")
		if !strings.Contains(sub, "usage: posthorn "+c) {
			t.Errorf("%s -h: %q", c, sub)
		}
	}
	if _, _, code := posthorn(t, "", "frobnicate"); code != 2 {
		t.Errorf("unknown command exit %d, want 2", code)
	}
	if out := mustRun(t, "", "version"); !strings.HasPrefix(out, "posthorn ") {
		t.Errorf("version: %q", out)
	}
}

func TestLocalserve(t *testing.T) {
	for _, p := range []string{"127.0.0.1:1080"} {
		if l, err := net.Listen("tcp4", p); err != nil {
			t.Skipf("port %s busy: %v", p, err)
		} else {
			l.Close()
		}
	}
	dir := t.TempDir()
	pr, pw := io.Pipe()
	s := startServer(t, pw, "localserve", "--dir", dir, "--password", "dev-pass", "--dns", localDNS(t))
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitHealthy(t, s, "http://127.0.0.1:1080/healthz")
	var banner strings.Builder
	timeout := time.After(10 * time.Second)
collect:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				break collect
			}
			banner.WriteString(l + "\n")
			if strings.HasPrefix(l, "Stop with") {
				break collect
			}
		case <-timeout:
			break collect
		}
	}
	if !strings.Contains(banner.String(), "you@localhost  password dev-pass") {
		t.Errorf("banner:\n%s", banner.String())
	}
	cfg := filepath.Join(dir, "posthorn.toml")
	list := mustRun(t, "", "user", "list", "--config", cfg)
	if !strings.Contains(list, "you@localhost") {
		t.Errorf("user list over localserve's socket:\n%s", list)
	}
	aliases := mustRun(t, "", "alias", "list", "--config", cfg)
	if !strings.Contains(aliases, "@localhost -> you@localhost") {
		t.Errorf("localserve catch-all missing:\n%s", aliases)
	}
	s.stop(t)
	pw.Close()
	// A restart with the same directory keeps working (idempotent setup).
	s = startServer(t, io.Discard, "localserve", "--dir", dir, "--dns", localDNS(t))
	waitHealthy(t, s, "http://127.0.0.1:1080/healthz")
	s.stop(t)
}
