// Package smtpserver is posthorn's SMTP server: the MX (port 25),
// message submission (587 with STARTTLS, 465 with implicit TLS) and LMTP.
//
// The wire protocol (command parsing, ESMTP parameters, DATA dot-stuffing,
// BDAT chunks, LMTP per-recipient replies) is github.com/emersion/go-smtp
// v0.25.1, behind the session adapter in session.go. What go-smtp cannot
// do is done by wireConn (wire.go), the net.Conn we hand it: PROXY protocol,
// early-talker refusal, connection limits, STARTTLS (so the pipelining
// injection defence and TLS state are ours), XCLIENT, the bare
// "postmaster" recipient, EHLO capabilities, command and error limits,
// per-state timeouts, batched replies and the protocol trace. wireConn
// works in lock-step with go-smtp: it hands go-smtp one command line at a
// time and sees each reply before the next line, so it always knows the
// protocol state. docs/smtp.md explains the policy.
package smtpserver

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/posthorn/posthorn/internal/accounts"
	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/guard"
	"github.com/posthorn/posthorn/internal/sasl"
	"github.com/posthorn/posthorn/internal/store"
)

// Mode is what a listener is for.
type Mode int

// Listener modes.
const (
	// ModeMX receives mail from other servers: no AUTH; recipients must be
	// local. STARTTLS offered.
	ModeMX Mode = iota + 1
	// ModeSubmission is RFC 6409 submission with STARTTLS: AUTH required.
	ModeSubmission
	// ModeSubmissions is submission over implicit TLS (RFC 8314).
	ModeSubmissions
	// ModeLMTP is RFC 2033 LMTP from a trusted local MTA.
	ModeLMTP
)

func (m Mode) String() string {
	switch m {
	case ModeMX:
		return "smtp"
	case ModeSubmission:
		return "submission"
	case ModeSubmissions:
		return "submissions"
	case ModeLMTP:
		return "lmtp"
	}
	return "unknown"
}

func (m Mode) submission() bool { return m == ModeSubmission || m == ModeSubmissions }

// Directory resolves recipients and finds accounts; *accounts.Service
// implements it.
type Directory interface {
	Resolve(ctx context.Context, rcpt addr.Address) (accounts.Resolution, error)
}

// RelayDomain is a domain this server is a backup MX for.
type RelayDomain struct {
	Domain addr.Domain
	// Recipients, when not empty, are the only addresses accepted.
	Recipients []addr.Address
}

// SRSReverser reverses SRS addresses; *srs.Rewriter implements it.
type SRSReverser interface {
	Reverse(a addr.Address) (addr.Address, error)
}

// OutboundLimiter enforces per-account limits on mail to other servers;
// *queue.Limiter implements it. Its errors are *smtp.Error replies saying
// which limit was reached.
type OutboundLimiter interface {
	// AllowRecipient is asked for each remote recipient, with first set
	// for the first one of a message (which counts the message).
	AllowRecipient(account string, first bool) error
}

// Guard limits connections and login attempts; *guard.Guard implements it.
type Guard interface {
	Connect(ip netip.Addr) (release func(), err error)
	Blocked(ip netip.Addr) (bool, string)
	CheckAuth(ip netip.Addr, account string) guard.Decision
	AuthFailed(ip netip.Addr, account string)
	AuthSucceeded(ip netip.Addr, account string)
}

// Observer is told of events worth counting, such as for metrics. Its
// methods must be safe for concurrent use and return quickly. service is
// the listener's Mode ("smtp", "submission", "submissions", "lmtp");
// reason is one of the Reason constants, never client text.
type Observer interface {
	Connection(service string)
	// MessageAccepted is one message answered with 250 after its data;
	// delivered is how many of its recipients were delivered locally.
	MessageAccepted(service string, delivered int)
	MessageRejected(service, reason string)
	AuthFailed(service string)
}

// Reasons given to Observer.MessageRejected: few, so metrics stay small.
const (
	ReasonConnLimit   = "connection_limit" // guard refused the connection
	ReasonBlocked     = "blocked"          // address blocked after auth failures
	ReasonEarlyTalker = "early_talker"
	ReasonSender      = "sender"    // MAIL FROM refused
	ReasonRecipient   = "recipient" // RCPT TO refused
	ReasonPolicy      = "policy"    // a verdict at the end of data (DMARC, DNS)
	ReasonData        = "data"      // too big, bare line endings, timeouts
	ReasonLocalError  = "local_error"
)

