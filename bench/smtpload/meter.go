package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat (100 on
// Linux for every architecture Go supports).
const clockTicks = 100

// meter measures a server's CPU time and memory during a run: from a
// cgroup v1 cpuacct group holding all its processes (cpuacct.usage, every
// process in cgroup.procs), or else from the process tree under a PID
// (utime+stime+cutime+cstime of each, so exited children count too).
// Memory is sampled every 200 ms as the sum over the processes of VmRSS
// (which counts pages shared between processes, such as libraries and
// Postfix's many smtpd processes, once per process) and of Pss from
// /proc/PID/smaps_rollup (shared pages divided among their sharers: the
// memory the server really holds); the peak is the largest sample.
type meter struct {
	cgroup string
	pid    int

	startCPU  float64
	stop      chan struct{}
	done      sync.WaitGroup
	peakRSSKB int64
	peakPSSKB int64
}

func newMeter(cgroup string, pid int) *meter {
	if cgroup == "" && pid == 0 {
		return nil
	}
	return &meter{cgroup: cgroup, pid: pid}
}

// source names the CPU accounting used, for the JSON lines.
func (m *meter) source() string {
	if m.cgroup != "" {
		return "cgroup-cpuacct"
	}
	return "proc-tree"
}

func (m *meter) start() {
	m.startCPU = m.cpuMS()
	m.stop = make(chan struct{})
	m.sample()
	m.done.Add(1)
	go func() {
		defer m.done.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				m.sample()
			}
		}
	}()
}

// finish stops sampling and returns the CPU milliseconds used since start
// and the peak RSS and PSS in KiB.
func (m *meter) finish() (cpuMS float64, rssKB, pssKB int64) {
	close(m.stop)
	m.done.Wait()
	m.sample()
	return m.cpuMS() - m.startCPU, m.peakRSSKB, m.peakPSSKB
}

func (m *meter) sample() {
	var rss, pss int64
	for _, p := range m.pids() {
		rss += statusKB(p, "VmRSS:")
		pss += pssKB(p)
	}
	m.peakRSSKB = max(m.peakRSSKB, rss)
	m.peakPSSKB = max(m.peakPSSKB, pss)
}

func (m *meter) pids() []int {
	if m.cgroup != "" {
		b, _ := os.ReadFile(filepath.Join(m.cgroup, "cgroup.procs"))
		var ps []int
		for _, f := range strings.Fields(string(b)) {
			if p, err := strconv.Atoi(f); err == nil {
				ps = append(ps, p)
			}
		}
		return ps
	}
	return processTree(m.pid)
}

func (m *meter) cpuMS() float64 {
	if m.cgroup != "" {
		b, _ := os.ReadFile(filepath.Join(m.cgroup, "cpuacct.usage"))
		ns, _ := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
		return ns / 1e6
	}
	var ticks int64
	for _, p := range processTree(m.pid) {
		f := statFields(p)
		// Fields 14–17 of proc(5), 1-based: utime stime cutime cstime.
		for i := 13; i <= 16 && i < len(f); i++ {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += v
		}
	}
	return float64(ticks) * 1000 / clockTicks
}

// pssKB returns the Pss of /proc/PID/smaps_rollup in KiB.
func pssKB(pid int) int64 {
	return fieldKB("/proc/"+strconv.Itoa(pid)+"/smaps_rollup", "Pss:")
}

// statFields returns the fields of /proc/PID/stat, with the command name
// (field 2, which may hold spaces) as one field.
func statFields(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return append([]string{"pid", "comm"}, strings.Fields(string(b[i+1:]))...)
}

// statusKB returns a "Vm…:" value of /proc/PID/status in KiB.
func statusKB(pid int, key string) int64 {
	return fieldKB("/proc/"+strconv.Itoa(pid)+"/status", key)
}

// fieldKB returns the value of the line starting with key in a /proc file
// of "Key: N kB" lines.
func fieldKB(path, key string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, key); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				return v
			}
		}
	}
	return 0
}

// processTree returns root and all its descendants.
func processTree(root int) []int {
	es, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range es {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := statFields(p); len(f) > 3 {
			pp, _ := strconv.Atoi(f[3])
			children[pp] = append(children[pp], p)
		}
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}
