package store

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/message"
)

// BenchmarkDeliverText measures the store's CPU per delivery of realistic
// 4 KiB text/plain messages (distinct prose-like text, so that the
// full-text index sees the trigrams a real message has) with the part
// tree computed as internal/delivery does, at 1 and 32 concurrent
// deliverers. cpu-ns/op is the process's user+system CPU time per
// delivery (every goroutine, GC included): on a shared machine it is a
// steadier measure than ns/op.
func BenchmarkDeliverText(b *testing.B) {
	for _, par := range []int{1, 32} {
		b.Run(fmt.Sprintf("par=%d", par), func(b *testing.B) {
			benchDeliverText(b, par)
		})
	}
}

// benchMessage is one prepared delivery of BenchmarkDeliverText.
type benchMessage struct {
	body, prefix, structure []byte
}

func benchDeliverText(b *testing.B, par int) {
	s := openTest(b, b.TempDir())
	acc := addAccount(b, s, "bench@example.org")
	msgs := benchMessages(b, 512, 4<<10)
	var next atomic.Int64
	procs := max(1, runtime.GOMAXPROCS(0))
	b.SetParallelism((par + procs - 1) / procs)
	b.SetBytes(4 << 10)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m := msgs[int(next.Add(1))%len(msgs)]
			_, err := s.Deliver(context.Background(), Delivery{
				Body:    bytes.NewReader(m.body),
				Targets: []Target{{AccountID: acc.ID, HeaderPrefix: m.prefix, Structure: m.structure}},
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(s.written.Load())/float64(max(1, s.commits.Load())), "reqs/commit")
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchMessages returns n distinct text/plain messages of about size
// bytes each, with a header prefix and the part tree of prefix+body.
func benchMessages(tb testing.TB, n, size int) []benchMessage {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]benchMessage, n)
	for i := range out {
		prefix := fmt.Sprintf("Received: from mail%d.sender.example (mail%d.sender.example [192.0.2.%d])\r\n"+
			"\tby mx.example.org with ESMTPS id %08x; Sat, 21 Nov 2026 10:%02d:%02d +0000\r\n"+
			"Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=sender.example;\r\n"+
			"\tdkim=pass header.d=sender.example; dmarc=pass header.from=sender.example\r\n",
			i%7, i%7, i%250+1, rng.Uint32(), i%60, (i*7)%60)
		var body strings.Builder
		fmt.Fprintf(&body, "From: %s <%s@sender.example>\r\n", prose(rng, 2), word(rng))
		fmt.Fprintf(&body, "To: bench@example.org\r\nSubject: %s\r\n", prose(rng, 6))
		fmt.Fprintf(&body, "Date: Sat, 21 Nov 2026 10:%02d:%02d +0000\r\n", i%60, (i*13)%60)
		fmt.Fprintf(&body, "Message-ID: <%016x@sender.example>\r\n", rng.Uint64())
		body.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" +
			"Content-Transfer-Encoding: 8bit\r\n\r\n")
		for body.Len() < size {
			body.WriteString(prose(rng, 8+rng.IntN(8)))
			body.WriteString(".\r\n")
		}
		m := benchMessage{body: []byte(body.String()), prefix: []byte(prefix)}
		whole := append(append([]byte{}, m.prefix...), m.body...)
		part, err := message.Parse(bytes.NewReader(whole), int64(len(whole)))
		if err != nil {
			tb.Fatal(err)
		}
		m.structure = part.Marshal()
		out[i] = m
	}
	return out
}

// syllables make up the words of prose: pronounceable text whose trigram
// statistics are closer to a natural language than random letters.
var syllables = strings.Fields(`a an ar as at be ca ce co con de di do en er es ex fa fi for ge in
	ing is it la le li lo ma me men ment mi mo na ne no nu of on or pa pe per pi po pro ra re ri ro
	sa se si so sta te ter ti tion to tu un ur us va ve vi wa we wi`)

func word(rng *rand.Rand) string {
	var b strings.Builder
	for n := 1 + rng.IntN(3); n > 0; n-- {
		b.WriteString(syllables[rng.IntN(len(syllables))])
	}
	return b.String()
}

func prose(rng *rand.Rand, words int) string {
	w := make([]string, words)
	for i := range w {
		w[i] = word(rng)
	}
	return strings.Join(w, " ")
}
