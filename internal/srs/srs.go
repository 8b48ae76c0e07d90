// Package srs rewrites envelope senders of forwarded mail with the Sender
// Rewriting Scheme (Shevek's scheme, as implemented by libsrs2), so the
// forwarded message passes SPF at its destination and bounces come back
// to the forwarder, which reverses the address and passes them on.
//
//	SRS0=HHHH=TT=orig-domain=orig-local@forwarder
//	SRS1=HHHH=first-forwarder==HHHH=TT=orig-domain=orig-local@forwarder
//
// HHHH is a keyed hash (HMAC-SHA256 with a secret, base32, truncated to
// HashLen characters) over the timestamp and the original address (SRS0),
// or over the first forwarder and the rest of the SRS0 address (SRS1).
// TT is the day the address was made, modulo 1024, in two base32
// characters. A forwarder that rewrites an SRS0 address makes an SRS1
// address pointing straight back to the first forwarder, so the address
// grows only once whatever the number of hops.
//
// The package is pure: the secret and the clock are the caller's.
package srs

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
)

// Errors of Reverse.
var (
	ErrNotSRS  = errors.New("srs: not an SRS address")
	ErrForged  = errors.New("srs: the address's hash does not match (forged)")
	ErrExpired = errors.New("srs: the address has expired")
	ErrInvalid = errors.New("srs: malformed SRS address")
)

// HashLen is the number of base32 characters of the hash kept in an
// address (libsrs2's default hash length is 4 of base64; 6 of base32 is
// 30 bits).
const HashLen = 6

// DefaultMaxAge is how long an SRS address is accepted back.
const DefaultMaxAge = 21 * 24 * time.Hour

