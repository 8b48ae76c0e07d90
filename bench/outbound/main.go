// Command outbound is a bounded load test of outbound delivery: posthorn's
// queue delivering N messages to Postfix's smtp-sink, at several queue
// concurrencies, all on loopback.
//
//	go run ./bench/outbound -posthorn ./posthorn -n 2000 -levels 8,32 -runs 3
//
// For each run and level it starts smtp-sink on SINK-IP:25 ("smtp-sink -c
// IP:25 1000", with -u nobody as root: no STARTTLS), a test DNS server (dnstest) whose D domains
// d0.bench.test … all have their MX on the sink, and a fresh posthorn
// (init, listeners on free loopback ports, [dns] servers = the test
// server, [queue] concurrency = the level). Before posthorn starts, the
// N messages (one recipient each, spread over the D domains: the queue
// runs one worker per destination domain) are written into its store
// with the store API. It then measures from the first metrics scrape
// until posthorn_messages_delivered_total{via="remote"} reaches N, and
// prints one JSON line per run and the medians.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/posthorn/posthorn/internal/dns/dnstest"
	"github.com/posthorn/posthorn/internal/store"
)

type result struct {
	Level     int     `json:"concurrency"`
	Run       int     `json:"run"`
	Messages  int     `json:"messages"`
	Delivered int     `json:"delivered"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"deliveries_per_second"`
}

func main() {
	bin := flag.String("posthorn", "./posthorn", "the posthorn binary")
	sink := flag.String("sink", "/usr/sbin/smtp-sink", "Postfix's smtp-sink")
	sinkIP := flag.String("sink-ip", "127.0.0.201", "loopback address for smtp-sink (port 25)")
	n := flag.Int("n", 2000, "messages per run")
	domains := flag.Int("domains", 64, "destination domains the messages are spread over")
	size := flag.Int("size", 4096, "message size in bytes")
	levels := flag.String("levels", "8,32", "queue concurrencies ([queue] concurrency)")
	runs := flag.Int("runs", 3, "runs per level")
	maxWait := flag.Duration("max", 120*time.Second, "give up a run after this long")
	work := flag.String("dir", "", "working directory (default: a temporary one)")
	flag.Parse()
	if *work == "" {
		d, err := os.MkdirTemp("", "posthorn-outbound-")
		check(err)
		*work = d
	}
	bench := &bench{bin: *bin, sink: *sink, sinkIP: *sinkIP, n: *n, domains: *domains, size: *size, max: *maxWait, dir: *work}
	var all []result
	for _, l := range strings.Split(*levels, ",") {
		level, err := strconv.Atoi(strings.TrimSpace(l))
		check(err)
		for r := 1; r <= *runs; r++ {
			res, err := bench.run(level, r)
			check(err)
			b, _ := json.Marshal(res)
			fmt.Println(string(b))
			all = append(all, res)
		}
	}
	fmt.Println("# medians")
	for _, l := range strings.Split(*levels, ",") {
		level, _ := strconv.Atoi(strings.TrimSpace(l))
		var rates []float64
		for _, r := range all {
			if r.Level == level {
				rates = append(rates, r.PerSecond)
			}
		}
		slices.Sort(rates)
		fmt.Printf("concurrency %2d: %.0f deliveries/s (median of %d runs of %d messages over %d domains)\n",
			level, rates[len(rates)/2], len(rates), *n, *domains)
	}
}

type bench struct {
	bin, sink, sinkIP string
	n, domains, size  int
	max               time.Duration
	dir               string
}

