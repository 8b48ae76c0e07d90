package queue_test

import (
	"context"
	"io"
	"net"
	netsmtp "net/smtp"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/posthorn/posthorn/internal/accounts"
	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/admin"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/dns/dnstest"
	"github.com/posthorn/posthorn/internal/msgauth"
	"github.com/posthorn/posthorn/internal/queue"
	"github.com/posthorn/posthorn/internal/smtpclient"
	"github.com/posthorn/posthorn/internal/smtpserver"
	"github.com/posthorn/posthorn/internal/store"
)

// remote is a receiving SMTP server (go-smtp) on loopback.
type remote struct {
	mu   sync.Mutex
	msgs []received
	got  chan struct{}
}

type received struct {
	from string
	to   []string
	data string
}

type remoteSession struct {
	r   *remote
	cur received
}

func (s *remoteSession) AuthPlain(string, string) error { return nil }
func (s *remoteSession) Mail(from string, _ *gosmtp.MailOptions) error {
	s.cur = received{from: from}
	return nil
}
func (s *remoteSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if strings.HasPrefix(to, "nobody@") {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}
func (s *remoteSession) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	s.cur.data = string(b)
	s.r.mu.Lock()
	s.r.msgs = append(s.r.msgs, s.cur)
	s.r.mu.Unlock()
	s.r.got <- struct{}{}
	return nil
}
func (s *remoteSession) Reset()        {}
func (s *remoteSession) Logout() error { return nil }

// TestSubmissionToRemote: a message submitted with AUTH is DKIM-signed,
// queued before the 250, delivered by the queue through the SMTP client
// to the remote MX, and a refused recipient bounces to the sender's INBOX.
func TestSubmissionToRemote(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "store"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	host := addr.MustParseDomain("mx.local.example")
	adm := &admin.Admin{Store: st, Hostname: host}
	if _, err := adm.AddDomain(ctx, admin.DomainRequest{Domain: "local.example"}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.AddUser(ctx, admin.UserRequest{Address: "alice@local.example", Password: "alice-Secret-pw-4821"}); err != nil {
		t.Fatal(err)
	}

	rem := &remote{got: make(chan struct{}, 4)}
	rs := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &remoteSession{r: rem}, nil }))
	rs.Domain = "mx.remote.example"
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go rs.Serve(rl)
	defer rs.Close()

	resolver := dnstest.NewResolver(dnstest.Zone{
		"remote.example.":    {MX: []dnstest.MX{{Pref: 10, Host: "mx.remote.example."}}},
		"mx.remote.example.": {A: []string{"127.0.0.1"}},
	})
	client := &smtpclient.Client{Resolver: resolver, Hostname: host, Port: rl.Addr().(*net.TCPAddr).Port}
	defer client.Close()
	svc := &accounts.Service{Store: st}
	q := &queue.Queue{Store: st, Sender: queue.ClientSender{Client: client}, Hostname: host,
		Local: localDeliverer{svc: svc, d: &delivery.Deliverer{Store: st, Hostname: host}}}
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	hook := &msgauth.Hook{AuthServID: host.ASCII, Signer: &msgauth.Signer{Keys: st}}
	srv := smtpserver.New(smtpserver.Options{
		Hostname: host, Store: st, Directory: svc,
		Authenticator: accounts.SASLAuthenticator{Service: svc, Protocol: "smtp"},
		FakeSecret:    []byte("0123456789abcdef0123456789abcdef"),
		Deliverer:     &delivery.Deliverer{Store: st, Hostname: host, Hooks: []delivery.Hook{hook}, Outbound: q},
	})
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(sl, smtpserver.ModeSubmission)
	defer srv.Shutdown(context.Background())

	c, err := netsmtp.Dial(sl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(netsmtp.PlainAuth("", "alice@local.example", "alice-Secret-pw-4821", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	msg := "From: Alice <alice@local.example>\r\nTo: bob@remote.example\r\nSubject: hello from the queue\r\n\r\nHello Bob.\r\n"
	if err := c.Mail("alice@local.example"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"bob@remote.example", "nobody@remote.example"} {
		if err := c.Rcpt(r); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, msg)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()

	select {
	case <-rem.got:
	case <-time.After(20 * time.Second):
		t.Fatal("the remote server received nothing")
	}
	rem.mu.Lock()
	got := rem.msgs[0]
	rem.mu.Unlock()
	if got.from != "alice@local.example" || len(got.to) != 1 || got.to[0] != "bob@remote.example" {
		t.Errorf("envelope %q → %q", got.from, got.to)
	}
	if !strings.Contains(got.data, "DKIM-Signature: ") || !strings.Contains(got.data, "d=local.example") || !strings.Contains(got.data, "Hello Bob.") {
		t.Errorf("received message:\n%s", got.data)
	}
	// nobody@ was refused with 550: the bounce reaches alice's INBOX.
	deadline := time.Now().Add(10 * time.Second)
	for {
		bounce := inbox(t, st, "alice@local.example")
		if len(bounce) == 1 {
			if !strings.Contains(bounce[0], "Action: failed") || !strings.Contains(bounce[0], "550 5.1.1 no such user here") {
				t.Errorf("bounce:\n%s", bounce[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages in alice's INBOX", len(bounce))
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitEmpty(t, st)
}

func waitEmpty(t *testing.T, st store.Store) {
	t.Helper()
	for range 200 {
		es, _ := st.QueueEntries(context.Background())
		if len(es) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Error("the queue did not empty")
}

type localDeliverer struct {
	svc *accounts.Service
	d   *delivery.Deliverer
}

func (l localDeliverer) DeliverLocal(ctx context.Context, to addr.Address, msg []byte) error {
	res, err := l.svc.Resolve(ctx, to)
	if err != nil {
		return queue.ErrNotLocal
	}
	env := &delivery.Envelope{ID: "dsn", Recipients: []delivery.Recipient{{Address: to, Accounts: res.Accounts}}}
	_, err = l.d.Deliver(ctx, env, delivery.Bytes(msg), nil)
	return err
}

// inbox returns the messages in the INBOX of address.
func inbox(t *testing.T, st store.Store, address string) []string {
	t.Helper()
	ctx := context.Background()
	acc, err := st.Account(ctx, addr.MustParseAddress(address))
	if err != nil {
		t.Fatal(err)
	}
	mb, err := st.MailboxByName(ctx, acc.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := st.Messages(ctx, acc.ID, mb.ID, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		c, err := st.Open(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(io.NewSectionReader(c, 0, c.Size()))
		c.Close()
		out = append(out, string(b))
	}
	return out
}
