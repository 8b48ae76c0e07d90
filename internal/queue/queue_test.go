package queue

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/srs"
	"github.com/posthorn/posthorn/internal/store"
)

func TestDelivered(t *testing.T) {
	e := newEnv(t)
	e.submit("alice@local.example", "bob@remote.example", "carol@remote.example", "dan@other.example")
	if n := len(e.entries()); n != 2 {
		t.Fatalf("%d entries, want 2 (one per domain)", n)
	}
	e.process()
	if n := len(e.entries()); n != 0 {
		t.Fatalf("%d entries left", n)
	}
	calls := e.snd.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d calls", len(calls))
	}
	for _, c := range calls {
		if c.Msg.From != "alice@local.example" || c.Msg.EnvID != "env-42" || c.Msg.Ret != "HDRS" || c.Body != testMsg {
			t.Errorf("call %+v", c)
		}
		if c.Domain == "remote.example" && len(c.Msg.Recipients) != 2 {
			t.Errorf("remote.example got %d recipients", len(c.Msg.Recipients))
		}
	}
	if got := e.local.For("alice@local.example"); len(got) != 0 {
		t.Errorf("unexpected report: %s", got[0])
	}
}

// TestDeliveredLogLine checks the mail log's line per delivered recipient,
// with the MX and the transport security.
func TestDeliveredLogLine(t *testing.T) {
	e := newEnv(t)
	var buf bytes.Buffer
	e.q.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	base := e.snd.answer
	e.snd.answer = func(c call) Result {
		r := base(c)
		r.TLS = "TLS1.3 TLS_AES_128_GCM_SHA256 policy=dane verified"
		return r
	}
	e.submit("alice@local.example", "bob@remote.example")
	e.process()
	line := buf.String()
	for _, want := range []string{"msg=delivered", "to=bob@remote.example", `tls="TLS1.3 TLS_AES_128_GCM_SHA256 policy=dane verified"`} {
		if !strings.Contains(line, want) {
			t.Errorf("log lacks %s:\n%s", want, line)
		}
	}
}

// A deferral is logged with the remote reply (issue 12 §3: a 4xx logged
// nothing).
func TestDeferralLogLine(t *testing.T) {
	e := newEnv(t)
	var buf bytes.Buffer
	e.q.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	e.snd.answer = every(451, "4.2.0", "greylisted, come back later")
	e.submit("alice@local.example", "bob@remote.example")
	e.process()
	if !regexp.MustCompile(`msg=deferred .*to=bob@remote.example attempt=1 mx=mx.remote.example reply="451 4.2.0 greylisted, come back later" next_attempt=`).MatchString(buf.String()) {
		t.Errorf("no deferral line:\n%s", buf.String())
	}
}

// An attempt forced early (posthorn queue retry) does not double the
// back-off: the next wait after it is what it would have been.
func TestForcedRetryKeepsBackoff(t *testing.T) {
	e := newEnv(t)
	e.snd.answer = every(451, "4.3.0", "try later")
	e.submit("alice@local.example", "bob@remote.example NEVER")
	e.process() // attempt 1 at t0: next in 5m
	// Forced: three attempts one minute apart, as "queue retry" does.
	for i := 1; i <= 3; i++ {
		e.clock.Set(t0.Add(time.Duration(i) * time.Minute))
		en := e.entries()[0]
		en.NextAttempt = e.clock.Now()
		if err := e.st.UpdateQueueEntry(context.Background(), en); err != nil {
			t.Fatal(err)
		}
		e.process()
	}
	en := e.entries()[0]
	if en.Attempts != 4 {
		t.Fatalf("%d attempts", en.Attempts)
	}
	if got := en.NextAttempt.Sub(e.clock.Now()); got != 8*time.Minute {
		t.Errorf("after forced retries at age 3m: next in %v, want 8m (age + 5m), not a doubled back-off", got)
	}
}

