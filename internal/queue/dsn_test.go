package queue

import (
	"bufio"
	"bytes"
	"flag"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// parsedReport is a DSN parsed back with the standard library.
type parsedReport struct {
	Header     mail.Header
	Text       string
	PerMessage textproto.MIMEHeader
	PerRcpt    []textproto.MIMEHeader
	ThirdType  string
	Third      string
}

func parseReport(t *testing.T, raw string) parsedReport {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("net/mail: %v", err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var parts []*multipart.Part
	var bodies []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		parts, bodies = append(parts, p), append(bodies, string(b))
	}
	if len(parts) != 3 {
		t.Fatalf("%d parts", len(parts))
	}
	if ct := parts[1].Header.Get("Content-Type"); ct != "message/delivery-status" {
		t.Fatalf("second part is %s", ct)
	}
	pr := parsedReport{Header: m.Header, Text: bodies[0], ThirdType: parts[2].Header.Get("Content-Type"), Third: bodies[2]}
	tr := textproto.NewReader(bufio.NewReader(strings.NewReader(bodies[1] + "\r\n")))
	first := true
	for {
		h, err := tr.ReadMIMEHeader()
		if len(h) > 0 {
			if first {
				pr.PerMessage = h
			} else {
				pr.PerRcpt = append(pr.PerRcpt, h)
			}
			first = false
		}
		if err != nil {
			break
		}
	}
	return pr
}

// checkReport checks a DSN's structure and that it reports rcpts with action.
func checkReport(t *testing.T, raw string, rcpts []string, action string) parsedReport {
	t.Helper()
	pr := parseReport(t, raw)
	if pr.PerMessage.Get("Reporting-Mta") == "" {
		t.Errorf("no Reporting-MTA")
	}
	if got := len(pr.PerRcpt); got != len(rcpts) {
		t.Fatalf("%d recipients reported, want %d:\n%s", got, len(rcpts), raw)
	}
	for i, r := range rcpts {
		h := pr.PerRcpt[i]
		if h.Get("Final-Recipient") != "rfc822; "+r || h.Get("Action") != action {
			t.Errorf("recipient %d: %v", i, h)
		}
	}
	if pr.Header.Get("Auto-Submitted") != "auto-replied" {
		t.Errorf("no Auto-Submitted")
	}
	return pr
}

func goldenReport() *Report {
	orig := "From: alice@local.example\r\nTo: bob@remote.example\r\nSubject: quarterly numbers\r\nMessage-ID: <m1@local.example>\r\n\r\nThe numbers.\r\n"
	t := time.Date(2026, 3, 7, 10, 0, 0, 0, time.UTC)
	return &Report{
		ReportingMTA: "mx.local.example", QueueID: 7, Sender: "alice@local.example",
		ArrivalDate: t.Add(-5 * 24 * time.Hour), EnvID: "env-42",
		Recipients: []ReportRecipient{
			{Address: "bob@remote.example", ORcpt: "rfc822;Bob@Remote.example", Action: ActionFailed, Status: "5.1.1",
				RemoteMTA: "mx.remote.example", Diagnostic: "550 5.1.1 <bob@remote.example>: Recipient address rejected: User unknown", Remote: true, LastAttempt: t},
			{Address: "carol@slow.example", Action: ActionFailed, Status: "4.4.7",
				Diagnostic: "gave up after 5 days of retrying; last error: connection refused", LastAttempt: t},
		},
		Original: strings.NewReader(orig), OriginalSize: int64(len(orig)),
		Date: t, RetryUntil: t,
	}
}

func TestReportGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ret    string
		action string
		third  string
	}{
		{"failed-full", "FULL", ActionFailed, "message/rfc822"},
		{"failed-hdrs", "HDRS", ActionFailed, "text/rfc822-headers"},
		{"failed-default", "", ActionFailed, "message/rfc822"},
		{"delayed", "", ActionDelayed, "text/rfc822-headers"},
		{"relayed", "FULL", ActionRelayed, "message/rfc822"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := goldenReport()
			r.Ret = tc.ret
			for i := range r.Recipients {
				r.Recipients[i].Action = tc.action
			}
			if tc.action == ActionDelayed {
				r.RetryUntil = r.ArrivalDate.Add(5 * 24 * time.Hour)
			}
			got := r.Compose()
			path := filepath.Join("testdata", "dsn-"+tc.name+".eml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("differs from %s (run with -update):\n%s", path, got)
			}
			pr := checkReport(t, string(got), []string{"bob@remote.example", "carol@slow.example"}, tc.action)
			if pr.PerMessage.Get("Original-Envelope-Id") != "env-42" || pr.PerMessage.Get("Arrival-Date") == "" {
				t.Errorf("per-message fields %v", pr.PerMessage)
			}
			bob := pr.PerRcpt[0]
			if bob.Get("Original-Recipient") != "rfc822; Bob@Remote.example" || bob.Get("Remote-Mta") != "dns; mx.remote.example" ||
				bob.Get("Diagnostic-Code") != "smtp; 550 5.1.1 <bob@remote.example>: Recipient address rejected: User unknown" {
				t.Errorf("bob's fields %v", bob)
			}
			if pr.ThirdType != tc.third {
				t.Errorf("third part %s, want %s", pr.ThirdType, tc.third)
			}
			if strings.Contains(pr.Third, "The numbers.") != (tc.third == "message/rfc822") {
				t.Errorf("returned original %q", pr.Third)
			}
			if tc.action == ActionFailed && !strings.Contains(pr.Text, "User unknown") {
				t.Errorf("plain text lacks the remote answer:\n%s", pr.Text)
			}
		})
	}
}

