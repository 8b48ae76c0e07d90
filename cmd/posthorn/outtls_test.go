package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/config"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
	"github.com/posthorn/posthorn/internal/tlsrpt"
)

// TestOutboundTLSPolicy: require_tls_domains gives RequireVerifiedTLS,
// tls_ca_file is trusted (by the HTTPS client too), MTA-STS is looked up
// and a failed policy fetch is counted for TLS-RPT.
func TestOutboundTLSPolicy(t *testing.T) {
	dir := t.TempDir()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
	res := dnstest.NewResolver(dnstest.Zone{
		// A record but no policy server: the fetch fails.
		"_mta-sts.sts.example.": {TXT: []string{"v=STSv1; id=1"}},
		"mta-sts.sts.example.":  {A: []string{"127.0.0.1"}},
	})
	c := config.Queue{RequireTLSDomains: []string{"Bank.Example"}, TLSCAFile: caFile, MTASTS: true, TLSReports: true}
	o, err := newOutboundTLS(c, res, dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if p, err := o.policy(ctx, addr.MustParseDomain("bank.example")); err != nil || !p.RequireVerifiedTLS || p.MTASTS != nil {
		t.Errorf("bank.example: %+v %v", p, err)
	}
	if p, _ := o.policy(ctx, addr.MustParseDomain("other.example")); p.RequireVerifiedTLS {
		t.Error("other.example requires TLS")
	}
	if p, err := o.policy(ctx, addr.MustParseDomain("sts.example")); err == nil || p.MTASTS != nil {
		t.Errorf("sts.example: %+v %v", p, err)
	}
	snap := o.recorder.Snapshot(false)
	if len(snap) != 1 || snap[0].Policy.Type != tlsrpt.PolicySTS || snap[0].Failures[0].ResultType != tlsrpt.STSPolicyFetchError {
		t.Errorf("TLS-RPT: %+v", snap)
	}
	// The extra CA verifies the test server, for SMTP and HTTPS.
	cfg := o.tlsConfig("x")
	if _, err := srv.Certificate().Verify(x509.VerifyOptions{Roots: cfg.RootCAs, DNSName: "example.com"}); err != nil {
		t.Errorf("tls_ca_file not trusted: %v", err)
	}
	resp, err := o.http.Get(srv.URL)
	if err != nil {
		t.Fatalf("HTTPS with tls_ca_file: %v", err)
	}
	resp.Body.Close()
	if _, err := os.Stat(filepath.Join(dir, "mta-sts-cache.json")); err == nil {
		t.Error("a failed fetch was cached")
	}
}
