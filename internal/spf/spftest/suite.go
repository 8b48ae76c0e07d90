// Package spftest holds the RFC 7208 test suite (openspf.org, release
// 2014.04) for tests, read where Debian's python3-spf installs it and never
// copied into this repository: its scenarios, their cases, and their zones,
// both as pyspf's own test driver (testspf.py) serves them and as a
// dnstest.Zone for a real DNS server.
package spftest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/posthorn/posthorn/internal/dns/dnstest"
)

const (
	// SuitePath is where Debian's python3-spf installs the suite.
	SuitePath = "/usr/share/doc/python3-spf/rfc7208-tests.yml.gz"
	// Total is the number of cases of the 2014.04 release.
	Total = 203
	// python is Debian's, with python3-yaml (the python3 on PATH may not
	// be).
	python = "/usr/bin/python3"
)

// toJSON prints the gzipped YAML documents as one JSON array.
const toJSON = `
import gzip, json, sys, yaml
with gzip.open(sys.argv[1]) as f:
    json.dump(list(yaml.safe_load_all(f)), sys.stdout)
`

// A Scenario is one YAML document: cases sharing a zone.
type Scenario struct {
	Description string                     `json:"description"`
	Tests       map[string]Case            `json:"tests"`
	Zonedata    map[string]json.RawMessage `json:"zonedata"`
}

// A Case is one test: the SMTP client and the result it must get.
type Case struct {
	Spec     any    `json:"spec"`
	HELO     string `json:"helo"`
	Host     string `json:"host"`
	MailFrom string `json:"mailfrom"`
	Result   any    `json:"result"` // a word or a list of acceptable words
	// Explanation, when a string, is the explanation a fail must carry;
	// "DEFAULT" means the receiver's own (the domain gave none).
	Explanation any `json:"explanation"`
}

// Results returns the acceptable results.
func (c Case) Results() []string {
	switch r := c.Result.(type) {
	case string:
		return []string{r}
	case []any:
		var out []string
		for _, x := range r {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}

// WantExplanation returns the explanation the case checks, if it does.
func (c Case) WantExplanation() (string, bool) {
	s, ok := c.Explanation.(string)
	return s, ok
}

// Load returns the suite's scenarios. A missing suite fails the test where
// apt-get can install it (CI installs python3-spf and python3-yaml) and
// skips it elsewhere.
func Load(t testing.TB) []Scenario {
	t.Helper()
	missing := func(what string, err error) {
		t.Helper()
		if _, aptErr := exec.LookPath("apt-get"); aptErr == nil {
			t.Fatalf("%s: %v (apt-get install -y python3-spf python3-yaml)", what, err)
		}
		t.Skipf("%s: %v (no apt-get here to install python3-spf)", what, err)
	}
	if _, err := os.Stat(SuitePath); err != nil {
		missing("the RFC 7208 test suite", err)
	}
	out, err := exec.Command(python, "-c", toJSON, SuitePath).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		missing("reading the suite with python3-yaml", err)
	}
	var docs []Scenario
	if err := json.Unmarshal(out, &docs); err != nil {
		t.Fatalf("the suite as JSON: %v", err)
	}
	return docs
}

// An RR is one zone entry: Type "A", "AAAA", "MX", "PTR", "CNAME" or "TXT"
// with its Value (a string; for MX [preference, host]; for TXT a string or
// the list of its character-strings), or the marker Type "TIMEOUT".
type RR struct {
	Type  string
	Value any
}

// Records returns the zone as pyspf's test driver serves it, by lower-case
// name without the trailing dot, entries in order: SPF records serve as TXT
// records when the name has no TXT record ("TXT: NONE" only turns that
// off). The driver times out a query when TIMEOUT comes before any record
// of the asked type.
func (s Scenario) Records() (map[string][]RR, error) {
	zone := map[string][]RR{}
	for name, raw := range s.Zonedata {
		var entries []any
		if err := json.Unmarshal(raw, &entries); err != nil {
			return nil, fmt.Errorf("zonedata %s: %w", name, err)
		}
		var rrs, spf []RR
		hasTXT := false
		for _, e := range entries {
			m, ok := e.(map[string]any)
			if !ok {
				rrs = append(rrs, RR{Type: fmt.Sprint(e)})
				continue
			}
			for typ, v := range m {
				switch typ {
				case "SPF":
					spf = append(spf, RR{"TXT", v})
					continue
				case "TXT":
					hasTXT = true
					if v == "NONE" {
						continue
					}
				}
				rrs = append(rrs, RR{typ, v})
			}
		}
		if !hasTXT {
			rrs = append(rrs, spf...)
		}
		k := strings.ToLower(strings.TrimSuffix(name, "."))
		zone[k] = append(zone[k], rrs...)
	}
	return zone, nil
}

// TXT returns the text of a TXT value: its character-strings glued
// together (RFC 7208 §3.3).
func TXT(v any) string {
	list, ok := v.([]any)
	if !ok {
		return fmt.Sprint(v)
	}
	var b strings.Builder
	for _, s := range list {
		b.WriteString(fmt.Sprint(s))
	}
	return b.String()
}

// Zone returns the zone for a dnstest.Server. A DNS server cannot time out
// one type of a name and answer another, so a name with TIMEOUT answers
// SERVFAIL to every query (a temporary error either way); those names are
// returned too, so callers can tell which cases this changes.
func (s Scenario) Zone() (dnstest.Zone, []string, error) {
	recs, err := s.Records()
	if err != nil {
		return nil, nil, err
	}
	z := dnstest.Zone{}
	var timeouts []string
	for name, rrs := range recs {
		var r dnstest.Records
		for _, rr := range rrs {
			switch rr.Type {
			case "TIMEOUT":
				r.ServFail = true
				timeouts = append(timeouts, name)
			case "A":
				r.A = append(r.A, fmt.Sprint(rr.Value))
			case "AAAA":
				r.AAAA = append(r.AAAA, fmt.Sprint(rr.Value))
			case "PTR":
				r.PTR = append(r.PTR, fmt.Sprint(rr.Value))
			case "CNAME":
				r.CNAME = fmt.Sprint(rr.Value)
			case "TXT":
				r.TXT = append(r.TXT, TXT(rr.Value))
			case "MX":
				pair, _ := rr.Value.([]any)
				if len(pair) != 2 {
					return nil, nil, fmt.Errorf("%s: bad MX %v", name, rr.Value)
				}
				pref, _ := pair[0].(float64)
				host := fmt.Sprint(pair[1])
				if host == "" {
					host = "." // a null MX
				}
				r.MX = append(r.MX, dnstest.MX{Pref: uint16(pref), Host: host})
			default:
				return nil, nil, fmt.Errorf("%s: unknown record type %q", name, rr.Type)
			}
		}
		z[name] = r
	}
	if err := z.Validate(); err != nil {
		return nil, nil, err
	}
	return z, timeouts, nil
}
