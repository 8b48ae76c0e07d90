package imapserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/posthorn/posthorn/internal/guard"
	"github.com/posthorn/posthorn/internal/imapwire"
	"github.com/posthorn/posthorn/internal/sasl"
)

// Connection and login limits (RFC 9051 §5.4 for the autologout timers,
// which serveOne and IDLE set): the Server's Guard counts connections per
// address and in total (in IMAP's own pool when it is a ServiceGuard) and
// delays or refuses logins after failures, as for SMTP; commands before
// login are bounded by PreAuthMaxCommand; the Server itself counts the sessions logged in to each
// account (MaxConnsPerAccount). Every refusal says why: "* BYE [LIMIT]"
// for a connection over a limit, "* BYE [ALERT]" for a blocked address,
// "NO [LIMIT]" for a login over the per-account limit and
// "NO [UNAVAILABLE]" after an "* OK [ALERT]" for a login the Guard
// refuses.

// Guard limits connections and login attempts; *guard.Guard implements it.
type Guard interface {
	Connect(ip netip.Addr) (release func(), err error)
	Blocked(ip netip.Addr) (bool, string)
	CheckAuth(ip netip.Addr, account string) guard.Decision
	AuthFailed(ip netip.Addr, account string)
	AuthSucceeded(ip netip.Addr, account string)
}

var (
	_ Guard        = (*guard.Guard)(nil)
	_ ServiceGuard = guard.Pools{}
)

// ServiceGuard is an optional extension of Guard: connections are counted
// per service, "imap" (STARTTLS port) or "imaps" (implicit TLS), so that
// IMAP has connection limits apart from SMTP's (guard.Pools).
type ServiceGuard interface {
	ConnectService(ip netip.Addr, service string) (release func(), err error)
}

// PreAuthMaxCommand bounds every command line and command, literals
// included, of a client not yet logged in: enough for LOGIN with literals
// and AUTHENTICATE with an initial response, too little to make the
// server hold a message for a client that has not shown who it is
// (RFC 7888 §4 lets a server refuse a literal it will not accept).
const PreAuthMaxCommand = 16 << 10

// readerLimits are the command-size limits of a session in state st.
func (s *Server) readerLimits(st state) imapwire.Limits {
	if st == stateNotAuth {
		return imapwire.Limits{MaxLine: PreAuthMaxCommand, MaxCommand: PreAuthMaxCommand,
			MaxAppend: PreAuthMaxCommand, MaxAppendTotal: PreAuthMaxCommand}
	}
	return imapwire.Limits{MaxLine: s.MaxLine, MaxCommand: s.MaxCommand, MaxAppend: s.appendLimit()}
}

// DefaultMaxConnsPerAccount bounds the sessions logged in to one account.
const DefaultMaxConnsPerAccount = 20

func (s *Server) maxConnsPerAccount() int {
	if s.MaxConnsPerAccount == 0 {
		return DefaultMaxConnsPerAccount
	}
	return s.MaxConnsPerAccount
}

// remoteIP is the address of the client, or the zero Addr (net.Pipe,
// Unix sockets), which the Guard does not count.
func remoteIP(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// admit asks the Guard whether a new connection may proceed; if not it
// tells the client why (unless TLS is not yet up) and reports false.
func (s *session) admit(implicitTLS bool) bool {
	g := s.srv.Guard
	if g == nil || !s.ip.IsValid() {
		return true
	}
	refuse := func(code, reason string) bool {
		s.log.Info("imap: connection refused", "reason", reason)
		if !implicitTLS { // before the handshake, a BYE would be noise
			s.bye("[" + code + "] " + reason)
		}
		return false
	}
	var release func()
	var err error
	if sg, ok := g.(ServiceGuard); ok {
		release, err = sg.ConnectService(s.ip, serviceName(implicitTLS))
	} else {
		release, err = g.Connect(s.ip)
	}
	if err != nil {
		var le *guard.LimitError
		reason := "too many connections"
		if errors.As(err, &le) {
			reason = le.Reason
		}
		return refuse("LIMIT", reason)
	}
	s.release = append(s.release, release)
	if blocked, reason := g.Blocked(s.ip); blocked {
		return refuse("ALERT", reason)
	}
	return true
}

// serviceName is the service of a listener: "imap" (port 143) or "imaps"
// (port 993).
func serviceName(implicitTLS bool) string {
	if implicitTLS {
		return "imaps"
	}
	return "imap"
}

// claimAccount counts a login to account id against MaxConnsPerAccount.
func (s *Server) claimAccount(id int64) (release func(), ok bool) {
	limit := s.maxConnsPerAccount()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perAccount == nil {
		s.perAccount = map[int64]int{}
	}
	if limit > 0 && s.perAccount[id] >= limit {
		return nil, false
	}
	s.perAccount[id]++
	done := false
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if done {
			return
		}
		done = true
		if s.perAccount[id]--; s.perAccount[id] <= 0 {
			delete(s.perAccount, id)
		}
	}, true
}

// loginGuard is one login attempt's dealings with the Guard.
type loginGuard struct {
	s       *session
	user    string
	refused string // the Guard's reason when it refused
}

// check asks the Guard before the password of user is checked, and
// waits out any delay it imposes.
func (lg *loginGuard) check(user string) error {
	lg.user = user
	g := lg.s.srv.Guard
	if g == nil || !lg.s.ip.IsValid() {
		return nil
	}
	d := g.CheckAuth(lg.s.ip, user)
	if !d.Allowed {
		lg.refused = d.Reason
		return fmt.Errorf("%w: %s", sasl.ErrAuthFailed, d.Reason)
	}
	if d.Delay > 0 {
		lg.s.log.Info("imap: login delayed", "user", user, "delay", d.Delay, "reason", d.Reason)
		t := time.NewTimer(d.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-lg.s.ctx.Done():
			return lg.s.ctx.Err()
		}
	}
	return nil
}

// failed reports a failed attempt; the error the client gets is the
// caller's.
func (lg *loginGuard) failed() {
	if lg.refused == "" {
		lg.s.srv.observer().AuthFailed("imap")
	}
	if g := lg.s.srv.Guard; g != nil && lg.s.ip.IsValid() && lg.user != "" && lg.refused == "" {
		g.AuthFailed(lg.s.ip, lg.user)
	}
}

func (lg *loginGuard) succeeded() {
	if g := lg.s.srv.Guard; g != nil && lg.s.ip.IsValid() && lg.user != "" {
		g.AuthSucceeded(lg.s.ip, lg.user)
	}
}

// refusal is the response to a login the Guard refused.
func (lg *loginGuard) refusal() error {
	lg.s.log.Warn("imap: login refused", "user", lg.user, "reason", lg.refused)
	lg.s.w.Raw("* OK [ALERT] Login refused: " + sanitizeText(lg.refused) + "\r\n")
	return no("UNAVAILABLE", "Login refused; try again later")
}

// sanitizeText keeps a reason on one line of printable ASCII.
func sanitizeText(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}
