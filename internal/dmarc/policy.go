// Package dmarc evaluates DMARC (RFC 7489, and the DMARCbis revision,
// draft-ietf-dmarc-dmarcbis): it parses policy records, discovers the policy
// and the organisational domains by the DNS tree walk, checks identifier
// alignment of SPF and DKIM results with the From domain, and returns a
// verdict with the disposition the domain owner asks for, a reason in
// plain words, and what aggregate reports need.
//
// This file parses DMARC policy records.
package dmarc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Disposition is a handling request (p=, sp=, np=) and the disposition
// applied to a message: none, quarantine or reject (RFC 7489 §6.3).
type Disposition string

// Dispositions.
const (
	DispositionNone       Disposition = "none"
	DispositionQuarantine Disposition = "quarantine"
	DispositionReject     Disposition = "reject"
)

// Alignment is an identifier alignment mode (adkim=, aspf=; RFC 7489 §3.1).
type Alignment string

// Alignment modes.
const (
	Relaxed Alignment = "r"
	Strict  Alignment = "s"
)

// Policy is a parsed DMARC policy record (RFC 7489 §6.3, DMARCbis §4.7).
// Absent tags hold their defaults.
type Policy struct {
	P          Disposition // p=; none when absent (DMARCbis) or invalid with a valid rua
	SP         Disposition // sp=; empty when absent (p applies)
	NP         Disposition // np= (RFC 9091, DMARCbis); empty when absent (sp, then p applies)
	ADKIM      Alignment   // adkim=, default relaxed
	ASPF       Alignment   // aspf=, default relaxed
	Percent    int         // pct= (RFC 7489), default 100; see Verdict for its use
	Testing    bool        // t=y (DMARCbis), or pct=0 without t=
	PSD        string      // psd= (DMARCbis): "y", "n" or "u" (default)
	RUA, RUF   []string    // report URIs, as written
	FO         string      // fo=, default "0"
	RF         string      // rf= (RFC 7489), default "afrf"
	RI         int         // ri= (RFC 7489), default 86400
	Warnings   []string    // tags ignored because their values were invalid
	Raw        string      // the record as published
	hasPercent bool
}

// Errors of ParsePolicy.
var (
	// ErrNotDMARC: the text does not start with v=DMARC1; it is not a
	// DMARC record and is ignored (RFC 7489 §6.6.3 step 3).
	ErrNotDMARC = errors.New("dmarc: not a DMARC record")
	// ErrSyntax: the tag list is malformed, or p= (or sp=, np=) is invalid
	// and no valid rua= rescues the record (RFC 7489 §6.6.3 step 6).
	ErrSyntax = errors.New("dmarc: invalid record")
)

