package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/message"
	"github.com/posthorn/posthorn/internal/store"
)

func TestSpool(t *testing.T) {
	for _, mem := range []int64{1, 10, 1 << 20} {
		s := NewSpool(t.TempDir(), mem, 100)
		for _, p := range []string{"hello ", "spooled ", "world"} {
			if _, err := s.Write([]byte(p)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Write(make([]byte, 100)); !errors.Is(err, ErrSpoolTooBig) {
			t.Errorf("over limit: %v", err)
		}
		b, _ := io.ReadAll(Reader(s))
		if string(b) != "hello spooled world" || s.Size() != 19 {
			t.Errorf("mem %d: %q", mem, b)
		}
		m := Concat(Bytes([]byte("X: 1\r\n")), Section(s, 6))
		b, _ = io.ReadAll(Reader(m))
		if string(b) != "X: 1\r\nspooled world" {
			t.Errorf("concat: %q", b)
		}
		s.Close()
	}
}

func TestReceived(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	host := addr.MustParseDomain("mx.example.org")
	c := Client{HELO: "evil;(x)\r\n", Addr: netip.MustParseAddr("192.0.2.1"), Name: "c.example", Proto: "ESMTPS",
		TLS: &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256}}
	got := string(Received(c, host, "id1", []addr.Address{addr.MustParseAddress("a@example.org")}, now))
	want := "Received: from evil__x___ (c.example [192.0.2.1])\r\n\tby mx.example.org (posthorn) with ESMTPS id id1\r\n" +
		"\t(version=TLS 1.3 cipher=TLS_AES_128_GCM_SHA256)\r\n\tfor <a@example.org>;\r\n\tFri, 02 Jan 2026 03:04:05 +0000\r\n"
	if got != want {
		t.Errorf("Received:\n%q\nwant\n%q", got, want)
	}
	c.Private = true
	got = string(Received(c, host, "id1", nil, now))
	if strings.Contains(got, "192.0.2.1") || strings.Contains(got, "evil") || !strings.HasPrefix(got, "Received: by mx.example.org") {
		t.Errorf("private Received: %q", got)
	}
	if h := message.ParseHeader([]byte(got + "\r\n")); len(h.Fields) != 1 {
		t.Errorf("Received is not one field: %q", got)
	}
}

// A message this server generated (a DSN, an alarm) has no client: its
// Received field says so, without "from unknown" or an empty "with".
func TestReceivedGenerated(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	got := string(Received(Client{}, addr.MustParseDomain("mx.example.org"), "q7abc", []addr.Address{addr.MustParseAddress("a@example.org")}, now))
	want := "Received: by mx.example.org (posthorn) id q7abc\r\n\tfor <a@example.org>;\r\n\tFri, 02 Jan 2026 03:04:05 +0000\r\n"
	if got != want {
		t.Errorf("Received:\n%q\nwant\n%q", got, want)
	}
}

type junkHook struct{}

func (junkHook) Check(ctx context.Context, env *Envelope, msg Message) (Verdict, error) {
	return Verdict{Header: []byte("X-Test: hook\r\n"), Junk: true, Reason: "test"}, nil
}

func TestDeliver(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dom := addr.MustParseDomain("example.org")
	st.AddDomain(ctx, store.Domain{Name: dom})
	var accs []store.Account
	for _, a := range []string{"a@example.org", "b@example.org"} {
		acc, err := st.AddAccount(ctx, store.Account{Address: addr.MustParseAddress(a)}, store.Credentials{})
		if err != nil {
			t.Fatal(err)
		}
		accs = append(accs, acc)
	}
	st.SetQuota(ctx, accs[1].ID, 50)
	d := &Deliverer{Store: st, Hostname: addr.MustParseDomain("mx.example.org"), Hooks: []Hook{junkHook{}}}
	body := "Subject: t\r\n\r\n" + strings.Repeat("x", 100) + "\r\n"
	env := &Envelope{ID: "m1", Recipients: []Recipient{
		{Address: accs[0].Address, Accounts: accs[:1]},
		{Address: accs[1].Address, Accounts: accs[1:]},
		{Address: addr.MustParseAddress("alias@example.org"), Accounts: accs[:1]},
	}, Client: Client{Proto: "ESMTP"}}
	res, err := d.Deliver(ctx, env, Bytes([]byte(body)), []byte("X-Extra: 1\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors[0] != nil || res.Errors[1] != ErrOverQuota || res.Errors[2] != nil || res.Delivered() != 2 {
		t.Errorf("errors %v", res.Errors)
	}
	mb, _ := st.MailboxByName(ctx, accs[0].ID, "Junk")
	msgs, _ := st.Messages(ctx, accs[0].ID, mb.ID, 1, 0)
	if len(msgs) != 1 {
		t.Fatalf("%d messages in Junk", len(msgs))
	}
	c, _ := st.Open(ctx, msgs[0])
	b, _ := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
	c.Close()
	if !strings.HasSuffix(string(b), "X-Test: hook\r\nX-Extra: 1\r\n"+body) || !strings.HasPrefix(string(b), "Received: ") {
		t.Errorf("stored:\n%s", b)
	}
	p, err := message.Unmarshal(msgs[0].Structure)
	if err != nil || p.BodyEnd != int64(len(b)) {
		t.Errorf("structure: %+v %v", p, err)
	}
}
