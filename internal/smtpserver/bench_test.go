package smtpserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/accounts"
	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/dkim"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
	"github.com/posthorn/posthorn/internal/guard"
	"github.com/posthorn/posthorn/internal/msgauth"
	"github.com/posthorn/posthorn/internal/store"
)

// The benchmarks run whole MX transactions (EHLO, MAIL, RCPT, DATA of a
// 4 KiB message, QUIT; the envelope pipelined, one connection per message)
// over loopback TCP against a store in b.TempDir(), 32 clients at a time
// like bench/smtpload -c 32. Besides ns/op (wall clock, noisy on a shared
// machine) they report cpu-ns/msg: user+system CPU of the whole process
// (server and the benchmark's clients) per message, from getrusage.
//
//	go test -run '^$' -bench MX -count 5 ./internal/smtpserver/

// benchClients is how many clients send at once.
const benchClients = 32

// benchIP is the client address presented with XCLIENT: not loopback, so
// iprev and SPF are checked.
const benchIP = "192.0.2.10"

// BenchmarkMX is the MX path from a loopback client: iprev and SPF are not
// checked, and no message-authentication hook runs. The "discard"
// variants hand messages to a store that reads and drops them, leaving
// the cost of the SMTP session, checks and delivery preparation.
func BenchmarkMX(b *testing.B) {
	for _, discard := range []bool{false, true} {
		b.Run(storeName(discard), func(b *testing.B) {
			e := benchEnv(b, discard, nil)
			runMX(b, e, benchMessage(b, false), false)
		})
	}
}

// BenchmarkMXAuth is the MX path with verification: the client appears as
// 192.0.2.10 through XCLIENT, and iprev, SPF, DKIM (RSA-2048) and DMARC
// (p=reject) all run against an in-memory DNS and pass.
func BenchmarkMXAuth(b *testing.B) {
	for _, discard := range []bool{false, true} {
		b.Run(storeName(discard), func(b *testing.B) {
			r := dnstest.NewResolver(benchZone(b))
			e := benchEnv(b, discard, func(o *Options) {
				o.XCLIENTNetworks = mustPrefixes("127.0.0.0/8")
				chk := msgauth.NewChecker(msgauth.Options{Resolver: r, Hostname: o.Hostname, Enforce: true, Timeout: 5 * time.Second})
				o.Deliverer.Hooks = []delivery.Hook{&msgauth.Hook{AuthServID: chk.AuthServID(), Checker: chk, Logger: o.Logger}}
			})
			if !discard {
				checkAuthPass(b, e)
			}
			runMX(b, e, benchMessage(b, true), true)
		})
	}
}

func storeName(discard bool) string {
	if discard {
		return "discard"
	}
	return "store"
}

// discardStore reads delivered messages and drops them.
type discardStore struct{ store.Store }

func (discardStore) Deliver(ctx context.Context, d store.Delivery) ([]store.Message, error) {
	_, err := io.Copy(io.Discard, d.Body)
	return make([]store.Message, len(d.Targets)), err
}

// checkAuthPass sends one message and checks that every check passed, so
// the benchmark measures the paths it claims to.
func checkAuthPass(b *testing.B, e *testEnv) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go e.srv.Serve(l, ModeMX)
	if err := sendOne(l.Addr().String(), benchMessage(b, true), true); err != nil {
		b.Fatal(err)
	}
	msgs := e.inbox("bob@example.org")
	if len(msgs) != 1 {
		b.Fatalf("%d messages delivered", len(msgs))
	}
	for _, want := range []string{"iprev=pass", "spf=pass", "dkim=pass", "dmarc=pass"} {
		if !strings.Contains(msgs[0], want) {
			b.Fatalf("no %s in\n%s", want, msgs[0])
		}
	}
}

// benchKey is an RSA-2048 DKIM key of sender.example, selector "rsa".
var benchKey []byte

