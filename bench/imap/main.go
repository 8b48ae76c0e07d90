// Command imap is the IMAP benchmark of bench/run.sh --imap: it fills one
// mailbox on posthorn and on Dovecot with the same N messages and times the
// same operations on both, alternating (posthorn, Dovecot, posthorn, …),
// each repeated -runs times; it prints one JSON line per measurement and a
// table of medians (min–max) with the ratio posthorn/Dovecot.
//
//	imap -posthorn 127.0.0.1:1143 -posthorn-user bob@example.com -posthorn-pass PW \
//	     -dovecot 127.0.0.1:2143 -dovecot-user bob -dovecot-pass pass \
//	     -dovecot-maildir /tmp/dv/mail/bob -dovecot-uid 999 -n 10000 -runs 3
//
// By default posthorn is filled over IMAP with MULTIAPPEND batches
// (LITERAL+), Dovecot by writing its Maildir directly. bench/imap/run.sh
// instead writes the Maildir once (-write-maildir DIR, then exit), imports
// it into posthorn with `posthorn import maildir` before the server
// starts, hands the same files to Dovecot and runs this with -prefilled.
// Both then get one untimed SELECT so their indexes exist before the first
// measurement. The operations:
//
//	login_select    connect, LOGIN, SELECT INBOX
//	fetch_envelope  FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)
//	uid_fetch_100   UID FETCH of 100 whole messages (BODY.PEEK[])
//	search_body     UID SEARCH BODY <a word in 1% of the messages>
//	store_all       STORE 1:* +FLAGS (\Seen) (reset untimed afterwards)
//	append          APPEND of 200 messages one after the other (msgs/s)
//	condstore       after 1% of the flags changed (untimed): connect,
//	                LOGIN, SELECT INBOX (CONDSTORE),
//	                FETCH 1:* (FLAGS) (CHANGEDSINCE m)
//
// Everything is on loopback and bounded: -n messages, -runs runs.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

type server struct {
	name, addr, user, pass string
}

type result struct {
	Op       string  `json:"op"`
	Server   string  `json:"server"`
	Run      int     `json:"run"`
	Messages int     `json:"mailbox_messages"`
	Ms       float64 `json:"ms"`
	Count    int     `json:"count"` // responses or messages the operation handled
}

func main() {
	ph := server{name: "posthorn"}
	dv := server{name: "dovecot"}
	flag.StringVar(&ph.addr, "posthorn", "", "posthorn IMAP host:port (plaintext, loopback)")
	flag.StringVar(&ph.user, "posthorn-user", "bob@example.com", "posthorn user")
	flag.StringVar(&ph.pass, "posthorn-pass", "", "posthorn password")
	flag.StringVar(&dv.addr, "dovecot", "", "Dovecot IMAP host:port (empty: posthorn only)")
	flag.StringVar(&dv.user, "dovecot-user", "bob", "Dovecot user")
	flag.StringVar(&dv.pass, "dovecot-pass", "pass", "Dovecot password")
	maildir := flag.String("dovecot-maildir", "", "the Dovecot user's Maildir, filled directly")
	uid := flag.Int("dovecot-uid", -1, "owner (uid) of the files written into the Maildir")
	gid := flag.Int("dovecot-gid", -1, "group of the files written into the Maildir")
	n := flag.Int("n", 10000, "messages in the mailbox")
	runs := flag.Int("runs", 3, "runs of each operation per server")
	summarize := flag.String("summarize", "", "print the table of the JSON lines in this file and exit")
	writeMaildir := flag.String("write-maildir", "", "write the -n messages into this Maildir and exit")
	prefilled := flag.Bool("prefilled", false, "the mailboxes already hold the -n messages (of -write-maildir)")
	flag.Parse()
	if *writeMaildir != "" {
		t0 := time.Now()
		populateMaildir(*writeMaildir, corpus(*n), -1, -1)
		fmt.Fprintf(os.Stderr, "imap: Maildir of %d messages written in %.1fs\n", *n, time.Since(t0).Seconds())
		return
	}
	if *summarize != "" {
		b, err := os.ReadFile(*summarize)
		check(err)
		var rs []result
		for _, l := range strings.Split(string(b), "\n") {
			var r result
			if json.Unmarshal([]byte(l), &r) == nil && r.Op != "" {
				rs = append(rs, r)
			}
		}
		table(os.Stdout, rs)
		return
	}
	servers := []server{ph}
	if dv.addr != "" {
		servers = append(servers, dv)
	}
	if !*prefilled {
		msgs := corpus(*n)
		t0 := time.Now()
		populateIMAP(ph, msgs)
		fmt.Fprintf(os.Stderr, "imap: posthorn filled with %d messages in %.1fs\n", *n, time.Since(t0).Seconds())
		if dv.addr != "" {
			t0 = time.Now()
			populateMaildir(*maildir, msgs, *uid, *gid)
			fmt.Fprintf(os.Stderr, "imap: Dovecot's Maildir written in %.1fs\n", time.Since(t0).Seconds())
		}
	}
	for _, s := range servers {
		t0 := time.Now()
		c := login(s)
		c.ok("SELECT INBOX")
		c.ok("UID SEARCH BODY " + needle) // builds Dovecot's caches too
		c.ok(`CREATE "bench-append"`)
		c.close()
		fmt.Fprintf(os.Stderr, "imap: %s warmed up (first SELECT and search) in %.1fs\n", s.name, time.Since(t0).Seconds())
	}

	rng := rand.New(rand.NewPCG(1, uint64(*n)))
	var results []result
	enc := json.NewEncoder(os.Stdout)
	for _, op := range ops {
		for run := 1; run <= *runs; run++ {
			// The same random choices for both servers in one run.
			seed := rng.Uint64()
			for _, s := range servers {
				ms, count := op.fn(s, *n, rand.New(rand.NewPCG(seed, 7)))
				r := result{Op: op.name, Server: s.name, Run: run, Messages: *n, Ms: ms, Count: count}
				results = append(results, r)
				check(enc.Encode(r))
			}
		}
	}
	fmt.Println()
	table(os.Stdout, results)
}

