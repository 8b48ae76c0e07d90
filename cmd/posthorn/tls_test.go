package main

import (
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
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
