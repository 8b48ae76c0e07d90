// Package tlsrpt implements SMTP TLS Reporting (RFC 8460) for a sending
// MTA: parsing of the "_smtp._tls" TXT record, a Recorder counting TLS
// session successes and failures per policy, and the JSON aggregate report.
// Sending the daily reports is the queue's job.
package tlsrpt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/posthorn/posthorn/internal/dns"
)

// Errors, wrapped with %w.
var (
	ErrNoRecord = errors.New("tlsrpt: no record")
	ErrSyntax   = errors.New("tlsrpt: syntax error")
)

// Record is a parsed TLSRPT record (RFC 8460 §3).
type Record struct {
	// RUA lists the report destinations: mailto: and https: URIs.
	RUA        []*url.URL
	Extensions map[string]string
}

// ParseRecord parses "v=TLSRPTv1; rua=mailto:a@example.com,https://r.example/x".
// Unknown schemes in rua are dropped; a record left without a usable rua
// is an error.
func ParseRecord(txt string) (*Record, error) {
	fields := strings.Split(txt, ";")
	if strings.TrimSpace(fields[0]) != "v=TLSRPTv1" {
		return nil, fmt.Errorf("%w: record does not start with v=TLSRPTv1", ErrSyntax)
	}
	r := &Record{}
	var seenRUA bool
	for _, f := range fields[1:] {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: field %q", ErrSyntax, f)
		}
		if k != "rua" {
			if r.Extensions == nil {
				r.Extensions = map[string]string{}
			}
			r.Extensions[k] = strings.TrimSpace(v)
			continue
		}
		if seenRUA {
			return nil, fmt.Errorf("%w: repeated rua", ErrSyntax)
		}
		seenRUA = true
		for _, s := range strings.Split(v, ",") {
			u, err := url.Parse(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("%w: rua %q: %w", ErrSyntax, s, err)
			}
			switch {
			case u.Scheme == "mailto" && strings.Contains(u.Opaque, "@"):
			case u.Scheme == "https" && u.Host != "":
			default:
				continue
			}
			r.RUA = append(r.RUA, u)
		}
	}
	if len(r.RUA) == 0 {
		return nil, fmt.Errorf("%w: no usable rua", ErrSyntax)
	}
	return r, nil
}

// LookupRecord returns the TLSRPT record of domain (TXT "_smtp._tls.DOMAIN").
// TXT records not starting with "v=TLSRPTv1" are ignored; more than one
// TLSRPT record means none (RFC 8460 §3).
func LookupRecord(ctx context.Context, r dns.Resolver, domain string) (*Record, error) {
	txts, _, err := r.LookupTXT(ctx, "_smtp._tls."+strings.TrimSuffix(domain, "."))
	if dns.IsNotFound(err) {
		return nil, fmt.Errorf("%w: %s", ErrNoRecord, domain)
	}
	if err != nil {
		return nil, fmt.Errorf("tlsrpt: %s: %w", domain, err)
	}
	var found []string
	for _, t := range txts {
		if strings.HasPrefix(t, "v=TLSRPTv1") {
			found = append(found, t)
		}
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("%w: %s: %d TLSRPT records", ErrNoRecord, domain, len(found))
	}
	return ParseRecord(found[0])
}

// Policy types (RFC 8460 §4.3).
const (
	PolicyTLSA     = "tlsa"
	PolicySTS      = "sts"
	PolicyNotFound = "no-policy-found"
)

// Result types (RFC 8460 §4.3).
const (
	StartTLSNotSupported    = "starttls-not-supported"
	CertificateHostMismatch = "certificate-host-mismatch"
	CertificateExpired      = "certificate-expired"
	CertificateNotTrusted   = "certificate-not-trusted"
	ValidationFailure       = "validation-failure"
	TLSAInvalid             = "tlsa-invalid"
	DNSSECInvalid           = "dnssec-invalid"
	DANERequired            = "dane-required"
	STSPolicyFetchError     = "sts-policy-fetch-error"
	STSPolicyInvalid        = "sts-policy-invalid"
	STSWebPKIInvalid        = "sts-webpki-invalid"
)

// Policy identifies the policy a session was evaluated against.
type Policy struct {
	Type   string   `json:"policy-type"`
	String []string `json:"policy-string,omitempty"`
	Domain string   `json:"policy-domain"`
	MXHost []string `json:"mx-host,omitempty"`
}

func (p Policy) key() string {
	return p.Type + "\x00" + strings.ToLower(p.Domain) + "\x00" + strings.Join(p.String, "\n") + "\x00" + strings.Join(p.MXHost, ",")
}

