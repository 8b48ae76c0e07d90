package tlsmgr_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/tlsmgr"
	"github.com/posthorn/posthorn/internal/tlsmgr/pebbletest"
)

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type notifier struct {
	mu     sync.Mutex
	alarms []tlsmgr.Alarm
}

func (n *notifier) NotifyExpiry(_ context.Context, a tlsmgr.Alarm) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.alarms = append(n.alarms, a)
	return nil
}

func (n *notifier) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.alarms)
}

// acmeSetup starts a manager against pebble with our own listeners on the
// challenge ports: an HTTPS-like TLS listener with TLSConfig on the
// TLS-ALPN-01 port and an HTTP server with HTTPChallengeHandler on the
// HTTP-01 port, as serve does on 443 and 80.
func acmeSetup(t *testing.T, p *pebbletest.Pebble, challenge string, names []string, n tlsmgr.Notifier) (*tlsmgr.Manager, *logBuffer, string) {
	t.Helper()
	logs := &logBuffer{}
	dir := t.TempDir()
	m, err := tlsmgr.New(tlsmgr.Options{
		ACME: &tlsmgr.ACME{
			DirectoryURL:       p.DirectoryURL,
			Email:              "postmaster@example.test",
			StorageDir:         filepath.Join(dir, "acme"),
			Roots:              p.APIRoots,
			Names:              func(context.Context) ([]string, error) { return names, nil },
			Challenges:         []string{challenge},
			HTTPPort:           p.HTTPPort,
			TLSALPNPort:        p.TLSPort,
			RenewCheckInterval: time.Second,
		},
		DefaultName:   names[0],
		StateFile:     filepath.Join(dir, "tls-alarms.json"),
		Notifier:      n,
		CheckInterval: 500 * time.Millisecond,
		Logger:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	tl, err := tls.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p.TLSPort), m.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() {
				c.(*tls.Conn).Handshake()
				c.Write([]byte("hello\r\n"))
				c.Close()
			}()
		}
	}()
	hl, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p.HTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: m.HTTPChallengeHandler(http.NotFoundHandler())}
	go hs.Serve(hl)
	t.Cleanup(func() {
		tl.Close()
		hs.Close()
	})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown(context.Background()) })
	return m, logs, tl.Addr().String()
}

// served connects to addr with SNI name, verifying with roots, and returns
// the leaf served.
func served(t *testing.T, addr, name string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		t.Fatalf("TLS to %s as %s: %v", addr, name, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

func waitStatus(t *testing.T, m *tlsmgr.Manager, d time.Duration, what string, cond func(tlsmgr.Status) bool) tlsmgr.Status {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st := m.Status()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; status %+v", what, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func allIssued(n int) func(tlsmgr.Status) bool {
	return func(st tlsmgr.Status) bool {
		if len(st.Certificates) != n {
			return false
		}
		for _, c := range st.Certificates {
			if c.NotAfter.IsZero() {
				return false
			}
		}
		return true
	}
}

func TestACMEChallenges(t *testing.T) {
	for _, ch := range []string{tlsmgr.TLSALPN01, tlsmgr.HTTP01} {
		t.Run(ch, func(t *testing.T) {
			p := pebbletest.Start(t, pebbletest.Options{})
			names := []string{"mx.example.test", "mta-sts.example.test"}
			m, _, addr := acmeSetup(t, p, ch, names, nil)
			// Issuance takes several round trips to the CA: nothing yet.
			if m.Usable() {
				t.Error("usable before any certificate was issued")
			}
			st := waitStatus(t, m, 60*time.Second, "certificates", allIssued(2))
			if !m.Usable() {
				t.Error("an issued ACME certificate is not usable")
			}
			roots := p.IssuerRoots()
			for _, n := range names {
				leaf := served(t, addr, n, roots)
				if leaf.DNSNames[0] != n || !strings.Contains(leaf.Issuer.CommonName, "Pebble") {
					t.Errorf("%s: served %v issued by %q", n, leaf.DNSNames, leaf.Issuer.CommonName)
				}
			}
			// No SNI (most SMTP clients): the default name's certificate.
			c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "", InsecureSkipVerify: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.ConnectionState().PeerCertificates[0].DNSNames[0]; got != "mx.example.test" {
				t.Errorf("without SNI: %s", got)
			}
			c.Close()
			for _, c := range st.Certificates {
				if !c.LastOK || c.Issuer == "" || c.Source != "acme" {
					t.Errorf("status %+v", c)
				}
			}
		})
	}
}

// TestACMERenewalAndAlarm obtains a short-lived certificate, sees it
// renewed before expiry with the same key, then stops the CA and sees the
// alarms fire: the error log line with the CA's error, Status, and the
// postmaster notification.
func TestACMERenewalAndAlarm(t *testing.T) {
	const validity = 40 * time.Second
	p := pebbletest.Start(t, pebbletest.Options{Validity: validity})
	n := &notifier{}
	m, logs, addr := acmeSetup(t, p, tlsmgr.TLSALPN01, []string{"mx.example.test"}, n)
	first := waitStatus(t, m, 60*time.Second, "certificate", allIssued(1)).Certificates[0]
	roots := p.IssuerRoots()
	leaf1 := served(t, addr, "mx.example.test", roots)

	// Renewed without a restart, before expiry, same key.
	second := waitStatus(t, m, validity, "renewal", func(st tlsmgr.Status) bool {
		return allIssued(1)(st) && st.Certificates[0].Key != first.Key
	}).Certificates[0]
	if second.TLSA311 != first.TLSA311 {
		t.Errorf("key changed on renewal: %s -> %s", first.TLSA311, second.TLSA311)
	}
	if !second.NotAfter.After(first.NotAfter) || time.Now().After(first.NotAfter) {
		t.Errorf("renewal at %v: not_after %v -> %v", time.Now(), first.NotAfter, second.NotAfter)
	}
	leaf2 := served(t, addr, "mx.example.test", roots)
	if bytes.Equal(leaf1.Raw, leaf2.Raw) {
		t.Error("the listener still serves the first certificate")
	}
	if n.count() != 0 {
		t.Errorf("alarm during healthy renewals: %+v", n.alarms)
	}

	// The CA goes away: the next renewal fails and the alarms fire.
	p.StopCA()
	st := waitStatus(t, m, validity, "a failed renewal", func(st tlsmgr.Status) bool {
		return st.RenewalFailures > 0 && st.Certificates[0].LastError != ""
	})
	if !st.Alarm {
		t.Error("Status().Alarm not set")
	}
	if !strings.Contains(logs.String(), "certificate renewal failed") {
		t.Errorf("no error line in the log:\n%s", logs)
	}
	deadline := time.Now().Add(validity)
	for n.count() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no postmaster alarm; status %+v", m.Status())
		}
		time.Sleep(100 * time.Millisecond)
	}
	a := n.alarms[0]
	if a.Threshold != 24*time.Hour || a.Cert.Names[0] != "mx.example.test" || a.Cert.LastError == "" {
		t.Errorf("alarm %+v", a)
	}
	t.Logf("CA error reported: %s", a.Cert.LastError)
}
