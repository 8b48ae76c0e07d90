// Package mtasts implements SMTP MTA Strict Transport Security (RFC 8461)
// for a sending MTA: discovery of the _mta-sts TXT record, the policy fetch
// over strict HTTPS, the policy parser, a policy cache honouring max_age, and
// the check of an MX host against a policy.
package mtasts

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Errors, wrapped with %w.
var (
	// ErrNoRecord: the domain publishes no MTA-STS TXT record.
	ErrNoRecord = errors.New("mtasts: no record")
	// ErrSyntax: a record or policy is malformed.
	ErrSyntax = errors.New("mtasts: syntax error")
	// ErrFetch: the policy could not be fetched (RFC 8461 §3.3).
	ErrFetch = errors.New("mtasts: policy fetch failed")
)

// Record is a parsed "_mta-sts" TXT record (RFC 8461 §3.1).
type Record struct {
	ID         string
	Extensions map[string]string
}

// ParseRecord parses a TXT record such as "v=STSv1; id=20190429T010101;".
// v=STSv1 must come first; id is 1-32 alphanumerics.
func ParseRecord(txt string) (*Record, error) {
	fields := strings.Split(txt, ";")
	r := &Record{}
	for i, f := range fields {
		f = strings.Trim(f, " \t")
		if f == "" {
			if i == len(fields)-1 || i > 0 {
				continue
			}
			return nil, fmt.Errorf("%w: empty record", ErrSyntax)
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: field %q", ErrSyntax, f)
		}
		switch {
		case i == 0:
			if k != "v" || v != "STSv1" {
				return nil, fmt.Errorf("%w: record does not start with v=STSv1", ErrSyntax)
			}
		case k == "id":
			if r.ID != "" || !validID(v) {
				return nil, fmt.Errorf("%w: id %q", ErrSyntax, v)
			}
			r.ID = v
		default:
			if r.Extensions == nil {
				r.Extensions = map[string]string{}
			}
			r.Extensions[k] = v
		}
	}
	if r.ID == "" {
		return nil, fmt.Errorf("%w: no id", ErrSyntax)
	}
	return r, nil
}

func validID(s string) bool {
	if len(s) < 1 || len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// Mode is a policy mode (RFC 8461 §5).
type Mode string

// Modes.
const (
	ModeEnforce Mode = "enforce"
	ModeTesting Mode = "testing"
	ModeNone    Mode = "none"
)

// MaxMaxAge is the largest max_age honoured, about one year (RFC 8461 §3.2).
const MaxMaxAge = 31557600 * time.Second

// Policy is a parsed policy file (RFC 8461 §3.2).
type Policy struct {
	Mode   Mode
	MX     []string // patterns, lower case, "*.example.com" allowed
	MaxAge time.Duration
	// Extensions holds unknown keys; repeated keys keep the first value.
	Extensions map[string]string
}

// ParsePolicy parses a policy body. Lines end in LF or CRLF; keys are
// "version" (STSv1, required), "mode", "max_age" and "mx" (repeatable,
// required unless mode is none).
func ParsePolicy(data []byte) (*Policy, error) {
	p := &Policy{}
	var version, maxAge bool
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%w: line %q", ErrSyntax, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "version":
			if version || v != "STSv1" {
				return nil, fmt.Errorf("%w: version %q", ErrSyntax, v)
			}
			version = true
		case "mode":
			if p.Mode != "" {
				return nil, fmt.Errorf("%w: repeated mode", ErrSyntax)
			}
			switch Mode(v) {
			case ModeEnforce, ModeTesting, ModeNone:
				p.Mode = Mode(v)
			default:
				return nil, fmt.Errorf("%w: mode %q", ErrSyntax, v)
			}
		case "max_age":
			n, err := strconv.ParseUint(v, 10, 64)
			if maxAge || err != nil && !errors.Is(err, strconv.ErrRange) || len(v) > 10 || v == "" || v[0] == '+' {
				return nil, fmt.Errorf("%w: max_age %q", ErrSyntax, v)
			}
			maxAge = true
			p.MaxAge = time.Duration(min(n, uint64(MaxMaxAge/time.Second))) * time.Second
		case "mx":
			if !validPattern(v) {
				return nil, fmt.Errorf("%w: mx %q", ErrSyntax, v)
			}
			p.MX = append(p.MX, strings.ToLower(strings.TrimSuffix(v, ".")))
		default:
			if k == "" {
				return nil, fmt.Errorf("%w: empty key", ErrSyntax)
			}
			if p.Extensions == nil {
				p.Extensions = map[string]string{}
			}
			if _, dup := p.Extensions[k]; !dup {
				p.Extensions[k] = v
			}
		}
	}
	switch {
	case !version:
		return nil, fmt.Errorf("%w: no version", ErrSyntax)
	case p.Mode == "":
		return nil, fmt.Errorf("%w: no mode", ErrSyntax)
	case !maxAge:
		return nil, fmt.Errorf("%w: no max_age", ErrSyntax)
	case len(p.MX) == 0 && p.Mode != ModeNone:
		return nil, fmt.Errorf("%w: no mx", ErrSyntax)
	}
	return p, nil
}

// validPattern accepts a host name, optionally starting with "*.".
func validPattern(s string) bool {
	s = strings.TrimPrefix(s, "*.")
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
		for _, c := range []byte(l) {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// MatchMX reports whether host (an MX host name, trailing dot allowed)
// matches one of the policy's mx patterns. A wildcard "*.example.com"
// matches exactly one leftmost label: "mx.example.com" but neither
// "example.com" nor "a.b.example.com" (RFC 8461 §4.1).
func (p *Policy) MatchMX(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			_, parent, ok := strings.Cut(host, ".")
			if ok && parent == rest {
				return true
			}
		} else if host == pat {
			return true
		}
	}
	return false
}

// Enforced reports whether a failed Check must block delivery: true only in
// enforce mode. In testing mode failures are reported (TLS-RPT) but mail is
// delivered anyway (RFC 8461 §5).
func (p *Policy) Enforced() bool { return p != nil && p.Mode == ModeEnforce }

// CheckError says why an MX host fails a policy; Type is the TLS-RPT
// result type (RFC 8460 §4.3).
type CheckError struct {
	Type string // "sts-policy-invalid" is not used; "certificate-host-mismatch", "validation-failure"
	Msg  string
}

func (e *CheckError) Error() string { return "mtasts: " + e.Msg }

// Check validates an MX host against the policy (RFC 8461 §4): the host must
// match an mx pattern and its certificate must have been verified (PKIX, for
// the MX host name). It returns nil for mode none. Whether a failure blocks
// delivery is Enforced's answer.
func (p *Policy) Check(mxHost string, certVerified bool) error {
	if p == nil || p.Mode == ModeNone {
		return nil
	}
	if !p.MatchMX(mxHost) {
		return &CheckError{Type: "validation-failure", Msg: fmt.Sprintf("MX host %s is not listed in the MTA-STS policy (mx: %s)", strings.TrimSuffix(mxHost, "."), strings.Join(p.MX, ", "))}
	}
	if !certVerified {
		return &CheckError{Type: "certificate-host-mismatch", Msg: fmt.Sprintf("MX host %s did not present a valid certificate over STARTTLS, as its MTA-STS policy requires", strings.TrimSuffix(mxHost, "."))}
	}
	return nil
}
