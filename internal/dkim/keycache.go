package dkim

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dns"
)

// keyCache adapts a dns.Resolver to go-msgauth's LookupTXT for the
// duration of one Verify: each key name is queried once even when several
// signatures (verified concurrently by go-msgauth) share it, and the
// answers stay available to report key sizes.
type keyCache struct {
	ctx   context.Context
	res   dns.Resolver
	sizes *KeySizes

	mu      sync.Mutex
	entries map[string]*keyEntry
}

type keyEntry struct {
	done chan struct{}
	txts []string
	err  error
}

func newKeyCache(ctx context.Context, res dns.Resolver, sizes *KeySizes) *keyCache {
	return &keyCache{ctx: ctx, res: res, sizes: sizes, entries: map[string]*keyEntry{}}
}

// keyName normalises a selector._domainkey.domain name for the cache and
// the resolver: lower case, A-labels, no trailing dot.
func keyName(name string) string {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	if isASCII(name) {
		// An ASCII domain's A-label form is itself, lower-cased; and
		// when it is not a valid domain the name is kept as it is.
		return name
	}
	if sel, dom, ok := strings.Cut(name, "._domainkey."); ok {
		if d, err := addr.ParseDomain(dom); err == nil {
			return sel + "._domainkey." + d.ASCII
		}
	}
	return name
}

// lookup is go-msgauth's LookupTXT. go-msgauth treats an error that is a
// net.Error with Temporary() as a temporary failure, anything else as
// permanent ("no key for signature", RFC 6376 §6.1.2).
func (c *keyCache) lookup(name string) ([]string, error) {
	name = keyName(name)
	c.mu.Lock()
	e, ok := c.entries[name]
	if !ok {
		e = &keyEntry{done: make(chan struct{})}
		c.entries[name] = e
		c.mu.Unlock()
		e.txts, _, e.err = c.res.LookupTXT(c.ctx, name)
		close(e.done)
	} else {
		c.mu.Unlock()
		<-e.done
	}
	switch {
	case e.err == nil:
		return e.txts, nil
	case dns.IsNotFound(e.err), errors.Is(e.err, dns.ErrPermanent):
		return nil, e.err
	default:
		return nil, tempError{e.err}
	}
}

// tempError marks a DNS failure as temporary for go-msgauth (net.Error).
type tempError struct{ error }

func (tempError) Timeout() bool   { return false }
func (tempError) Temporary() bool { return true }

// facts returns what posthorn checks itself about the key published at
// name (size, type, t=s, tag-list syntax), if it was fetched and is a
// single record.
func (c *keyCache) facts(name string) (keyFacts, bool) {
	c.mu.Lock()
	e, ok := c.entries[keyName(name)]
	c.mu.Unlock()
	if !ok {
		return keyFacts{}, false
	}
	<-e.done
	if e.err != nil || len(e.txts) != 1 {
		return keyFacts{}, false
	}
	return c.sizes.facts(e.txts[0]), true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// maxSizedKeys bounds a KeySizes.
const maxSizedKeys = 1000

// KeySizes remembers the facts of key records (size, type, flags, syntax)
// by their text, so that a sender's key is parsed once rather than for
// every message. The record is still fetched for every message (through
// the DNS cache, honouring its TTL); only the parse of identical text is
// shared. Give one to every Verifier of a process (Verifier.Sizes). Safe
// for concurrent use.
type KeySizes struct {
	mu sync.Mutex
	m  map[string]keyFacts
}

// keyFacts is what verification checks in a key record beyond go-msgauth
// (RFC 6376 §3.6.1).
type keyFacts struct {
	bits   int  // key size: 256 for Ed25519
	ok     bool // bits is known
	typ    string
	strict bool  // t=s: the i= domain must be d= itself
	err    error // the tag list is malformed (go-msgauth tolerates ";;")
}

// keyBits returns the size of the key of record rec, if it has one.
func (ks *KeySizes) keyBits(rec string) (int, bool) {
	f := ks.facts(rec)
	return f.bits, f.ok
}

// facts returns the facts of record rec; a nil KeySizes parses every time.
func (ks *KeySizes) facts(rec string) keyFacts {
	if ks == nil {
		return parseKeyFacts(rec)
	}
	ks.mu.Lock()
	f, hit := ks.m[rec]
	ks.mu.Unlock()
	if hit {
		return f
	}
	f = parseKeyFacts(rec)
	ks.mu.Lock()
	if ks.m == nil || len(ks.m) >= maxSizedKeys {
		ks.m = map[string]keyFacts{} // start afresh: bounded, and senders' keys come back
	}
	ks.m[rec] = f
	ks.mu.Unlock()
	return f
}

// parseKeyBits parses a key record (RFC 6376 §3.6.1) far enough to size
// its key.
func parseKeyBits(rec string) (int, bool) {
	f := parseKeyFacts(rec)
	return f.bits, f.ok
}

// parseKeyFacts parses a key record (RFC 6376 §3.6.1) far enough for
// keyFacts.
func parseKeyFacts(rec string) keyFacts {
	tags, err := parseTags(rec)
	if err != nil {
		return keyFacts{err: err}
	}
	f := keyFacts{typ: "rsa"}
	if k, ok := tags.Get("k"); ok {
		f.typ = strings.ToLower(stripWSP(k))
	}
	if t, ok := tags.Get("t"); ok {
		f.strict = slices.Contains(splitColon(strings.ToLower(t)), "s")
	}
	p, _ := tags.Get("p")
	der, err := base64.StdEncoding.DecodeString(stripWSP(p))
	if err != nil || len(der) == 0 {
		return f
	}
	if f.typ == "ed25519" {
		f.bits, f.ok = 256, true
		return f
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		// RFC 6376 erratum 3017: some publish a bare RSAPublicKey.
		if pub, err = x509.ParsePKCS1PublicKey(der); err != nil {
			return f
		}
	}
	if rk, ok := pub.(*rsa.PublicKey); ok {
		f.bits, f.ok = rk.N.BitLen(), true
	}
	return f
}