func TestBackoffSequence(t *testing.T) {
	e := newEnv(t)
	e.snd.answer = every(451, "4.3.0", "try later")
	e.submit("alice@local.example", "bob@remote.example NEVER")
	want := []time.Duration{5, 10, 20, 40, 80, 160, 240, 240, 240}
	for i, w := range want {
		e.process()
		es := e.entries()
		if len(es) != 1 {
			t.Fatalf("attempt %d: %d entries", i+1, len(es))
		}
		if got := es[0].NextAttempt.Sub(e.clock.Now()); got != w*time.Minute {
			t.Errorf("after attempt %d: next in %v, want %v", i+1, got, w*time.Minute)
		}
		if es[0].Attempts != i+1 || !strings.Contains(es[0].LastError, "451 4.3.0 try later") {
			t.Errorf("attempt %d: attempts %d, last error %q", i+1, es[0].Attempts, es[0].LastError)
		}
		// Nothing happens before the next attempt is due.
		e.clock.Set(es[0].NextAttempt.Add(-time.Second))
		e.process()
		if n := len(e.snd.Calls()); n != i+1 {
			t.Fatalf("attempted early: %d calls", n)
		}
		e.clock.Set(es[0].NextAttempt)
	}
}

func TestDelayWarningAndExpiry(t *testing.T) {
	e := newEnv(t)
	e.snd.answer = every(451, "4.2.0", "greylisted, come back later")
	e.submit("alice@local.example", "bob@remote.example", "never@remote.example NEVER", "fail@remote.example FAILURE")
	var delayed, bounced int
	for range 100 {
		e.process()
		reports := e.local.For("alice@local.example")
		for _, r := range reports[delayed+bounced:] {
			switch {
			case strings.Contains(r, "Action: delayed"):
				delayed++
				if age := e.clock.Now().Sub(t0); age < 4*time.Hour {
					t.Errorf("delay warning after %v", age)
				}
				checkReport(t, r, []string{"bob@remote.example"}, ActionDelayed)
			case strings.Contains(r, "Action: failed"):
				bounced++
				if age := e.clock.Now().Sub(t0); age < 5*24*time.Hour {
					t.Errorf("bounce after %v", age)
				}
				checkReport(t, r, []string{"bob@remote.example", "fail@remote.example"}, ActionFailed)
				if !strings.Contains(r, "4.4.7") || !strings.Contains(r, "greylisted, come back later") {
					t.Errorf("expiry bounce lacks the status or the last reply:\n%s", r)
				}
			}
		}
		es := e.entries()
		if len(es) == 0 {
			break
		}
		e.clock.Set(es[0].NextAttempt)
	}
	if delayed != 1 || bounced != 1 {
		t.Errorf("%d delay warnings and %d bounces, want 1 and 1", delayed, bounced)
	}
	if n := len(e.entries()); n != 0 {
		t.Errorf("%d entries left after expiry", n)
	}
}

func TestPartialSuccess(t *testing.T) {
	e := newEnv(t)
	e.snd.answer = func(c call) Result {
		res := Result{MX: "mx.remote.example"}
		for _, r := range c.Msg.Recipients {
			rr := RecipientResult{Address: r.Address, Code: 250, Delivered: true}
			switch r.Address {
			case "temp@remote.example":
				rr = RecipientResult{Address: r.Address, Code: 452, Enhanced: "4.2.2", Text: "mailbox full"}
			case "gone@remote.example":
				rr = RecipientResult{Address: r.Address, Code: 550, Enhanced: "5.1.1", Text: "<gone@remote.example>: no such user", Permanent: true}
			}
			res.PerRecipient = append(res.PerRecipient, rr)
		}
		return res
	}
	e.submit("alice@local.example", "ok@remote.example", "temp@remote.example", "gone@remote.example")
	e.process()
	es := e.entries()
	if len(es) != 1 {
		t.Fatalf("%d entries", len(es))
	}
	status := map[string]string{}
	for _, r := range es[0].Recipients {
		status[r.Address] = r.Status
	}
	if status["ok@remote.example"] != "delivered" || status["temp@remote.example"] != "" || status["gone@remote.example"] != "failed" {
		t.Errorf("statuses %v", status)
	}
	reports := e.local.For("alice@local.example")
	if len(reports) != 1 {
		t.Fatalf("%d reports, want the bounce for gone@", len(reports))
	}
	checkReport(t, reports[0], []string{"gone@remote.example"}, ActionFailed)
	if !strings.Contains(reports[0], "550 5.1.1 <gone@remote.example>: no such user") {
		t.Errorf("bounce lacks the remote reply verbatim:\n%s", reports[0])
	}
	e.clock.Set(es[0].NextAttempt)
	e.snd.answer = every(250, "2.0.0", "ok")
	e.process()
	calls := e.snd.Calls()
	if last := calls[len(calls)-1]; len(last.Msg.Recipients) != 1 || last.Msg.Recipients[0].Address != "temp@remote.example" {
		t.Errorf("retry went to %+v", last.Msg.Recipients)
	}
	if n := len(e.entries()); n != 0 {
		t.Errorf("%d entries left", n)
	}
}

