package queue

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
	"github.com/posthorn/posthorn/internal/tlsrpt"
)

// tlsEnv is a queue with TLS reports, a fake clock and an HTTPS collector.
type tlsEnv struct {
	*env
	rec   *tlsrpt.Recorder
	mu    sync.Mutex
	posts [][]byte
	ctype string
}

func newTLSEnv(t *testing.T) *tlsEnv {
	e := &tlsEnv{env: newEnv(t), rec: &tlsrpt.Recorder{}}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.posts = append(e.posts, b)
		e.ctype = r.Header.Get("Content-Type")
		e.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	resolver := dnstest.NewResolver(dnstest.Zone{
		"_smtp._tls.mail.example.": {TXT: []string{"v=TLSRPTv1; rua=mailto:tlsrpt@remote.example"}},
		"_smtp._tls.web.example.":  {TXT: []string{"v=TLSRPTv1; rua=" + srv.URL + "/report"}},
	})
	e.q.TLSReports = &TLSReports{
		Recorder: e.rec, Resolver: resolver, Submitter: addr.MustParseDomain("local.example"), HTTP: srv.Client(),
		Sign: func(ctx context.Context, msg []byte) ([]byte, error) {
			return []byte("DKIM-Signature: v=1; fake\r\n"), nil
		},
	}
	return e
}

func (e *tlsEnv) record() {
	sts := tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: "mail.example", MXHost: []string{"mx.mail.example"}}
	e.rec.Success(sts)
	e.rec.Success(sts)
	e.rec.Failure(sts, tlsrpt.Failure{ResultType: tlsrpt.CertificateHostMismatch, ReceivingMXHostname: "mx2.mail.example", ReceivingIP: "192.0.2.2"})
	e.rec.Success(tlsrpt.Policy{Type: tlsrpt.PolicyNotFound, Domain: "web.example"})
	e.rec.Success(tlsrpt.Policy{Type: tlsrpt.PolicyNotFound, Domain: "silent.example"}) // no TLSRPT record
}

// TestTLSReportDaily: nothing is sent during the day; after UTC midnight
// the tick sends one report per domain with an rua, by mail and HTTPS.
func TestTLSReportDaily(t *testing.T) {
	e := newTLSEnv(t)
	ctx := context.Background()
	if next := e.q.tlsReportTick(ctx); !next.Equal(time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("next boundary %v", next)
	}
	e.record()
	e.clock.Set(t0.Add(5 * time.Hour)) // 15:00, same day
	e.q.tlsReportTick(ctx)
	e.q.wg.Wait()
	if len(e.entries()) != 0 || len(e.posts) != 0 {
		t.Fatal("report sent before the day ended")
	}
	e.clock.Set(time.Date(2026, 3, 3, 0, 0, 5, 0, time.UTC))
	if next := e.q.tlsReportTick(ctx); !next.Equal(time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("next boundary %v", next)
	}
	e.q.wg.Wait()

	// https: one POST of gzipped JSON for web.example.
	if len(e.posts) != 1 || e.ctype != "application/tlsrpt+gzip" {
		t.Fatalf("posts %d, content type %q", len(e.posts), e.ctype)
	}
	rep := gunzipReport(t, e.posts[0])
	if len(rep.Policies) != 1 || rep.Policies[0].Policy.Domain != "web.example" || rep.Policies[0].Summary.Success != 1 {
		t.Errorf("https report %+v", rep)
	}

	// mailto: one queued message for mail.example's rua.
	es := e.entries()
	if len(es) != 1 || es[0].Domain != "remote.example" || es[0].Sender != "" {
		t.Fatalf("queued %+v", es)
	}
	content, err := e.st.OpenQueued(ctx, es[0])
	if err != nil {
		t.Fatal(err)
	}
	defer content.Close()
	raw, _ := io.ReadAll(io.NewSectionReader(content, 0, content.Size()))
	if !bytes.HasPrefix(raw, []byte("DKIM-Signature: v=1; fake\r\n")) {
		t.Error("report not signed")
	}
	rep = mailedReport(t, raw)
	p := rep.Policies[0]
	if len(rep.Policies) != 1 || p.Policy.Domain != "mail.example" || p.Summary.Success != 2 || p.Summary.Failure != 1 ||
		p.FailureDetails[0].ResultType != tlsrpt.CertificateHostMismatch {
		t.Errorf("mailed report %+v", rep)
	}
	if !rep.DateRange.Start.Equal(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)) || !rep.DateRange.End.Equal(time.Date(2026, 3, 2, 23, 59, 59, 0, time.UTC)) {
		t.Errorf("date range %+v", rep.DateRange)
	}
	if rep.ContactInfo != "postmaster@local.example" || rep.OrganizationName != "local.example" {
		t.Errorf("contact %q org %q", rep.ContactInfo, rep.OrganizationName)
	}

	// The recorder was reset: the next day has nothing to say.
	e.clock.Set(time.Date(2026, 3, 4, 0, 0, 1, 0, time.UTC))
	e.q.tlsReportTick(ctx)
	e.q.wg.Wait()
	if len(e.posts) != 1 || len(e.entries()) != 1 {
		t.Errorf("empty day sent reports: posts %d, queued %d", len(e.posts), len(e.entries()))
	}
}

