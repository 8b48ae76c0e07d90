package store_test

// The crash test: a child process (this test binary, re-executed) delivers
// messages from several goroutines and acknowledges each successful Deliver
// on stdout; the parent kills it with SIGKILL at a random moment, reopens the
// store and checks that everything acknowledged is there, byte-exact, and that
// nothing partial is visible. Rounds continue on the same directory, so
// recovery after recovery is tested too.
//
// Every message is self-verifying: its header carries its id, its target set
// and the SHA-256 of (id, targets, payload); each target's HeaderPrefix
// carries the id, target set and target index, so the parent finds messages
// from the index alone and reads the bytes only to verify them.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
	"github.com/posthorn/posthorn/internal/store/storetest"
)

const (
	crashDirEnv   = "POSTHORN_CRASH_DIR"
	crashRoundEnv = "POSTHORN_CRASH_ROUND"
	crashSeedEnv  = "POSTHORN_CRASH_SEED"
)

// crashTarget is one of the places the child delivers to.
type crashTarget struct {
	address string
	mailbox string // as stored; the first delivery to Crash/Sub creates it
}

var crashTargets = []crashTarget{
	{"a@example.org", "INBOX"},
	{"b@example.org", "INBOX"},
	{"a@example.org", "Archive"},
	{"c@example.org", "Crash/Sub"},
}

// crashHash is the hash embedded in a message and printed in its ack.
func crashHash(id string, mask int, payload []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%d\n", id, mask)
	h.Write(payload)
	return hex.EncodeToString(h.Sum(nil))
}

func crashPrefix(id string, mask, target int) string {
	return fmt.Sprintf("X-Crash-Prefix: %s %d %d\r\n", id, mask, target)
}

// parseCrashPrefix returns the id, mask and target index from a HeaderPrefix.
func parseCrashPrefix(p []byte) (id string, mask, target int, ok bool) {
	f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(string(p)), "X-Crash-Prefix:"))
	if len(f) != 3 {
		return "", 0, 0, false
	}
	mask, err1 := strconv.Atoi(f[1])
	target, err2 := strconv.Atoi(f[2])
	return f[0], mask, target, err1 == nil && err2 == nil
}

// crashBody builds a message: a header naming it, then the payload.
func crashBody(id string, mask int, payload []byte) (body []byte, hash string) {
	hash = crashHash(id, mask, payload)
	var b bytes.Buffer
	fmt.Fprintf(&b, "X-Crash-Id: %s\r\nX-Crash-Targets: %d\r\nX-Crash-Hash: %s\r\n\r\n", id, mask, hash)
	b.Write(payload)
	return b.Bytes(), hash
}

// verifyCrashBody checks a message as served (prefix + body) against its
// own header and returns its hash.
func verifyCrashBody(served []byte, id string, mask, target int) (string, error) {
	prefix := crashPrefix(id, mask, target)
	if !bytes.HasPrefix(served, []byte(prefix)) {
		return "", fmt.Errorf("served bytes do not start with the prefix %q", prefix)
	}
	body := served[len(prefix):]
	hdr, payload, ok := bytes.Cut(body, []byte("\r\n\r\n"))
	if !ok {
		return "", fmt.Errorf("no header end in %d bytes", len(body))
	}
	want := fmt.Sprintf("X-Crash-Id: %s\r\nX-Crash-Targets: %d\r\nX-Crash-Hash: ", id, mask)
	if !bytes.HasPrefix(hdr, []byte(want)) {
		return "", fmt.Errorf("header %.100q does not match the index (id %s, mask %d)", hdr, id, mask)
	}
	hash := string(hdr[len(want):])
	if got := crashHash(id, mask, payload); got != hash {
		return "", fmt.Errorf("payload of %d bytes hashes to %s, header says %s", len(payload), got[:12], hash)
	}
	return hash, nil
}