// The DSN's fields follow the answer they report (issue 12 §3): a remote
// server's reply is "smtp;" with its Remote-MTA and the server named in
// the text; our own reason is "X-Posthorn;" with no server; a delay
// notice carries the server's status code, not 4.0.0.
func TestReportFieldsFollowTheAnswer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answer  RecipientResult
		mx      string
		delay   bool
		want    []string
		wantNot []string
	}{
		{"remote failure", RecipientResult{Code: 550, Enhanced: "5.1.1", Text: "no such user", Permanent: true, Remote: true}, "mx.remote.example [192.0.2.1]", false,
			[]string{"Diagnostic-Code: smtp; 550 5.1.1 no such user", "Remote-MTA: dns; mx.remote.example\r\n", "The server mx.remote.example [192.0.2.1] answered:", "Status: 5.1.1"},
			[]string{"Diagnostic-Code: X-Posthorn"}},
		{"local failure", RecipientResult{Code: 553, Enhanced: "5.6.7", Text: "The receiving server does not support SMTPUTF8", Permanent: true}, "mx.remote.example [192.0.2.1]", false,
			[]string{"Diagnostic-Code: X-Posthorn; 553 5.6.7 The receiving server", "Reason: 553 5.6.7"},
			[]string{"smtp;", "answered:"}},
		{"remote answer, no MX name", RecipientResult{Code: 550, Enhanced: "5.7.1", Text: "refused", Permanent: true, Remote: true}, "", false,
			[]string{"Reason: 550 5.7.1 refused"},
			[]string{"The server  answered", "answered:", "Remote-MTA"}},
		{"delay, remote answer", RecipientResult{Code: 451, Enhanced: "4.2.0", Text: "greylisted", Remote: true}, "mx.remote.example [192.0.2.1]", true,
			[]string{"Action: delayed", "Status: 4.2.0", "Diagnostic-Code: smtp; 451 4.2.0 greylisted", "The server mx.remote.example [192.0.2.1] answered:"},
			[]string{"Status: 4.0.0", "Diagnostic-Code: X-Posthorn"}},
		{"delay, local reason", RecipientResult{Code: 451, Enhanced: "4.4.1", Text: "Could not connect to mx.remote.example"}, "", true,
			[]string{"Action: delayed", "Status: 4.4.1", "Diagnostic-Code: X-Posthorn; 451 4.4.1 Could not connect"},
			[]string{"smtp;", "answered:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.snd.answer = func(c call) Result {
				res := Result{MX: tc.mx}
				for _, r := range c.Msg.Recipients {
					a := tc.answer
					a.Address = r.Address
					res.PerRecipient = append(res.PerRecipient, a)
				}
				return res
			}
			e.submit("alice@local.example", "bob@remote.example")
			e.process()
			for tc.delay && len(e.local.For("alice@local.example")) == 0 && len(e.entries()) > 0 {
				e.clock.Set(e.entries()[0].NextAttempt)
				e.process()
			}
			got := e.local.For("alice@local.example")
			if len(got) != 1 {
				t.Fatalf("%d reports", len(got))
			}
			for _, w := range tc.want {
				if !strings.Contains(got[0], w) {
					t.Errorf("report lacks %q:\n%s", w, got[0])
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(got[0], w) {
					t.Errorf("report has %q:\n%s", w, got[0])
				}
			}
		})
	}
}
