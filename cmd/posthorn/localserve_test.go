package main

import (
	"context"
	"net/netip"
	"testing"

	"github.com/posthorn/posthorn/internal/dns"
)

// TestLocalResolver checks that localserve without --dns answers every
// query itself ("no such name") and with --dns uses the configured server.
func TestLocalResolver(t *testing.T) {
	cfg := localConfig(t.TempDir())
	r := localResolver(cfg)
	if r == nil {
		t.Fatal("no resolver without --dns")
	}
	ctx := context.Background()
	if _, _, err := r.LookupTXT(ctx, "_dmarc.example.org"); !dns.IsNotFound(err) {
		t.Errorf("LookupTXT: %v, want not found", err)
	}
	if _, _, err := r.LookupIP(ctx, "ip", "example.org"); !dns.IsNotFound(err) {
		t.Errorf("LookupIP: %v", err)
	}
	if _, _, err := r.LookupAddr(ctx, netip.MustParseAddr("192.0.2.1")); !dns.IsNotFound(err) {
		t.Errorf("LookupAddr: %v", err)
	}
	cfg.DNS.Servers = []string{"127.0.0.1:5300"}
	if r := localResolver(cfg); r != nil {
		t.Errorf("with --dns, localResolver = %T, want nil (the configured servers)", r)
	}
}
