package store

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dkim"
	"github.com/posthorn/posthorn/internal/dmarc"
)

// BenchmarkDeliverDMARC is BenchmarkDeliver with what an inbound message
// costs the store: one DMARC report record, then the delivery. mode
// "none" is the delivery alone, "detached" is AddDMARCRecord as it is
// (queued, riding on the next commit), "waited" is the record written
// with its own waited-for commit, for comparison.
func BenchmarkDeliverDMARC(b *testing.B) {
	for _, par := range []int{1, 32} {
		for _, mode := range []string{"none", "detached", "waited"} {
			b.Run(fmt.Sprintf("par=%d/record=%s", par, mode), func(b *testing.B) {
				benchDeliverDMARC(b, par, mode)
			})
		}
	}
}

func benchDeliverDMARC(b *testing.B, par int, mode string) {
	s := openTest(b, b.TempDir())
	acc := addAccount(b, s, "bench@example.org")
	body := bytes.Repeat([]byte("Lorem ipsum dolor sit amet, consectetur adipiscing.\r\n"), 4<<10/53+1)[:4<<10]
	prefix := []byte("Received: from bench by posthorn\r\n")
	d := addr.MustParseDomain("sender.example")
	rec := DMARCRecord{Record: dmarc.Record{SourceIP: netip.MustParseAddr("192.0.2.10"), HeaderFrom: d, EnvelopeFrom: d,
		Disposition: dmarc.DispositionNone, DKIMAligned: true, SPFAligned: true,
		DKIM:      []dmarc.DKIMAuth{{Domain: d, Selector: "ed", Result: dkim.StatusPass}, {Domain: d, Selector: "rsa", Result: dkim.StatusPass}},
		SPF:       dmarc.SPFAuth{Domain: d, Result: "pass"},
		Published: dmarc.Published{Domain: d, ADKIM: "r", ASPF: "r", P: "reject", Percent: 100, AggregateURI: []string{"mailto:rua@sender.example"}}}}
	procs := max(1, runtime.GOMAXPROCS(0))
	b.SetParallelism((par + procs - 1) / procs)
	b.ResetTimer()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			var err error
			switch mode {
			case "detached":
				err = s.AddDMARCRecord(ctx, rec)
			case "waited":
				err = s.write(ctx, nil, func(w *wtx) ([]Change, error) {
					_, err := w.exec(`INSERT INTO dmarc_records (time, policy_domain, source_ip, header_from, envelope_from,
						disposition, dkim_aligned, spf_aligned, spf_domain, spf_result, dkim, policy, override, comment)
						VALUES (1, 'sender.example', '192.0.2.10', 'sender.example', 'sender.example', 'none', 1, 1,
						'sender.example', 'pass', '[]', '{}', '', '')`)
					return nil, err
				})
			}
			if err == nil {
				_, err = s.Deliver(ctx, Delivery{
					Body:    bytes.NewReader(body),
					Targets: []Target{{AccountID: acc.ID, HeaderPrefix: prefix, Structure: []byte("{}")}},
				})
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64(s.written.Load())/float64(max(1, s.commits.Load())), "reqs/commit")
}