func TestSuccessNotification(t *testing.T) {
	e := newEnv(t)
	e.submit("alice@local.example", "bob@remote.example SUCCESS,FAILURE")
	e.process()
	reports := e.local.For("alice@local.example")
	if len(reports) != 1 {
		t.Fatalf("%d reports", len(reports))
	}
	checkReport(t, reports[0], []string{"bob@remote.example"}, ActionRelayed)
	// A DSN-capable server reports success itself.
	e.snd.answer = func(c call) Result { r := every(250, "2.0.0", "ok")(c); r.DSN = true; return r }
	e.submit("alice@local.example", "bob@remote.example SUCCESS")
	e.process()
	if n := len(e.local.For("alice@local.example")); n != 1 {
		t.Errorf("%d reports, want no new one", n)
	}
}

func TestNullSenderNeverBounced(t *testing.T) {
	e := newEnv(t)
	e.snd.answer = every(550, "5.1.1", "no such user")
	e.submit("", "bob@remote.example")
	e.process()
	if n := len(e.entries()); n != 0 {
		t.Errorf("%d entries", n)
	}
	if len(e.local.msgs) != 0 {
		t.Errorf("reports sent: %v", e.local.msgs)
	}
}

func TestRemoteSenderBounceIsQueued(t *testing.T) {
	e := newEnv(t)
	e.snd.answer = every(550, "5.1.1", "no such user")
	e.submit("zoe@elsewhere.example", "bob@remote.example")
	e.process()
	es := e.entries()
	if len(es) != 1 || es[0].Sender != "" || es[0].Domain != "elsewhere.example" || es[0].Recipients[0].Address != "zoe@elsewhere.example" {
		t.Fatalf("bounce entry %+v", es)
	}
	// The bounce bounces too: dropped, not reported.
	e.process()
	if n := len(e.entries()); n != 0 {
		t.Errorf("%d entries", n)
	}
}

func TestLoopProtection(t *testing.T) {
	e := newEnv(t)
	msg := strings.Repeat("Received: from x by y; Mon, 2 Mar 2026 10:00:00 +0000\r\n", DefaultMaxHops+1) + testMsg
	env := &delivery.Envelope{ID: "L", Sender: addr.MustParseAddress("alice@local.example")}
	r := delivery.Recipient{Address: addr.MustParseAddress("bob@remote.example"), Remote: []addr.Address{addr.MustParseAddress("bob@remote.example")}}
	err := e.q.Enqueue(context.Background(), delivery.Outgoing{Envelope: env, Recipients: []delivery.Recipient{r}, Message: delivery.Bytes([]byte(msg))})
	if err != ErrTooManyHops {
		t.Fatalf("err = %v", err)
	}
	if n := len(e.entries()); n != 0 {
		t.Errorf("%d entries", n)
	}
}

