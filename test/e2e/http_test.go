package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestHTTPBehindProxy runs the documented reverse-proxy setup: plain HTTP
// on loopback with the loopback proxy trusted. The MTA-STS policy is served
// for a request the proxy marks as HTTPS, its hash is the id "posthorn
// domain records" publishes, plain requests are redirected, and /metrics
// counts what happened.
func TestHTTPBehindProxy(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, "", "init", "--dir", dir, "--data-dir", filepath.Join(dir, "data"), "--domain", "example.com", "--hostname", "mail.example.com")
	httpAddr := freePort(t)
	cfg := filepath.Join(dir, "serve.toml")
	writeFile(t, cfg, fmt.Sprintf(`hostname = "mail.example.com"
data_dir = "data"
user = ""
allow_root = true
[listen]
smtp = []
submission = []
submissions = []
imap = []
imaps = []
http = ["%s"]
https = []
[http]
trusted_proxies = ["127.0.0.1"]
[mtasts]
mode = "testing"
max_age = "24h"
`, httpAddr))
	os.Chmod(dir, 0o755)
	s := startServer(t, io.Discard, "serve", "--config", cfg)
	defer s.stop(t)
	waitHealthy(t, s, "http://"+httpAddr+"/healthz")

	get := func(path string, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+httpAddr+path, nil)
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, policy := get("/.well-known/mta-sts.txt", map[string]string{"Host": "mta-sts.example.com", "X-Forwarded-Proto": "https"})
	want := "version: STSv1\r\nmode: testing\r\nmx: mail.example.com\r\nmax_age: 86400\r\n"
	if resp.StatusCode != 200 || policy != want {
		t.Fatalf("policy: %d %q, want %q", resp.StatusCode, policy, want)
	}
	records := mustRun(t, "", "domain", "records", "example.com", "--config", cfg)
	sum := sha256.Sum256([]byte(policy))
	if id := hex.EncodeToString(sum[:10]); !strings.Contains(records, `"v=STSv1; id=`+id+`"`) {
		t.Errorf("domain records do not publish id %s:\n%s", id, records)
	}
	if resp, _ := get("/.well-known/mta-sts.txt", map[string]string{"Host": "mta-sts.example.com"}); resp.StatusCode != 308 ||
		resp.Header.Get("Location") != "https://mta-sts.example.com/.well-known/mta-sts.txt" {
		t.Errorf("plain request: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, xml := get("/mail/config-v1.1.xml?emailaddress=postmaster%40example.com",
		map[string]string{"Host": "autoconfig.example.com", "X-Forwarded-Proto": "https"})
	if resp.StatusCode != 200 || !strings.Contains(xml, "<hostname>mail.example.com</hostname>") {
		t.Errorf("autoconfig: %d %s", resp.StatusCode, xml)
	}
	if resp, _ := get("/metrics", map[string]string{"X-Forwarded-For": "203.0.113.5"}); resp.StatusCode != 403 {
		t.Errorf("metrics for a remote client behind the proxy: %d", resp.StatusCode)
	}
	resp, metrics := get("/metrics", nil)
	if resp.StatusCode != 200 || !regexp.MustCompile(`(?m)^posthorn_queue_entries 0$`).MatchString(metrics) ||
		!strings.Contains(metrics, "go_goroutines") {
		t.Errorf("metrics: %d\n%s", resp.StatusCode, metrics)
	}
}