type nopObserver struct{}

func (nopObserver) Connection(string)              {}
func (nopObserver) MessageAccepted(string, int)    {}
func (nopObserver) MessageRejected(string, string) {}
func (nopObserver) AuthFailed(string)              {}

// Limits bound what one client may do. Zero fields take the defaults of
// DefaultLimits.
type Limits struct {
	MaxMessageSize        int64
	MaxLineLength         int
	MaxRecipients         int
	MaxCommandsBeforeMail int
	MaxErrors             int
	CommandTimeout        time.Duration
	DataTimeout           time.Duration
	// GreetDelay is how long the MX waits for an early talker before its
	// greeting; 0 disables the check.
	GreetDelay time.Duration
}

// DefaultLimits are the limits used for zero Limits fields.
var DefaultLimits = Limits{
	MaxMessageSize:        50 << 20,
	MaxLineLength:         8192,
	MaxRecipients:         100,
	MaxCommandsBeforeMail: 50,
	MaxErrors:             20,
	CommandTimeout:        5 * time.Minute, // RFC 5321 §4.5.3.2.7
	DataTimeout:           3 * time.Minute, // RFC 5321 §4.5.3.2.6
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.MaxLineLength, d.MaxLineLength)
	set(&l.MaxRecipients, d.MaxRecipients)
	set(&l.MaxCommandsBeforeMail, d.MaxCommandsBeforeMail)
	set(&l.MaxErrors, d.MaxErrors)
	if l.MaxMessageSize <= 0 {
		l.MaxMessageSize = d.MaxMessageSize
	}
	if l.CommandTimeout <= 0 {
		l.CommandTimeout = d.CommandTimeout
	}
	if l.DataTimeout <= 0 {
		l.DataTimeout = d.DataTimeout
	}
	return l
}

// Options configure a Server.
type Options struct {
	Hostname addr.Domain // greeting, EHLO and Received
	Store    store.Store
	// Directory resolves recipients (usually the *accounts.Service).
	Directory Directory
	// Authenticator checks SASL credentials (accounts.SASLAuthenticator).
	// Nil: submission refuses every AUTH.
	Authenticator sasl.Authenticator
	// FakeSecret keys SCRAM's fake salts for unknown users (sasl.Options).
	FakeSecret []byte
	Deliverer  *delivery.Deliverer
	// Guard limits connections and auth failures; nil: no limits.
	Guard Guard
	// TLSConfig serves STARTTLS and implicit TLS. Nil: no TLS (then
	// submission is usable on loopback only).
	TLSConfig *tls.Config
	// TLSReady reports whether TLSConfig has a usable certificate now
	// (tlsmgr.Manager.Usable). While it has none, STARTTLS is neither
	// advertised nor started and implicit-TLS connections are closed
	// without a broken handshake. Nil: always ready.
	TLSReady func() bool
	Limits   Limits
	// TrustedProxies must send a PROXY v1/v2 header; XCLIENTNetworks may
	// use XCLIENT. Empty: nobody.
	TrustedProxies  []netip.Prefix
	XCLIENTNetworks []netip.Prefix
	// SubmissionPrivacy leaves the client IP out of Received and removes
	// User-Agent and X-Mailer from submitted mail.
	SubmissionPrivacy bool
	// RedirectAll, if set, delivers every recipient at any domain to this
	// local address, and lets authenticated users send as anyone
	// ("posthorn localserve").
	RedirectAll addr.Address
	// RelayDomains are domains this server is a backup MX for: mail to
	// them is accepted from anyone and queued for their primary MX.
	RelayDomains []RelayDomain
	// SRS reverses SRS addresses at local domains (bounces of forwarded
	// mail); nil: they are resolved like any address.
	SRS SRSReverser
	// OutboundLimits limits what accounts send to other servers; nil:
	// no limits.
	OutboundLimits OutboundLimiter
	// SpoolDir holds temporary files of large messages ("": os.TempDir).
	SpoolDir string
	// Observer is told of connections, messages and failed logins
	// (metrics); nil: nobody.
	Observer Observer
	Logger   *slog.Logger
	Now      func() time.Time
}