func TestCrashRecovery(t *testing.T) {
	e := newEnv(t)
	e.submit("alice@local.example", "bob@remote.example")
	// The process dies during the attempt: the sender sees the context
	// end (as a shutdown) and the entry is left as it was.
	ctx, cancel := context.WithCancel(context.Background())
	e.snd.answer = func(c call) Result { cancel(); return Result{Err: context.Canceled} }
	e.q.Process(ctx)
	es := e.entries()
	if len(es) != 1 || es[0].Attempts != 0 {
		t.Fatalf("entry after the interrupted attempt: %+v", es)
	}
	e.st.Close()
	e.open()
	e.snd.answer = every(250, "2.0.0", "ok")
	e.process()
	if n := len(e.entries()); n != 0 {
		t.Errorf("%d entries after recovery", n)
	}
	if n := len(e.snd.Calls()); n != 2 {
		t.Errorf("%d calls", n)
	}
}

func TestSmarthost(t *testing.T) {
	e := newEnv(t)
	relay := Relay{Host: "smtp.provider.example", Port: 587, Username: "u", Password: "p"}
	e.q.Options.Smarthost = &Smarthost{Relay: relay, Domains: []addr.Domain{addr.MustParseDomain("remote.example")}}
	e.submit("alice@local.example", "bob@remote.example", "dan@other.example")
	e.process()
	for _, c := range e.snd.Calls() {
		switch c.Msg.Recipients[0].Address {
		case "bob@remote.example":
			if c.Relay != relay {
				t.Errorf("remote.example went to %+v", c)
			}
		default:
			if c.Domain != "other.example" || c.Relay.Host != "" {
				t.Errorf("other.example went to %+v", c)
			}
		}
	}
	e.q.Options.Smarthost.Domains = nil
	e.submit("alice@local.example", "dan@other.example")
	e.process()
	calls := e.snd.Calls()
	if c := calls[len(calls)-1]; c.Relay != relay {
		t.Errorf("with no domains, mail went to %+v", c)
	}
}

// Mail for a relay (backup MX) domain goes through DeliverBackup, which
// picks the better MX hosts and applies the same TLS policy as every
// route (smtpclient's TestEveryRouteAppliesTLSPolicy).
func TestBackupMX(t *testing.T) {
	e := newEnv(t)
	e.q.Options.RelayDomains = []addr.Domain{addr.MustParseDomain("relayed.example")}
	e.snd.answer = func(c call) Result {
		if c.Backup {
			return Result{Err: errTest("connection refused")}
		}
		return every(250, "2.0.0", "ok")(c)
	}
	e.submit("", "user@relayed.example", "bob@remote.example")
	e.process()
	es := e.entries()
	if len(es) != 1 || es[0].Domain != "relayed.example" || es[0].LastError != "connection refused" {
		t.Fatalf("entries %+v", es)
	}
	e.snd.answer = every(250, "2.0.0", "ok")
	e.clock.Set(es[0].NextAttempt)
	e.process()
	for _, c := range e.snd.Calls() {
		if c.Backup != (c.Domain == "relayed.example") || c.Relay.Host != "" {
			t.Errorf("call %+v", c)
		}
	}
	if n := len(e.entries()); n != 0 {
		t.Errorf("%d entries", n)
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }

func TestLimiter(t *testing.T) {
	c := &clock{t: t0}
	l := &Limiter{MessagesPerDay: 2, RecipientsPerHour: 3, Now: c.Now}
	check := func(first bool, want string) {
		t.Helper()
		err := l.AllowRecipient("alice@local.example", first)
		if (err == nil) != (want == "") || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("AllowRecipient(first=%v) = %v, want %q", first, err, want)
		}
	}
	check(true, "")
	check(false, "")
	check(false, "")
	check(false, "3 recipients at other domains per hour")
	c.Set(t0.Add(time.Hour + time.Second))
	check(true, "")
	check(true, "2 messages to other domains per day")
	c.Set(t0.Add(25 * time.Hour))
	check(true, "")
	if err := l.AllowRecipient("bob@local.example", true); err != nil {
		t.Errorf("other account: %v", err)
	}
}

