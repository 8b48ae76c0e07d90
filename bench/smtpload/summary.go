package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// stat is the median, minimum and maximum of one measure over the runs.
type stat struct{ med, min, max float64 }

func statOf(v []float64) stat {
	if len(v) == 0 {
		return stat{}
	}
	v = slices.Clone(v)
	slices.Sort(v)
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return stat{m, v[0], v[len(v)-1]}
}

func (s stat) String() string {
	if s.max == s.min {
		return fmtNum(s.med)
	}
	return fmt.Sprintf("%s (%s–%s)", fmtNum(s.med), fmtNum(s.min), fmtNum(s.max))
}

func fmtNum(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// measures are the columns of the summary, by name and how to read them.
var measures = []struct {
	name string
	get  func(result) float64
}{
	{"stored msgs/s", func(r result) float64 { return r.StoredPerS }},
	{"p50 ms", func(r result) float64 { return r.P50ms }},
	{"p99 ms", func(r result) float64 { return r.P99ms }},
	{"CPU ms/msg", func(r result) float64 { return r.CPUPerMsg }},
	{"peak PSS MB", func(r result) float64 { return float64(r.PeakPSSKB) / 1024 }},
	{"peak RSS MB", func(r result) float64 { return float64(r.PeakRSSKB) / 1024 }},
}

// summary prints, for every message size, measure and concurrency of the
// inbound JSON lines in path, the median (min–max) per server and the
// ratio of the first server's median (posthorn) to each other's.
func summary(w io.Writer, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	type key struct {
		size, c int
		label   string
	}
	var labels []string
	var sizes, concs []int
	groups := map[key][]result{}
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var r result
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			return err
		}
		if r.Kind != "" && r.Kind != "inbound" {
			continue
		}
		k := key{r.Size, r.Concurrency, r.Label}
		groups[k] = append(groups[k], r)
		if !slices.Contains(labels, r.Label) {
			labels = append(labels, r.Label)
		}
		if !slices.Contains(sizes, r.Size) {
			sizes = append(sizes, r.Size)
		}
		if !slices.Contains(concs, r.Concurrency) {
			concs = append(concs, r.Concurrency)
		}
	}
	if len(labels) == 0 {
		return fmt.Errorf("%s: no inbound results", path)
	}
	slices.Sort(sizes)
	slices.Sort(concs)
	for _, size := range sizes {
		runs := len(groups[key{size, concs[0], labels[0]}])
		fmt.Fprintf(w, "\nSMTP inbound, %d-byte messages, one connection each: median (min–max) of %d run(s); ratio = %s/peer\n", size, runs, labels[0])
		fmt.Fprintf(w, "%-14s %4s", "measure", "conc")
		for i, l := range labels {
			fmt.Fprintf(w, " %26s", l)
			if i > 0 {
				fmt.Fprintf(w, " %6s", "ratio")
			}
		}
		fmt.Fprintln(w)
		for _, m := range measures {
			for _, c := range concs {
				fmt.Fprintf(w, "%-14s %4d", m.name, c)
				var base float64
				for i, l := range labels {
					rs := groups[key{size, c, l}]
					v := make([]float64, len(rs))
					for j, r := range rs {
						v[j] = m.get(r)
					}
					s := statOf(v)
					fmt.Fprintf(w, " %26s", s)
					if i == 0 {
						base = s.med
					} else if s.med > 0 {
						fmt.Fprintf(w, " %6.2f", base/s.med)
					} else {
						fmt.Fprintf(w, " %6s", "-")
					}
				}
				fmt.Fprintln(w)
			}
		}
	}
	var failed, incomplete int
	for _, rs := range groups {
		for _, r := range rs {
			failed += r.Failed
			if r.Incomplete {
				incomplete++
			}
		}
	}
	fmt.Fprintf(w, "(failed deliveries in all: %d; runs whose messages did not all reach the Maildir within -store-max: %d)\n", failed, incomplete)
	return nil
}
