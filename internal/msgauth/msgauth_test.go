package msgauth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/delivery"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/arc"
	"github.com/posthorn/posthorn/internal/dkim"
	"github.com/posthorn/posthorn/internal/dmarc"
	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/store"
)

// TestHeaderGolden pins the Authentication-Results and Received-SPF fields
// of typical messages.
func TestHeaderGolden(t *testing.T) {
	c, _ := newTestChecker(t, nil)
	for _, tc := range []struct {
		name, mailFrom, msg string
		action              Action
	}{
		{"pass-spf-dkim", "bounce@sender.example", signed(t, msg("a@sender.example", "")), Deliver},
		{"reject", "x@reject.example", msg("a@reject.example", ""), Reject},
		{"quarantine-null-sender", "", msg("a@quarantine.example", ""), Junk},
		{"none-policy", "x@none.example", msg("a@none.example", ""), Deliver},
		{"no-policy-tampered-dkim", "bounce@sender.example", strings.Replace(signed(t, msg("a@nodmarc.example", "")), "Hello", "Hullo", 1), Deliver},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := check(t, c, tc.mailFrom, tc.msg)
			if res.Action != tc.action {
				t.Errorf("action %s, want %s (%s)", res.Action, tc.action, res.Reason)
			}
			h := string(c.Header(res))
			for _, line := range strings.Split(strings.TrimSuffix(h, "\r\n"), "\r\n") {
				if len(line) > 998 {
					t.Errorf("line over 998 octets: %q", line)
				}
			}
			golden(t, tc.name+".golden", h)
		})
	}
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mod      func(*Options)
		from     string
		mailFrom string
		want     Action
	}{
		{"reject", nil, "a@reject.example", "x@reject.example", Reject},
		{"reject as junk", func(o *Options) { o.DMARCReject = Junk }, "a@reject.example", "x@reject.example", Junk},
		{"not enforced", func(o *Options) { o.Enforce = false }, "a@reject.example", "x@reject.example", Deliver},
		{"quarantine", nil, "a@quarantine.example", "x@quarantine.example", Junk},
		{"p=none", nil, "a@none.example", "x@none.example", Deliver},
		{"spf aligned pass", nil, "a@sender.example", "b@sender.example", Deliver},
		{"temperror defers", nil, "a@temp.example", "x@temp.example", Defer},
		{"temperror accepted", func(o *Options) { o.DMARCTempError = Deliver }, "a@temp.example", "x@temp.example", Deliver},
		{"no policy", nil, "a@nodmarc.example", "x@nodmarc.example", Deliver},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestChecker(t, tc.mod)
			res := check(t, c, tc.mailFrom, msg(tc.from, ""))
			if res.Action != tc.want {
				t.Errorf("action %s, want %s; reason: %s", res.Action, tc.want, res.Reason)
			}
			if res.Reason == "" {
				t.Errorf("no reason")
			}
		})
	}
}

// TestTempErrorKnownNonePolicy: a DKIM key lookup that fails temporarily
// under p=none is delivered, not deferred.
func TestTempErrorKnownNonePolicy(t *testing.T) {
	c, r := newTestChecker(t, nil)
	r.Fail("ed._domainkey.sender.example", dns.ErrTemporary)
	m := signed(t, msg("a@sender.example", ""))
	// SPF fails (MAIL FROM of another domain), DKIM temperror: p=reject
	// is known, so the message is deferred.
	res := check(t, c, "x@reject.example", m)
	if res.DMARC.Result != dmarc.ResultTempError || res.Action != Defer {
		t.Fatalf("got %s/%s, want temperror/defer: %s", res.DMARC.Result, res.Action, res.Reason)
	}
}

