package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Errors of ParseKeyRecord.
var (
	ErrKeyRevoked = errors.New("dkim: key revoked (empty p=)")
	ErrKeySyntax  = errors.New("dkim: malformed key record")
	ErrKeyTooWeak = errors.New("dkim: key too weak")
)

// KeyRecord is a parsed DKIM key record (RFC 6376 §3.6.1, RFC 8463 §4.2).
type KeyRecord struct {
	// Key is an *rsa.PublicKey or an ed25519.PublicKey.
	Key crypto.PublicKey
	// Type is the k= value: "rsa" or "ed25519".
	Type string
	// Bits is the key size (256 for Ed25519).
	Bits int
	// Hashes lists h= (acceptable hash algorithms); nil means all.
	Hashes []string
	// Services lists s= (service types); nil means all ("*").
	Services []string
	// Flags lists t= ("y" testing, "s" strict).
	Flags []string
}

// ParseKeyRecord parses the TXT record of a DKIM key. RSA keys under 1024
// bits are refused with ErrKeyTooWeak (RFC 8301 §3.2); an empty p= is
// ErrKeyRevoked; other problems wrap ErrKeySyntax.
func ParseKeyRecord(rec string) (*KeyRecord, error) {
	tags, err := parseTags(rec)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeySyntax, err)
	}
	if v, ok := tags.Get("v"); ok && stripWSP(v) != "DKIM1" {
		return nil, fmt.Errorf("%w: v=%s is not DKIM1", ErrKeySyntax, v)
	}
	p, ok := tags.Get("p")
	if !ok {
		return nil, fmt.Errorf("%w: no p=", ErrKeySyntax)
	}
	if p = stripWSP(p); p == "" {
		return nil, ErrKeyRevoked
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("%w: p= is not base64", ErrKeySyntax)
	}
	k := &KeyRecord{Type: "rsa"}
	if kt, ok := tags.Get("k"); ok {
		k.Type = strings.ToLower(stripWSP(kt))
	}
	switch k.Type {
	case "rsa":
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			// RFC 6376 erratum 3017: some publish a bare RSAPublicKey.
			if pub, err = x509.ParsePKCS1PublicKey(der); err != nil {
				return nil, fmt.Errorf("%w: p= is not an RSA public key", ErrKeySyntax)
			}
		}
		rk, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%w: p= is not an RSA public key", ErrKeySyntax)
		}
		k.Key, k.Bits = rk, rk.N.BitLen()
		if k.Bits < 1024 {
			return nil, fmt.Errorf("%w: RSA key of %d bits; at least 1024 are required (RFC 8301 §3.2)", ErrKeyTooWeak, k.Bits)
		}
	case "ed25519":
		if len(der) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: Ed25519 key of %d octets", ErrKeySyntax, len(der))
		}
		k.Key, k.Bits = ed25519.PublicKey(der), 256
	default:
		return nil, fmt.Errorf("%w: unknown key type k=%s", ErrKeySyntax, k.Type)
	}
	list := func(name string) []string {
		v, ok := tags.Get(name)
		if !ok {
			return nil
		}
		return splitColon(strings.ToLower(v))
	}
	k.Hashes, k.Flags = list("h"), list("t")
	if s := list("s"); !slices.Contains(s, "*") {
		k.Services = s
	}
	return k, nil
}

// Allows reports whether the record permits hash algorithm hashAlg
// ("sha256") for service "email" (RFC 6376 §3.6.1: h= and s=).
func (k *KeyRecord) Allows(hashAlg string) bool {
	if k.Hashes != nil && !slices.Contains(k.Hashes, hashAlg) {
		return false
	}
	return k.Services == nil || slices.Contains(k.Services, "email")
}
