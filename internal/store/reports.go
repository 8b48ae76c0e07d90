package store

// DMARC aggregate-report records (table dmarc_records, schema v3): one row
// per checked inbound message whose From domain publishes a DMARC policy.
// The scalar fields a report groups and filters on are columns; the DKIM
// results and the published policy are JSON.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dkim"
	"github.com/posthorn/posthorn/internal/dmarc"
)

// DMARCRecord is what DMARC aggregate reports (RFC 7489 §7.2, Appendix C)
// need about one message.
type DMARCRecord struct {
	ID   int64     // given by the store
	Time time.Time // when the message was checked; zero: now
	dmarc.Record
	// Override is the PolicyOverrideType when a local policy overrode the
	// disposition the domain asked for ("trusted_forwarder" for a trusted
	// ARC sealer), with Comment saying why; empty otherwise.
	Override, Comment string
}

// DMARCQuery selects report records.
type DMARCQuery struct {
	// Domain is the policy domain (Published.Domain, where the policy was
	// found); zero: every domain.
	Domain addr.Domain
	// Since <= Time < Until; a zero bound is open.
	Since, Until time.Time
}

// Reports holds the records the DMARC aggregate reports are built from.
type Reports interface {
	// AddDMARCRecord queues r for the next commit of the store's writer
	// and returns without waiting for it: the record shares the group
	// commit of the delivery that follows its check instead of adding one
	// to every inbound message. A crash may lose the records of the last
	// moments, which only makes a report slightly incomplete; Close
	// commits every queued record.
	AddDMARCRecord(ctx context.Context, r DMARCRecord) error
	// DMARCRecords returns the records q selects, by Time then ID. It
	// sees every record whose AddDMARCRecord returned before the call.
	DMARCRecords(ctx context.Context, q DMARCQuery) ([]DMARCRecord, error)
	// DeleteDMARCRecords removes the records older than before (once
	// reported) and returns how many.
	DeleteDMARCRecords(ctx context.Context, before time.Time) (int, error)
}

// dmarcDKIM and dmarcPolicy are the JSON forms of the dkim and policy
// columns.
type dmarcDKIM struct {
	Domain   string `json:"domain"`
	Selector string `json:"selector"`
	Result   string `json:"result"`
}

