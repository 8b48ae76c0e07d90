package httpserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/admin"
)

// testCert returns a self-signed certificate for names and 127.0.0.1, and
// its PEM.
func testCert(t *testing.T, names ...string) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: names[0]},
		DNSNames: names, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// mailauthScript fetches the policy of example.com with mailauth's MTA-STS
// code: DNS answers come from a custom resolver, and https.request is
// pointed at the test server's port with its certificate as the only CA
// (mailauth always connects to port 443 and verifies the certificate).
const mailauthScript = `
const https = require('node:https');
const fs = require('node:fs');
const [port, caFile, id] = process.argv.slice(1);
const ca = fs.readFileSync(caFile);
const request = https.request;
https.request = (opts, cb) => request(Object.assign({}, opts, { port: Number(port), ca }), cb);
const { getPolicy, validateMx } = require('mailauth/lib/mta-sts');
const resolver = async (name, type) => {
  if (name === '_mta-sts.example.com' && type === 'TXT') return [['v=STSv1; id=' + id]];
  if (name === 'mta-sts.example.com' && type === 'A') return ['127.0.0.1'];
  const err = new Error('no such record ' + name + ' ' + type);
  err.code = 'ENOTFOUND';
  throw err;
};
(async () => {
  const r = await getPolicy('example.com', null, { resolver });
  if (r.policy.error) throw r.policy.error;
  console.log(JSON.stringify({
    status: r.status, id: r.policy.id, mode: r.policy.mode, mx: r.policy.mx, maxAge: r.policy.maxAge,
    good: validateMx('mail.example.net', r.policy).valid, bad: validateMx('mx.evil.example', r.policy).valid,
  }));
})().catch(err => { console.error(err); process.exit(1); });
`

// TestMTASTSMailauth has an independent implementation, npm mailauth
// 4.13.3, fetch and validate the policy from a running HTTPS server, with
// the id that "posthorn domain records" publishes.
func TestMTASTSMailauth(t *testing.T) {
	nodeDir, err := filepath.Abs("../../test/e2e/node")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not installed")
	}
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules/mailauth/lib/mta-sts.js")); err != nil {
		t.Skip("mailauth not installed in test/e2e/node (npm install there)")
	}
	h, o := newTestHandler(t, nil)
	cert, certPEM := testCert(t, "mta-sts.example.com")
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}

	a := &admin.Admin{Store: o.Store, Hostname: mailHost, MTASTSMode: o.MTASTSMode, MTASTSMaxAge: o.MTASTSMaxAge}
	recs, err := a.DomainRecords(context.Background(), admin.DomainRequest{Domain: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, r := range recs {
		if r.Name == "_mta-sts.example.com." {
			id = strings.TrimSuffix(strings.TrimPrefix(r.Value, `"v=STSv1; id=`), `"`)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "-e", mailauthScript, port, caFile, id)
	cmd.Dir = nodeDir
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("mailauth: %v\n%s%s", err, out, stderr)
	}
	var got struct {
		Status, ID, Mode string
		MX               []string
		MaxAge           int
		Good, Bad        bool
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Status != "found" || got.ID != id || got.Mode != "enforce" || len(got.MX) != 1 || got.MX[0] != "mail.example.net" ||
		got.MaxAge != 7*24*3600 || !got.Good || got.Bad {
		t.Errorf("mailauth saw %+v (published id %s)", got, id)
	}
}