const (
	tsBase  = 1024 // timestamp modulus, in days
	tsChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Rewriter makes and reverses SRS addresses.
type Rewriter struct {
	// Secret keys the hash; at least 16 random bytes, kept across restarts.
	Secret []byte
	// MaxAge bounds the age of an address accepted by Reverse; 0 is
	// DefaultMaxAge.
	MaxAge time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// IsSRS reports whether lp looks like an SRS address (SRS0 or SRS1, any
// case, with "=", "+" or "-" after the tag as libsrs2 accepts).
func IsSRS(lp addr.Localpart) bool {
	s := strings.ToUpper(string(lp))
	if len(s) < 5 || (!strings.HasPrefix(s, "SRS0") && !strings.HasPrefix(s, "SRS1")) {
		return false
	}
	return s[4] == '=' || s[4] == '+' || s[4] == '-'
}

// Forward rewrites sender for mail forwarded by forwarder. The null
// sender stays null; a sender already at forwarder is kept.
func (r *Rewriter) Forward(sender addr.Address, forwarder addr.Domain) (addr.Address, error) {
	if sender.IsZero() || strings.EqualFold(sender.Domain.ASCII, forwarder.ASCII) {
		return sender, nil
	}
	lp := string(sender.Localpart)
	var out string
	if IsSRS(sender.Localpart) {
		tag := strings.ToUpper(lp[:4])
		rest := lp[5:]
		if tag == "SRS1" {
			// SRS1=HHHH=first==rest: keep first and rest, new hash.
			parts := strings.SplitN(rest, "=", 3)
			if len(parts) < 3 {
				return addr.Address{}, ErrInvalid
			}
			first, srs0rest := parts[1], strings.TrimPrefix(parts[2], "=")
			out = "SRS1=" + r.hash(first, srs0rest) + "=" + first + "==" + srs0rest
		} else {
			first := sender.Domain.ASCII
			out = "SRS1=" + r.hash(first, rest) + "=" + first + "==" + rest
		}
	} else {
		ts := timestamp(r.now())
		dom := sender.Domain.ASCII
		out = "SRS0=" + r.hash(ts, dom, lp) + "=" + ts + "=" + dom + "=" + lp
	}
	if len(out) > 64 {
		// RFC 5321 §4.5.3.1.1: too long for a local part; the sender
		// stays as it was (the message may then fail SPF).
		return addr.Address{}, errors.New("srs: rewritten local part is over 64 octets")
	}
	lpOut, err := addr.ParseLocalpart(out)
	if err != nil {
		return addr.Address{}, err
	}
	return addr.Address{Localpart: lpOut, Domain: forwarder}, nil
}

// Reverse returns the address an SRS address stands for: the original
// sender for SRS0, the first forwarder's SRS0 address for SRS1. It fails
// with ErrNotSRS, ErrInvalid, ErrForged or ErrExpired.
func (r *Rewriter) Reverse(a addr.Address) (addr.Address, error) {
	if !IsSRS(a.Localpart) {
		return addr.Address{}, ErrNotSRS
	}
	lp := string(a.Localpart)
	tag, rest := strings.ToUpper(lp[:4]), lp[5:]
	if tag == "SRS1" {
		parts := strings.SplitN(rest, "=", 3)
		if len(parts) < 3 || !strings.HasPrefix(parts[2], "=") {
			return addr.Address{}, ErrInvalid
		}
		hash, first, srs0rest := parts[0], parts[1], parts[2][1:]
		if !r.hashOK(hash, first, srs0rest) {
			return addr.Address{}, ErrForged
		}
		return parseAddr("SRS0="+srs0rest, first)
	}
	parts := strings.SplitN(rest, "=", 4)
	if len(parts) < 4 {
		return addr.Address{}, ErrInvalid
	}
	hash, ts, dom, local := parts[0], parts[1], parts[2], parts[3]
	if !r.hashOK(hash, ts, dom, local) {
		return addr.Address{}, ErrForged
	}
	if !r.fresh(ts) {
		return addr.Address{}, ErrExpired
	}
	return parseAddr(local, dom)
}

func parseAddr(local, domain string) (addr.Address, error) {
	a, err := addr.ParseAddress(local + "@" + domain)
	if err != nil {
		a, err = addr.ParseAddress(addr.Localpart(local).String() + "@" + domain)
	}
	if err != nil {
		return addr.Address{}, ErrInvalid
	}
	return a, nil
}

// hash is the keyed hash of the parts, case-insensitive like libsrs2
// (mail systems may change the case of local parts).
func (r *Rewriter) hash(parts ...string) string {
	m := hmac.New(sha256.New, r.Secret)
	for _, p := range parts {
		m.Write([]byte(strings.ToLower(p)))
		m.Write([]byte{0})
	}
	return b32.EncodeToString(m.Sum(nil))[:HashLen]
}

func (r *Rewriter) hashOK(h string, parts ...string) bool {
	return len(h) == HashLen && hmac.Equal([]byte(strings.ToUpper(h)), []byte(r.hash(parts...)))
}

// timestamp is the day number modulo 1024 in two base32 characters.
func timestamp(t time.Time) string {
	d := int(t.Unix()/86400) % tsBase
	return string([]byte{tsChars[d>>5], tsChars[d&31]})
}

// fresh reports whether the timestamp ts is at most MaxAge old (and not
// in the future, allowing a day of clock skew).
func (r *Rewriter) fresh(ts string) bool {
	ts = strings.ToUpper(ts)
	if len(ts) != 2 {
		return false
	}
	hi, lo := strings.IndexByte(tsChars, ts[0]), strings.IndexByte(tsChars, ts[1])
	if hi < 0 || lo < 0 {
		return false
	}
	then := hi<<5 | lo
	today := int(r.now().Unix()/86400) % tsBase
	age := (today - then + tsBase) % tsBase // days, modulo the wrap
	maxAge := r.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if age == tsBase-1 {
		return true // one day in the future: clock skew
	}
	return time.Duration(age)*24*time.Hour <= maxAge
}

func (r *Rewriter) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
