package queue

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/tlsrpt"
)

// DefaultTLSReportTimeout bounds one https: report upload.
const DefaultTLSReportTimeout = 30 * time.Second

// TLSReports sends the daily TLS-RPT aggregate reports (RFC 8460): the
// SMTP client records the outcome of every TLS session per policy domain
// in Recorder; once a UTC day has ended, the queue's Run loop sends each
// policy domain that publishes a "_smtp._tls" record (with an rua) the
// report of that day, by mail (mailto:, queued like a bounce, from the
// null sender) or by HTTPS POST (https:).
//
// The tallies of the day so far are saved in State (when set) every few
// minutes, when the queue stops and after each report, and read back when
// the queue starts, so a restart keeps them (a crash loses at most the
// last few minutes); a day that ended while the server was down is
// reported at start. Reports are best effort; a failed send is logged,
// not retried.
type TLSReports struct {
	Recorder *tlsrpt.Recorder
	// State keeps the tallies across restarts (*store.SQLite); nil: in
	// memory only.
	State    StateStore
	Resolver dns.Resolver // _smtp._tls TXT lookups
	// Submitter is our domain: the reports come from postmaster@Submitter
	// and it names us in report ids and file names.
	Submitter addr.Domain
	// Organization is the organization-name field; "" means Submitter.
	Organization string
	// Sign returns header fields (DKIM-Signature, each ending in CRLF) to
	// prepend to a mailed report; nil: unsigned. RFC 8460 §5.3 asks for a
	// DKIM signature.
	Sign func(ctx context.Context, msg []byte) ([]byte, error)
	// HTTP posts https: reports; nil: a client with Timeout.
	HTTP *http.Client
	// Timeout bounds one upload; zero means DefaultTLSReportTimeout.
	Timeout time.Duration

	mu    sync.Mutex
	start time.Time // start of the day being recorded (UTC midnight)
	saved time.Time // when the tallies were last saved
}

// StateStore keeps small named values across restarts; *store.SQLite
// implements it.
type StateStore interface {
	State(ctx context.Context, key string) ([]byte, error)
	SetState(ctx context.Context, key string, value []byte) error
}

// tlsStateKey names the saved tallies in the StateStore.
const tlsStateKey = "tlsrpt"

// tlsSaveEvery is how often the tallies are saved while the queue runs.
const tlsSaveEvery = 5 * time.Minute

// tlsState is the saved form of the tallies: the day they belong to.
type tlsState struct {
	Day     time.Time             `json:"day"`
	Results []tlsrpt.PolicyResult `json:"results"`
}

// loadTLSState reads the saved tallies back into the Recorder, once, when
// the queue starts.
func (q *Queue) loadTLSState(ctx context.Context) {
	r := q.TLSReports
	if r == nil || r.State == nil {
		return
	}
	b, err := r.State.State(ctx, tlsStateKey)
	if err != nil || b == nil {
		if err != nil {
			q.Logger.Warn("reading the saved TLS-RPT tallies", "err", err)
		}
		return
	}
	var st tlsState
	if err := json.Unmarshal(b, &st); err != nil {
		q.Logger.Warn("the saved TLS-RPT tallies are unreadable; starting afresh", "err", err)
		return
	}
	r.Recorder.Restore(st.Results)
	r.mu.Lock()
	if !st.Day.IsZero() {
		r.start = dayStart(st.Day)
	}
	r.mu.Unlock()
	q.Logger.Info("TLS-RPT tallies restored", "day", st.Day.Format("2006-01-02"), "policies", len(st.Results))
}

// saveTLSState saves the tallies when force or tlsSaveEvery has passed.
func (q *Queue) saveTLSState(ctx context.Context, force bool) {
	r := q.TLSReports
	if r == nil || r.State == nil {
		return
	}
	now := q.now()
	r.mu.Lock()
	if !force && now.Sub(r.saved) < tlsSaveEvery {
		r.mu.Unlock()
		return
	}
	r.saved = now
	if r.start.IsZero() {
		r.start = dayStart(now)
	}
	st := tlsState{Day: r.start}
	r.mu.Unlock()
	st.Results = r.Recorder.Snapshot(false)
	b, err := json.Marshal(st)
	if err == nil {
		err = r.State.SetState(ctx, tlsStateKey, b)
	}
	if err != nil {
		q.Logger.Warn("saving the TLS-RPT tallies", "err", err)
	}
}