// TestCrashChild is the child process of TestCrash; it does nothing unless
// started by it.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process of TestCrash")
	}
	round := os.Getenv(crashRoundEnv)
	seed, _ := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
	die := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "crash child: "+format+"\n", args...)
		os.Exit(3)
	}
	ctx := context.Background()
	s, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		die("Open: %v", err)
	}
	var accounts []int64
	for _, tg := range crashTargets {
		a, err := s.Account(ctx, addr.MustParseAddress(tg.address))
		if err != nil {
			die("Account(%s): %v", tg.address, err)
		}
		accounts = append(accounts, a.ID)
	}
	var outMu sync.Mutex
	ack := func(line string) {
		outMu.Lock()
		defer outMu.Unlock()
		// One write(2) per line: a pipe write this small is atomic, so a
		// kill never leaves half an ack.
		if _, err := os.Stdout.WriteString(line); err != nil {
			os.Exit(4)
		}
	}
	ack("READY\n")

	const workers = 4
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(g)))
			for i := 0; ; i++ {
				id := fmt.Sprintf("r%s-g%d-%d", round, g, i)
				mask := 1
				if r.IntN(2) == 0 {
					mask = 1 + r.IntN(1<<len(crashTargets)-1)
				}
				size := 2 << 10
				if r.IntN(8) == 0 {
					size = 200 << 10
				}
				size += r.IntN(512)
				payload := make([]byte, size)
				for j := range payload {
					payload[j] = byte(r.Uint32())
				}
				body, hash := crashBody(id, mask, payload)
				var targets []store.Target
				for ti, tg := range crashTargets {
					if mask&(1<<ti) != 0 {
						targets = append(targets, store.Target{AccountID: accounts[ti], Mailbox: tg.mailbox,
							HeaderPrefix: []byte(crashPrefix(id, mask, ti)), Flags: store.Flags(r.IntN(4))})
					}
				}
				if _, err := s.Deliver(ctx, store.Delivery{Body: bytes.NewReader(body), Targets: targets}); err != nil {
					die("Deliver %s: %v", id, err)
				}
				ack(fmt.Sprintf("ACK %s %d %s\n", id, mask, hash))
			}
		})
	}
	// Flag changes share the writer with the deliveries.
	wg.Go(func() {
		r := rand.New(rand.NewPCG(seed, 99))
		for {
			mb, err := s.MailboxByName(ctx, accounts[0], "INBOX")
			if err != nil {
				die("MailboxByName: %v", err)
			}
			if mb.UIDNext > 1 {
				uid := 1 + uint32(r.IntN(int(mb.UIDNext-1)))
				if _, err := s.StoreFlags(ctx, store.FlagChange{AccountID: accounts[0], MailboxID: mb.ID,
					UIDs: []uint32{uid}, Op: store.FlagsAdd, Flags: store.FlagSeen}); err != nil {
					die("StoreFlags: %v", err)
				}
			}
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
}

// crashAck is one acknowledged delivery.
type crashAck struct {
	mask int
	hash string
}

// crashSeen is what the parent knows about one stored copy of a message.
type crashSeen struct {
	uid      uint32
	size     int64
	mailbox  int64
	verified bool
}

type crashKey struct {
	id     string
	target int
}

type crashParent struct {
	t        *testing.T
	dir      string
	acked    map[string]crashAck
	seen     map[crashKey]crashSeen
	uidNext  map[int64]uint32 // per mailbox, never decreasing
	modSeq   map[int64]uint64
	accounts []int64
	r        *rand.Rand
}

func TestCrash(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("in the child")
	}
	rounds := 50
	if testing.Short() {
		rounds = 5
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (set %s to repeat)", seed, crashSeedEnv)
	p := &crashParent{
		t:       t,
		dir:     t.TempDir(),
		acked:   map[string]crashAck{},
		seen:    map[crashKey]crashSeen{},
		uidNext: map[int64]uint32{},
		modSeq:  map[int64]uint64{},
		r:       rand.New(rand.NewPCG(seed, 0)),
	}
	p.setup()
	start := time.Now()
	var killedEarly, total int
	for round := range rounds {
		n, ready := p.runChild(round, seed+uint64(round))
		total += n
		if !ready {
			killedEarly++
		}
		p.check(round, false)
		if t.Failed() {
			t.Fatalf("round %d failed (seed %d)", round, seed)
		}
	}
	p.check(rounds, true)
	t.Logf("%d rounds in %v: %d deliveries acknowledged, %d copies stored, %d kills before the store was open",
		rounds, time.Since(start).Round(time.Millisecond), total, len(p.seen), killedEarly)
}

// setup creates the accounts the child delivers to.
func (p *crashParent) setup() {
	ctx := context.Background()
	s, err := store.Open(ctx, p.dir, store.Options{})
	if err != nil {
		p.t.Fatal(err)
	}
	defer s.Close()
	if err := s.AddDomain(ctx, store.Domain{Name: addr.MustParseDomain("example.org"), SubaddressSep: "+"}); err != nil {
		p.t.Fatal(err)
	}
	for _, a := range []string{"a@example.org", "b@example.org", "c@example.org"} {
		if _, err := s.AddAccount(ctx, store.Account{Address: addr.MustParseAddress(a)}, store.Credentials{}); err != nil {
			p.t.Fatal(err)
		}
	}
	for _, tg := range crashTargets {
		a, err := s.Account(ctx, addr.MustParseAddress(tg.address))
		if err != nil {
			p.t.Fatal(err)
		}
		p.accounts = append(p.accounts, a.ID)
	}
}

// runChild runs one child until it is killed and returns the number of
// acks it printed and whether it got as far as opening the store.
func (p *crashParent) runChild(round int, seed uint64) (acks int, ready bool) {
	t := p.t
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+p.dir, crashRoundEnv+"="+strconv.Itoa(round),
		crashSeedEnv+"="+strconv.FormatUint(seed, 10))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill after a random delay, or after a random number of acks.
	byAcks := p.r.IntN(2) == 0
	killAfterAcks := 1 + p.r.IntN(150)
	delay := time.Duration(20+p.r.IntN(281)) * time.Millisecond
	timer := time.AfterFunc(delay, func() { cmd.Process.Kill() })
	var stalled atomic.Bool
	if byAcks {
		timer.Stop()
		// Do not wait forever if the child stalls.
		timer = time.AfterFunc(20*time.Second, func() {
			stalled.Store(true)
			cmd.Process.Kill()
		})
	}
	sc := bufio.NewScanner(out)
	var other []string
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		switch {
		case line == "READY":
			ready = true
		case len(f) == 4 && f[0] == "ACK":
			mask, err := strconv.Atoi(f[2])
			if err != nil {
				t.Errorf("bad ack %q", line)
				continue
			}
			if _, dup := p.acked[f[1]]; dup {
				t.Errorf("id %s acknowledged twice", f[1])
			}
			p.acked[f[1]] = crashAck{mask: mask, hash: f[3]}
			acks++
			if byAcks && acks == killAfterAcks {
				cmd.Process.Kill()
			}
		default:
			other = append(other, line)
		}
	}
	timer.Stop()
	cmd.Process.Kill()
	err = cmd.Wait()
	if st := cmd.ProcessState; st == nil || st.Exited() {
		// It exited by itself instead of being killed.
		t.Fatalf("round %d: child exited on its own (%v)\nstderr: %s\nstdout: %s", round, err, stderr.Bytes(), strings.Join(other, "\n"))
	}
	if stalled.Load() {
		t.Errorf("round %d: child stalled: %d acks in 20s, waiting for %d\nstderr: %s", round, acks, killAfterAcks, stderr.Bytes())
	}
	return acks, ready
}