func (b *bench) run(level, run int) (result, error) {
	res := result{Level: level, Run: run, Messages: b.n}
	dir := filepath.Join(b.dir, fmt.Sprintf("c%d-r%d", level, run))
	// smtp-sink: -c counts, backlog 1000.
	args := []string{"-c", b.sinkIP + ":25", "1000"}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "nobody"}, args...) // smtp-sink refuses to run as root
	}
	sink := exec.Command(b.sink, args...)
	sink.Stdout, sink.Stderr = nil, nil
	if err := sink.Start(); err != nil {
		return res, fmt.Errorf("smtp-sink: %w", err)
	}
	defer func() { sink.Process.Kill(); sink.Wait() }()
	if err := waitTCP(b.sinkIP + ":25"); err != nil {
		return res, err
	}
	zone := dnstest.Zone{"sink.bench.test.": {A: []string{b.sinkIP}}}
	for i := range b.domains {
		zone[fmt.Sprintf("d%d.bench.test.", i)] = dnstest.Records{MX: []dnstest.MX{{Pref: 10, Host: "sink.bench.test."}}}
	}
	dnsSrv, err := dnstest.NewServer(zone, dnstest.ServerOptions{})
	if err != nil {
		return res, err
	}
	defer dnsSrv.Close()

	httpAddr, err := b.setup(dir, dnsSrv.Addr, level)
	if err != nil {
		return res, err
	}
	ph := exec.Command(b.bin, "serve", "--config", filepath.Join(dir, "posthorn.toml"))
	logf, err := os.Create(filepath.Join(dir, "posthorn.log"))
	if err != nil {
		return res, err
	}
	defer logf.Close()
	ph.Stdout, ph.Stderr = logf, logf
	if err := ph.Start(); err != nil {
		return res, err
	}
	defer func() { ph.Process.Signal(syscall.SIGTERM); ph.Wait() }()

	var start time.Time
	var d0 int
	deadline := time.Now().Add(b.max)
	for time.Now().Before(deadline) {
		d, err := delivered(httpAddr)
		if err == nil {
			if start.IsZero() {
				start, d0 = time.Now(), d
			}
			res.Delivered = d
			if d >= b.n {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if start.IsZero() {
		return res, fmt.Errorf("posthorn did not start; see %s", logf.Name())
	}
	res.Seconds = time.Since(start).Seconds()
	res.PerSecond = float64(res.Delivered-d0) / res.Seconds
	if res.Delivered < b.n {
		return res, fmt.Errorf("only %d of %d delivered after %s; see %s", res.Delivered, b.n, b.max, logf.Name())
	}
	return res, nil
}

// setup makes a fresh posthorn data directory with the messages queued,
// and returns its HTTP address.
func (b *bench) setup(dir, dnsAddr string, level int) (string, error) {
	out, err := exec.Command(b.bin, "init", "--dir", dir, "--data-dir", filepath.Join(dir, "data"), "--domain", "example.com", "--hostname", "mail.example.com").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("posthorn init: %v: %s", err, out)
	}
	smtpPort, httpPort := freePort(), freePort()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", httpPort)
	cfgPath := filepath.Join(dir, "posthorn.toml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		return "", err
	}
	for k, v := range map[string]string{
		"user": `""`, "allow_root": "true", "smtp": fmt.Sprintf(`["127.0.0.1:%d"]`, smtpPort),
		"submission": "[]", "submissions": "[]", "imap": "[]", "imaps": "[]", "https": "[]",
		"http": `["` + httpAddr + `"]`, "greet_delay": `"0s"`, "level": `"warn"`,
		"servers": `["` + dnsAddr + `"]`, "concurrency": strconv.Itoa(level),
		"tls_reports": "false",
	} {
		re := regexp.MustCompile(`(?m)^` + k + ` = .*$`)
		cfg = re.ReplaceAll(cfg, []byte(k+" = "+v))
	}
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return "", err
	}
	// init --data-dir DIR/data; the store is DATA_DIR/store.
	return httpAddr, b.enqueue(filepath.Join(dir, "data", "store"))
}

// enqueue writes the messages into the store, one recipient each.
func (b *bench) enqueue(path string) error {
	ctx := context.Background()
	st, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	for i := range b.n {
		rcpt := fmt.Sprintf("user%d@d%d.bench.test", i, i%b.domains)
		hdr := fmt.Sprintf("From: bench@example.com\r\nTo: %s\r\nSubject: outbound bench %d\r\nMessage-ID: <bench%d@example.com>\r\n\r\n", rcpt, i, i)
		body := hdr
		line := strings.Repeat("0123456789", 7) + "\r\n"
		for len(body) < b.size {
			body += line
		}
		_, err := st.Enqueue(ctx, strings.NewReader(body), []store.QueueEntry{{
			Sender: "bench@example.com", Domain: fmt.Sprintf("d%d.bench.test", i%b.domains),
			Recipients: []store.QueueRecipient{{Address: rcpt}},
		}})
		if err != nil {
			return err
		}
	}
	return nil
}

// delivered reads posthorn_messages_delivered_total{via="remote"}.
func delivered(addr string) (int, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), `posthorn_messages_delivered_total{via="remote"} `); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int(f), err
		}
	}
	return 0, sc.Err()
}

func waitTCP(addr string) error {
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s not listening", addr)
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "outbound:", err)
		os.Exit(1)
	}
}