// dayStart is the UTC midnight starting t's day.
func dayStart(t time.Time) time.Time {
	return t.UTC().Truncate(24 * time.Hour)
}

// due returns the period to report when the day being recorded ended
// before now (ok), and the time of the next day boundary.
func (r *TLSReports) due(now time.Time) (start, end time.Time, ok bool, next time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start.IsZero() {
		r.start = dayStart(now)
	}
	end = r.start.Add(24 * time.Hour)
	if now.Before(end) {
		return time.Time{}, time.Time{}, false, end
	}
	start = r.start
	r.start = dayStart(now)
	return start, end, true, r.start.Add(24 * time.Hour)
}

// tlsReportTick starts sending the reports of a finished day, and returns
// the next day boundary (zero without TLSReports).
func (q *Queue) tlsReportTick(ctx context.Context) time.Time {
	q.init()
	r := q.TLSReports
	if r == nil {
		return time.Time{}
	}
	start, end, ok, next := r.due(q.now())
	if ok {
		results := r.Recorder.Snapshot(true)
		q.saveTLSState(ctx, true)
		q.wg.Add(1)
		go func() {
			defer q.wg.Done()
			q.sendTLSReports(ctx, start, end, results)
		}()
	}
	return next
}

// SendTLSReports sends the reports of the sessions recorded since the
// last report, as the period start–end, now. It is what the Run loop does
// at each UTC midnight; an administrator or a test may call it directly.
func (q *Queue) SendTLSReports(ctx context.Context, start, end time.Time) {
	q.init()
	if q.TLSReports == nil {
		return
	}
	results := q.TLSReports.Recorder.Snapshot(true)
	q.saveTLSState(ctx, true)
	q.sendTLSReports(ctx, start, end, results)
}

// SendTLSReportsNow sends the reports of the sessions recorded so far
// today ("posthorn tlsrpt send"), as the period from the start of the day
// to now; the next daily report covers the sessions after it. It returns
// the number of policy domains that had sessions.
func (q *Queue) SendTLSReportsNow(ctx context.Context) int {
	q.init()
	r := q.TLSReports
	if r == nil {
		return 0
	}
	now := q.now()
	r.mu.Lock()
	start := r.start
	if start.IsZero() {
		start = dayStart(now)
	}
	r.mu.Unlock()
	results := r.Recorder.Snapshot(true)
	q.saveTLSState(ctx, true)
	q.sendTLSReports(ctx, start, now.Truncate(time.Second).Add(time.Second), results)
	return len(results)
}

func (q *Queue) sendTLSReports(ctx context.Context, start, end time.Time, results []tlsrpt.PolicyResult) {
	r := q.TLSReports
	var domains []string
	seen := map[string]bool{}
	for _, pr := range results {
		d := strings.ToLower(pr.Policy.Domain)
		if d != "" && !seen[d] {
			seen[d] = true
			domains = append(domains, d)
		}
	}
	for _, d := range domains {
		log := q.Logger.With("svc", "tlsrpt", "policy_domain", d)
		rec, err := tlsrpt.LookupRecord(ctx, r.Resolver, d)
		if errors.Is(err, tlsrpt.ErrNoRecord) {
			continue
		} else if err != nil {
			log.Info("no TLS report sent: the TLSRPT record is unusable", "err", err)
			continue
		}
		rep := r.build(d, start, end, results)
		for _, u := range rec.RUA {
			if err := q.sendTLSReport(ctx, r, u, rep); err != nil {
				log.Warn("sending TLS report failed", "rua", u.String(), "err", err)
				continue
			}
			log.Info("TLS report sent", "rua", u.String(), "report_id", rep.ReportID, "policies", len(rep.Policies))
		}
	}
}

func (r *TLSReports) build(domain string, start, end time.Time, results []tlsrpt.PolicyResult) tlsrpt.Report {
	org := r.Organization
	if org == "" {
		org = r.Submitter.ASCII
	}
	var b [6]byte
	rand.Read(b[:])
	id := fmt.Sprintf("%s.%s.%s@%s", start.UTC().Format("20060102"), domain, hex.EncodeToString(b[:]), r.Submitter.ASCII)
	return tlsrpt.BuildReport(org, "postmaster@"+r.Submitter.ASCII, id, domain, start, end.Add(-time.Second), results)
}