// check opens the store after a kill and verifies it. Content is verified
// the first time a copy is seen, for a random sample of older copies each
// round, and for every copy when all is true.
func (p *crashParent) check(round int, all bool) {
	t := p.t
	ctx := context.Background()
	s, err := store.Open(ctx, p.dir, store.Options{})
	if err != nil {
		t.Fatalf("round %d: Open after kill: %v", round, err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("round %d: Close: %v", round, err)
		}
	}()
	sc := &crashScan{present: map[crashKey]bool{}, ids: map[string]int{}, fileBlobs: map[int64]bool{}, sample: 20}
	for ti := range crashTargets {
		p.scanTarget(s, round, ti, all, sc)
	}
	present, ids, fileBlobs := sc.present, sc.ids, sc.fileBlobs
	// Atomic multi-target delivery: a visible message is in all its targets.
	for id, mask := range ids {
		for ti := range crashTargets {
			if mask&(1<<ti) != 0 && !present[crashKey{id, ti}] {
				t.Errorf("round %d: %s (targets %b) is missing from target %d: multi-target delivery not atomic", round, id, mask, ti)
			}
		}
	}
	// Nothing acknowledged is lost; nothing seen before disappears.
	for id, a := range p.acked {
		for ti := range crashTargets {
			if a.mask&(1<<ti) != 0 && !present[crashKey{id, ti}] {
				t.Errorf("round %d: acknowledged %s lost from target %d (%s %s)", round, id, ti, crashTargets[ti].address, crashTargets[ti].mailbox)
			}
		}
	}
	for k := range p.seen {
		if !present[k] {
			t.Errorf("round %d: %s seen in an earlier round is gone from target %d", round, k.id, k.target)
		}
	}
	for _, acc := range []int64{p.accounts[0], p.accounts[1], p.accounts[3]} {
		storetest.CheckConsistent(t, s, acc)
	}
	// Recovery removes blob files nothing references, and the temp files.
	files := blobFiles(t, p.dir)
	if len(files) != len(fileBlobs) {
		t.Errorf("round %d: %d blob files on disk, %d referenced large blobs", round, len(files), len(fileBlobs))
	}
	if tmp, _ := os.ReadDir(filepath.Join(p.dir, "blobs", "tmp")); len(tmp) != 0 {
		t.Errorf("round %d: blobs/tmp holds %d files after Open", round, len(tmp))
	}
}

// crashScan is what check collects from the index.
type crashScan struct {
	present   map[crashKey]bool
	ids       map[string]int // id -> target mask
	fileBlobs map[int64]bool // blobs large enough to be files
	sample    int            // old copies still to re-verify this round
}

