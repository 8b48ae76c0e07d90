package tlsmgr

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"slices"
	"time"
)

// CertStatus describes one certificate and its last renewal attempt.
type CertStatus struct {
	Names     []string  `json:"names"`
	Source    string    `json:"source"` // "acme" or "file"
	Issuer    string    `json:"issuer,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	// TLSA311 is the DANE "3 1 1" association data: the SHA-256 of the
	// public key (SubjectPublicKeyInfo), in hex.
	TLSA311 string `json:"tlsa_3_1_1,omitempty"`
	// Key identifies the certificate (SHA-256 of the leaf, hex).
	Key string `json:"key,omitempty"`
	// LastAttempt, LastOK and LastError are the last ACME attempt to
	// obtain or renew; zero for files and before any attempt.
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastOK      bool      `json:"last_ok"`
	LastError   string    `json:"last_error,omitempty"`
	InProgress  bool      `json:"in_progress,omitempty"`
}

// Status is a snapshot of every certificate, for "posthorn tls status"
// and metrics.
type Status struct {
	Certificates []CertStatus `json:"certificates"`
	// RenewalFailures counts failed ACME attempts since start.
	RenewalFailures int64 `json:"renewal_failures"`
	// Alarm is true while some certificate's last attempt failed or some
	// certificate is past an alarm threshold.
	Alarm bool `json:"alarm"`
}

// Status returns the current certificates and attempts.
func (m *Manager) Status() Status {
	now := m.opt.Now()
	var st Status
	if m.file != nil {
		st.Certificates = []CertStatus{certStatus(m.file.current(), "file")}
	} else {
		st.Certificates = m.acmeStatus()
	}
	m.mu.Lock()
	st.RenewalFailures = m.failures
	m.mu.Unlock()
	for _, c := range st.Certificates {
		if c.LastError != "" || (!c.NotAfter.IsZero() && m.dueThreshold(c, now) > 0) {
			st.Alarm = true
		}
	}
	return st
}

// acmeStatus lists the managed names with their cached certificates.
func (m *Manager) acmeStatus() []CertStatus {
	m.mu.Lock()
	names := make([]string, 0, len(m.managed))
	for n := range m.managed {
		names = append(names, n)
	}
	attempts := make(map[string]attempt, len(m.attempts))
	for k, v := range m.attempts {
		attempts[k] = v
	}
	m.mu.Unlock()
	slices.Sort(names)
	var out []CertStatus
	for _, n := range names {
		cs := CertStatus{Names: []string{n}, Source: "acme"}
		if certs := m.cache.AllMatchingCertificates(n); len(certs) > 0 {
			best := certs[0]
			for _, c := range certs[1:] {
				if c.Leaf != nil && best.Leaf != nil && c.Leaf.NotAfter.After(best.Leaf.NotAfter) {
					best = c
				}
			}
			cs = certStatus(&best.Certificate, "acme")
		}
		if a, ok := attempts[n]; ok {
			cs.LastAttempt, cs.LastOK, cs.LastError, cs.InProgress = a.at, a.ok, a.err, !a.end
		}
		out = append(out, cs)
	}
	return out
}

// certStatus describes a certificate.
func certStatus(c *tls.Certificate, source string) CertStatus {
	cs := CertStatus{Source: source}
	if c == nil || len(c.Certificate) == 0 {
		return cs
	}
	leaf := c.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return cs
		}
	}
	cs.Names = append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		cs.Names = append(cs.Names, ip.String())
	}
	if len(cs.Names) == 0 {
		cs.Names = []string{leaf.Subject.CommonName}
	}
	cs.Issuer = leaf.Issuer.CommonName
	if cs.Issuer == "" {
		cs.Issuer = leaf.Issuer.String()
	}
	cs.NotBefore, cs.NotAfter = leaf.NotBefore, leaf.NotAfter
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	cs.TLSA311 = hex.EncodeToString(spki[:])
	k := sha256.Sum256(leaf.Raw)
	cs.Key = hex.EncodeToString(k[:])
	return cs
}
