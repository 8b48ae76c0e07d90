// Package imapserver is posthorn's IMAP server: IMAP4rev2 (RFC 9051) and
// IMAP4rev1 (RFC 3501) on one port, with CONDSTORE/QRESYNC (RFC 7162),
// IDLE, UIDPLUS, MOVE, LIST-EXTENDED/LIST-STATUS/SPECIAL-USE, BINARY,
// ENABLE, ID, NAMESPACE, LITERAL+, SASL-IR, UNSELECT, APPENDLIMIT,
// MULTIAPPEND, STATUS=SIZE, SAVEDATE, PREVIEW, UTF8=ACCEPT, ESEARCH,
// SEARCHRES, WITHIN, SORT (with SORT=DISPLAY and ESORT), THREAD
// (ORDEREDSUBJECT, REFERENCES), QUOTA and METADATA, over a store.Store.
// Logins are limited by a Guard shared with SMTP, connections by a pool
// of IMAP's own (limits.go). COMPRESS=DEFLATE is not offered (docs/imap.md).
//
// It is shaped like net/http: fill in a Server and call Serve (STARTTLS
// port, 143) or ServeTLS (implicit TLS, 993) with a listener, and Shutdown
// to stop. The wire format lives in package imapwire; this package has a
// dispatcher (session.go) and one file per command group.
//
// Each session keeps its own view of the selected mailbox (the message
// sequence number → UID map, selected.go) and applies the store's change
// notifications to it only at the points RFC 9051 §7.4.1 and §5.5 allow, so
// a client never sees a stale sequence number.
package imapserver

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posthorn/posthorn/internal/sasl"
	"github.com/posthorn/posthorn/internal/store"
)

// Authenticator checks a user name and password (LOGIN, AUTHENTICATE
// PLAIN/LOGIN) and returns the account. Any failure of the credentials
// must be reported as ErrAuthFailed (wrapped or not); other errors are
// temporary failures.
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string) (store.Account, error)
}

// SCRAMAuthenticator is an optional extension of Authenticator: if the
// Server's Auth implements it (and SCRAMSecret is set), SCRAM-SHA-256 and,
// over TLS 1.3, SCRAM-SHA-256-PLUS are offered. Account maps the identity
// SCRAMCredentials returned to the account.
type SCRAMAuthenticator interface {
	Authenticator
	SCRAMCredentials(ctx context.Context, username string) (identity string, c sasl.SCRAMCredentials, err error)
	Account(ctx context.Context, identity string) (store.Account, error)
}

// AuthenticatorFunc adapts a function to Authenticator, e.g.
//
//	imapserver.AuthenticatorFunc(func(ctx context.Context, u, p string) (store.Account, error) {
//		return accountsService.Authenticate(ctx, u, p, "imap")
//	})
type AuthenticatorFunc func(ctx context.Context, username, password string) (store.Account, error)

// Authenticate implements Authenticator.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, u, p string) (store.Account, error) {
	return f(ctx, u, p)
}

// ErrAuthFailed is what an Authenticator returns for bad credentials.
var ErrAuthFailed = errors.New("imapserver: authentication failed")

// Observer is told of events worth counting, such as for metrics. Its
// methods must be safe for concurrent use and return quickly. service is
// "imap" (port 143) or "imaps" (port 993).
type Observer interface {
	Connection(service string)
	AuthFailed(service string)
}

type nopObserver struct{}

func (nopObserver) Connection(string) {}
func (nopObserver) AuthFailed(string) {}