// scanTarget reads one target mailbox from the index, checks it against what
// earlier rounds saw, and verifies the content of new copies (and of a
// sample of old ones, or all with all).
func (p *crashParent) scanTarget(s store.Store, round, ti int, all bool, sc *crashScan) {
	t := p.t
	ctx := context.Background()
	tg := crashTargets[ti]
	present, ids, fileBlobs := sc.present, sc.ids, sc.fileBlobs
	acc := p.accounts[ti]
	mb, err := s.MailboxByName(ctx, acc, tg.mailbox)
	if err != nil {
		if ti == 3 {
			return // not created yet
		}
		t.Fatalf("round %d: MailboxByName(%s): %v", round, tg.mailbox, err)
	}
	if mb.UIDNext < p.uidNext[mb.ID] || mb.HighestModSeq < p.modSeq[mb.ID] {
		t.Errorf("round %d: %s %s went back: UIDNEXT %d (was %d), HIGHESTMODSEQ %d (was %d)", round, tg.address, tg.mailbox,
			mb.UIDNext, p.uidNext[mb.ID], mb.HighestModSeq, p.modSeq[mb.ID])
	}
	p.uidNext[mb.ID], p.modSeq[mb.ID] = mb.UIDNext, mb.HighestModSeq
	ms, err := s.Messages(ctx, acc, mb.ID, 1, 0)
	if err != nil {
		t.Fatalf("round %d: Messages: %v", round, err)
	}
	for _, m := range ms {
		id, mask, target, ok := parseCrashPrefix(m.HeaderPrefix)
		if !ok || target != ti || mask&(1<<ti) == 0 {
			t.Errorf("round %d: %s %s UID %d: bad prefix %q", round, tg.address, tg.mailbox, m.UID, m.HeaderPrefix)
			continue
		}
		k := crashKey{id, ti}
		if present[k] {
			t.Errorf("round %d: %s is in %s %s twice", round, id, tg.address, tg.mailbox)
		}
		present[k] = true
		if prev, ok := ids[id]; ok && prev != mask {
			t.Errorf("round %d: %s has masks %d and %d", round, id, prev, mask)
		}
		ids[id] = mask
		if m.Size-int64(len(m.HeaderPrefix)) > 64<<10 {
			fileBlobs[m.BlobID] = true
		}
		old, known := p.seen[k]
		if known && (old.uid != m.UID || old.size != m.Size || old.mailbox != mb.ID) {
			t.Errorf("round %d: %s in %s %s changed: UID %d size %d, was UID %d size %d", round, id, tg.address, tg.mailbox,
				m.UID, m.Size, old.uid, old.size)
		}
		verify := !known || all
		if known && sc.sample > 0 && p.r.IntN(50) == 0 {
			verify = true
			sc.sample--
		}
		if verify {
			hash, err := p.verify(s, m, id, mask, ti)
			if err != nil {
				t.Errorf("round %d: %s in %s %s (UID %d): %v", round, id, tg.address, tg.mailbox, m.UID, err)
			} else if a, ok := p.acked[id]; ok && (a.hash != hash || a.mask != mask) {
				t.Errorf("round %d: %s: stored hash %s mask %d, acknowledged %s mask %d", round, id, hash[:12], mask, a.hash[:12], a.mask)
			}
		}
		p.seen[k] = crashSeen{uid: m.UID, size: m.Size, mailbox: mb.ID, verified: true}
	}
}

func (p *crashParent) verify(s store.Store, m store.Message, id string, mask, target int) (string, error) {
	c, err := s.Open(context.Background(), m)
	if err != nil {
		return "", fmt.Errorf("Open: %w", err)
	}
	defer c.Close()
	if c.Size() != m.Size {
		return "", fmt.Errorf("content size %d, index says %d", c.Size(), m.Size)
	}
	served, err := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
	if err != nil {
		return "", fmt.Errorf("read: %w", err)
	}
	return verifyCrashBody(served, id, mask, target)
}

// TestCrashBodyVerifies checks the self-verification itself: a corrupt or
// truncated body is caught.
func TestCrashBodyVerifies(t *testing.T) {
	body, hash := crashBody("r1-g0-0", 5, []byte("payload bytes"))
	served := append([]byte(crashPrefix("r1-g0-0", 5, 2)), body...)
	if got, err := verifyCrashBody(served, "r1-g0-0", 5, 2); err != nil || got != hash {
		t.Fatalf("verify = %s, %v", got, err)
	}
	for i, bad := range [][]byte{
		served[:len(served)-1],
		append(slices.Clone(served), 'x'),
		bytes.Replace(served, []byte("payload"), []byte("pAyload"), 1),
		append([]byte(crashPrefix("r1-g0-0", 5, 1)), body...),
	} {
		if _, err := verifyCrashBody(bad, "r1-g0-0", 5, 2); err == nil {
			t.Errorf("corruption %d not detected", i)
		}
	}
	if _, err := verifyCrashBody(served, "r1-g0-1", 5, 2); err == nil {
		t.Errorf("wrong id not detected")
	}
}
