package smtpclient

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// testPKI is a CA and a server certificate signed by it.
type testPKI struct {
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	pool   *x509.CertPool
	leaf   tls.Certificate
	leafX  *x509.Certificate
	caDER  []byte
	leafDN []string
}

func newPKI(t testing.TB, names ...string) *testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "posthorn test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leafX, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{ca: ca, caKey: caKey, pool: pool, caDER: caDER, leafX: leafX, leafDN: names,
		leaf: tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}}
}

// fakeServer is a scripted SMTP server on loopback.
type fakeServer struct {
	t        testing.TB
	ln       net.Listener
	ext      []string                // EHLO keywords
	cert     *tls.Certificate        // STARTTLS offered when set and "STARTTLS" in ext
	reply    func(cmd string) string // nil or "" answer: default
	greeting string                  // default "220 fake ESMTP"
	noGreet  bool                    // never greet (timeout tests)

	once  sync.Once
	mu    sync.Mutex
	cmds  []string
	data  [][]byte // each message's bytes as on the wire (DATA: stuffed, with the final dot line removed)
	conns int
}

func startFake(t testing.TB, ext ...string) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, ln: ln, ext: ext}
	t.Cleanup(func() { ln.Close() })
	return s
}

// start begins accepting; configure the server's fields before (newClient
// calls it).
func (s *fakeServer) start() {
	s.once.Do(func() { go s.accept() })
}

func (s *fakeServer) accept() {
	ln := s.ln
	func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			go s.serve(c)
		}
	}()
}

func (s *fakeServer) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

func (s *fakeServer) Data() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.data...)
}

func (s *fakeServer) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

func (s *fakeServer) answer(cmd, def string) string {
	if s.reply != nil {
		if r := s.reply(cmd); r != "" {
			return r
		}
	}
	return def
}

func (s *fakeServer) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	say := func(l string) { w.WriteString(l + "\r\n"); w.Flush() }
	if s.noGreet {
		io.Copy(io.Discard, r)
		return
	}
	g := s.greeting
	if g == "" {
		g = "220 fake ESMTP"
	}
	say(g)
	tlsOn := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		s.mu.Lock()
		s.cmds = append(s.cmds, line)
		s.mu.Unlock()
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			if a := s.answer(line, ""); a != "" {
				say(a)
				continue
			}
			lines := []string{"fake"}
			for _, e := range s.ext {
				if e == "STARTTLS" && tlsOn {
					continue
				}
				lines = append(lines, e)
			}
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				w.WriteString("250" + sep + l + "\r\n")
			}
			w.Flush()
		case "STARTTLS":
			say("220 2.0.0 go ahead")
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{*s.cert}})
			if err := tc.Handshake(); err != nil {
				return
			}
			c, tlsOn = tc, true
			r, w = bufio.NewReader(tc), bufio.NewWriter(tc)
		case "DATA":
			if a := s.answer(line, ""); a != "" {
				say(a)
				continue
			}
			say("354 go on")
			var buf bytes.Buffer
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				buf.WriteString(l)
			}
			s.mu.Lock()
			s.data = append(s.data, buf.Bytes())
			s.mu.Unlock()
			say(s.answer(".", "250 2.0.0 queued"))
		case "BDAT":
			f := strings.Fields(arg)
			n, _ := strconv.Atoi(f[0])
			buf := make([]byte, n)
			if _, err := io.ReadFull(r, buf); err != nil {
				return
			}
			s.mu.Lock()
			if len(s.data) == 0 || s.cmds[len(s.cmds)-2][:4] != "BDAT" {
				s.data = append(s.data, nil)
			}
			s.data[len(s.data)-1] = append(s.data[len(s.data)-1], buf...)
			s.mu.Unlock()
			if len(f) > 1 {
				say(s.answer(".", "250 2.0.0 queued"))
			} else {
				say("250 2.0.0 chunk ok")
			}
		case "QUIT":
			say("221 bye")
			return
		case "AUTH":
			say(s.answer(line, "235 2.7.0 ok"))
		default:
			say(s.answer(line, "250 2.0.0 ok"))
		}
	}
}

// mapDialer dials the fake server registered for an IP, or fails.
type mapDialer struct {
	mu    sync.Mutex
	m     map[string]string // ip → listener address
	tried []string
}

func (d *mapDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, _, _ := net.SplitHostPort(address)
	d.mu.Lock()
	d.tried = append(d.tried, host)
	to, ok := d.m[host]
	d.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("dial %s: connection refused", address)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, to)
}

func (d *mapDialer) Tried() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.tried...)
}
