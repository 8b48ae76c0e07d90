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

// FuzzReverse: every address Forward makes reverses to the sender it
// came from, through an SRS1 hop too and whatever the case; changing one
// character of its hash or of the sender in it makes it forged; and
// Reverse of any local part fails with one of its documented errors.
func FuzzReverse(f *testing.F) {
	f.Add("SRS0=HHHHHH=TT=example.org=bob", "bob", "example.org")
	f.Add("SRS1=HHHHHH=a.example==HHHHHH=TT=example.org=bob", "Alice.Smith", "Example.ORG")
	f.Add("srs0+x", `"a=b c"`, "xn--bcher-kva.example")
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	r := rewriter(&now)
	r2 := &Rewriter{Secret: []byte("another secret!!"), Now: r.Now}
	fwd, fwd2 := addr.MustParseDomain("forward.example"), addr.MustParseDomain("second.example")
	f.Fuzz(func(t *testing.T, lp, local, domain string) {
		a := addr.Address{Localpart: addr.Localpart(lp), Domain: fwd}
		if _, err := r.Reverse(a); err != nil && !errors.Is(err, ErrNotSRS) && !errors.Is(err, ErrInvalid) &&
			!errors.Is(err, ErrForged) && !errors.Is(err, ErrExpired) {
			t.Fatalf("Reverse(%q): undocumented error %v", lp, err)
		} else if !IsSRS(a.Localpart) && !errors.Is(err, ErrNotSRS) {
			t.Fatalf("Reverse(%q) of a non-SRS local part: %v", lp, err)
		}

		sender, err := addr.ParseAddress(local + "@" + domain)
		if err != nil || IsSRS(sender.Localpart) || strings.EqualFold(sender.Domain.ASCII, fwd.ASCII) ||
			strings.EqualFold(sender.Domain.ASCII, fwd2.ASCII) {
			return
		}
		srs0, err := r.Forward(sender, fwd)
		if err != nil {
			return // too long for a local part
		}
		if !IsSRS(srs0.Localpart) || srs0.Domain != fwd {
			t.Fatalf("Forward(%s) = %s", sender, srs0)
		}
		back, err := r.Reverse(srs0)
		if err != nil || !sameAddress(back, sender) {
			t.Fatalf("Reverse(Forward(%s) = %s) = %s, %v", sender, srs0, back, err)
		}
		upper := addr.Address{Localpart: addr.Localpart(strings.ToUpper(string(srs0.Localpart))), Domain: fwd}
		if back, err := r.Reverse(upper); err != nil || !strings.EqualFold(back.String(), sender.String()) {
			t.Fatalf("Reverse(%s) = %s, %v; want %s", upper, back, err, sender)
		}
		// One character of the hash, or of the sender, changed.
		s := string(srs0.Localpart)
		for _, i := range []int{5, len(s) - 1} {
			c := byte('A')
			if s[i] == 'A' || s[i] == 'a' {
				c = 'B'
			}
			forged := addr.Address{Localpart: addr.Localpart(s[:i] + string(c) + s[i+1:]), Domain: fwd}
			if _, err := r.Reverse(forged); !errors.Is(err, ErrForged) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Reverse(%s), changed from %s: %v, want forged", forged, srs0, err)
			}
		}
		// A second forwarder: SRS1 back to the first, then the sender.
		srs1, err := r2.Forward(srs0, fwd2)
		if err != nil {
			return
		}
		mid, err := r2.Reverse(srs1)
		if err != nil || !strings.EqualFold(mid.String(), srs0.String()) {
			t.Fatalf("Reverse(%s) = %s, %v; want %s", srs1, mid, err, srs0)
		}
		if back, err := r.Reverse(mid); err != nil || !strings.EqualFold(back.String(), sender.String()) {
			t.Fatalf("Reverse(%s) = %s, %v; want %s", mid, back, err, sender)
		}
		if _, err := r.Reverse(srs1); !errors.Is(err, ErrForged) {
			t.Fatalf("%s reversed with the first forwarder's secret: %v", srs1, err)
		}
	})
}

// sameAddress compares local parts exactly and domains by their ASCII form.
func sameAddress(a, b addr.Address) bool {
	return a.Localpart == b.Localpart && strings.EqualFold(a.Domain.ASCII, b.Domain.ASCII)
}
