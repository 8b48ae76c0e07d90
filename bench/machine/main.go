// Command machine measures the limits of this machine that bound any mail
// server on it, as JSON lines: the fsync rate (4 KiB write + fsync, one
// thread and eight, each on its own file), sequential write bandwidth
// (a bounded file written in 1 MiB blocks, then fdatasync) and loopback
// TCP bandwidth (a client and a server on 127.0.0.1). Each test is bounded
// in time and size.
//
//	machine -dir /tmp/x [-seconds 3] [-write-mib 512]
//
// With -startup it instead measures a server's start: it runs the command
// after "--", and times from exec until -smtp accepts a TCP connection and
// -health answers 200, then waits -idle and reads the process's VmRSS; then
// it stops the process with SIGTERM (by its PID):
//
//	machine -startup -smtp 127.0.0.1:2525 -health http://127.0.0.1:8080/healthz -- posthorn serve --config F
//
// -summarize FILE prints the table of the machine, startup and size lines
// of a JSON-lines file.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// line is one measurement.
type line struct {
	Kind   string  `json:"kind"`   // "machine", "startup" or "size"
	Name   string  `json:"name"`   // what was measured
	Value  float64 `json:"value"`  // in Unit
	Unit   string  `json:"unit"`   // "ops/s", "MiB/s", "ms", "MiB"
	Detail string  `json:"detail"` // how
}

func main() {
	dir := flag.String("dir", os.TempDir(), "directory on the disk to measure")
	seconds := flag.Float64("seconds", 3, "duration of each timed test")
	writeMiB := flag.Int("write-mib", 512, "size of the sequential write test")
	startup := flag.Bool("startup", false, "measure the start of the command after --")
	smtp := flag.String("smtp", "", "with -startup: SMTP address to wait for")
	health := flag.String("health", "", "with -startup: health URL to wait for")
	idle := flag.Duration("idle", 2*time.Second, "with -startup: wait this long after ready before reading RSS")
	summarize := flag.String("summarize", "", "print the table of the JSON lines in this file and exit")
	flag.Parse()
	var err error
	switch {
	case *summarize != "":
		err = summary(os.Stdout, *summarize)
	case *startup:
		err = measureStartup(flag.Args(), *smtp, *health, *idle)
	default:
		err = measureMachine(*dir, time.Duration(*seconds*float64(time.Second)), *writeMiB)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "machine:", err)
		os.Exit(1)
	}
}

func emit(l line) {
	b, _ := json.Marshal(l)
	fmt.Println(string(b))
}

func measureMachine(dir string, d time.Duration, writeMiB int) error {
	for _, threads := range []int{1, 8} {
		rate, err := fsyncRate(dir, threads, d)
		if err != nil {
			return err
		}
		emit(line{"machine", fmt.Sprintf("fsync_%dthread", threads), rate, "ops/s",
			fmt.Sprintf("4 KiB write + fsync per op, %d file(s) in %s, %v", threads, dir, d)})
	}
	bw, err := seqWrite(dir, writeMiB, 4*d)
	if err != nil {
		return err
	}
	emit(line{"machine", "seq_write", bw, "MiB/s", fmt.Sprintf("up to %d MiB in 1 MiB writes + fdatasync, at most %v", writeMiB, 4*d)})
	tcp, err := loopbackTCP(d)
	if err != nil {
		return err
	}
	emit(line{"machine", "loopback_tcp", tcp, "MiB/s", fmt.Sprintf("one connection on 127.0.0.1, 64 KiB writes, %v", d)})
	return nil
}

// fsyncRate runs threads writers, each appending 4 KiB and calling fsync
// on its own file for d, and returns the fsyncs per second in all.
func fsyncRate(dir string, threads int, d time.Duration) (float64, error) {
	var ops atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, threads)
	buf := make([]byte, 4096)
	start := time.Now()
	for t := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := filepath.Join(dir, fmt.Sprintf("fsync-%d", t))
			f, err := os.Create(name)
			if err != nil {
				errs <- err
				return
			}
			defer os.Remove(name)
			defer f.Close()
			for time.Since(start) < d {
				if _, err := f.Write(buf); err != nil {
					errs <- err
					return
				}
				if err := f.Sync(); err != nil {
					errs <- err
					return
				}
				ops.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(ops.Load()) / time.Since(start).Seconds(), nil
}