// TestTLSReportHTTPFailure: an https: collector answering 500 is logged,
// the mailto: report still goes.
func TestTLSReportHTTPFailure(t *testing.T) {
	e := newTLSEnv(t)
	bad := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 500) }))
	defer bad.Close()
	e.q.TLSReports.HTTP = bad.Client()
	e.q.TLSReports.Resolver.(*dnstest.Resolver).Set(dnstest.Zone{
		"_smtp._tls.mail.example.": {TXT: []string{"v=TLSRPTv1; rua=" + bad.URL + "/r,mailto:tlsrpt@remote.example"}},
	})
	e.record()
	e.q.SendTLSReports(context.Background(), t0, t0.Add(24*time.Hour))
	if len(e.entries()) != 1 {
		t.Errorf("queued %d reports, want 1", len(e.entries()))
	}
}

func gunzipReport(t *testing.T, gz []byte) tlsrpt.Report {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	var rep tlsrpt.Report
	if err := json.NewDecoder(zr).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// mailedReport checks the RFC 8460 §5.3 message form and returns the report.
func mailedReport(t *testing.T, raw []byte) tlsrpt.Report {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get("TLS-Report-Domain") != "mail.example" || m.Header.Get("TLS-Report-Submitter") != "local.example" ||
		!strings.HasPrefix(m.Header.Get("Subject"), "Report Domain: mail.example Submitter: local.example Report-ID: <") {
		t.Errorf("header %v", m.Header)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("content type %q", m.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var parts []string
	var rep tlsrpt.Report
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		ct := p.Header.Get("Content-Type")
		parts = append(parts, ct)
		if ct == "application/tlsrpt+gzip" {
			if fn := p.FileName(); !strings.HasPrefix(fn, "local.example!mail.example!1772409600!1772495999!") || !strings.HasSuffix(fn, ".json.gz") {
				t.Errorf("file name %q", fn)
			}
			b, _ := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
			rep = gunzipReport(t, b)
		}
	}
	if len(parts) != 2 {
		t.Errorf("parts %v", parts)
	}
	return rep
}

type countObserver struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *countObserver) Delivered(via string, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int{}
	}
	o.n[via] += n
}

// TestObserverCountsRemoteDeliveries: the observer hears of each
// recipient delivered, once.
func TestObserverCountsRemoteDeliveries(t *testing.T) {
	e := newEnv(t)
	o := &countObserver{}
	e.q.Observer = o
	e.submit("alice@local.example", "bob@remote.example", "carol@remote.example", "dave@other.example")
	e.process()
	if o.n["remote"] != 3 {
		t.Errorf("remote deliveries %d, want 3", o.n["remote"])
	}
}

// The tallies survive a restart (issue 12 §3): saved in the store when
// the queue stops, read back when it starts; a day that ended meanwhile
// is reported at start.
func TestTLSReportTalliesSurviveRestart(t *testing.T) {
	e := newTLSEnv(t)
	e.q.TLSReports.State = e.st
	e.clock.Set(t0.Add(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.q.Run(ctx); close(done) }()
	e.record()
	cancel()
	<-done

	// A new process: a fresh recorder and queue on the same store.
	rec := &tlsrpt.Recorder{}
	old := e.q.TLSReports
	e.q = &Queue{Store: e.st, Sender: e.snd, Hostname: e.q.Hostname, Local: e.local, Now: e.clock.Now,
		TLSReports: &TLSReports{Recorder: rec, State: e.st, Resolver: old.Resolver, Submitter: old.Submitter, HTTP: old.HTTP, Sign: old.Sign}}
	e.q.init()
	e.q.loadTLSState(context.Background())
	snap := rec.Snapshot(false)
	if len(snap) != 3 {
		t.Fatalf("restored %d policies, want 3: %+v", len(snap), snap)
	}
	// The next day: the restored tallies are reported for the saved day.
	e.clock.Set(time.Date(2026, 3, 3, 0, 0, 5, 0, time.UTC))
	e.q.tlsReportTick(context.Background())
	e.q.wg.Wait()
	if len(e.posts) != 1 {
		t.Fatalf("%d reports posted after the restart, want 1", len(e.posts))
	}
	rep := gunzipReport(t, e.posts[0])
	if rep.Policies[0].Summary.Success != 1 || !rep.DateRange.Start.Equal(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("report after restart %+v", rep)
	}
}

// SendTLSReportsNow sends what is pending at once ("posthorn tlsrpt send").
func TestSendTLSReportsNow(t *testing.T) {
	e := newTLSEnv(t)
	e.clock.Set(t0.Add(time.Hour))
	e.record()
	if n := e.q.SendTLSReportsNow(context.Background()); n != 3 {
		t.Errorf("SendTLSReportsNow = %d policies, want 3", n)
	}
	if len(e.posts) != 1 || len(e.entries()) != 1 {
		t.Errorf("posts %d, queued %d; want 1 and 1", len(e.posts), len(e.entries()))
	}
	if snap := e.rec.Snapshot(false); len(snap) != 0 {
		t.Errorf("tallies left after sending: %+v", snap)
	}
}
