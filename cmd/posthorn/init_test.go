package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/admin"
	"github.com/posthorn/posthorn/internal/config"
)

// TestInitMTASTSTesting checks that init starts MTA-STS in mode testing,
// as docs/http.md says: the configuration it writes, the _mta-sts id it
// prints (the hash of the policy the server will serve, the same id
// `domain records` prints later) and the way to switch to enforce.
func TestInitMTASTSTesting(t *testing.T) {
	dir := t.TempDir()
	out, errOut, code := runCLI(t, "init", "--dir", dir, "--data-dir", filepath.Join(dir, "data"), "--domain", "example.com", "--hostname", "mail.example.com")
	if code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	cfgPath := filepath.Join(dir, "posthorn.toml")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MTASTS.Mode != "testing" {
		t.Errorf("init wrote [mtasts] mode = %q, want testing", cfg.MTASTS.Mode)
	}
	policy := admin.MTASTSPolicy(cfg.MTASTS.Mode, addr.MustParseDomain("mail.example.com"), cfg.MTASTS.MaxAge)
	if !strings.Contains(policy, "mode: testing\r\n") {
		t.Errorf("served policy:\n%s", policy)
	}
	id := "v=STSv1; id=" + admin.MTASTSID(policy)
	if !strings.Contains(out, id) {
		t.Errorf("init printed no %q (the id of the served policy):\n%s", id, out)
	}
	if !strings.Contains(out, `mode = "enforce"`) {
		t.Errorf("init does not say how to switch to enforce:\n%s", out)
	}
	recs, errOut, code := runCLI(t, "domain", "records", "example.com", "--config", cfgPath)
	if code != 0 || !strings.Contains(recs, id) {
		t.Errorf("domain records (code %d, %s) does not print %q:\n%s", code, errOut, id, recs)
	}
	data, _ := os.ReadFile(cfgPath)
	if !strings.Contains(string(data), "mode = \"testing\"\n") {
		t.Errorf("config file lacks mode = \"testing\"")
	}
}
