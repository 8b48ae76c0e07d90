package queue

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/store"
)

// clock is a fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// call is one Sender call recorded by fakeSender.
type call struct {
	Domain string
	Backup bool // DeliverBackup
	Relay  Relay
	Msg    Message
	Body   string
}

// fakeSender answers with answer, recording calls.
type fakeSender struct {
	mu     sync.Mutex
	calls  []call
	answer func(c call) Result
}

func (f *fakeSender) record(c call) Result {
	b, _ := io.ReadAll(io.NewSectionReader(c.Msg.Body, 0, c.Msg.Size))
	c.Body = string(b)
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	return f.answer(c)
}

func (f *fakeSender) Deliver(ctx context.Context, d addr.Domain, m Message) Result {
	return f.record(call{Domain: d.ASCII, Msg: m})
}

func (f *fakeSender) DeliverBackup(ctx context.Context, d addr.Domain, m Message) Result {
	return f.record(call{Domain: d.ASCII, Backup: true, Msg: m})
}

func (f *fakeSender) DeliverVia(ctx context.Context, r Relay, m Message) Result {
	return f.record(call{Relay: r, Msg: m})
}

func (f *fakeSender) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// every answers each recipient with code (delivered for 2xx).
func every(code int, enh, text string) func(call) Result {
	return func(c call) Result {
		var res Result
		res.MX = "mx." + c.Domain
		for _, r := range c.Msg.Recipients {
			res.PerRecipient = append(res.PerRecipient, RecipientResult{
				Address: r.Address, Code: code, Enhanced: enh, Text: text,
				Delivered: code/100 == 2, Permanent: code/100 == 5, Remote: true,
			})
		}
		return res
	}
}

// fakeLocal records bounces to local senders.
type fakeLocal struct {
	mu   sync.Mutex
	msgs map[string][]string
}

func (l *fakeLocal) DeliverLocal(ctx context.Context, to addr.Address, msg []byte) error {
	if to.Domain.ASCII != "local.example" {
		return ErrNotLocal
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.msgs == nil {
		l.msgs = map[string][]string{}
	}
	l.msgs[to.String()] = append(l.msgs[to.String()], string(msg))
	return nil
}

func (l *fakeLocal) For(a string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.msgs[a]
}

type env struct {
	t     *testing.T
	dir   string
	clock *clock
	st    *store.SQLite
	snd   *fakeSender
	local *fakeLocal
	q     *Queue
}

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), clock: &clock{t: t0}, snd: &fakeSender{answer: every(250, "2.0.0", "Ok")}, local: &fakeLocal{}}
	e.open()
	return e
}

func (e *env) open() {
	st, err := store.Open(context.Background(), filepath.Join(e.dir, "store"), store.Options{Now: e.clock.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	e.st = st
	e.q = &Queue{Store: st, Sender: e.snd, Hostname: addr.MustParseDomain("mx.local.example"), Local: e.local, Now: e.clock.Now}
}

const testMsg = "Received: from a by b; Mon, 2 Mar 2026 10:00:00 +0000\r\nFrom: alice@local.example\r\nTo: bob@remote.example\r\nSubject: hello\r\nMessage-ID: <m1@local.example>\r\n\r\nHi Bob.\r\n"

// submit queues testMsg from sender for recipients (address, notify).
func (e *env) submit(sender string, rcpts ...string) {
	e.t.Helper()
	env := &delivery.Envelope{ID: "T1", EnvID: "env-42", Ret: "HDRS"}
	if sender != "" {
		env.Sender = addr.MustParseAddress(sender)
	}
	var rs []delivery.Recipient
	for _, s := range rcpts {
		a, notify, _ := strings.Cut(s, " ")
		r := delivery.Recipient{Address: addr.MustParseAddress(a), Remote: []addr.Address{addr.MustParseAddress(a)}, ORcpt: "rfc822;" + a}
		if notify != "" {
			r.Notify = strings.Split(notify, ",")
		}
		rs = append(rs, r)
	}
	env.Recipients = rs
	if err := e.q.Enqueue(context.Background(), delivery.Outgoing{Envelope: env, Recipients: rs, Message: delivery.Bytes([]byte(testMsg))}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) entries() []store.QueueEntry {
	e.t.Helper()
	es, err := e.st.QueueEntries(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return es
}

func (e *env) process() {
	e.t.Helper()
	if err := e.q.Process(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}
