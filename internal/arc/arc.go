// Package arc verifies and adds Authenticated Received Chain sets
// (RFC 8617): Verifier checks the chain of ARC-Authentication-Results (AAR),
// ARC-Message-Signature (AMS) and ARC-Seal (AS) fields of an inbound
// message, Sealer adds posthorn's set when it forwards a message, and
// TrustedOverride lets the results recorded by a trusted sealer stand in
// for a local DMARC failure (RFC 8617 §7.2).
//
// Canonicalization, tag lists and key records are internal/dkim's: an AMS
// is a DKIM signature under another name (RFC 8617 §4.1.2).
package arc

import (
	"errors"
	"strconv"

	"github.com/posthorn/posthorn/internal/addr"
)

// Status is a chain validation status (RFC 8617 §4.1.3, the cv= values;
// the result of the "arc" method in Authentication-Results, §10.1).
type Status string

// Chain validation statuses.
const (
	StatusNone Status = "none" // no ARC sets
	StatusPass Status = "pass"
	StatusFail Status = "fail"
)

// MaxInstances is the highest instance value, and so the most ARC sets a
// message may carry (RFC 8617 §4.2.1); more is a failed chain (§5.2 step 1).
const MaxInstances = 50

// Header field names (RFC 8617 §4.1).
const (
	fieldAAR = "ARC-Authentication-Results"
	fieldAMS = "ARC-Message-Signature"
	fieldAS  = "ARC-Seal"
)

// Errors of Sealer.Seal.
var (
	// ErrTerminated: the latest ARC-Seal carries cv=fail, so the chain has
	// ended and nobody adds to it (RFC 8617 §5.1 step 1).
	ErrTerminated = errors.New("arc: the chain was terminated by an earlier cv=fail; not sealing")
	// ErrTooManyInstances: the message already has MaxInstances sets.
	ErrTooManyInstances = errors.New("arc: the message already carries 50 ARC sets (RFC 8617 §4.2.1)")
	// ErrChainMismatch: the chain Result given to Seal is not the one of
	// the message being sealed.
	ErrChainMismatch = errors.New("arc: chain result does not match the message")
)

// Result is the outcome of validating a message's chain (RFC 8617 §5.2).
type Result struct {
	// Chain is the chain validation status.
	Chain Status
	// Instances is the highest instance value found (N); 0 without sets.
	Instances int
	// FailedInstance is the instance whose set made the chain fail; 0 when
	// the chain passed or the failure is not one set's (too many sets).
	FailedInstance int
	// Reason says why, in plain words.
	Reason string
	// OldestPass is the lowest instance whose AMS still verifies, when that
	// is not 1 (RFC 8617 §5.2 steps 5-7): 0 means every AMS verified. Only
	// set when Chain is pass. It tells how far back the message is intact.
	OldestPass int
	// Terminated: the latest AS carries cv=fail; the chain fails and must
	// not be sealed again (RFC 8617 §5.1 step 1, §5.2 step 2).
	Terminated bool
	// Temporary: the failure is a temporary DNS failure fetching a key;
	// the same message may pass later.
	Temporary bool
	// Sets holds the sets 1..N in order, when the chain's structure is
	// valid (§5.2 step 3), whatever their signatures.
	Sets []Set
}

// Set is what one ARC set says.
type Set struct {
	Instance int
	// AuthServID and Results are the AAR's authserv-id and the results
	// that follow it ("spf=pass smtp.mailfrom=...; dkim=..."), unfolded.
	AuthServID string
	Results    string
	// CV is the AS's cv=; SealDomain and SealSelector its d= and s=: the
	// sealer.
	CV           Status
	SealDomain   addr.Domain
	SealSelector string
	// SignatureDomain and SignatureSelector are the AMS's d= and s=.
	SignatureDomain   addr.Domain
	SignatureSelector string
}

// AuthResult returns the resinfo for Authentication-Results (RFC 8617
// §10.1): "arc=pass" with header.oldest-pass when it is set, and the reason
// as a comment when the chain failed.
func (r Result) AuthResult() string {
	s := "arc=" + string(r.Chain)
	if r.Chain == "" {
		s = "arc=none"
	}
	if r.Chain == StatusPass && r.OldestPass > 0 {
		s += " header.oldest-pass=" + strconv.Itoa(r.OldestPass)
	}
	if r.Chain == StatusFail && r.Reason != "" {
		s += " (" + commentSafe(r.Reason) + ")"
	}
	return s
}

// commentSafe makes s usable inside an RFC 5322 comment.
func commentSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c == '(':
			b[i] = '['
		case c == ')':
			b[i] = ']'
		case c == '\\' || c < 0x20 || c == 0x7f:
			b[i] = ' '
		}
	}
	return string(b)
}