type operation struct {
	name string
	fn   func(s server, n int, rng *rand.Rand) (ms float64, count int)
}

var ops = []operation{
	{"login_select", func(s server, n int, _ *rand.Rand) (float64, int) {
		t0 := time.Now()
		c := login(s)
		c.ok("SELECT INBOX")
		d := since(t0)
		c.close()
		return d, 1
	}},
	{"fetch_envelope", func(s server, n int, _ *rand.Rand) (float64, int) {
		c := selected(s)
		defer c.close()
		t0 := time.Now()
		u := c.ok("FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)")
		return since(t0), u
	}},
	{"uid_fetch_100", func(s server, n int, rng *rand.Rand) (float64, int) {
		c := selected(s)
		defer c.close()
		set := make([]string, min(100, n))
		for i, u := range rng.Perm(n)[:len(set)] {
			set[i] = strconv.Itoa(1 + u)
		}
		t0 := time.Now()
		u := c.ok("UID FETCH " + strings.Join(set, ",") + " (BODY.PEEK[])")
		return since(t0), u
	}},
	{"search_body", func(s server, n int, _ *rand.Rand) (float64, int) {
		c := selected(s)
		defer c.close()
		t0 := time.Now()
		c.ok("UID SEARCH BODY " + needle)
		d := since(t0)
		return d, len(strings.Fields(c.last)) - 2
	}},
	{"store_all", func(s server, n int, _ *rand.Rand) (float64, int) {
		c := selected(s)
		defer c.close()
		t0 := time.Now()
		u := c.ok(`STORE 1:* +FLAGS (\Seen)`)
		d := since(t0)
		c.ok(`STORE 1:* -FLAGS.SILENT (\Seen)`)
		return d, u
	}},
	{"append_200", func(s server, n int, rng *rand.Rand) (float64, int) {
		c := login(s)
		defer c.close()
		msgs := corpus(200)
		t0 := time.Now()
		for _, m := range msgs {
			c.appendOne("bench-append", m)
		}
		return since(t0), len(msgs)
	}},
	{"condstore_resync", func(s server, n int, rng *rand.Rand) (float64, int) {
		c := login(s)
		c.ok("SELECT INBOX (CONDSTORE)")
		m := c.highestModseq
		for range n / 100 {
			c.ok(fmt.Sprintf(`STORE %d +FLAGS.SILENT (\Flagged)`, 1+rng.IntN(n)))
		}
		c.ok(`STORE 1:* -FLAGS.SILENT (\Flagged)`) // the next run starts clean (counted there)
		c.close()
		t0 := time.Now()
		c = login(s)
		c.ok("SELECT INBOX (CONDSTORE)")
		u := c.ok(fmt.Sprintf("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", m))
		d := since(t0)
		c.close()
		return d, u
	}},
}