// seqWrite writes up to mib MiB (stopping after limit) and fdatasyncs;
// it returns MiB/s including the sync.
func seqWrite(dir string, mib int, limit time.Duration) (float64, error) {
	name := filepath.Join(dir, "seqwrite")
	f, err := os.Create(name)
	if err != nil {
		return 0, err
	}
	defer os.Remove(name)
	defer f.Close()
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	start := time.Now()
	n := 0
	for n < mib && time.Since(start) < limit {
		if _, err := f.Write(buf); err != nil {
			return 0, err
		}
		n++
	}
	if err := syscall.Fdatasync(int(f.Fd())); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// loopbackTCP sends 64 KiB writes over one connection on 127.0.0.1 for d
// and returns the MiB/s received.
func loopbackTCP(d time.Duration) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- 0
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		got <- n
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 64<<10)
	start := time.Now()
	for time.Since(start) < d {
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return 0, err
		}
	}
	c.Close()
	n := <-got
	return float64(n) / (1 << 20) / time.Since(start).Seconds(), nil
}

// measureStartup runs argv, waits until smtp accepts and health answers
// 200 (at most 30 s), prints the time, waits idle, prints VmRSS and stops
// the process by its PID.
func measureStartup(argv []string, smtp, health string, idle time.Duration) error {
	if len(argv) == 0 || smtp == "" || health == "" {
		return errors.New("-startup needs -smtp, -health and a command after --")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = io.Discard
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	hc := &http.Client{Timeout: time.Second}
	ready := false
	for time.Since(start) < 30*time.Second {
		if c, err := net.DialTimeout("tcp", smtp, time.Second); err == nil {
			c.Close()
			if resp, err := hc.Get(health); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ready = true
					break
				}
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	if !ready {
		return fmt.Errorf("%s not ready after 30 s", argv[0])
	}
	ms := float64(time.Since(start).Microseconds()) / 1000
	emit(line{"startup", "startup", ms, "ms", "exec until the SMTP port accepts and /healthz answers 200"})
	time.Sleep(idle)
	rss := statusKB(cmd.Process.Pid, "VmRSS:")
	emit(line{"startup", "idle_rss", float64(rss) / 1024, "MiB", fmt.Sprintf("VmRSS %v after ready, fresh init", idle)})
	return nil
}

// statusKB returns a "Vm…:" value of /proc/PID/status in KiB.
func statusKB(pid int, key string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, key); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v
			}
		}
	}
	return 0
}

// summary prints the median (min–max) of every machine, startup and size
// measurement in path.
func summary(w io.Writer, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var names []string
	vals := map[string][]float64{}
	units := map[string]string{}
	for _, s := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(s, "{") {
			continue
		}
		var l line
		if json.Unmarshal([]byte(s), &l) != nil || (l.Kind != "machine" && l.Kind != "startup" && l.Kind != "size") {
			continue
		}
		k := l.Kind + " " + l.Name
		if _, ok := vals[k]; !ok {
			names = append(names, k)
		}
		vals[k] = append(vals[k], l.Value)
		units[k] = l.Unit
	}
	fmt.Fprintln(w, "\nposthorn start, idle and size; this machine's limits: median (min–max)")
	for _, k := range names {
		v := slices.Clone(vals[k])
		slices.Sort(v)
		med := v[len(v)/2]
		if len(v)%2 == 0 {
			med = (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		rng := ""
		if len(v) > 1 {
			rng = fmt.Sprintf(" (%.1f–%.1f, n=%d)", v[0], v[len(v)-1], len(v))
		}
		fmt.Fprintf(w, "%-28s %10.1f %-6s%s\n", k, med, units[k], rng)
	}
	return nil
}