// ParsePolicy parses a DMARC record. v=DMARC1 must come first (case
// sensitive). Unknown tags are ignored (RFC 7489 §6.3). Known tags with
// invalid values fall back to their defaults with a warning (DMARCbis §4.7:
// "syntax errors in the remainder of the record MUST be discarded in favor
// of default values"), except p=, sp= and np=: if one of those is invalid,
// the record counts as p=none when it has a valid rua= and is rejected
// otherwise (RFC 7489 §6.6.3, DMARCbis §4.10.1). A missing p= is p=none
// (DMARCbis §4.7).
func ParsePolicy(s string) (*Policy, error) {
	tags, err := parseTagList(s)
	if err != nil {
		if len(tags) > 0 && tags[0].name == "v" && tags[0].value == "DMARC1" {
			return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		return nil, ErrNotDMARC
	}
	if len(tags) == 0 || tags[0].name != "v" || tags[0].value != "DMARC1" {
		return nil, ErrNotDMARC
	}
	p := &Policy{P: DispositionNone, ADKIM: Relaxed, ASPF: Relaxed, Percent: 100, PSD: "u", FO: "0", RF: "afrf", RI: 86400, Raw: s}
	var st parseState
	for _, t := range tags[1:] {
		p.set(t.name, t.value, &st)
	}
	// DMARCbis Appendix A.6: t=y stands for what pct=0 came to mean.
	p.Testing = st.testing == "y" || st.testing == "" && p.hasPercent && p.Percent == 0
	if len(st.badRequest) > 0 {
		if len(p.RUA) == 0 {
			return nil, fmt.Errorf("%w: invalid %s and no valid rua=", ErrSyntax, strings.Join(st.badRequest, ", "))
		}
		// Act as if p=none was published (RFC 7489 §6.6.3 step 6).
		p.P, p.SP, p.NP = DispositionNone, "", ""
		p.Warnings = append(p.Warnings, "invalid "+strings.Join(st.badRequest, ", ")+": treated as p=none")
	}
	return p, nil
}

// parseState collects what ParsePolicy decides after all tags are read.
type parseState struct {
	badRequest []string // invalid p=, sp=, np=
	testing    string   // t= value
}

// set applies tag name=v to p.
func (p *Policy) set(name, v string, st *parseState) {
	switch name {
	case "p", "sp", "np":
		d, ok := parseDisposition(v)
		if !ok {
			st.badRequest = append(st.badRequest, name+"="+v)
			return
		}
		switch name {
		case "p":
			p.P = d
		case "sp":
			p.SP = d
		default:
			p.NP = d
		}
	case "adkim", "aspf":
		a := Alignment(strings.ToLower(v))
		if a != Relaxed && a != Strict {
			p.warn(name, v)
			return
		}
		if name == "adkim" {
			p.ADKIM = a
		} else {
			p.ASPF = a
		}
	case "pct":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 100 {
			p.warn(name, v)
			return
		}
		p.Percent, p.hasPercent = n, true
	case "t":
		if v != "y" && v != "n" {
			p.warn(name, v)
			return
		}
		st.testing = v
	case "psd":
		if v != "y" && v != "n" && v != "u" {
			p.warn(name, v)
			return
		}
		p.PSD = v
	case "rua", "ruf":
		uris, ok := parseURIs(v)
		if !ok {
			p.warn(name, v)
		}
		if name == "rua" {
			p.RUA = uris
		} else {
			p.RUF = uris
		}
	case "fo":
		if !validFO(v) {
			p.warn(name, v)
			return
		}
		p.FO = v
	case "rf":
		p.RF = v
	case "ri":
		n, err := strconv.ParseUint(v, 10, 31)
		if err != nil {
			p.warn(name, v)
			return
		}
		p.RI = int(n)
	}
}

func (p *Policy) warn(tag, value string) {
	p.Warnings = append(p.Warnings, fmt.Sprintf("invalid %s=%s ignored", tag, value))
}

func parseDisposition(v string) (Disposition, bool) {
	switch d := Disposition(strings.ToLower(v)); d {
	case DispositionNone, DispositionQuarantine, DispositionReject:
		return d, true
	}
	return "", false
}

// parseURIs splits a dmarc-urilist; it reports whether every URI has a
// scheme. Invalid URIs are dropped (RFC 7489 §6.3: unsupported ones are
// ignored). An optional "!size" suffix (RFC 7489 §6.2) is kept.
func parseURIs(v string) ([]string, bool) {
	var uris []string
	ok := true
	for u := range strings.SplitSeq(v, ",") {
		u = strings.Trim(u, " \t")
		scheme, rest, found := strings.Cut(u, ":")
		if !found || scheme == "" || rest == "" || !isAlphaString(scheme) {
			ok = false
			continue
		}
		uris = append(uris, u)
	}
	return uris, ok && len(uris) > 0
}

func isAlphaString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// validFO checks fo= (RFC 7489 §6.3): colon-separated 0, 1, d, s.
func validFO(v string) bool {
	for o := range strings.SplitSeq(v, ":") {
		switch strings.Trim(o, " \t") {
		case "0", "1", "d", "s":
		default:
			return false
		}
	}
	return true
}

// tag is one tag of a DMARC record.
type tag struct{ name, value string }

// parseTagList parses a DMARC record's tag list (DMARCbis §4.8):
//
//	dmarc-record = dmarc-version *(dmarc-sep dmarc-tag) [dmarc-sep] *WSP
//	dmarc-sep    = *WSP ";" *WSP
//	dmarc-tag    = 1*ALPHA equals 1*dmarc-value    ; equals = *WSP "=" *WSP
//	dmarc-value  = %x20-3A / %x3C-7E
//
// Tag names are lower-cased; a duplicate tag invalidates the record, as in
// the DKIM tag lists DMARC borrows (RFC 6376 §3.2). The tags parsed before
// an error are returned with it, so that the caller can tell a broken
// DMARC record from text that is not DMARC at all.
func parseTagList(s string) ([]tag, error) {
	var tags []tag
	seen := map[string]bool{}
	for spec := range strings.SplitSeq(s, ";") {
		spec = strings.Trim(spec, " \t")
		if spec == "" {
			continue
		}
		name, value, ok := strings.Cut(spec, "=")
		if !ok {
			return tags, fmt.Errorf("%q has no =", spec)
		}
		name = strings.ToLower(strings.TrimRight(name, " \t"))
		value = strings.TrimLeft(value, " \t")
		if name == "" || !isAlphaString(name) {
			return tags, fmt.Errorf("bad tag name %q", name)
		}
		if value == "" {
			return tags, fmt.Errorf("tag %s has no value", name)
		}
		for i := 0; i < len(value); i++ {
			if c := value[i]; c != '\t' && (c < 0x20 || c > 0x7e) {
				return tags, fmt.Errorf("tag %s: invalid octet 0x%02x", name, c)
			}
		}
		if seen[name] {
			return tags, fmt.Errorf("duplicate tag %s", name)
		}
		seen[name] = true
		tags = append(tags, tag{name, value})
	}
	return tags, nil
}