type dmarcPolicy struct {
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

const qInsertDMARC = `INSERT INTO dmarc_records (time, policy_domain, source_ip, header_from, envelope_from,
	disposition, dkim_aligned, spf_aligned, spf_domain, spf_result, dkim, policy, override, comment)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// AddDMARCRecord implements Reports.
func (s *SQLite) AddDMARCRecord(ctx context.Context, r DMARCRecord) error {
	r.Time = s.stamp(r.Time)
	dk := make([]dmarcDKIM, 0, len(r.DKIM))
	for _, d := range r.DKIM {
		dk = append(dk, dmarcDKIM{Domain: d.Domain.ASCII, Selector: d.Selector, Result: string(d.Result)})
	}
	dkJSON, err := json.Marshal(dk)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	p := r.Published
	polJSON, err := json.Marshal(dmarcPolicy{ADKIM: string(p.ADKIM), ASPF: string(p.ASPF), P: string(p.P),
		SP: string(p.SP), NP: string(p.NP), Pct: p.Percent, Testing: p.Testing, FO: p.FailureOpts, RUA: p.AggregateURI})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	ip := ""
	if r.SourceIP.IsValid() {
		ip = r.SourceIP.Unmap().String()
	}
	return s.writeDetached(ctx, func(w *wtx) ([]Change, error) {
		_, err := w.exec(qInsertDMARC,
			toNanos(r.Time), p.Domain.ASCII, ip, r.HeaderFrom.ASCII, r.EnvelopeFrom.ASCII,
			string(r.Disposition), boolInt(r.DKIMAligned), boolInt(r.SPFAligned), r.SPF.Domain.ASCII, string(r.SPF.Result),
			string(dkJSON), string(polJSON), r.Override, r.Comment)
		return nil, err
	})
}

// DMARCRecords implements Reports.
func (s *SQLite) DMARCRecords(ctx context.Context, q DMARCQuery) ([]DMARCRecord, error) {
	// Records queued before this call commit before the barrier does.
	if err := s.write(ctx, nil, func(*wtx) ([]Change, error) { return nil, nil }); err != nil {
		return nil, err
	}
	where, args := "1", []any{}
	if q.Domain.ASCII != "" {
		where += " AND policy_domain = ?"
		args = append(args, q.Domain.ASCII)
	}
	if !q.Since.IsZero() {
		where += " AND time >= ?"
		args = append(args, q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		where += " AND time < ?"
		args = append(args, q.Until.UnixNano())
	}
	return queryList(s, ctx, scanDMARCRecord, `SELECT id, time, policy_domain, source_ip, header_from, envelope_from,
		disposition, dkim_aligned, spf_aligned, spf_domain, spf_result, dkim, policy, override, comment
		FROM dmarc_records WHERE `+where+` ORDER BY time, id`, args...)
}

func scanDMARCRecord(sc interface{ Scan(...any) error }) (DMARCRecord, error) {
	var r DMARCRecord
	var t int64
	var polDomain, ip, from, envFrom, disp, spfDomain, spfResult, dkJSON, polJSON string
	err := sc.Scan(&r.ID, &t, &polDomain, &ip, &from, &envFrom, &disp, &r.DKIMAligned, &r.SPFAligned,
		&spfDomain, &spfResult, &dkJSON, &polJSON, &r.Override, &r.Comment)
	if err != nil {
		return r, err
	}
	r.Time = fromNanos(t)
	if ip != "" {
		if r.SourceIP, err = netip.ParseAddr(ip); err != nil {
			return r, fmt.Errorf("store: DMARC record %d: %w", r.ID, err)
		}
	}
	r.HeaderFrom, r.EnvelopeFrom, r.SPF.Domain = storedDomain(from), storedDomain(envFrom), storedDomain(spfDomain)
	r.Disposition, r.SPF.Result = dmarc.Disposition(disp), dmarc.SPFResult(spfResult)
	var dk []dmarcDKIM
	var pol dmarcPolicy
	if err := json.Unmarshal([]byte(dkJSON), &dk); err != nil {
		return r, fmt.Errorf("store: DMARC record %d: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(polJSON), &pol); err != nil {
		return r, fmt.Errorf("store: DMARC record %d: %w", r.ID, err)
	}
	for _, d := range dk {
		r.DKIM = append(r.DKIM, dmarc.DKIMAuth{Domain: storedDomain(d.Domain), Selector: d.Selector, Result: dkim.Status(d.Result)})
	}
	r.Published = dmarc.Published{Domain: storedDomain(polDomain), ADKIM: dmarc.Alignment(pol.ADKIM), ASPF: dmarc.Alignment(pol.ASPF),
		P: dmarc.Disposition(pol.P), SP: dmarc.Disposition(pol.SP), NP: dmarc.Disposition(pol.NP), Percent: pol.Pct,
		Testing: pol.Testing, FailureOpts: pol.FO, AggregateURI: pol.RUA}
	return r, nil
}

// storedDomain turns a stored ASCII domain back into an addr.Domain; a
// name that no longer parses keeps its ASCII form in both fields.
func storedDomain(ascii string) addr.Domain {
	if ascii == "" {
		return addr.Domain{}
	}
	d, err := addr.ParseDomain(ascii)
	if err != nil {
		return addr.Domain{ASCII: ascii, Unicode: ascii}
	}
	return d
}

// DeleteDMARCRecords implements Reports.
func (s *SQLite) DeleteDMARCRecords(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, nil, func(w *wtx) ([]Change, error) {
		res, err := w.exec(`DELETE FROM dmarc_records WHERE time < ?`, before.UnixNano())
		if err != nil {
			return nil, err
		}
		n, err = res.RowsAffected()
		return nil, err
	})
	return int(n), err
}

// schemaV3 adds dmarc_records. Times are Unix nanoseconds, domains ASCII;
// source_ip is "" when unknown; dkim is a JSON array of {domain, selector,
// result}, policy the JSON object of the published policy (adkim, aspf,
// p, sp, np, pct, testing, fo, rua).
const schemaV3 = `
CREATE TABLE dmarc_records (
	id            INTEGER PRIMARY KEY,
	time          INTEGER NOT NULL,
	policy_domain TEXT NOT NULL,
	source_ip     TEXT NOT NULL,
	header_from   TEXT NOT NULL,
	envelope_from TEXT NOT NULL,
	disposition   TEXT NOT NULL,
	dkim_aligned  INTEGER NOT NULL,
	spf_aligned   INTEGER NOT NULL,
	spf_domain    TEXT NOT NULL,
	spf_result    TEXT NOT NULL,
	dkim          TEXT NOT NULL,
	policy        TEXT NOT NULL,
	override      TEXT NOT NULL,
	comment       TEXT NOT NULL
);
CREATE INDEX dmarc_records_time ON dmarc_records(time);
CREATE INDEX dmarc_records_domain ON dmarc_records(policy_domain, time);
`

func migrate3(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, schemaV3)
	return err
}