// Failure is one failed session's details (RFC 8460 §4.4).
type Failure struct {
	ResultType          string `json:"result-type"`
	SendingMTAIP        string `json:"sending-mta-ip,omitempty"`
	ReceivingMXHostname string `json:"receiving-mx-hostname,omitempty"`
	ReceivingMXHelo     string `json:"receiving-mx-helo,omitempty"`
	ReceivingIP         string `json:"receiving-ip,omitempty"`
	AdditionalInfo      string `json:"additional-information,omitempty"`
	FailureReasonCode   string `json:"failure-reason-code,omitempty"`
}

// FailureDetail is a Failure with its count.
type FailureDetail struct {
	Failure
	Count int64 `json:"failed-session-count"`
}

// PolicyResult is the tally of one policy.
type PolicyResult struct {
	Policy    Policy
	Successes int64
	Failures  []FailureDetail // sorted by result type, then host
}

// Recorder tallies TLS sessions per policy, in memory, safe for concurrent
// use. The zero value is ready.
type Recorder struct {
	mu sync.Mutex
	m  map[string]*tally
}

type tally struct {
	policy   Policy
	success  int64
	failures map[Failure]int64
}

func (r *Recorder) get(p Policy) *tally {
	if r.m == nil {
		r.m = map[string]*tally{}
	}
	k := p.key()
	t := r.m[k]
	if t == nil {
		t = &tally{policy: p, failures: map[Failure]int64{}}
		r.m[k] = t
	}
	return t
}

// Success records one successful session under p.
func (r *Recorder) Success(p Policy) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.get(p).success++
}

// Failure records one failed session under p.
func (r *Recorder) Failure(p Policy, f Failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.get(p).failures[f]++
}

// Snapshot returns the tallies sorted by policy domain and type; with reset
// the recorder starts afresh (use at the end of each reporting day).
func (r *Recorder) Snapshot(reset bool) []PolicyResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []PolicyResult
	for _, t := range r.m {
		pr := PolicyResult{Policy: t.policy, Successes: t.success}
		for f, n := range t.failures {
			pr.Failures = append(pr.Failures, FailureDetail{Failure: f, Count: n})
		}
		sort.Slice(pr.Failures, func(i, j int) bool {
			a, b := pr.Failures[i], pr.Failures[j]
			if a.ResultType != b.ResultType {
				return a.ResultType < b.ResultType
			}
			if a.ReceivingMXHostname != b.ReceivingMXHostname {
				return a.ReceivingMXHostname < b.ReceivingMXHostname
			}
			return a.ReceivingIP < b.ReceivingIP
		})
		out = append(out, pr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Policy.key() < out[j].Policy.key() })
	if reset {
		r.m = nil
	}
	return out
}

// Restore adds saved tallies (a Snapshot, e.g. read back after a
// restart) to the recorder.
func (r *Recorder) Restore(results []PolicyResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, pr := range results {
		t := r.get(pr.Policy)
		t.success += pr.Successes
		for _, f := range pr.Failures {
			t.failures[f.Failure] += f.Count
		}
	}
}

// Report is the JSON aggregate report (RFC 8460 §4.4).
type Report struct {
	OrganizationName string         `json:"organization-name"`
	DateRange        DateRange      `json:"date-range"`
	ContactInfo      string         `json:"contact-info"`
	ReportID         string         `json:"report-id"`
	Policies         []ReportPolicy `json:"policies"`
}

// DateRange is the report period, RFC 3339 in UTC.
type DateRange struct {
	Start time.Time `json:"start-datetime"`
	End   time.Time `json:"end-datetime"`
}

// ReportPolicy is one policy's section of a Report.
type ReportPolicy struct {
	Policy         Policy          `json:"policy"`
	Summary        Summary         `json:"summary"`
	FailureDetails []FailureDetail `json:"failure-details,omitempty"`
}

// Summary counts sessions.
type Summary struct {
	Success int64 `json:"total-successful-session-count"`
	Failure int64 `json:"total-failure-session-count"`
}

// BuildReport builds the report for one policy domain from a Snapshot:
// only results whose Policy.Domain is domain (case-insensitive) are kept.
func BuildReport(org, contact, reportID, domain string, start, end time.Time, results []PolicyResult) Report {
	rep := Report{
		OrganizationName: org, ContactInfo: contact, ReportID: reportID,
		DateRange: DateRange{Start: start.UTC(), End: end.UTC()},
		Policies:  []ReportPolicy{},
	}
	for _, pr := range results {
		if !strings.EqualFold(pr.Policy.Domain, domain) {
			continue
		}
		rp := ReportPolicy{Policy: pr.Policy, Summary: Summary{Success: pr.Successes}, FailureDetails: pr.Failures}
		for _, f := range pr.Failures {
			rp.Summary.Failure += f.Count
		}
		rep.Policies = append(rep.Policies, rp)
	}
	return rep
}

// JSON returns the report as indented JSON, as sent (gzip and the
// multipart/report wrapping are the sender's).
func (r Report) JSON() ([]byte, error) {
	return json.MarshalIndent(r, "", "  ")
}