func benchZone(b *testing.B) dnstest.Zone {
	if benchKey == nil {
		k, err := dkim.GenerateKey(dkim.AlgRSA)
		if err != nil {
			b.Fatal(err)
		}
		benchKey = k
	}
	rec, err := dkim.Record(benchKey)
	if err != nil {
		b.Fatal(err)
	}
	ip := netip.MustParseAddr(benchIP)
	return dnstest.Zone{
		dnstest.ReverseName(ip):         {PTR: []string{"mail.sender.example."}},
		"mail.sender.example":           {A: []string{benchIP}},
		"sender.example":                {TXT: []string{"v=spf1 ip4:" + benchIP + " -all"}},
		"_dmarc.sender.example":         {TXT: []string{"v=DMARC1; p=reject"}},
		"rsa._domainkey.sender.example": {TXT: []string{rec}},
	}
}

// benchEnv is the test environment with production-like logging (info
// lines formatted, then discarded), the recipient cache and no per-address
// connection limit.
func benchEnv(b *testing.B, discard bool, mod func(*Options)) *testEnv {
	return newEnv(b, func(o *Options) {
		if discard {
			o.Deliverer.Store = discardStore{o.Store}
		}
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		o.Guard = guard.New(guard.Options{Logger: o.Logger, MaxConnsPerIP: -1})
		o.Directory = &accounts.Cache{Service: &accounts.Service{Store: o.Store}} // as cmd/posthorn does
		if mod != nil {
			mod(o)
		}
	})
}

// benchMessage is a 4 KiB message from a@sender.example, DKIM-signed
// with benchKey when signed is set.
func benchMessage(b *testing.B, signed bool) []byte {
	var sb strings.Builder
	sb.WriteString("From: Sender <a@sender.example>\r\nTo: bob@example.org\r\nSubject: benchmark\r\n" +
		"Date: Sat, 21 Nov 2026 10:00:00 +0000\r\nMessage-ID: <bench@sender.example>\r\n\r\n")
	line := strings.Repeat("0123456789", 7) + "abcdef\r\n"
	for sb.Len() < 4096-len(line) {
		sb.WriteString(line)
	}
	m := sb.String()
	if signed {
		key, err := dkim.ParseKey(benchKey)
		if err != nil {
			b.Fatal(err)
		}
		s := dkim.Signer{Domain: addr.MustParseDomain("sender.example"), Selector: "rsa", Key: key}
		sig, err := dkim.Sign(strings.NewReader(m), time.Now(), s)
		if err != nil {
			b.Fatal(err)
		}
		m = sig + m
	}
	return []byte(m + ".\r\n")
}

// runMX sends b.N messages over a real loopback listener.
func runMX(b *testing.B, e *testEnv, msg []byte, xclient bool) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go e.srv.Serve(l, ModeMX)
	addr := l.Addr().String()
	if err := sendOne(addr, msg, xclient); err != nil { // warm up caches
		b.Fatal(err)
	}
	b.SetParallelism((benchClients + 1) / 2)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := sendOne(addr, msg, xclient); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/msg")
}

// cpuTime is the user and system CPU time of the process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sendOne runs one transaction as bench/smtpload does.
func sendOne(address string, msg []byte, xclient bool) error {
	c, err := net.Dial("tcp", address)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	w := bufio.NewWriterSize(c, len(msg)+512)
	step := func(send string, codes ...int) error {
		w.WriteString(send)
		if err := w.Flush(); err != nil {
			return err
		}
		for _, code := range codes {
			if err := benchExpect(r, code); err != nil {
				return fmt.Errorf("after %q: %w", send, err)
			}
		}
		return nil
	}
	if err := step("", 220); err != nil {
		return err
	}
	if err := step("EHLO mail.sender.example\r\n", 250); err != nil {
		return err
	}
	if xclient {
		if err := step("XCLIENT ADDR="+benchIP+" NAME=mail.sender.example\r\n", 220); err != nil {
			return err
		}
		if err := step("EHLO mail.sender.example\r\n", 250); err != nil {
			return err
		}
	}
	if err := step("MAIL FROM:<bounce@sender.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n", 250, 250, 354); err != nil {
		return err
	}
	w.Write(msg)
	if err := step("", 250); err != nil {
		return err
	}
	return step("QUIT\r\n", 221)
}

// benchExpect reads one reply and checks its code.
func benchExpect(r *bufio.Reader, code int) error {
	want := fmt.Sprint(code)
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(l, want) {
			return errors.New(strings.TrimSpace(l))
		}
		if len(l) < 4 || l[3] != '-' {
			return nil
		}
	}
}
