// Package pebbletest runs Debian's pebble ACME test CA and
// pebble-challtestsrv (as its DNS server, answering 127.0.0.1 for every
// name) on free loopback ports for tests, as in docs TESTING.md.
package pebbletest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Options of a pebble instance.
type Options struct {
	// Validity is the lifetime of issued certificates; 0: pebble's default.
	Validity time.Duration
	// HTTPPort and TLSPort are where pebble validates HTTP-01 and
	// TLS-ALPN-01 on 127.0.0.1; 0: free ports are picked.
	HTTPPort, TLSPort int
}

// Pebble is a running pebble.
type Pebble struct {
	DirectoryURL string
	// APIRoots trusts pebble's own HTTPS listener (for the ACME client).
	APIRoots *x509.CertPool
	// APIRootsFile is the same root as a PEM file (for acme.ca_root).
	APIRootsFile string
	// HTTPPort and TLSPort are the challenge ports pebble connects to.
	HTTPPort, TLSPort int

	t        *testing.T
	dir      string
	mgmt     string
	cmd, dns *exec.Cmd
	cfgPath  string
	dnsAddr  string
	env      []string
}

// Available reports why pebble cannot run here ("" when it can).
func Available() string {
	for _, b := range []string{"pebble", "pebble-challtestsrv"} {
		if _, err := exec.LookPath(b); err != nil {
			return b + " is not installed (apt-get install pebble)"
		}
	}
	return ""
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs pebble and its DNS server; they are stopped at the end of
// the test. It skips the test when pebble is not installed.
func Start(t *testing.T, o Options) *Pebble {
	t.Helper()
	if why := Available(); why != "" {
		t.Skip("skipping ACME test: " + why)
	}
	p := &Pebble{t: t, dir: t.TempDir(), HTTPPort: o.HTTPPort, TLSPort: o.TLSPort}
	if p.HTTPPort == 0 {
		p.HTTPPort = FreePort(t)
	}
	if p.TLSPort == 0 {
		p.TLSPort = FreePort(t)
	}
	certFile, keyFile, pool := listenerCert(t, p.dir)
	p.APIRoots, p.APIRootsFile = pool, certFile
	listen := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	p.mgmt = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	p.dnsAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": p.mgmt,
		"certificate": certFile, "privateKey": keyFile,
		"httpPort": p.HTTPPort, "tlsPort": p.TLSPort,
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
		"certificateValidityPeriod": int(o.Validity / time.Second),
	}}
	b, _ := json.Marshal(cfg)
	p.cfgPath = filepath.Join(p.dir, "pebble.json")
	if err := os.WriteFile(p.cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	p.DirectoryURL = "https://" + listen + "/dir"
	mgmtDNS := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	p.dns = exec.Command("pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-dns01", p.dnsAddr, "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", mgmtDNS)
	p.dns.Stdout, p.dns.Stderr = logWriter(t, p.dir, "challtestsrv.log"), logWriter(t, p.dir, "challtestsrv.log")
	if err := p.dns.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(p.dns) })
	// Every nonce is accepted (PEBBLE_WFE_NONCEREJECT=0) to keep the test
	// fast; authorizations are not reused, so each order is validated.
	p.env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	p.StartCA()
	t.Cleanup(p.StopCA)
	return p
}

// StartCA (re)starts pebble itself; a restarted pebble has a new root.
func (p *Pebble) StartCA() {
	t := p.t
	p.cmd = exec.Command("pebble", "-config", p.cfgPath, "-dnsserver", p.dnsAddr)
	p.cmd.Env = p.env
	w := logWriter(t, p.dir, "pebble.log")
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := p.get("/roots/0"); err == nil {
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(p.dir, "pebble.log"))
			t.Fatalf("pebble did not start:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StopCA stops pebble (the CA becomes unreachable); the DNS server stays.
func (p *Pebble) StopCA() {
	if p.cmd != nil {
		stop(p.cmd)
		p.cmd = nil
	}
}

// Log returns pebble's output so far.
func (p *Pebble) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "pebble.log"))
	return string(b)
}

// IssuerRootPEM is the root that signs pebble's certificates, in PEM
// (new at every start of pebble).
func (p *Pebble) IssuerRootPEM() []byte {
	p.t.Helper()
	b, err := p.get("/roots/0")
	if err != nil {
		p.t.Fatal(err)
	}
	return b
}

// IssuerRoots is a pool with the root that signs pebble's certificates
// (new at every start of pebble).
func (p *Pebble) IssuerRoots() *x509.CertPool {
	p.t.Helper()
	b, err := p.get("/roots/0")
	if err != nil {
		p.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		p.t.Fatalf("pebble root: no certificate in %q", b)
	}
	return pool
}

func (p *Pebble) get(path string) ([]byte, error) {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // pebble's management API, loopback
	}}
	resp, err := c.Get("https://" + p.mgmt + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("pebble %s: %s", path, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

func stop(c *exec.Cmd) {
	if c.Process == nil {
		return
	}
	c.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.Process.Kill()
		<-done
	}
}

func logWriter(t *testing.T, dir, name string) io.Writer {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// listenerCert writes a self-signed certificate for pebble's own HTTPS
// listener (Debian's package ships none).
func listenerCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "pebble test listener"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(leaf)
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "listener.pem"), filepath.Join(dir, "listener.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile, pool
}
