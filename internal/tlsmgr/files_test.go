package tlsmgr

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func servedName(t *testing.T, m *Manager) string {
	t.Helper()
	c, err := m.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf.DNSNames[0]
}

func TestFileReload(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	cf, kf := writePair(t, dir, "one.example", now.Add(-time.Hour), now.Add(90*day))
	var logs syncBuffer
	m, err := New(Options{
		Files:  &Files{CertFile: cf, KeyFile: kf, ReloadInterval: 20 * time.Millisecond},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	if got := servedName(t, m); got != "one.example" {
		t.Fatalf("serving %q", got)
	}

	// A new valid pair is picked up by the poll.
	writePair(t, dir, "two.example", now.Add(-time.Hour), now.Add(90*day))
	waitFor(t, func() bool { return servedName(t, m) == "two.example" })

	// A key that does not match the certificate is refused and logged;
	// the previous certificate stays.
	other := t.TempDir()
	_, kf2 := writePair(t, other, "three.example", now.Add(-time.Hour), now.Add(90*day))
	b, _ := os.ReadFile(kf2)
	if err := os.WriteFile(kf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(logs.String(), "still serving the previous certificate") })
	if got := servedName(t, m); got != "two.example" {
		t.Fatalf("after an invalid pair, serving %q", got)
	}
	// Garbage is refused by Reload (SIGHUP) too.
	os.WriteFile(cf, []byte("not PEM"), 0o644)
	if err := m.Reload(); err == nil {
		t.Fatal("Reload accepted garbage")
	}
	if got := servedName(t, m); got != "two.example" {
		t.Fatalf("after garbage, serving %q", got)
	}
	// Fixing the files recovers.
	writePair(t, dir, "four.example", now.Add(-time.Hour), now.Add(90*day))
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := servedName(t, m); got != "four.example" {
		t.Fatalf("serving %q", got)
	}
}

func TestFileInvalidAtStart(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(cf, []byte("x"), 0o644)
	os.WriteFile(kf, []byte("y"), 0o600)
	if _, err := New(Options{Files: &Files{CertFile: cf, KeyFile: kf}}); err == nil {
		t.Fatal("New accepted an invalid pair")
	}
	if _, err := New(Options{}); err == nil {
		t.Fatal("New accepted no source")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
