package srs

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
)

func rewriter(now *time.Time) *Rewriter {
	return &Rewriter{Secret: []byte("0123456789abcdef"), Now: func() time.Time { return *now }}
}

func TestRoundTrip(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	r := rewriter(&now)
	orig := addr.MustParseAddress("Alice.Smith@example.org")
	fwd := addr.MustParseDomain("forward.example")
	srs0, err := r.Forward(orig, fwd)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(srs0.Localpart), "SRS0=") || srs0.Domain.ASCII != "forward.example" {
		t.Fatalf("SRS0 address %s", srs0)
	}
	back, err := r.Reverse(srs0)
	if err != nil || back.Key() != orig.Key() {
		t.Fatalf("Reverse(%s) = %s, %v", srs0, back, err)
	}
	// Case changes in transit are tolerated.
	upper := addr.Address{Localpart: addr.Localpart(strings.ToUpper(string(srs0.Localpart))), Domain: srs0.Domain}
	if _, err := r.Reverse(upper); err != nil {
		t.Errorf("upper-cased: %v", err)
	}
	// A second forwarder makes SRS1 pointing to the first.
	r2 := &Rewriter{Secret: []byte("another secret!!"), Now: r.Now}
	srs1, err := r2.Forward(srs0, addr.MustParseDomain("second.example"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(srs1.Localpart), "SRS1=") {
		t.Fatalf("SRS1 address %s", srs1)
	}
	mid, err := r2.Reverse(srs1)
	if err != nil || mid.Key() != srs0.Key() {
		t.Fatalf("Reverse(%s) = %s, %v; want %s", srs1, mid, err, srs0)
	}
	// A third forwarder keeps the SRS1 form pointing at the first.
	srs1b, err := r.Forward(srs1, addr.MustParseDomain("third.example"))
	if err != nil {
		t.Fatal(err)
	}
	mid, err = r.Reverse(srs1b)
	if err != nil || !strings.EqualFold(mid.Domain.ASCII, "forward.example") {
		t.Fatalf("Reverse(%s) = %s, %v", srs1b, mid, err)
	}
	// Null sender and own-domain senders stay.
	if a, _ := r.Forward(addr.Address{}, fwd); !a.IsZero() {
		t.Errorf("null sender rewritten to %s", a)
	}
}

func TestForgedAndExpired(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	r := rewriter(&now)
	srs0, _ := r.Forward(addr.MustParseAddress("bob@example.org"), addr.MustParseDomain("forward.example"))
	lp := string(srs0.Localpart)
	forged := addr.Address{Localpart: addr.Localpart(lp[:5] + "AAAAAA" + lp[11:]), Domain: srs0.Domain}
	if _, err := r.Reverse(forged); !errors.Is(err, ErrForged) {
		t.Errorf("forged hash: %v", err)
	}
	other := addr.Address{Localpart: addr.Localpart(strings.Replace(lp, "=bob", "=eve", 1)), Domain: srs0.Domain}
	if _, err := r.Reverse(other); !errors.Is(err, ErrForged) {
		t.Errorf("changed local part: %v", err)
	}
	if _, err := r.Reverse(addr.MustParseAddress("bob@forward.example")); !errors.Is(err, ErrNotSRS) {
		t.Errorf("plain address: %v", err)
	}
	if _, err := r.Reverse(addr.MustParseAddress("SRS0=abc@forward.example")); !errors.Is(err, ErrInvalid) {
		t.Errorf("truncated: %v", err)
	}
	now = now.Add(20 * 24 * time.Hour)
	if _, err := r.Reverse(srs0); err != nil {
		t.Errorf("20 days later: %v", err)
	}
	now = now.Add(2 * 24 * time.Hour)
	if _, err := r.Reverse(srs0); !errors.Is(err, ErrExpired) {
		t.Errorf("22 days later: %v", err)
	}
}

func FuzzReverse(f *testing.F) {
	f.Add("SRS0=HHHHHH=TT=example.org=bob")
	f.Add("SRS1=HHHHHH=a.example==HHHHHH=TT=example.org=bob")
	r := &Rewriter{Secret: []byte("0123456789abcdef")}
	f.Fuzz(func(t *testing.T, lp string) {
		a := addr.Address{Localpart: addr.Localpart(lp), Domain: addr.MustParseDomain("forward.example")}
		r.Reverse(a)
	})
}