// gzipReport returns the report's JSON, gzipped (RFC 8460 §5.3: the
// attachment and the https: body are gzip-compressed).
func gzipReport(rep tlsrpt.Report) ([]byte, error) {
	js, err := rep.JSON()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(js)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// sendTLSReport sends rep to one rua URI.
func (q *Queue) sendTLSReport(ctx context.Context, r *TLSReports, u *url.URL, rep tlsrpt.Report) error {
	gz, err := gzipReport(rep)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "https":
		return r.post(ctx, u, gz)
	case "mailto":
		to, err := addr.ParseAddress(strings.SplitN(u.Opaque, "?", 2)[0])
		if err != nil {
			return fmt.Errorf("rua %s: %w", u, err)
		}
		msg := r.compose(to, rep, gz, q.now())
		if r.Sign != nil {
			sig, err := r.Sign(ctx, msg)
			if err != nil {
				q.Logger.Warn("DKIM signing a TLS report failed; sending it unsigned", slog.Any("err", err))
			}
			msg = append(sig, msg...)
		}
		return q.SendReport(ctx, to, msg)
	}
	return fmt.Errorf("rua %s: unsupported scheme", u)
}

// post uploads a gzipped report (RFC 8460 §5.2).
func (r *TLSReports) post(ctx context.Context, u *url.URL, gz []byte) error {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTLSReportTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(gz))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/tlsrpt+gzip")
	c := r.HTTP
	if c == nil {
		c = &http.Client{Timeout: timeout}
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", u, resp.Status)
	}
	return nil
}

// compose writes the report mail (RFC 8460 §5.3): multipart/report with
// report-type tlsrpt, a short text part and the gzipped JSON attached as
// application/tlsrpt+gzip under the file name the RFC prescribes.
func (r *TLSReports) compose(to addr.Address, rep tlsrpt.Report, gz []byte, now time.Time) []byte {
	sub, dom := r.Submitter.ASCII, ""
	if len(rep.Policies) > 0 {
		dom = rep.Policies[0].Policy.Domain
	}
	begin, end := rep.DateRange.Start.Unix(), rep.DateRange.End.Unix()
	// RFC 8460 §5.3: submitter!policy-domain!begin!end!unique-id.json.gz
	var u [4]byte
	rand.Read(u[:])
	file := fmt.Sprintf("%s!%s!%d!%d!%s.json.gz", sub, dom, begin, end, hex.EncodeToString(u[:]))
	var b [12]byte
	rand.Read(b[:])
	boundary := "tlsrpt-" + hex.EncodeToString(b[:])
	var sb strings.Builder
	h := func(k, v string) { sb.WriteString(k + ": " + v + "\r\n") }
	h("From", "<postmaster@"+sub+">")
	h("To", "<"+to.String()+">")
	h("Date", now.Format(time.RFC1123Z))
	h("Subject", fmt.Sprintf("Report Domain: %s Submitter: %s Report-ID: <%s>", dom, sub, rep.ReportID))
	h("Message-ID", "<tlsrpt."+hex.EncodeToString(b[:6])+"@"+sub+">")
	h("TLS-Report-Domain", dom)
	h("TLS-Report-Submitter", sub)
	h("Auto-Submitted", "auto-generated")
	h("MIME-Version", "1.0")
	h("Content-Type", `multipart/report; report-type="tlsrpt"; boundary="`+boundary+`"`)
	sb.WriteString("\r\n")
	sb.WriteString("--" + boundary + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	fmt.Fprintf(&sb, "This is an aggregate TLS report (RFC 8460) from %s for %s,\r\ncovering %s to %s UTC.\r\n\r\n",
		sub, dom, rep.DateRange.Start.Format("2006-01-02 15:04:05"), rep.DateRange.End.Format("2006-01-02 15:04:05"))
	sb.WriteString("--" + boundary + "\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n")
	sb.WriteString(`Content-Disposition: attachment; filename="` + file + `"` + "\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(gz)
	for len(enc) > 76 {
		sb.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	sb.WriteString(enc + "\r\n--" + boundary + "--\r\n")
	return []byte(sb.String())
}
