package dane

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

type chain struct {
	ca, leaf *x509.Certificate
}

func newChain(t *testing.T, notAfter time.Time, names ...string) chain {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test TA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return chain{ca: ca, leaf: leaf}
}

func sum256(b []byte) []byte { h := sha256.Sum256(b); return h[:] }
func sum512(b []byte) []byte { h := sha512.Sum512(b); return h[:] }

func TestVerify(t *testing.T) {
	now := time.Now()
	c := newChain(t, now.Add(24*time.Hour), "mx.example.test")
	expired := newChain(t, now.Add(-time.Minute), "mx.example.test")
	other := newChain(t, now.Add(24*time.Hour), "mx.example.test")
	full := []*x509.Certificate{c.leaf, c.ca}
	names := []string{"mx.example.test.", "example.test"}
	tests := []struct {
		name  string
		recs  []dns.TLSA
		chain []*x509.Certificate
		names []string
		ok    bool
	}{
		{"3 1 1", []dns.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: sum256(c.leaf.RawSubjectPublicKeyInfo)}}, full, names, true},
		{"3 0 1", []dns.TLSA{{Usage: 3, Selector: 0, MatchingType: 1, Data: sum256(c.leaf.Raw)}}, full, names, true},
		{"3 1 2", []dns.TLSA{{Usage: 3, Selector: 1, MatchingType: 2, Data: sum512(c.leaf.RawSubjectPublicKeyInfo)}}, full, names, true},
		{"3 0 0", []dns.TLSA{{Usage: 3, Selector: 0, MatchingType: 0, Data: c.leaf.Raw}}, full, names, true},
		{"3 1 1 ignores names and expiry", []dns.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: sum256(expired.leaf.RawSubjectPublicKeyInfo)}},
			[]*x509.Certificate{expired.leaf}, []string{"wrong.test"}, true},
		{"3 1 1 wrong key", []dns.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: sum256(other.leaf.RawSubjectPublicKeyInfo)}}, full, names, false},
		{"second record matches", []dns.TLSA{
			{Usage: 3, Selector: 1, MatchingType: 1, Data: sum256(other.leaf.RawSubjectPublicKeyInfo)},
			{Usage: 3, Selector: 1, MatchingType: 1, Data: sum256(c.leaf.RawSubjectPublicKeyInfo)}}, full, names, true},
		{"2 0 1", []dns.TLSA{{Usage: 2, Selector: 0, MatchingType: 1, Data: sum256(c.ca.Raw)}}, full, names, true},
		{"2 1 1", []dns.TLSA{{Usage: 2, Selector: 1, MatchingType: 1, Data: sum256(c.ca.RawSubjectPublicKeyInfo)}}, full, names, true},
		{"2 0 1 next-hop name", []dns.TLSA{{Usage: 2, Selector: 0, MatchingType: 1, Data: sum256(c.ca.Raw)}}, full, []string{"other.test", "mx.example.test"}, true},
		{"2 0 1 name mismatch", []dns.TLSA{{Usage: 2, Selector: 0, MatchingType: 1, Data: sum256(c.ca.Raw)}}, full, []string{"other.test"}, false},
		{"2 0 1 TA not in chain", []dns.TLSA{{Usage: 2, Selector: 0, MatchingType: 1, Data: sum256(c.ca.Raw)}}, []*x509.Certificate{c.leaf}, names, false},
		{"2 0 1 expired leaf", []dns.TLSA{{Usage: 2, Selector: 0, MatchingType: 1, Data: sum256(expired.ca.Raw)}}, []*x509.Certificate{expired.leaf, expired.ca}, names, false},
		{"2 0 1 leaf hash is not a TA", []dns.TLSA{{Usage: 2, Selector: 0, MatchingType: 1, Data: sum256(c.leaf.Raw)}}, full, names, false},
		{"usage 1 unusable", []dns.TLSA{{Usage: 1, Selector: 1, MatchingType: 1, Data: sum256(c.leaf.RawSubjectPublicKeyInfo)}}, full, names, false},
		{"usage 0 unusable", []dns.TLSA{{Usage: 0, Selector: 0, MatchingType: 1, Data: sum256(c.ca.Raw)}}, full, names, false},
		{"bad digest length", []dns.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: []byte{1, 2}}}, full, names, false},
		{"no chain", []dns.TLSA{{Usage: 3, Selector: 1, MatchingType: 1, Data: sum256(c.leaf.RawSubjectPublicKeyInfo)}}, nil, names, false},
	}
	for _, tt := range tests {
		err := Verify(tt.recs, tt.chain, tt.names, now)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrNoMatch) {
			t.Errorf("%s: error %v does not wrap ErrNoMatch", tt.name, err)
		}
	}
}

func TestVerifyPeerCertificate(t *testing.T) {
	c := newChain(t, time.Now().Add(time.Hour), "mx.example.test")
	f := VerifyPeerCertificate([]dns.TLSA{{Usage: 2, Selector: 0, MatchingType: 1, Data: sum256(c.ca.Raw)}}, []string{"mx.example.test"}, nil)
	if err := f([][]byte{c.leaf.Raw, c.ca.Raw}, nil); err != nil {
		t.Error(err)
	}
	if err := f([][]byte{c.leaf.Raw}, nil); err == nil {
		t.Error("chain without TA accepted")
	}
	if err := f([][]byte{{1, 2, 3}}, nil); err == nil {
		t.Error("garbage accepted")
	}
}

func TestLookup(t *testing.T) {
	rec := dns.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Data: make([]byte, 32)}
	unusable := dns.TLSA{Usage: 1, Selector: 1, MatchingType: 1, Data: make([]byte, 32)}
	z := dnstest.Zone{
		"_25._tcp.mx.example.test":    {TLSA: []dns.TLSA{rec, unusable}, Authentic: true},
		"_25._tcp.pkix.example.test":  {TLSA: []dns.TLSA{unusable}, Authentic: true},
		"_25._tcp.bogus.example.test": {TLSA: []dns.TLSA{rec}},
		"_25._tcp.fail.example.test":  {ServFail: true},
	}
	r := dnstest.NewResolver(z)
	ctx := context.Background()
	got, err := Lookup(ctx, r, "mx.example.test.", 25, true)
	if err != nil || !got.Present || len(got.Usable) != 1 {
		t.Errorf("authentic: %+v %v", got, err)
	}
	if got, err := Lookup(ctx, r, "mx.example.test", 25, false); err != nil || got.Present {
		t.Errorf("MX not authentic: %+v %v", got, err)
	}
	n := r.Total()
	Lookup(ctx, r, "mx.example.test", 25, false)
	if r.Total() != n {
		t.Error("TLSA queried although the MX answer was not authentic")
	}
	if got, err := Lookup(ctx, r, "bogus.example.test", 25, true); err != nil || got.Present {
		t.Errorf("TLSA not authentic: %+v %v", got, err)
	}
	if got, err := Lookup(ctx, r, "pkix.example.test", 25, true); err != nil || !got.Present || len(got.Usable) != 0 {
		t.Errorf("only unusable: %+v %v", got, err)
	}
	if got, err := Lookup(ctx, r, "none.example.test", 25, true); err != nil || got.Present {
		t.Errorf("none: %+v %v", got, err)
	}
	if _, err := Lookup(ctx, r, "fail.example.test", 25, true); !errors.Is(err, dns.ErrTemporary) {
		t.Errorf("servfail: %v", err)
	}
}