// needle is in 1% of the messages of the corpus.
const needle = "zeppelinfahrt"

var words = strings.Fields(`the of and to in is was for on that with as by at from this be are or an
mail server message report quarterly budget meeting project update review draft schedule
account invoice delivery order customer support ticket release version change request`)

// corpus makes n messages of about 2–6 KiB, deterministic.
func corpus(n int) [][]byte {
	rng := rand.New(rand.NewPCG(42, uint64(n)))
	out := make([][]byte, n)
	for i := range out {
		var b strings.Builder
		fmt.Fprintf(&b, "From: Sender %d <sender%d@example.org>\r\nTo: bob@example.com\r\n", i%97, i%97)
		fmt.Fprintf(&b, "Subject: %s %s %d\r\nDate: Mon, 02 Feb 2026 10:%02d:%02d +0000\r\n", words[rng.IntN(len(words))], words[rng.IntN(len(words))], i, i/60%60, i%60)
		fmt.Fprintf(&b, "Message-ID: <%d.bench@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n", i)
		size := 2048 + rng.IntN(4096)
		line := 0
		for b.Len() < size {
			w := words[rng.IntN(len(words))]
			if i%100 == 0 && line == 3 {
				w = needle
			}
			b.WriteString(w)
			if rng.IntN(12) == 0 {
				b.WriteString("\r\n")
				line++
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteString("\r\n")
		out[i] = []byte(b.String())
	}
	return out
}

// populateIMAP APPENDs msgs to INBOX in MULTIAPPEND batches with LITERAL+.
func populateIMAP(s server, msgs [][]byte) {
	c := login(s)
	defer c.close()
	const batch = 500
	for i := 0; i < len(msgs); i += batch {
		var b strings.Builder
		c.tag++
		fmt.Fprintf(&b, "a%d APPEND INBOX", c.tag)
		for _, m := range msgs[i:min(i+batch, len(msgs))] {
			fmt.Fprintf(&b, " {%d+}\r\n", len(m))
			b.Write(m)
		}
		b.WriteString("\r\n")
		_, err := io.WriteString(c.c, b.String())
		check(err)
		c.wait(fmt.Sprintf("a%d", c.tag))
	}
}

// populateMaildir writes msgs into Dovecot's Maildir (new messages in
// cur/ with no flags), owned by uid:gid.
func populateMaildir(dir string, msgs [][]byte, uid, gid int) {
	if dir == "" {
		fail("-dovecot-maildir is required with -dovecot")
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		check(os.MkdirAll(filepath.Join(dir, sub), 0o700))
	}
	base := time.Now().Unix() - int64(len(msgs))
	for i, m := range msgs {
		// Maildir wants LF line endings on disk; Dovecot adds the CRs.
		lf := []byte(strings.ReplaceAll(string(m), "\r\n", "\n"))
		name := fmt.Sprintf("%d.M%dP1.bench,S=%d,W=%d:2,", base+int64(i), i, len(lf), len(m))
		p := filepath.Join(dir, "cur", name)
		check(os.WriteFile(p, lf, 0o600))
		mt := time.Unix(base+int64(i), 0)
		os.Chtimes(p, mt, mt)
		if uid >= 0 {
			check(os.Lchown(p, uid, gid))
		}
	}
	if uid >= 0 {
		filepath.Walk(filepath.Dir(dir), func(p string, _ os.FileInfo, _ error) error {
			os.Lchown(p, uid, gid)
			return nil
		})
	}
}

// client is a minimal IMAP client: commands and their tagged results.
type client struct {
	c             net.Conn
	r             *bufio.Reader
	tag           int
	last          string // the last untagged SEARCH line
	highestModseq uint64
}

func login(s server) *client {
	conn, err := net.DialTimeout("tcp", s.addr, 10*time.Second)
	check(err)
	c := &client{c: conn, r: bufio.NewReaderSize(conn, 1<<20)}
	c.line()
	c.ok(fmt.Sprintf("LOGIN %q %q", s.user, s.pass))
	return c
}

func selected(s server) *client {
	c := login(s)
	c.ok("SELECT INBOX")
	return c
}

func (c *client) close() {
	c.tag++
	fmt.Fprintf(c.c, "a%d LOGOUT\r\n", c.tag)
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.Copy(io.Discard, c.r)
	c.c.Close()
}

var (
	literal  = regexp.MustCompile(`\{(\d+)\}$`)
	modseqRe = regexp.MustCompile(`HIGHESTMODSEQ (\d+)`)
)

// line reads a response line, skipping the literals in it.
func (c *client) line() string {
	c.c.SetReadDeadline(time.Now().Add(10 * time.Minute))
	var all strings.Builder
	for {
		l, err := c.r.ReadString('\n')
		check(err)
		all.WriteString(l)
		m := literal.FindStringSubmatch(strings.TrimRight(l, "\r\n"))
		if m == nil {
			return all.String()
		}
		k, _ := strconv.Atoi(m[1])
		_, err = c.r.Discard(k)
		check(err)
	}
}

// ok sends a command and returns the number of untagged responses; a
// status other than OK ends the program.
func (c *client) ok(cmd string) int {
	c.tag++
	tag := fmt.Sprintf("a%d", c.tag)
	_, err := fmt.Fprintf(c.c, "%s %s\r\n", tag, cmd)
	check(err)
	return c.wait(tag)
}

func (c *client) wait(tag string) int {
	n := 0
	for {
		l := c.line()
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				fail("%s: %s", tag, strings.TrimSpace(l))
			}
			return n
		}
		if strings.HasPrefix(l, "* SEARCH") {
			c.last = strings.TrimSpace(l)
		}
		if m := modseqRe.FindStringSubmatch(l); m != nil {
			c.highestModseq, _ = strconv.ParseUint(m[1], 10, 64)
		}
		if strings.HasPrefix(l, "* ") {
			n++
		}
	}
}

