package tlsmgr

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

// An expired certificate, one not yet valid, or one for other names is
// refused on reload: the previous one stays, with an ERROR line.
func TestReloadRefusesUnusable(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	cf, kf := writePair(t, dir, "mx.example", now.Add(-time.Hour), now.Add(90*day))
	var logs syncBuffer
	m, err := New(Options{
		Files:       &Files{CertFile: cf, KeyFile: kf},
		DefaultName: "mx.example",
		Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, host string
		nb, na     time.Time
		want       string
	}{
		{"expired", "mx.example", now.Add(-90 * day), now.Add(-time.Minute), "expired on"},
		{"not yet valid", "mx.example", now.Add(day), now.Add(90 * day), "not valid before"},
		{"other name", "other.example", now.Add(-time.Hour), now.Add(90 * day), "not for mx.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writePair(t, dir, tc.host, tc.nb, tc.na)
			err := m.Reload()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), cf) {
				t.Fatalf("Reload: %v, want an error naming %s with %q", err, cf, tc.want)
			}
			if got := servedName(t, m); got != "mx.example" {
				t.Errorf("serving %q after a refused reload", got)
			}
			if !m.Usable() {
				t.Error("the previous certificate is no longer usable")
			}
		})
	}
	if n := strings.Count(logs.String(), "level=ERROR msg=\"tls: new certificate files are invalid; still serving the previous certificate\""); n != 3 {
		t.Errorf("%d ERROR lines for 3 refused reloads:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "certificate reloaded") {
		t.Errorf("an unusable certificate was reported as reloaded:\n%s", logs.String())
	}
}

// Starting with an expired certificate is not fatal (mail flows without
// TLS) but nothing is usable, which is logged once; fixing the files
// brings TLS back.
func TestStartWithoutUsableCertificate(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	cf, kf := writePair(t, dir, "mx.example", now.Add(-90*day), now.Add(-day))
	var logs syncBuffer
	m, err := New(Options{
		Files:       &Files{CertFile: cf, KeyFile: kf},
		DefaultName: "mx.example",
		Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatalf("an expired certificate stopped the start: %v", err)
	}
	for range 3 {
		if m.Usable() {
			t.Fatal("an expired certificate is usable")
		}
	}
	if n := strings.Count(logs.String(), "no usable certificate"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "expired on") {
		t.Errorf("the log does not say why:\n%s", logs.String())
	}
	writePair(t, dir, "mx.example", now.Add(-time.Hour), now.Add(90*day))
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	if !m.Usable() {
		t.Fatal("a valid certificate is not usable")
	}
	if !strings.Contains(logs.String(), "usable certificate is available again") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
	var nilManager *Manager
	if nilManager.Usable() {
		t.Error("a nil Manager has a usable certificate")
	}
}

// A certificate that expires while served stops being usable.
func TestUsableFollowsTheClock(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	cf, kf := writePair(t, dir, "mx.example", now.Add(-time.Hour), now.Add(day))
	clock := now
	m, err := New(Options{Files: &Files{CertFile: cf, KeyFile: kf}, DefaultName: "mx.example", Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Usable() {
		t.Fatal("not usable")
	}
	clock = now.Add(2 * day)
	if m.Usable() {
		t.Fatal("usable after its expiry")
	}
}

// Errors reading the files go through Files.Explain on every path: at
// start, on Reload and on the periodic reload.
func TestExplainReadErrors(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	cf, kf := writePair(t, dir, "mx.example", now.Add(-time.Hour), now.Add(90*day))
	explain := func(err error) error { return fmt.Errorf("explained: %w", err) }
	var logs syncBuffer
	m, err := New(Options{
		Files:  &Files{CertFile: cf, KeyFile: kf, ReloadInterval: 20 * time.Millisecond, Explain: explain},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	if err := os.Remove(kf); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(); err == nil || !strings.HasPrefix(err.Error(), "explained: ") {
		t.Errorf("Reload: %v", err)
	}
	os.WriteFile(cf, []byte("changed"), 0o644) // the poll sees a change
	waitFor(t, func() bool { return strings.Count(logs.String(), "err=\"explained: ") >= 2 })
	if _, err := New(Options{Files: &Files{CertFile: cf, KeyFile: kf, Explain: explain}}); err == nil || !strings.HasPrefix(err.Error(), "explained: ") {
		t.Errorf("New: %v", err)
	}
}