// Server serves SMTP on any number of listeners, each with a Mode.
type Server struct {
	opt Options
	log *slog.Logger
	ctx context.Context // cancelled on forced shutdown

	cancel context.CancelFunc
	mu     sync.Mutex
	gs     []*gosmtp.Server
	conns  map[*wireConn]struct{}
	closed bool
}

// New returns a Server. Call Serve for each listener.
func New(opt Options) *Server {
	opt.Limits = opt.Limits.withDefaults()
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Observer == nil {
		opt.Observer = nopObserver{}
	}
	if opt.TLSConfig != nil {
		opt.TLSConfig = smtpTLSConfig(opt.TLSConfig)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{opt: opt, log: opt.Logger, ctx: ctx, cancel: cancel, conns: map[*wireConn]struct{}{}}
}

// tlsReady reports whether TLS can be offered now.
func (s *Server) tlsReady() bool {
	return s.opt.TLSConfig != nil && (s.opt.TLSReady == nil || s.opt.TLSReady())
}

// smtpTLSConfig returns a copy of c for SMTP listeners: TLS 1.2 or later,
// session tickets off (Outlook.com senders fail to resume them).
func smtpTLSConfig(c *tls.Config) *tls.Config {
	c = c.Clone()
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	c.SessionTicketsDisabled = true
	return c
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("smtpserver: server closed")

// Serve accepts connections on l in mode m until Shutdown. It returns
// ErrServerClosed after Shutdown.
func (s *Server) Serve(l net.Listener, m Mode) error {
	if m == ModeSubmissions && s.opt.TLSConfig == nil {
		return errors.New("smtpserver: submissions needs a TLS configuration")
	}
	gs := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		w, ok := c.Conn().(*wireConn)
		if !ok {
			return nil, errors.New("smtpserver: unexpected connection type")
		}
		return w.sess, nil
	}))
	lim := s.opt.Limits
	gs.Domain = s.opt.Hostname.ASCII
	gs.LMTP = m == ModeLMTP
	// The size limit is ours (SIZE in EHLO, MAIL SIZE=, the spool):
	// go-smtp's reader refuses a message of exactly its limit, since it
	// counts the end-of-data dot against it.
	gs.MaxMessageBytes = 0
	// Command lines are bounded by wireConn; message lines only by the
	// message size (RFC 5322's 998 is widely exceeded; Postfix accepts
	// long lines too).
	gs.MaxLineLength = 0
	gs.MaxRecipients = lim.MaxRecipients
	gs.AllowInsecureAuth = true // wireConn and the session decide (TLS, or loopback)
	gs.EnableSMTPUTF8 = true
	gs.EnableREQUIRETLS = true // advertised by wireConn on TLS only; checked in Mail
	gs.EnableBINARYMIME = true
	gs.EnableDSN = true
	gs.ErrorLog = slogLogger{s.log}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.gs = append(s.gs, gs)
	s.mu.Unlock()
	err := gs.Serve(&listener{Listener: l, srv: s, mode: m})
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrServerClosed
	}
	return err
}

// Shutdown stops accepting, tells idle clients "421 shutting down", lets
// transfers in progress finish until ctx is done, then closes everything.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	gss := append([]*gosmtp.Server(nil), s.gs...)
	for w := range s.conns {
		w.interrupt()
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(gss))
	for i, gs := range gss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = gs.Shutdown(ctx)
		}()
	}
	wg.Wait()
	s.cancel()
	if ctx.Err() != nil {
		for _, gs := range gss {
			gs.Close()
		}
		return ctx.Err()
	}
	return errors.Join(errs...)
}

func (s *Server) track(w *wireConn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[w] = struct{}{}
		if s.closed {
			w.interrupt()
		}
	} else {
		delete(s.conns, w)
	}
}

// listener wraps each accepted connection in a wireConn.
type listener struct {
	net.Listener
	srv  *Server
	mode Mode
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newWireConn(l.srv, l.mode, c), nil
}

// newID returns a random identifier for connections and messages.
func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// slogLogger adapts slog to go-smtp's Logger.
type slogLogger struct{ l *slog.Logger }

func (l slogLogger) Printf(format string, v ...any) { l.l.Warn("smtp: " + fmt.Sprintf(format, v...)) }
func (l slogLogger) Println(v ...any)               { l.l.Warn("smtp: " + fmt.Sprint(v...)) }

// inPrefixes reports whether ip is in one of ps.
func inPrefixes(ip netip.Addr, ps []netip.Prefix) bool {
	ip = ip.Unmap()
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
