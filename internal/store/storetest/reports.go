package storetest

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dkim"
	"github.com/posthorn/posthorn/internal/dmarc"
	"github.com/posthorn/posthorn/internal/store"
)

// dmarcRecord is a full report record for policy domain dom at t.
func dmarcRecord(dom string, t time.Time, disp dmarc.Disposition) store.DMARCRecord {
	d := addr.MustParseDomain(dom)
	return store.DMARCRecord{
		Time: t,
		Record: dmarc.Record{
			SourceIP: netip.MustParseAddr("192.0.2.10"), HeaderFrom: d, EnvelopeFrom: addr.MustParseDomain("bounce." + dom),
			Disposition: disp, DKIMAligned: disp == dmarc.DispositionNone, SPFAligned: false,
			DKIM: []dmarc.DKIMAuth{
				{Domain: d, Selector: "ed", Result: dkim.StatusPass},
				{Domain: addr.MustParseDomain("esp.example"), Selector: "s1", Result: dkim.StatusFail},
			},
			SPF: dmarc.SPFAuth{Domain: addr.MustParseDomain("bounce." + dom), Result: "softfail"},
			Published: dmarc.Published{Domain: d, ADKIM: dmarc.Relaxed, ASPF: dmarc.Strict, P: dmarc.DispositionReject,
				SP: dmarc.DispositionQuarantine, NP: dmarc.DispositionReject, Percent: 100, FailureOpts: "1",
				AggregateURI: []string{"mailto:rua@" + dom}},
		},
	}
}

// testDMARCRecords: records round-trip with every field (IDN domains in
// both forms, the null sender, no DKIM, an override), are selected by
// policy domain and time range, are visible at once to DMARCRecords
// although AddDMARCRecord does not wait for the commit, survive a reopen,
// and are deleted by age.
func testDMARCRecords(t *testing.T, open Opener) {
	f := newFixture(t, open)
	ctx := f.ctx
	t0 := time.Date(2020, 6, 5, 10, 0, 0, 0, time.UTC) // before now: "now" records sort last
	a1 := dmarcRecord("sender.example", t0, dmarc.DispositionNone)
	a2 := dmarcRecord("sender.example", t0.Add(2*time.Hour), dmarc.DispositionReject)
	idn := dmarcRecord("bücher.example", t0.Add(time.Hour), dmarc.DispositionQuarantine)
	bare := store.DMARCRecord{Time: t0.Add(3 * time.Hour), Override: "trusted_forwarder", Comment: "sealed by list.example",
		Record: dmarc.Record{HeaderFrom: addr.MustParseDomain("other.example"), Disposition: dmarc.DispositionNone,
			SPF:       dmarc.SPFAuth{Result: "none"},
			Published: dmarc.Published{Domain: addr.MustParseDomain("other.example"), ADKIM: "r", ASPF: "r", P: "quarantine", Percent: 100}}}
	bare.SourceIP = netip.MustParseAddr("2001:db8::1")
	for _, r := range []store.DMARCRecord{a2, idn, a1, bare} {
		f.must(f.s.AddDMARCRecord(ctx, r), "AddDMARCRecord")
	}
	all, err := f.s.DMARCRecords(ctx, store.DMARCQuery{})
	f.must(err, "DMARCRecords")
	want := []store.DMARCRecord{a1, idn, a2, bare}
	checkDMARC := func(what string, got, want []store.DMARCRecord) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d records, want %d: %+v", what, len(got), len(want), got)
		}
		for i := range got {
			if got[i].ID == 0 {
				t.Errorf("%s: record %d has no ID", what, i)
			}
			w := want[i]
			w.ID = got[i].ID
			if !reflect.DeepEqual(got[i], w) {
				t.Errorf("%s: record %d\n got %+v\nwant %+v", what, i, got[i], w)
			}
		}
	}
	checkDMARC("all", all, want)
	if all[1].HeaderFrom.Unicode != "bücher.example" || all[1].HeaderFrom.ASCII != "xn--bcher-kva.example" {
		t.Errorf("IDN domain %+v", all[1].HeaderFrom)
	}

	got, err := f.s.DMARCRecords(ctx, store.DMARCQuery{Domain: addr.MustParseDomain("SENDER.example")})
	f.must(err, "DMARCRecords by domain")
	checkDMARC("sender.example", got, []store.DMARCRecord{a1, a2})
	got, err = f.s.DMARCRecords(ctx, store.DMARCQuery{Since: t0.Add(time.Hour), Until: t0.Add(3 * time.Hour)})
	f.must(err, "DMARCRecords by time")
	checkDMARC("[t0+1h, t0+3h)", got, []store.DMARCRecord{idn, a2})

	// A zero Time is stamped now.
	before := time.Now().Add(-time.Minute)
	f.must(f.s.AddDMARCRecord(ctx, dmarcRecord("now.example", time.Time{}, dmarc.DispositionNone)), "AddDMARCRecord now")
	got, err = f.s.DMARCRecords(ctx, store.DMARCQuery{Domain: addr.MustParseDomain("now.example")})
	f.must(err, "DMARCRecords now")
	if len(got) != 1 || got[0].Time.Before(before) {
		t.Errorf("zero Time not stamped: %+v", got)
	}

	// Queued records are committed by Close.
	f.must(f.s.AddDMARCRecord(ctx, dmarcRecord("late.example", t0, dmarc.DispositionNone)), "AddDMARCRecord late")
	f.cycle()
	got, err = f.s.DMARCRecords(ctx, store.DMARCQuery{})
	f.must(err, "DMARCRecords after reopen")
	if len(got) != 6 {
		t.Fatalf("%d records after reopen, want 6", len(got))
	}

	n, err := f.s.DeleteDMARCRecords(ctx, t0.Add(2*time.Hour))
	f.must(err, "DeleteDMARCRecords")
	if n != 3 { // a1, idn, late
		t.Errorf("DeleteDMARCRecords removed %d, want 3", n)
	}
	got, err = f.s.DMARCRecords(ctx, store.DMARCQuery{Until: t0.Add(24 * time.Hour)})
	f.must(err, "DMARCRecords after delete")
	checkDMARC("after delete", got, []store.DMARCRecord{a2, bare})
}
