// Command smtpload is a bounded SMTP load generator: it sends messages of
// a fixed size to one recipient over plaintext SMTP at several concurrency
// levels and reports messages per second accepted (a 250 after DATA, which
// for posthorn means stored durably) and stored, the per-message latency
// (connect to the final 250) at p50 and p99 and, given the server's
// cgroup or PID, its CPU time per message and peak RSS, as a table and as
// JSON lines.
//
// Each message uses its own connection (as smtp-source does by default
// and as inbound MX traffic does), with the commands pipelined when the
// server offers PIPELINING.
//
//	smtpload -addr 127.0.0.1:2525 -to bob@example.com -c 1,8,32 -n 2000 -size 4096 -max 60s
//
// With -xclient the client presents itself, after EHLO, as one of the
// hosts 192.0.2.1–250 with XCLIENT (the server must trust loopback for
// XCLIENT), so the server runs its SPF and iprev checks; with -dkim-key the
// messages come from sender.example.net and carry a DKIM signature (a pool
// of 64 messages signed before the run; each delivery adds its own
// unsigned Message-ID). -setup-auth DIR writes the key and the zone
// (SPF, DKIM, DMARC p=reject, PTR and A of the client hosts) for the test
// DNS server.
//
// Other modes: -count-store DIR -account ADDR prints how many messages the
// account holds in a stopped posthorn store; -check-auth DIR -account ADDR
// checks that the newest message of its INBOX records spf, dkim and dmarc
// pass; -summarize FILE prints the table of medians of saved JSON lines.
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
	Kind        string  `json:"kind"` // "inbound"
	Label       string  `json:"label"`
	Run         int     `json:"run,omitempty"`
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
	// Incomplete is set when not every accepted message reached the
	// Maildir within -store-max; StoredPerS then counts those that did.
	Incomplete bool    `json:"incomplete,omitempty"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	// CPUPerMsg is the server's CPU time (user+system, all its processes)
	// per accepted message over the run, until stored; PeakRSSKB and
	// PeakPSSKB the largest sums of their VmRSS and Pss sampled every
	// 200 ms (see meter).
	CPUPerMsg  float64 `json:"cpu_ms_per_msg,omitempty"`
	PeakRSSKB  int64   `json:"peak_rss_kb,omitempty"`
	PeakPSSKB  int64   `json:"peak_pss_kb,omitempty"`
	CPUSource  string  `json:"cpu_source,omitempty"`
	FirstError string  `json:"first_error,omitempty"`
}

// load is what every connection sends.
type load struct {
	address, helo, from, to string
	pool                    [][]byte // the messages, used in turn
	xclient                 bool
	seq                     atomic.Int64 // Message-ID and client host counter
}

func main() {
	address := flag.String("addr", "127.0.0.1:25", "SMTP server host:port")
	from := flag.String("from", "", "envelope sender (default: load@bench.example, or load@sender.example.net with -dkim-key)")
	to := flag.String("to", "bob@example.com", "recipient")
	conc := flag.String("c", "1,8,32", "comma-separated concurrency levels")
	n := flag.Int("n", 2000, "messages per run")
	size := flag.Int("size", 4096, "message size in bytes")
	maxDur := flag.Duration("max", 60*time.Second, "longest run; stops early when reached")
	label := flag.String("label", "posthorn", "label of the results")
	run := flag.Int("run", 0, "run number recorded in the results")
	helo := flag.String("helo", "load.bench.example", "EHLO name")
	maildir := flag.String("maildir", "", "Maildir the server delivers to: wait for the messages to arrive there and report the stored rate")
	storeMax := flag.Duration("store-max", 600*time.Second, "with -maildir: longest wait for the messages to arrive after the last is accepted")
	keepGoing := flag.Bool("keep-going", false, "exit 0 even when deliveries failed or did not all arrive in time (they are in the results)")
	xclient := flag.Bool("xclient", false, "present a client in 192.0.2.0/24 with XCLIENT after EHLO")
	dkimKey := flag.String("dkim-key", "", "sign the messages with this key (from -setup-auth) as sender.example.net")
	cgroup := flag.String("cgroup", "", "cgroup v1 cpuacct directory holding the server's processes, for CPU and RSS")
	pid := flag.Int("pid", 0, "the server's PID (its process tree), for CPU and RSS when there is no -cgroup")
	setup := flag.String("setup-auth", "", "write dkim.pem and zone-auth.txt into this directory and exit")
	summarize := flag.String("summarize", "", "print the medians per label and concurrency of the JSON lines in this file and exit")
	countStore := flag.String("count-store", "", "print the message count of -account in this (stopped) store directory and exit")
	checkStore := flag.String("check-auth", "", "check the Authentication-Results of the newest INBOX message of -account in this (stopped) store and exit")
	account := flag.String("account", "", "account for -count-store and -check-auth")
	flag.Parse()

	switch {
	case *setup != "":
		exitOn(setupAuth(*setup))
		return
	case *countStore != "":
		c, err := count(*countStore, *account)
		exitOn(err)
		fmt.Println(c)
		return
	case *checkStore != "":
		ar, err := checkAuth(*checkStore, *account)
		exitOn(err)
		fmt.Println("Authentication-Results:", ar)
		return
	case *summarize != "":
		exitOn(summary(os.Stdout, *summarize))
		return
	}
	l := &load{address: *address, helo: *helo, from: *from, to: *to, xclient: *xclient}
	if l.from == "" {
		l.from = "load@bench.example"
		if *dkimKey != "" {
			l.from = "load@" + senderDomain
		}
	}
	if *dkimKey != "" {
		key, err := loadKey(*dkimKey)
		exitOn(err)
		l.pool, err = signedPool(key, l.from, l.to, *size, 64)
		exitOn(err)
	} else {
		l.pool = [][]byte{makeMessage(l.from, l.to, *size, "smtpload")}
	}
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
		m := newMeter(*cgroup, *pid)
		if m != nil {
			m.start()
		}
		r := runLoad(l, c, *n, *maxDur)
		r.Kind, r.Label, r.Size, r.Run = "inbound", *label, *size, *run
		r.StoredPerS = r.PerSecond
		if *maildir != "" {
			waitMaildir(*maildir, before, &r, *storeMax)
		}
		if m != nil {
			cpu, rss, pss := m.finish()
			if r.Sent > 0 {
				r.CPUPerMsg = cpu / float64(r.Sent)
			}
			r.PeakRSSKB, r.PeakPSSKB, r.CPUSource = rss, pss, m.source()
		}
		results = append(results, r)
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
	}
	printTable(os.Stdout, results)
	bad := false
	for _, r := range results {
		if r.Failed > 0 {
			fmt.Fprintf(os.Stderr, "smtpload: %s c=%d: %d failures, first: %s\n", r.Label, r.Concurrency, r.Failed, r.FirstError)
			bad = true
		}
		if r.Incomplete {
			fmt.Fprintf(os.Stderr, "smtpload: %s c=%d: not every accepted message reached %s within %v\n", r.Label, r.Concurrency, *maildir, *storeMax)
			bad = true
		}
	}
	if bad && !*keepGoing {
		os.Exit(1)
	}
}

func exitOn(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "smtpload:", err)
		os.Exit(1)
	}
}

func printTable(w io.Writer, results []result) {
	fmt.Fprintf(w, "\n%-16s %5s %6s %9s %7s %11s %9s %8s %8s %8s %8s\n", "label", "conc", "size", "accepted", "failed", "accepted/s", "stored/s", "p50 ms", "p99 ms", "cpu ms", "rss MB")
	for _, r := range results {
		fmt.Fprintf(w, "%-16s %5d %6d %9d %7d %11.1f %9.1f %8.2f %8.2f %8.3f %8.1f\n", r.Label, r.Concurrency, r.Size, r.Sent, r.Failed, r.PerSecond, r.StoredPerS, r.P50ms, r.P99ms, r.CPUPerMsg, float64(r.PeakRSSKB)/1024)
	}
}

// maildirCount counts the files in DIR/new and DIR/cur (0 for "").
func maildirCount(dir string) int {
	if dir == "" {
		return 0
	}
	n := 0
	for _, sub := range []string{"new", "cur"} {
		f, err := os.Open(dir + "/" + sub)
		if err != nil {
			continue
		}
		names, _ := f.Readdirnames(-1)
		f.Close()
		n += len(names)
	}
	return n
}

// waitMaildir waits until dir holds before+r.Sent messages, at most limit,
// and sets the stored rate over the whole run (the messages that arrived,
// with r.Incomplete, when not all did in time).
func waitMaildir(dir string, before int, r *result, limit time.Duration) {
	start := time.Now().Add(-time.Duration(r.Seconds * float64(time.Second)))
	deadline := time.Now().Add(limit)
	got := maildirCount(dir) - before
	for got < r.Sent && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		got = maildirCount(dir) - before
	}
	r.Incomplete = got < r.Sent
	r.StoredPerS = float64(min(got, r.Sent)) / time.Since(start).Seconds()
}

// makeMessage returns a message of exactly size bytes (dot-stuffing is
// not needed: no line starts with a dot), ending in CRLF, without a
// Message-ID (sendOne adds one per delivery).
func makeMessage(from, to string, size int, subject string) []byte {
	head := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n"+
		"Date: Mon, 02 Jan 2026 10:00:00 +0000\r\n\r\n", from, to, subject)
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

func runLoad(l *load, conc, n int, maxDur time.Duration) result {
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
				err := l.sendOne()
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

// sendOne delivers the next message of the pool over a new connection,
// with a Message-ID of its own; nil only after the 250 that follows the
// data.
func (l *load) sendOne() error {
	i := int(l.seq.Add(1))
	msg := l.pool[i%len(l.pool)]
	c, err := net.DialTimeout("tcp", l.address, 10*time.Second)
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
	fmt.Fprintf(w, "EHLO %s\r\n", l.helo)
	w.Flush()
	ehlo, err := expect(r, 250)
	if err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if l.xclient {
		// https://www.postfix.org/XCLIENT_README.html: the server answers
		// with a new greeting and the client starts over with EHLO.
		fmt.Fprintf(w, "XCLIENT ADDR=%s NAME=%s\r\n", clientIP(i), clientName(i))
		w.Flush()
		if _, err := expect(r, 220); err != nil {
			return fmt.Errorf("XCLIENT: %w", err)
		}
		fmt.Fprintf(w, "EHLO %s\r\n", clientName(i))
		w.Flush()
		if ehlo, err = expect(r, 250); err != nil {
			return fmt.Errorf("EHLO after XCLIENT: %w", err)
		}
	}
	if strings.Contains(ehlo, "PIPELINING") {
		fmt.Fprintf(w, "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n", l.from, l.to)
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
		}{{"MAIL FROM:<" + l.from + ">", 250}, {"RCPT TO:<" + l.to + ">", 250}, {"DATA", 354}} {
			fmt.Fprintf(w, "%s\r\n", cmd.line)
			w.Flush()
			if _, err := expect(r, cmd.code); err != nil {
				return fmt.Errorf("%s: %w", cmd.line, err)
			}
		}
	}
	fmt.Fprintf(w, "Message-ID: <%d.%d@smtpload.bench.example>\r\n", time.Now().UnixNano(), i)
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