// TestARCOverride: a message failing DMARC under p=reject, forwarded by a
// trusted sealer that recorded dmarc=pass, is delivered.
func TestARCOverride(t *testing.T) {
	m := msg("a@reject.example", "")
	fwd := dkim.Signer{Domain: addr.MustParseDomain("list.example"), Selector: "fwd", Key: parseKey(t, "forwarder-rsa2048.pem")}
	set, err := (&arc.Sealer{Signer: fwd, Now: func() time.Time { return testNow }}).Seal(strings.NewReader(m),
		"list.example; spf=pass smtp.mailfrom=a@reject.example; dmarc=pass header.from=reject.example", arc.Result{Chain: arc.StatusNone})
	if err != nil {
		t.Fatal(err)
	}
	m = set + m
	for _, tc := range []struct {
		trusted []addr.Domain
		want    Action
	}{
		{nil, Reject},
		{[]addr.Domain{addr.MustParseDomain("list.example")}, Deliver},
	} {
		c, _ := newTestChecker(t, func(o *Options) { o.TrustedARCSealers = tc.trusted })
		var got []store.DMARCRecord
		c.opt.Reports = sinkFunc(func(r store.DMARCRecord) { got = append(got, r) })
		res := check(t, c, "x@list.example", m)
		if res.ARC.Chain != arc.StatusPass {
			t.Fatalf("chain %s: %s", res.ARC.Chain, res.ARC.Reason)
		}
		if res.Action != tc.want {
			t.Errorf("trusted %v: action %s, want %s (%s)", tc.trusted, res.Action, tc.want, res.Reason)
		}
		if len(got) != 1 {
			t.Fatalf("%d report records", len(got))
		}
		if tc.want == Deliver && (got[0].Override != "trusted_forwarder" || got[0].Disposition != dmarc.DispositionNone ||
			!strings.Contains(string(c.Header(res)), "policy.dmarc=none")) {
			t.Errorf("override not recorded: %+v\n%s", got[0], c.Header(res))
		}
	}
}

type sinkFunc func(store.DMARCRecord)

func (f sinkFunc) AddDMARCRecord(_ context.Context, r store.DMARCRecord) error { f(r); return nil }

// TestStoreReports: the store keeps one record per message whose From
// domain publishes a policy.
func TestStoreReports(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, _ := newTestChecker(t, func(o *Options) { o.Reports = st })
	check(t, c, "x@reject.example", msg("a@reject.example", ""))
	check(t, c, "x@nodmarc.example", msg("a@nodmarc.example", "")) // no policy: no record
	recs, err := st.DMARCRecords(ctx, store.DMARCQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d records: %+v", len(recs), recs)
	}
	r := recs[0]
	if r.HeaderFrom.ASCII != "reject.example" || r.Disposition != dmarc.DispositionReject || r.SourceIP.String() != "192.0.2.10" ||
		r.Published.P != dmarc.DispositionReject || !r.Time.Equal(testNow) || r.SPF.Result != "fail" {
		t.Errorf("record %+v", r)
	}
}

func TestLocalClientSkipsSPF(t *testing.T) {
	c, r := newTestChecker(t, nil)
	res, err := c.Check(context.Background(), Input{Local: true, HELO: "x", Message: delivery.Bytes([]byte(msg("a@none.example", "")))})
	if err != nil {
		t.Fatal(err)
	}
	if res.SPF != nil || res.IPRev != nil || r.Queries("none.example") != 0 {
		t.Errorf("SPF or iprev checked for a local client")
	}
	h := string(c.Header(res))
	if !strings.Contains(h, "spf=none (not checked") || strings.Contains(h, "Received-SPF") {
		t.Errorf("header:\n%s", h)
	}
}

func TestCommentText(t *testing.T) {
	for in, want := range map[string]string{
		"plain words, ünïcode":         "plain words, ünïcode",
		"a (b) c\\d":                   `a \(b\) c\\d`,
		"line\r\nbreak\x7f":            "line  break ",
		"bad \xff octet":               "bad \uFFFD octet",
		"a" + strings.Repeat("é", 200): "a" + strings.Repeat("é", 149) + "...",
	} {
		if got := commentText(in); got != want {
			t.Errorf("commentText(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAuthorRefusal: a message DMARC cannot attribute is refused whatever
// the enforcement settings (localserve, dmarc_reject = "junk"): the rule is
// RFC 5322's, and delivering would skip every policy. No DMARC lookup is
// made for it.
func TestAuthorRefusal(t *testing.T) {
	for _, mod := range []func(*Options){nil, func(o *Options) { o.Enforce = false }, func(o *Options) { o.DMARCReject = Junk }} {
		c, r := newTestChecker(t, mod)
		res := check(t, c, "x@sender.example", "From: a@sender.example\r\n"+msg("v@reject.example", ""))
		if !res.Refused || res.Action != Reject || res.DMARC.Result != "permerror" || !strings.Contains(res.Reason, "2 From header fields") {
			t.Errorf("got %s refused=%v: %s", res.Action, res.Refused, res.Reason)
		}
		if n := r.Queries("_dmarc.reject.example") + r.Queries("_dmarc.sender.example"); n != 0 {
			t.Errorf("%d DMARC lookups", n)
		}
	}
}
