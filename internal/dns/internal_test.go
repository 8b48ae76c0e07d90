package dns

import (
	"os"
	"path/filepath"
	"testing"
)

func TestServersTrust(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "resolv.conf")
	write := func(s string) {
		if err := os.WriteFile(conf, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("nameserver 127.0.0.53\nnameserver 192.0.2.53\n")
	got := servers(nil, false, conf)
	if len(got) != 2 || got[0] != (server{"127.0.0.53:53", true}) || got[1] != (server{"192.0.2.53:53", false}) {
		t.Errorf("resolv.conf: %v", got)
	}
	write("nameserver 192.0.2.53\nnameserver fe80::1%eth0\noptions trust-ad edns0\n")
	got = servers(nil, false, conf)
	if len(got) != 2 || !got[0].trusted || got[1].addr != "[fe80::1]:53" {
		t.Errorf("trust-ad: %v", got)
	}
	write("# nothing\n")
	if got = servers(nil, false, conf); len(got) != 2 || got[0].addr != "127.0.0.1:53" || !got[1].trusted {
		t.Errorf("defaults: %v", got)
	}
	got = servers([]string{"[::1]:5353", "192.0.2.1:53"}, false, conf)
	if !got[0].trusted || got[1].trusted {
		t.Errorf("configured: %v", got)
	}
	if got = servers([]string{"192.0.2.1:53"}, true, conf); !got[0].trusted {
		t.Errorf("TrustAD: %v", got)
	}
}

func TestIsDomainName(t *testing.T) {
	for s, want := range map[string]bool{
		"example.com.": true, "_dmarc.example.com.": true, "a b.example.": false, "123.45.": false,
		"-a.example.": false, "a..b.": false, "xn--bcher-kva.example.": true, "ünicode.example.": false,
	} {
		if got := isDomainName(s); got != want {
			t.Errorf("isDomainName(%q) = %v", s, got)
		}
	}
}

func TestEscapeName(t *testing.T) {
	for raw, want := range map[string]string{
		"a b.example.": `a\032b.example.`, `x"y.test`: `x\"y.test.`, "\xff.test": `\255.test.`, "plain.test": "plain.test.",
	} {
		if got := escapeName(raw); got != want {
			t.Errorf("escapeName(%q) = %q, want %q", raw, got, want)
		}
		if got := unescape(escapeName(raw)); got != raw && got != raw+"." {
			t.Errorf("round trip %q: %q", raw, got)
		}
	}
}