// appendOne APPENDs one message with a synchronizing literal.
func (c *client) appendOne(mailbox string, m []byte) {
	c.tag++
	tag := fmt.Sprintf("a%d", c.tag)
	fmt.Fprintf(c.c, "%s APPEND %s {%d}\r\n", tag, mailbox, len(m))
	if l := c.line(); !strings.HasPrefix(l, "+") {
		fail("APPEND: %s", l)
	}
	c.c.Write(m)
	io.WriteString(c.c, "\r\n")
	c.wait(tag)
}

func since(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// table prints the medians (min–max) per operation and server and the
// ratio posthorn/dovecot (below 1: posthorn is faster).
func table(w io.Writer, rs []result) {
	type key struct{ op, server string }
	ms := map[key][]float64{}
	var opsSeen []string
	var n int
	for _, r := range rs {
		k := key{r.Op, r.Server}
		if !slices.Contains(opsSeen, r.Op) {
			opsSeen = append(opsSeen, r.Op)
		}
		ms[k] = append(ms[k], r.Ms)
		n = r.Messages
	}
	fmt.Fprintf(w, "IMAP, mailbox of %d messages; ms per operation, median (min–max) of %d runs\n", n, len(ms[key{opsSeen[0], "posthorn"}]))
	fmt.Fprintf(w, "%-18s %26s %26s %8s\n", "operation", "posthorn", "dovecot", "ratio")
	for _, op := range opsSeen {
		p, d := ms[key{op, "posthorn"}], ms[key{op, "dovecot"}]
		ratio := "-"
		if len(p) > 0 && len(d) > 0 {
			ratio = fmt.Sprintf("%.2f", median(p)/median(d))
		}
		fmt.Fprintf(w, "%-18s %26s %26s %8s\n", op, stat(p), stat(d), ratio)
	}
}

func stat(v []float64) string {
	if len(v) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f (%.1f–%.1f)", median(v), slices.Min(v), slices.Max(v))
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "imap: "+format+"\n", args...)
	os.Exit(1)
}
