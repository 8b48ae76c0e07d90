// Package dkim signs and verifies DKIM signatures (RFC 6376, RFC 8463).
// This file holds key generation and the DNS record of a public key.
package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
)

// Key algorithms.
const (
	AlgEd25519 = "ed25519"
	AlgRSA     = "rsa"
)

// RSABits is the size of generated RSA keys; RFC 8301 §3.2 requires at
// least 1024 and recommends 2048.
const RSABits = 2048

// GenerateKey returns a new private key of algorithm alg as PKCS#8 PEM.
func GenerateKey(alg string) ([]byte, error) {
	var key crypto.Signer
	var err error
	switch alg {
	case AlgEd25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case AlgRSA:
		key, err = rsa.GenerateKey(rand.Reader, RSABits)
	default:
		return nil, fmt.Errorf("dkim: unknown key algorithm %q", alg)
	}
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseKey parses a PKCS#8 PEM private key made by GenerateKey.
func ParseKey(pemBytes []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(pemBytes)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, errors.New("dkim: no PKCS#8 PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	switch k := k.(type) {
	case ed25519.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("dkim: unsupported key type %T", k)
}

// Record returns the TXT record value publishing the public half of a
// private key (RFC 6376 §3.6.1): for RSA, p= is the DER SubjectPublicKeyInfo;
// for Ed25519, the raw 32-byte public key (RFC 8463 §4.2).
func Record(pemBytes []byte) (string, error) {
	k, err := ParseKey(pemBytes)
	if err != nil {
		return "", err
	}
	switch pub := k.Public().(type) {
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	}
	return "", errors.New("dkim: unsupported public key")
}
