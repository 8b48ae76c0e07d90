// Command smtpload is a bounded SMTP load generator: it sends fixed-size
// messages to one recipient over plaintext SMTP at several concurrency
// levels and reports messages per second accepted (a 250 after DATA, which
// for posthorn means stored durably) and the per-message latency (connect
// to the final 250) at p50 and p99, as a table and as JSON lines.
//
// Each message uses its own connection (as smtp-source does by default
// and as inbound MX traffic does), with the commands pipelined when the
// server offers PIPELINING.
//
//	smtpload -addr 127.0.0.1:2525 -to bob@example.com -c 1,8,32 -n 2000 -size 4096 -max 60s
//
// With -count-store DIR -account ADDR it instead opens a stopped posthorn
// store and prints how many messages the account holds.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

// result is one run at one concurrency; printed as a JSON line.
type result struct {
	Label       string  `json:"label"`
	Concurrency int     `json:"concurrency"`
	Size        int     `json:"size"`
	Sent        int     `json:"accepted"`
	Failed      int     `json:"failed"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"msgs_per_s"`
	// StoredPerS is the rate at which the messages reached the mailbox:
	// for posthorn the same as PerSecond (its 250 follows the fsync); for
	// a server that queues first (Postfix), measured until the Maildir
	// holds them all (-maildir).
	StoredPerS float64 `json:"stored_per_s"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	FirstError string  `json:"first_error,omitempty"`
}

func main() {
	address := flag.String("addr", "127.0.0.1:25", "SMTP server host:port")
	from := flag.String("from", "load@bench.example", "envelope sender")
	to := flag.String("to", "bob@example.com", "recipient")
	conc := flag.String("c", "1,8,32", "comma-separated concurrency levels")
	n := flag.Int("n", 2000, "messages per run")
	size := flag.Int("size", 4096, "message size in bytes")
	maxDur := flag.Duration("max", 60*time.Second, "longest run; stops early when reached")
	label := flag.String("label", "posthorn", "label of the results")
	helo := flag.String("helo", "load.bench.example", "EHLO name")
	maildir := flag.String("maildir", "", "Maildir the server delivers to: wait for the messages to arrive there and report the stored rate")
	summarize := flag.String("summarize", "", "print the medians per label and concurrency of the JSON lines in this file and exit")
	countStore := flag.String("count-store", "", "print the message count of -account in this (stopped) store directory and exit")
	account := flag.String("account", "", "account for -count-store")
	flag.Parse()

	if *countStore != "" {
		c, err := count(*countStore, *account)
		if err != nil {
			fmt.Fprintln(os.Stderr, "smtpload:", err)
			os.Exit(1)
		}
		fmt.Println(c)
		return
	}
	if *summarize != "" {
		if err := summary(*summarize); err != nil {
			fmt.Fprintln(os.Stderr, "smtpload:", err)
			os.Exit(1)
		}
		return
	}
	msg := makeMessage(*from, *to, *size)
	var levels []int
	for _, s := range strings.Split(*conc, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || c < 1 {
			fmt.Fprintf(os.Stderr, "smtpload: bad concurrency %q\n", s)
			os.Exit(2)
		}
		levels = append(levels, c)
	}
	var results []result
	for _, c := range levels {
		before := maildirCount(*maildir)
		r := runLoad(*address, *helo, *from, *to, msg, c, *n, *maxDur)
		r.Label, r.Size = *label, *size
		r.StoredPerS = r.PerSecond
		if *maildir != "" {
			r.StoredPerS = waitMaildir(*maildir, before+r.Sent, r, *maxDur)
		}
		results = append(results, r)
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
	}
	printTable(os.Stdout, results)
	for _, r := range results {
		if r.Failed > 0 {
			fmt.Fprintf(os.Stderr, "smtpload: %s c=%d: %d failures, first: %s\n", r.Label, r.Concurrency, r.Failed, r.FirstError)
			os.Exit(1)
		}
	}
}

func printTable(w io.Writer, results []result) {
	fmt.Fprintf(w, "\n%-10s %5s %6s %9s %7s %11s %9s %8s %8s\n", "label", "conc", "size", "accepted", "failed", "accepted/s", "stored/s", "p50 ms", "p99 ms")
	for _, r := range results {
		fmt.Fprintf(w, "%-10s %5d %6d %9d %7d %11.1f %9.1f %8.2f %8.2f\n", r.Label, r.Concurrency, r.Size, r.Sent, r.Failed, r.PerSecond, r.StoredPerS, r.P50ms, r.P99ms)
	}
}

// maildirCount counts the files in DIR/new and DIR/cur (0 for "").
func maildirCount(dir string) int {
	if dir == "" {
		return 0
	}
	n := 0
	for _, sub := range []string{"new", "cur"} {
		es, _ := os.ReadDir(dir + "/" + sub)
		n += len(es)
	}
	return n
}

// waitMaildir waits until dir holds want messages and returns the stored
// rate over the whole run (0 if they did not all arrive in time).
func waitMaildir(dir string, want int, r result, limit time.Duration) float64 {
	start := time.Now().Add(-time.Duration(r.Seconds * float64(time.Second)))
	deadline := time.Now().Add(limit)
	for maildirCount(dir) < want {
		if time.Now().After(deadline) {
			return 0
		}
		time.Sleep(5 * time.Millisecond)
	}
	return float64(r.Sent) / time.Since(start).Seconds()
}

// summary prints the medians of the results in a JSON-lines file, per
// label and concurrency, in the order first seen.
func summary(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	type key struct {
		label string
		c     int
	}
	var order []key
	groups := map[key][]result{}
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var r result
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			return err
		}
		k := key{r.Label, r.Concurrency}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	median := func(rs []result, f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	var meds []result
	for _, k := range order {
		rs := groups[k]
		m := rs[0]
		m.Sent = int(median(rs, func(r result) float64 { return float64(r.Sent) }))
		m.Failed = int(median(rs, func(r result) float64 { return float64(r.Failed) }))
		m.PerSecond = median(rs, func(r result) float64 { return r.PerSecond })
		m.StoredPerS = median(rs, func(r result) float64 { return r.StoredPerS })
		m.P50ms = median(rs, func(r result) float64 { return r.P50ms })
		m.P99ms = median(rs, func(r result) float64 { return r.P99ms })
		meds = append(meds, m)
	}
	fmt.Printf("medians of %d run(s):", len(groups[order[0]]))
	printTable(os.Stdout, meds)
	return nil
}

// makeMessage returns a message of exactly size bytes (dot-stuffing is
// not needed: no line starts with a dot), ending in CRLF.
func makeMessage(from, to string, size int) []byte {
	head := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: smtpload\r\nMessage-ID: <load@bench.example>\r\n"+
		"Date: Mon, 02 Jan 2026 10:00:00 +0000\r\n\r\n", from, to)
	b := []byte(head)
	line := "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklm\r\n"
	for len(b)+len(line) <= size {
		b = append(b, line...)
	}
	if pad := size - len(b); pad >= 2 {
		b = append(b, strings.Repeat("x", pad-2)+"\r\n"...)
	}
	return b
}

func runLoad(address, helo, from, to string, msg []byte, conc, n int, maxDur time.Duration) result {
	ctx, cancel := context.WithTimeout(context.Background(), maxDur)
	defer cancel()
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var failed int
	var firstErr string
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && next.Add(1) <= int64(n) {
				t0 := time.Now()
				err := sendOne(address, helo, from, to, msg)
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					failed++
					if firstErr == "" {
						firstErr = err.Error()
					}
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	r := result{Concurrency: conc, Sent: len(lat), Failed: failed, Seconds: elapsed.Seconds(), FirstError: firstErr}
	r.PerSecond = float64(len(lat)) / elapsed.Seconds()
	r.P50ms = ms(percentile(lat, 0.50))
	r.P99ms = ms(percentile(lat, 0.99))
	return r
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// sendOne delivers msg over a new connection; nil only after the 250
// that follows the data.
func sendOne(address, helo, from, to string, msg []byte) error {
	c, err := net.DialTimeout("tcp", address, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(c)
	w := bufio.NewWriterSize(c, len(msg)+1024)
	if _, err := expect(r, 220); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	fmt.Fprintf(w, "EHLO %s\r\n", helo)
	w.Flush()
	ehlo, err := expect(r, 250)
	if err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if strings.Contains(ehlo, "PIPELINING") {
		fmt.Fprintf(w, "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n", from, to)
		w.Flush()
		for _, code := range []int{250, 250, 354} {
			if _, err := expect(r, code); err != nil {
				return fmt.Errorf("envelope: %w", err)
			}
		}
	} else {
		for _, cmd := range []struct {
			line string
			code int
		}{{"MAIL FROM:<" + from + ">", 250}, {"RCPT TO:<" + to + ">", 250}, {"DATA", 354}} {
			fmt.Fprintf(w, "%s\r\n", cmd.line)
			w.Flush()
			if _, err := expect(r, cmd.code); err != nil {
				return fmt.Errorf("%s: %w", cmd.line, err)
			}
		}
	}
	w.Write(msg)
	w.WriteString(".\r\n")
	if err := w.Flush(); err != nil {
		return err
	}
	if _, err := expect(r, 250); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	w.WriteString("QUIT\r\n")
	w.Flush()
	return nil
}

// expect reads one reply and checks its code.
func expect(r *bufio.Reader, code int) (string, error) {
	var b strings.Builder
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && b.Len() > 0 {
				err = io.ErrUnexpectedEOF
			}
			return b.String(), err
		}
		b.WriteString(l)
		if len(l) < 4 || l[3] != '-' {
			break
		}
	}
	s := b.String()
	if len(s) < 3 || s[:3] != strconv.Itoa(code) {
		return s, fmt.Errorf("got %q, want %d", strings.TrimSpace(s), code)
	}
	return s, nil
}

// count returns the number of messages of account in a stopped store.
func count(dir, account string) (int, error) {
	ctx := context.Background()
	st, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	a, err := addr.ParseAddress(account)
	if err != nil {
		return 0, err
	}
	acc, err := st.Account(ctx, a)
	if err != nil {
		return 0, err
	}
	mbs, err := st.Mailboxes(ctx, acc.ID)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, mb := range mbs {
		c, err := st.MailboxCounts(ctx, acc.ID, mb.ID)
		if err != nil {
			return 0, err
		}
		total += c.Messages
	}
	return total, nil
}
