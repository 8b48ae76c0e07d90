package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/posthorn/posthorn/internal/addr"
)

func TestGenerateKeyAndRecord(t *testing.T) {
	for _, alg := range []string{AlgEd25519, AlgRSA} {
		t.Run(alg, func(t *testing.T) {
			pemBytes, err := GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			signer, err := ParseKey(pemBytes)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := Record(pemBytes)
			if err != nil {
				t.Fatal(err)
			}
			prefix := "v=DKIM1; k=" + alg + "; p="
			if !strings.HasPrefix(rec, prefix) {
				t.Fatalf("record %q lacks %q", rec, prefix)
			}
			p, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(rec, prefix))
			if err != nil {
				t.Fatal(err)
			}
			// The published key must verify a signature made by the private key.
			digest := sha256.Sum256([]byte("hello"))
			switch alg {
			case AlgEd25519:
				if len(p) != ed25519.PublicKeySize {
					t.Fatalf("ed25519 p= is %d bytes", len(p))
				}
				sig, _ := signer.Sign(nil, digest[:], crypto.Hash(0))
				if !ed25519.Verify(p, digest[:], sig) {
					t.Fatal("ed25519 signature does not verify with published key")
				}
			case AlgRSA:
				pub, err := x509.ParsePKIXPublicKey(p)
				if err != nil {
					t.Fatal(err)
				}
				rpub := pub.(*rsa.PublicKey)
				if rpub.N.BitLen() != RSABits {
					t.Fatalf("rsa key has %d bits", rpub.N.BitLen())
				}
				sig, err := signer.Sign(nil, digest[:], crypto.SHA256)
				if err != nil {
					t.Fatal(err)
				}
				if err := rsa.VerifyPKCS1v15(rpub, crypto.SHA256, digest[:], sig); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestBadKeys(t *testing.T) {
	if _, err := GenerateKey("dsa"); err == nil {
		t.Error("GenerateKey(dsa) succeeded")
	}
	for _, in := range []string{"", "garbage", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"} {
		if _, err := Record([]byte(in)); err == nil {
			t.Errorf("Record(%q) succeeded", in)
		}
	}
}

// TestKeyNameASCII checks the ASCII shortcut of keyName against the full
// domain parse it skips.
func TestKeyNameASCII(t *testing.T) {
	for _, name := range []string{
		"Sel._domainkey.Example.COM.", "s._domainkey.xn--bcher-kva.example",
		"s._domainkey.bad_label.example", "s._domainkey.-x.example", "no-domainkey.example",
		"s._domainkey.", "S._DOMAINKEY.a..b",
	} {
		want := strings.ToLower(strings.TrimSuffix(name, "."))
		if sel, dom, ok := strings.Cut(want, "._domainkey."); ok {
			if d, err := addr.ParseDomain(dom); err == nil {
				want = sel + "._domainkey." + d.ASCII
			}
		}
		if got := keyName(name); got != want {
			t.Errorf("keyName(%q) = %q, want %q", name, got, want)
		}
	}
	if got := keyName("s._domainkey.Bücher.example"); got != "s._domainkey.xn--bcher-kva.example" {
		t.Errorf("keyName of a U-label domain = %q", got)
	}
}

// TestKeySizes: a KeySizes answers as a fresh parse does, remembers it,
// stays bounded, and a nil one parses every time.
func TestKeySizes(t *testing.T) {
	pemBytes, err := GenerateKey(AlgEd25519)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := Record(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	wantBits, wantOK := parseKeyBits(rec)
	if !wantOK || wantBits != 256 {
		t.Fatalf("parseKeyBits = %d, %v", wantBits, wantOK)
	}
	var none *KeySizes
	ks := &KeySizes{}
	for range 2 {
		for _, k := range []*KeySizes{none, ks} {
			if b, ok := k.keyBits(rec); b != wantBits || ok != wantOK {
				t.Errorf("keyBits = %d, %v", b, ok)
			}
		}
	}
	if _, hit := ks.m[rec]; !hit {
		t.Error("the size was not remembered")
	}
	for i := range maxSizedKeys + 10 {
		ks.keyBits(fmt.Sprintf("v=DKIM1; p=%d", i))
	}
	if len(ks.m) > maxSizedKeys {
		t.Errorf("%d entries, more than %d", len(ks.m), maxSizedKeys)
	}
}
