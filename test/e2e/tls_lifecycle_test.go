package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeCert replaces the server's certificate files with a self-signed
// certificate for name valid from nb to na (key first, then certificate,
// as docs/certificates.md says).
func writeCert(t *testing.T, certFile, keyFile, name string, nb, na time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, NotBefore: nb, NotAfter: na,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})))
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ehlo asks the server's MX for its capabilities with swaks.
func ehlo(t *testing.T, server string) string {
	t.Helper()
	return mustSwaks(t, "--server", server, "--quit-after", "EHLO", "--ehlo", "client.example")
}

// The certificate's life as the operator meets it, through the built
// binary: an expired certificate at start is not served (no STARTTLS, 465
// closes, the log says why once); a valid one after SIGHUP is; a later
// expired or wrong-name one is refused on SIGHUP and the valid one stays.
func TestCertificateLifecycle(t *testing.T) {
	m := newMailServer(t, mailOptions{})
	certFile, keyFile := m.cert, filepath.Join(filepath.Dir(m.cert), "key.pem")
	now := time.Now()
	writeCert(t, certFile, keyFile, mailHost, now.Add(-90*24*time.Hour), now.Add(-time.Hour))
	m.start()
	defer m.stop()

	if caps := ehlo(t, m.smtp); strings.Contains(caps, "STARTTLS") {
		t.Errorf("STARTTLS offered with an expired certificate:\n%s", caps)
	}
	if out, code := swaks(t, "--server", m.submissions, "--tlsc", "--quit-after", "CONNECT"); code == 0 {
		t.Errorf("port 465 completed a TLS session with an expired certificate:\n%s", out)
	}
	// Mail still flows in clear.
	mustSwaks(t, "--server", m.smtp, "--from", "someone@remote.example", "--to", "postmaster@example.com",
		"--header", "Subject: no tls yet")
	if n := strings.Count(m.logs(), "no usable certificate"); n != 1 {
		t.Errorf("the missing certificate was logged %d times, want once:\n%s", n, m.logs())
	}
	if !strings.Contains(m.logs(), "expired on") {
		t.Errorf("the log does not say why:\n%s", m.logs())
	}

	writeCert(t, certFile, keyFile, mailHost, now.Add(-time.Hour), now.Add(30*24*time.Hour))
	m.srv.cmd.Process.Signal(syscall.SIGHUP)
	logsShow(t, m, func(l string) bool { return strings.Contains(l, "certificate reloaded") })
	if caps := ehlo(t, m.smtp); !strings.Contains(caps, "STARTTLS") {
		t.Errorf("STARTTLS not offered with a valid certificate:\n%s", caps)
	}
	mustSwaks(t, "--server", m.submissions, "--tlsc", "--quit-after", "EHLO")

	for _, bad := range []struct {
		name   string
		nb, na time.Time
	}{
		{mailHost, now.Add(-90 * 24 * time.Hour), now.Add(-time.Minute)},
		{"other.example.net", now.Add(-time.Hour), now.Add(30 * 24 * time.Hour)},
	} {
		before := strings.Count(m.logs(), "still serving the previous certificate")
		writeCert(t, certFile, keyFile, bad.name, bad.nb, bad.na)
		m.srv.cmd.Process.Signal(syscall.SIGHUP)
		logsShow(t, m, func(l string) bool { return strings.Count(l, "still serving the previous certificate") > before })
		if caps := ehlo(t, m.smtp); !strings.Contains(caps, "STARTTLS") {
			t.Errorf("after a refused %s certificate STARTTLS is gone:\n%s", bad.name, caps)
		}
		out := mustSwaks(t, "--server", m.smtp, "--tls", "--quit-after", "EHLO", "--tls-get-peer-cert")
		if !strings.Contains(out, mailHost) {
			t.Errorf("after a refused %s certificate the served one changed:\n%s", bad.name, out)
		}
	}
	if !strings.Contains(m.logs(), `level=ERROR msg="tls: new certificate files are invalid`) {
		t.Errorf("refusals not logged as errors:\n%s", m.logs())
	}
}

// A message line far over max_line_length is accepted through the binary
// (swaks sends it), and stored as sent.
func TestLongMessageLineAccepted(t *testing.T) {
	m := newMailServer(t, mailOptions{})
	m.start()
	defer m.stop()
	line := strings.Repeat("0123456789", 2000) // 20,000 bytes
	path := filepath.Join(t.TempDir(), "long.eml")
	writeFile(t, path, "From: someone@remote.example\r\nSubject: long line\r\n\r\n"+line+"\r\nend")
	out := mustSwaks(t, "--server", m.smtp, "--from", "someone@remote.example", "--to", "postmaster@example.com", "--data", "@"+path)
	if !strings.Contains(out, "<-  250 2.0.0 Ok: stored") {
		t.Fatalf("not accepted:\n%.2000s", out)
	}
	m.stop()
	msg := oneBySubject(t, m.messages("postmaster@example.com"), "long line")
	if !strings.Contains(msg.Body, "\r\n"+line+"\r\nend") {
		t.Errorf("the long line was altered")
	}
	m.start()
}

// logsShow waits up to 30 s until the server's log satisfies cond.
func logsShow(t *testing.T, m *mailServer, cond func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond(m.logs()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the log:\n%s", m.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
