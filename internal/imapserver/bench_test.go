package imapserver

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/message"
	"github.com/posthorn/posthorn/internal/store"
)

// The benchmarks mirror bench/imap on an in-process server with a
// 10,000-message INBOX, or POSTHORN_BENCH_MESSAGES messages: run them with
// -benchtime and -cpuprofile to see which part of a command grows with the
// mailbox (POSTHORN_BENCH_MESSAGES=100000 for the size bench/imap reports).

var benchMessages = benchSize()

func benchSize() int {
	if n, err := strconv.Atoi(os.Getenv("POSTHORN_BENCH_MESSAGES")); err == nil && n > 0 {
		return n
	}
	return 10000
}

// benchEnv fills INBOX with n messages of 2–6 KiB, a thousand per
// transaction.
func benchEnv(b *testing.B, n int) *testEnv {
	b.Helper()
	e := newEnv(b)
	rng := rand.New(rand.NewPCG(1, 2))
	for start := 0; start < n; start += 1000 {
		var ds []store.Delivery
		for i := start; i < min(start+1000, n); i++ {
			body := benchMessage(rng, i)
			root, err := message.Parse(bytes.NewReader(body), int64(len(body)))
			if err != nil {
				b.Fatal(err)
			}
			ds = append(ds, store.Delivery{
				Body:         bytes.NewReader(body),
				InternalDate: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
				Targets:      []store.Target{{AccountID: e.acct.ID, Mailbox: "INBOX", Structure: root.Marshal()}},
			})
		}
		if _, err := e.st.DeliverAll(context.Background(), ds); err != nil {
			b.Fatal(err)
		}
	}
	return e
}

func benchMessage(rng *rand.Rand, i int) []byte {
	var sb strings.Builder
	fmt.Fprintf(&sb, "From: Sender %d <s%d@example.com>\r\nTo: alice@example.org\r\nSubject: Message %d\r\n"+
		"Date: Mon, 6 May 2024 07:08:09 +0000\r\nMessage-ID: <%d@example.com>\r\n\r\n", i, i, i, i)
	words := strings.Fields("the of and to in mail server report budget meeting project update review")
	size := 2048 + rng.IntN(4096)
	for sb.Len() < size {
		sb.WriteString(words[rng.IntN(len(words))])
		if rng.IntN(12) == 0 {
			sb.WriteString("\r\n")
		} else {
			sb.WriteByte(' ')
		}
	}
	sb.WriteString("\r\n")
	return []byte(sb.String())
}

// selectedConn logs in and selects INBOX.
func (e *testEnv) selectedConn(sel string) *tconn {
	c := e.login()
	c.ok(sel)
	return c
}

func (c *tconn) renew() { c.c.SetDeadline(time.Now().Add(time.Minute)) }

func BenchmarkUIDFetch100(b *testing.B) {
	e := benchEnv(b, benchMessages)
	c := e.selectedConn("SELECT INBOX")
	rng := rand.New(rand.NewPCG(3, 4))
	for b.Loop() {
		c.renew()
		set := make([]string, 100)
		for i, u := range rng.Perm(benchMessages)[:100] {
			set[i] = strconv.Itoa(1 + u)
		}
		if u := c.ok("UID FETCH " + strings.Join(set, ",") + " (BODY.PEEK[])"); len(u) != 100 {
			b.Fatalf("%d responses", len(u))
		}
	}
}

func BenchmarkFetchEnvelope(b *testing.B) {
	e := benchEnv(b, benchMessages)
	c := e.selectedConn("SELECT INBOX")
	for b.Loop() {
		c.renew()
		c.ok("FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)")
	}
}

func BenchmarkLoginSelect(b *testing.B) {
	e := benchEnv(b, benchMessages)
	for b.Loop() {
		c := e.selectedConn("SELECT INBOX")
		c.c.Close()
	}
}

func BenchmarkStoreAll(b *testing.B) {
	e := benchEnv(b, benchMessages)
	c := e.selectedConn("SELECT INBOX")
	for b.Loop() {
		c.renew()
		c.ok(`STORE 1:* +FLAGS (\Seen)`)
		b.StopTimer()
		c.ok(`STORE 1:* -FLAGS.SILENT (\Seen)`)
		b.StartTimer()
	}
}

func BenchmarkCondstoreResync(b *testing.B) {
	e := benchEnv(b, benchMessages)
	rng := rand.New(rand.NewPCG(5, 6))
	for b.Loop() {
		b.StopTimer()
		c := e.selectedConn("SELECT INBOX (CONDSTORE)")
		mb, err := e.st.MailboxByName(context.Background(), e.acct.ID, "INBOX")
		if err != nil {
			b.Fatal(err)
		}
		for range benchMessages / 100 {
			c.ok(fmt.Sprintf(`STORE %d +FLAGS.SILENT (\Flagged)`, 1+rng.IntN(benchMessages)))
		}
		c.ok(`STORE 1:* -FLAGS.SILENT (\Flagged)`)
		c.c.Close()
		b.StartTimer()
		c = e.selectedConn("SELECT INBOX (CONDSTORE)")
		c.ok(fmt.Sprintf("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)", mb.HighestModSeq))
		c.c.Close()
	}
}

// BenchmarkAppend appends to another mailbox of an account with a full
// INBOX, as bench/imap does.
func BenchmarkAppend(b *testing.B) {
	e := benchEnv(b, benchMessages)
	c := e.login()
	c.ok("CREATE bench")
	rng := rand.New(rand.NewPCG(7, 8))
	for b.Loop() {
		c.renew()
		m := benchMessage(rng, 1)
		c.send(fmt.Sprintf("A APPEND bench {%d+}\r\n", len(m)))
		c.send(string(m) + "\r\n")
		for {
			l := c.readLine()
			if strings.HasPrefix(l, "A ") {
				if !strings.HasPrefix(l, "A OK") {
					b.Fatal(l)
				}
				break
			}
		}
	}
}