// Forwarded mail carries an SRS sender at this server; its bounces,
// delay notices and expiry bounces go to the original sender, reversed,
// not to local delivery of the SRS address (issue 12 §3).
func TestForwardedBounceReversesSRS(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(call) Result
		action string
	}{
		{"bounce", every(550, "5.1.1", "no such user"), ActionFailed},
		{"delay", every(451, "4.2.0", "greylisted"), ActionDelayed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.q.SRS = &srs.Rewriter{Secret: []byte("0123456789abcdef"), Now: e.clock.Now}
			e.snd.answer = tc.answer
			env := &delivery.Envelope{ID: "F1", Sender: addr.MustParseAddress("alice@origin.example")}
			r := delivery.Recipient{Address: addr.MustParseAddress("fwd@local.example"), Forwarded: true,
				Remote: []addr.Address{addr.MustParseAddress("carol@remote.example")}}
			if err := e.q.Enqueue(context.Background(), delivery.Outgoing{Envelope: env, Recipients: []delivery.Recipient{r}, Message: delivery.Bytes([]byte(testMsg))}); err != nil {
				t.Fatal(err)
			}
			if s := e.entries()[0].Sender; !strings.HasPrefix(s, "SRS0=") {
				t.Fatalf("forwarded with sender %q", s)
			}
			var report string
			for range 20 {
				e.process()
				es := e.entries()
				for _, en := range es {
					if en.Domain == "origin.example" && en.Sender == "" && en.Recipients[0].Address == "alice@origin.example" {
						b, _ := e.st.OpenQueued(context.Background(), en)
						raw, _ := io.ReadAll(io.NewSectionReader(b, 0, b.Size()))
						b.Close()
						report = string(raw)
					}
				}
				if report != "" || len(es) == 0 {
					break
				}
				e.clock.Set(es[0].NextAttempt)
			}
			if report == "" {
				t.Fatalf("no report queued to the original sender; local deliveries: %v", e.local.msgs)
			}
			checkReport(t, report, []string{"carol@remote.example"}, tc.action)
			for a := range e.local.msgs {
				if strings.HasPrefix(a, "SRS") {
					t.Errorf("report delivered to the SRS address %s", a)
				}
			}
		})
	}
}

// A report to an SRS address at this server that does not verify (forged)
// is not sent anywhere but the address itself (local delivery refuses it).
func TestForwardedBounceForgedSRS(t *testing.T) {
	e := newEnv(t)
	e.q.SRS = &srs.Rewriter{Secret: []byte("0123456789abcdef"), Now: e.clock.Now}
	e.snd.answer = every(550, "5.1.1", "no such user")
	e.submit("SRS0=AAAAAA=AA=victim.example=v@local.example", "bob@remote.example")
	e.process()
	for a := range e.local.msgs {
		if a == "v@victim.example" {
			t.Errorf("a forged SRS address was reversed: report to %s", a)
		}
	}
	for _, en := range e.entries() {
		if strings.Contains(en.Domain, "victim") {
			t.Errorf("a forged SRS address was reversed: queued to %s", en.Domain)
		}
	}
}

// SMTPUTF8 given by a client for all-ASCII mail is not passed on (RFC
// 6531 §3.4); non-ASCII addresses or header fields keep it.
func TestSMTPUTF8OnlyWhenNeeded(t *testing.T) {
	for _, tc := range []struct {
		sender, rcpt, msg string
		want              bool
	}{
		{"a@local.example", "b@remote.example", "Subject: hi\r\n\r\nGrüße\r\n", false},
		{"a@local.example", "b@remote.example", "Subject: Grüße\r\n\r\nhi\r\n", true},
		{"a@local.example", "bü@remote.example", "Subject: hi\r\n\r\nhi\r\n", true},
		{"ä@local.example", "b@remote.example", "Subject: hi\r\n\r\nhi\r\n", true},
	} {
		e := store.QueueEntry{Sender: tc.sender, Recipients: []store.QueueRecipient{{Address: tc.rcpt}}}
		if got := needsUTF8(e, strings.NewReader(tc.msg)); got != tc.want {
			t.Errorf("%s → %s %q: %v, want %v", tc.sender, tc.rcpt, tc.msg, got, tc.want)
		}
	}
}
