package msgauth

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/posthorn/posthorn/internal/dmarc"
)

// ReportRecord is what DMARC aggregate reports (RFC 7489 §7.2, Appendix C)
// need about one message.
type ReportRecord struct {
	Time time.Time
	dmarc.Record
	// Override is the PolicyOverrideType when a local policy overrode the
	// disposition the domain asked for ("trusted_forwarder" for a trusted
	// ARC sealer), with Comment saying why; empty otherwise.
	Override, Comment string
}

// ReportSink keeps report records until the reporting job sends them.
type ReportSink interface {
	AddDMARCRecord(ctx context.Context, r ReportRecord) error
}

// FileReports is the interim ReportSink: one JSON object per line in
// DIR/dmarc-YYYYMMDD.jsonl (UTC date of the message), appended without
// fsync — losing the last records in a crash only makes a report slightly
// incomplete. The reporting issue moves them into the store.
type FileReports struct {
	Dir string

	mu sync.Mutex
}

var _ ReportSink = (*FileReports)(nil)

// jsonRecord is the line format (documented in docs/authentication.md).
type jsonRecord struct {
	Time         time.Time  `json:"time"`
	SourceIP     string     `json:"source_ip"`
	HeaderFrom   string     `json:"header_from"`
	EnvelopeFrom string     `json:"envelope_from,omitempty"`
	Disposition  string     `json:"disposition"`
	DKIMAligned  bool       `json:"dkim_aligned"`
	SPFAligned   bool       `json:"spf_aligned"`
	DKIM         []jsonDKIM `json:"dkim,omitempty"`
	SPFDomain    string     `json:"spf_domain,omitempty"`
	SPFResult    string     `json:"spf_result"`
	Policy       jsonPolicy `json:"policy"`
	Override     string     `json:"override,omitempty"`
	Comment      string     `json:"comment,omitempty"`
}

type jsonDKIM struct {
	Domain   string `json:"domain"`
	Selector string `json:"selector"`
	Result   string `json:"result"`
}

type jsonPolicy struct {
	Domain  string   `json:"domain"`
	ADKIM   string   `json:"adkim"`
	ASPF    string   `json:"aspf"`
	P       string   `json:"p"`
	SP      string   `json:"sp,omitempty"`
	NP      string   `json:"np,omitempty"`
	Pct     int      `json:"pct"`
	Testing bool     `json:"testing,omitempty"`
	FO      string   `json:"fo,omitempty"`
	RUA     []string `json:"rua,omitempty"`
}

// AddDMARCRecord implements ReportSink.
func (f *FileReports) AddDMARCRecord(_ context.Context, r ReportRecord) error {
	j := jsonRecord{
		Time: r.Time.UTC(), HeaderFrom: r.HeaderFrom.ASCII, EnvelopeFrom: r.EnvelopeFrom.ASCII,
		Disposition: string(r.Disposition), DKIMAligned: r.DKIMAligned, SPFAligned: r.SPFAligned,
		SPFDomain: r.SPF.Domain.ASCII, SPFResult: string(r.SPF.Result), Override: r.Override, Comment: r.Comment,
		Policy: jsonPolicy{
			Domain: r.Published.Domain.ASCII, ADKIM: string(r.Published.ADKIM), ASPF: string(r.Published.ASPF),
			P: string(r.Published.P), SP: string(r.Published.SP), NP: string(r.Published.NP),
			Pct: r.Published.Percent, Testing: r.Published.Testing, FO: r.Published.FailureOpts, RUA: r.Published.AggregateURI,
		},
	}
	if r.SourceIP.IsValid() {
		j.SourceIP = r.SourceIP.String()
	}
	for _, d := range r.DKIM {
		j.DKIM = append(j.DKIM, jsonDKIM{Domain: d.Domain.ASCII, Selector: d.Selector, Result: string(d.Result)})
	}
	line, err := json.Marshal(j)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := os.MkdirAll(f.Dir, 0o750); err != nil {
		return err
	}
	name := filepath.Join(f.Dir, "dmarc-"+j.Time.Format("20060102")+".jsonl")
	fh, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	_, err = fh.Write(line)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("msgauth: writing %s: %w", name, err)
	}
	return nil
}
