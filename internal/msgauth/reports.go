package msgauth

import (
	"context"

	"github.com/posthorn/posthorn/internal/store"
)

// ReportSink keeps the DMARC aggregate-report records (RFC 7489 §7.2,
// Appendix C) until the reporting job sends them; store.Store implements
// it (table dmarc_records).
type ReportSink interface {
	AddDMARCRecord(ctx context.Context, r store.DMARCRecord) error
}

var _ ReportSink = store.Store(nil)
