package tlsrpt

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestParseRecord(t *testing.T) {
	tests := []struct {
		in   string
		rua  []string
		fail bool
	}{
		{in: "v=TLSRPTv1; rua=mailto:reports@example.com", rua: []string{"mailto:reports@example.com"}},
		{in: "v=TLSRPTv1;rua=mailto:a@example.com,https://reporting.example.com/v1/tlsrpt", rua: []string{"mailto:a@example.com", "https://reporting.example.com/v1/tlsrpt"}},
		{in: "v=TLSRPTv1; rua=mailto:a@example.com, ftp://x.example; ext=1", rua: []string{"mailto:a@example.com"}},
		{in: "v=TLSRPTv1; rua=mailto:a@example.com;", rua: []string{"mailto:a@example.com"}},
		{in: "v=TLSRPTv1;", fail: true},
		{in: "v=TLSRPTv1; rua=ftp://x.example", fail: true},
		{in: "v=TLSRPTv1; rua=mailto:nobody", fail: true},
		{in: "v=TLSRPTv1; rua=mailto:a@x.example; rua=mailto:b@x.example", fail: true},
		{in: "rua=mailto:a@example.com; v=TLSRPTv1", fail: true},
		{in: "v=TLSRPTv2; rua=mailto:a@example.com", fail: true},
		{in: "v=TLSRPTv1; junk", fail: true},
	}
	for _, tt := range tests {
		r, err := ParseRecord(tt.in)
		if tt.fail {
			if err == nil || !errors.Is(err, ErrSyntax) {
				t.Errorf("%q: %+v, %v", tt.in, r, err)
			}
			continue
		}
		if err != nil || len(r.RUA) != len(tt.rua) {
			t.Errorf("%q: %+v, %v", tt.in, r, err)
			continue
		}
		for i, u := range r.RUA {
			if u.String() != tt.rua[i] {
				t.Errorf("%q: rua %d = %s", tt.in, i, u)
			}
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add("v=TLSRPTv1; rua=mailto:a@example.com,https://r.example/x")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecord(s)
		if err == nil && len(r.RUA) == 0 {
			t.Fatal("record without rua accepted")
		}
	})
}

func TestLookupRecord(t *testing.T) {
	res := dnstest.NewResolver(dnstest.Zone{
		"_smtp._tls.a.test": {TXT: []string{"v=spf1 -all", "v=TLSRPTv1; rua=mailto:r@a.test"}},
		"_smtp._tls.b.test": {TXT: []string{"v=TLSRPTv1; rua=mailto:r@b.test", "v=TLSRPTv1; rua=mailto:s@b.test"}},
	})
	ctx := context.Background()
	if r, err := LookupRecord(ctx, res, "a.test"); err != nil || r.RUA[0].Opaque != "r@a.test" {
		t.Errorf("a: %+v %v", r, err)
	}
	if _, err := LookupRecord(ctx, res, "b.test"); !errors.Is(err, ErrNoRecord) {
		t.Errorf("b: %v", err)
	}
	if _, err := LookupRecord(ctx, res, "c.test"); !errors.Is(err, ErrNoRecord) {
		t.Errorf("c: %v", err)
	}
}

func TestRecorderAndReport(t *testing.T) {
	var r Recorder
	sts := Policy{Type: PolicySTS, Domain: "example.com", MXHost: []string{"*.mail.example.com"},
		String: []string{"version: STSv1", "mode: enforce", "max_age: 86400", "mx: *.mail.example.com"}}
	tlsa := Policy{Type: PolicyTLSA, Domain: "example.com", MXHost: []string{"mx.example.com"}, String: []string{"3 1 1 00ff"}}
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Success(sts)
		}()
	}
	wg.Wait()
	fail := Failure{ResultType: CertificateHostMismatch, ReceivingMXHostname: "mx2.mail.example.com", ReceivingIP: "192.0.2.2", AdditionalInfo: "certificate not valid for mx2.mail.example.com"}
	r.Failure(sts, fail)
	r.Failure(sts, fail)
	r.Failure(sts, Failure{ResultType: StartTLSNotSupported, ReceivingMXHostname: "mx3.mail.example.com", ReceivingIP: "192.0.2.3"})
	r.Success(tlsa)
	r.Success(Policy{Type: PolicyNotFound, Domain: "other.example"})

	snap := r.Snapshot(true)
	if len(snap) != 3 {
		t.Fatalf("%d policies", len(snap))
	}
	if len(r.Snapshot(false)) != 0 {
		t.Error("reset did not clear")
	}
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	rep := BuildReport("posthorn.test", "mailto:tlsrpt@posthorn.test", "2026-11-20T00:00:00Z_example.com", "Example.COM", start, start.Add(24*time.Hour), snap)
	if len(rep.Policies) != 2 || rep.Policies[1].Summary.Failure != 3 && rep.Policies[0].Summary.Failure != 3 {
		t.Errorf("%+v", rep.Policies)
	}
	got, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "report.json")
	if *update {
		os.WriteFile(golden, got, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("report differs from %s (-update to rewrite):\n%s", golden, got)
	}
}
