package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/admin"
	"github.com/posthorn/posthorn/internal/store"
	"github.com/posthorn/posthorn/internal/tlsmgr"
)

func TestRemainingWords(t *testing.T) {
	for d, want := range map[time.Duration]string{
		14*24*time.Hour - time.Minute: "13 days",
		3*24*time.Hour - time.Minute:  "2 days",
		48 * time.Hour:                "2 days",
		24*time.Hour - time.Minute:    "23 hours",
		90 * time.Minute:              "1 hour",
		15 * time.Second:              "less than an hour",
		-time.Second:                  "no time: it has expired",
	} {
		if got := remainingWords(d); got != want {
			t.Errorf("remainingWords(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestExpiryMessageSubject(t *testing.T) {
	to, _ := addr.ParseAddress("postmaster@example.com")
	host, _ := addr.ParseDomain("mail.example.com")
	a := tlsmgr.Alarm{Cert: tlsmgr.CertStatus{Names: []string{"mail.example.com"}, Issuer: "CA", LastError: "boom"},
		Threshold: 24 * time.Hour, Remaining: 23*time.Hour + 59*time.Minute}
	msg := string(expiryMessage(a, to, host, "id", time.Now()))
	if !strings.Contains(msg, "Subject: TLS certificate for mail.example.com expires in 23 hours\r\n") ||
		!strings.Contains(msg, "Error: boom\r\n") {
		t.Errorf("message:\n%s", msg)
	}
}

// TestCertificateNamesCoverPublishedHosts checks the class: every name
// `domain records` publishes as a CNAME to the mail host (mta-sts.,
// autoconfig., autodiscover. of every local domain, including domains
// added later) is in the list of names certificates are requested for,
// since clients reach those names over HTTPS.
func TestCertificateNamesCoverPublishedHosts(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	host := addr.MustParseDomain("mail.example.com")
	adm := &admin.Admin{Store: st, Hostname: host}
	for _, d := range []string{"example.com", "example.org"} {
		if _, err := adm.AddDomain(ctx, admin.DomainRequest{Domain: d}); err != nil {
			t.Fatal(err)
		}
	}
	names, err := certificateNames(ctx, host, nil, st)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, d := range []string{"example.com", "example.org"} {
		recs, err := adm.DomainRecords(ctx, admin.DomainRequest{Domain: d})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Type != "CNAME" || r.Value != host.ASCII+"." {
				continue
			}
			checked++
			if n := strings.TrimSuffix(r.Name, "."); !slices.Contains(names, n) {
				t.Errorf("domain records publishes %s but certificates are requested only for %v", n, names)
			}
		}
		if !slices.ContainsFunc(recs, func(r admin.Record) bool { return r.Name == "autodiscover."+d+"." }) {
			t.Errorf("domain records of %s has no autodiscover record", d)
		}
	}
	if checked < 6 {
		t.Errorf("only %d CNAME records checked", checked)
	}
}