func (s *Server) observer() Observer {
	if s.Observer == nil {
		return nopObserver{}
	}
	return s.Observer
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("imapserver: server closed")

// Default limits.
const (
	DefaultAppendLimit   = 64 << 20
	DefaultMaxLine       = 64 << 10
	DefaultMaxCommand    = 1 << 20
	DefaultIdleTimeout   = 30 * time.Minute // RFC 9051 §5.4: at least 30 minutes
	DefaultLoginTimeout  = 60 * time.Second
	DefaultMaxAuthErrors = 3
)

// Server is an IMAP server. Fields must not change after Serve is called.
type Server struct {
	// Store holds the mailboxes. Required.
	Store store.Store
	// JunkTraining makes COPY and MOVE (and their UID forms) into and out
	// of the account's \Junk mailbox record junk-training events
	// (store.JunkTraining.TrainingCopy) in the same transaction, for the
	// junk filter to learn from; APPEND never does (docs/imap.md).
	JunkTraining bool
	// Auth checks logins. Required.
	Auth Authenticator
	// SCRAMSecret keys the fake SCRAM salts of unknown users (see
	// sasl.Options.FakeSecret); SCRAM is offered only when it is set and
	// Auth implements SCRAMAuthenticator.
	SCRAMSecret []byte
	// TLSConfig enables STARTTLS on Serve and is required by ServeTLS.
	TLSConfig *tls.Config
	// TLSReady reports whether TLSConfig has a usable certificate now
	// (tlsmgr.Manager.Usable). While it has none, STARTTLS is neither
	// advertised nor started and implicit-TLS connections are closed
	// without a broken handshake. Nil: always ready.
	TLSReady func() bool
	// Logger receives one line per session event; nil discards.
	// Protocol transcripts are logged at level LevelTrace.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observer is told of connections and failed logins (metrics); nil:
	// nobody.
	Observer Observer
	// OnPanic, if set, is called with the value and stack of a panic a
	// session recovered from (the session is logged at level Error and
	// closed either way): tests and fuzzers set it to fail.
	OnPanic func(v any, stack []byte)
	// InsecureAuth allows LOGIN and PLAIN without TLS from any address
	// (tests only). Without TLS they are otherwise allowed only from
	// loopback addresses (LOGINDISABLED, RFC 9051 §6.2.3).
	InsecureAuth bool

	// AppendLimit is the largest message APPEND accepts (RFC 7889).
	AppendLimit int64
	// MaxLine and MaxCommand bound command lines and whole commands
	// without APPEND literals.
	MaxLine    int
	MaxCommand int64
	// IdleTimeout is the autologout timer of authenticated sessions;
	// LoginTimeout of sessions not yet authenticated.
	IdleTimeout, LoginTimeout time.Duration
	// Greeting is the text of the greeting; default "posthorn IMAP ready".
	Greeting string
	// Guard limits connections per address and in total, and delays or
	// refuses logins after failures (limits.go); nil: no such limits.
	Guard Guard
	// MaxConnsPerAccount bounds the sessions logged in to one account at
	// once; 0 means DefaultMaxConnsPerAccount, negative no limit.
	MaxConnsPerAccount int

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	// perAccount counts the logged-in sessions of each account.
	perAccount map[int64]int
	closing    atomic.Bool
	nextID     atomic.Uint64
}

// LevelTrace is the slog level of protocol transcripts.
const LevelTrace = slog.LevelDebug - 4

// Serve accepts connections on l (plaintext with STARTTLS, port 143)
// until Shutdown. It always returns a non-nil error.
func (s *Server) Serve(l net.Listener) error { return s.serve(l, false) }

// ServeTLS accepts connections on l and runs TLS on them first (implicit
// TLS, port 993, RFC 8314) with TLSConfig.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.TLSConfig == nil {
		return errors.New("imapserver: ServeTLS needs TLSConfig")
	}
	return s.serve(l, true)
}

func (s *Server) serve(l net.Listener, implicitTLS bool) error {
	if s.Store == nil || s.Auth == nil {
		return errors.New("imapserver: Store and Auth are required")
	}
	if !s.track(l, true) {
		return ErrServerClosed
	}
	defer s.track(l, false)
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTemporary(err)) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		go s.ServeConn(c, implicitTLS)
	}
}

// errTemporary matches accept errors worth retrying (EMFILE and friends).
func errTemporary(err error) error {
	type temp interface{ Temporary() bool }
	var t temp
	if errors.As(err, &t) && t.Temporary() {
		return err
	}
	return errNever
}

var errNever = errors.New("never")

func (s *Server) track(l net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listeners == nil {
		s.listeners = map[net.Listener]struct{}{}
	}
	if add {
		if s.closing.Load() {
			return false
		}
		s.listeners[l] = struct{}{}
	} else {
		delete(s.listeners, l)
	}
	return true
}

func (s *Server) trackSession(ss *session, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions == nil {
		s.sessions = map[*session]struct{}{}
	}
	if add {
		if s.closing.Load() {
			return false
		}
		s.sessions[ss] = struct{}{}
	} else {
		delete(s.sessions, ss)
	}
	return true
}

// ServeConn runs one session on c, which may come from any listener;
// implicitTLS runs the TLS handshake first. It returns when the session ends.
func (s *Server) ServeConn(c net.Conn, implicitTLS bool) {
	s.observer().Connection(serviceName(implicitTLS))
	ss := newSession(s, c, "imap"+strconv.FormatUint(s.nextID.Add(1), 10))
	if !s.trackSession(ss, true) {
		c.Close()
		return
	}
	defer s.trackSession(ss, false)
	ss.run(implicitTLS)
}

// Shutdown stops accepting connections, tells sessions waiting for a
// command "* BYE" and closes them, and waits for sessions running a
// command to finish it (up to ctx; then it closes them).
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.mu.Lock()
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		s.mu.Lock()
		n := len(s.sessions)
		for ss := range s.sessions {
			ss.interruptIfIdle()
		}
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			s.mu.Lock()
			for ss := range s.sessions {
				ss.conn().Close()
			}
			s.mu.Unlock()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// tlsReady reports whether TLS can be offered now.
func (s *Server) tlsReady() bool {
	return s.TLSConfig != nil && (s.TLSReady == nil || s.TLSReady())
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func (s *Server) appendLimit() int64 {
	if s.AppendLimit > 0 {
		return s.AppendLimit
	}
	return DefaultAppendLimit
}

func durOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
