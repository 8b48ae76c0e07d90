package mailport

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkImportMaildir imports a Maildir of 10,000 small messages (about
// 1 KiB each) into a fresh store per iteration and reports messages per
// second.
func BenchmarkImportMaildir(b *testing.B) {
	const n = 10000
	src := b.TempDir()
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(src, d), 0o700)
	}
	body := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n", 14)
	for i := range n {
		name := filepath.Join(src, "cur", fmt.Sprintf("%d.M%dP1.bench:2,S", 1700000000+i, i))
		if err := os.WriteFile(name, []byte(testMsg(i, body)), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		st, accs := testStore(b, "a")
		b.StartTimer()
		res, err := (&Importer{Store: st, AccountID: accs[0]}).ImportMaildir(context.Background(), src, "")
		if err != nil || res.Messages != n {
			b.Fatalf("%+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
}
