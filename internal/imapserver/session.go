package imapserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/posthorn/posthorn/internal/imapwire"
	"github.com/posthorn/posthorn/internal/store"
)

type state int

const (
	stateNotAuth state = iota
	stateAuth
	stateSelected
	stateLogout
)

// session is one connection.
type session struct {
	srv *Server
	id  string
	log *slog.Logger
	ctx context.Context

	mu      sync.Mutex // guards c and waiting (read by Shutdown)
	c       net.Conn
	waiting bool // between commands

	br       *bufio.Reader
	bw       *bufio.Writer
	rd       *imapwire.Reader
	w        *imapwire.Writer
	tls      bool
	loopback bool
	ip       netip.Addr // the client's; invalid for pipes and Unix sockets
	release  []func()   // of the Guard's and the per-account counts

	state        state
	acct         store.Account
	sub          *store.Subscription
	sel          *selected
	authFailures int

	// Extensions the client enabled (RFC 5161) or used (CONDSTORE).
	condstore, qresync, rev2, utf8 bool
	// announceModSeq: CONDSTORE was just enabled with a mailbox
	// selected; the command ends with OK [HIGHESTMODSEQ] (RFC 7162 §3.1).
	announceModSeq bool
}

func newSession(srv *Server, c net.Conn, id string) *session {
	s := &session{srv: srv, c: c, id: id, log: srv.logger().With("conn", id, "remote", c.RemoteAddr().String()),
		ip: remoteIP(c)}
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok && ta.IP.IsLoopback() {
		s.loopback = true
	}
	if pa, ok := c.RemoteAddr().(interface{ Network() string }); ok && pa.Network() == "pipe" {
		s.loopback = true // net.Pipe in tests
	}
	s.setConn(c)
	return s
}

func (s *session) setConn(c net.Conn) {
	s.mu.Lock()
	s.c = c
	s.mu.Unlock()
	s.br = bufio.NewReaderSize(c, 16<<10)
	s.bw = bufio.NewWriterSize(c, 32<<10)
	s.rd = imapwire.NewReader(s.br, s.srv.readerLimits(s.state))
	utf8 := s.w != nil && s.w.UTF8
	s.w = imapwire.NewWriter(s.bw)
	s.w.UTF8 = utf8
}

func (s *session) conn() net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c
}

// interruptIfIdle ends a session waiting for a command (Shutdown).
func (s *session) interruptIfIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waiting {
		s.c.SetReadDeadline(time.Unix(1, 0))
	}
}

func (s *session) setWaiting(w bool) {
	s.mu.Lock()
	s.waiting = w
	s.mu.Unlock()
}

func (s *session) run(implicitTLS bool) {
	ctx, cancel := context.WithCancel(context.Background())
	s.ctx = ctx
	defer func() {
		cancel()
		if s.sub != nil {
			s.sub.Close()
		}
		s.conn().Close()
		for _, r := range s.release {
			r()
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			stack := debug.Stack()
			s.log.Error("imap: session panic", "panic", r, "stack", string(stack))
			if s.srv.OnPanic != nil {
				s.srv.OnPanic(r, stack)
			}
		}
	}()
	if !s.admit(implicitTLS) {
		return
	}
	if implicitTLS {
		if !s.srv.tlsReady() {
			// No certificate to offer: a handshake would only fail.
			s.log.Info("imap: connection closed: no usable TLS certificate")
			return
		}
		if err := s.startTLS(); err != nil {
			s.log.Info("imap: TLS handshake failed", "err", err)
			return
		}
	}
	s.log.Debug("imap: connected", "tls", s.tls)
	greeting := s.srv.Greeting
	if greeting == "" {
		greeting = "posthorn IMAP ready"
	}
	s.w.Raw("* OK [CAPABILITY " + s.capabilities() + "] " + greeting + "\r\n")
	if s.w.Flush() != nil {
		return
	}
	for s.state != stateLogout {
		if !s.serveOne() {
			return
		}
	}
}

// serveOne reads and runs one command; false ends the session.
func (s *session) serveOne() bool {
	timeout := durOr(s.srv.LoginTimeout, DefaultLoginTimeout)
	if s.state != stateNotAuth {
		timeout = durOr(s.srv.IdleTimeout, DefaultIdleTimeout)
	}
	s.conn().SetReadDeadline(s.srv.now().Add(timeout))
	s.setWaiting(true)
	if s.srv.closing.Load() {
		s.setWaiting(false)
		s.bye("Server shutting down")
		return false
	}
	cmd, err := s.rd.ReadCommand(func() error {
		s.w.Raw("+ Ready for literal data\r\n")
		return s.w.Flush()
	})
	s.setWaiting(false)
	if err != nil {
		return s.readFailed(err)
	}
	if s.log.Enabled(s.ctx, LevelTrace) { // redact is not built per command otherwise
		s.log.Log(s.ctx, LevelTrace, "imap: C", "tag", cmd.Tag, "cmd", cmd.Name, "args", redact(cmd))
	}
	s.dispatch(cmd)
	return s.w.Flush() == nil
}

// readFailed answers a framing error; false ends the session.
func (s *session) readFailed(err error) bool {
	var we *imapwire.Error
	if errors.As(err, &we) {
		status := "BAD"
		if we.NO {
			status = "NO"
		}
		tag := we.Tag
		if tag == "" {
			tag = "*"
		}
		s.log.Log(s.ctx, LevelTrace, "imap: refused", "tag", we.Tag, "reason", we.Text, "fatal", we.Fatal)
		// The tagged response first, so the client knows which command
		// failed, then the BYE of a connection that cannot go on.
		if we.Tag != "" || !we.Fatal {
			s.w.Raw(tag + " " + status + codeStr(we.Code) + " " + we.Text + "\r\n")
		}
		if we.Fatal {
			s.log.Info("imap: connection closed", "reason", we.Text)
			s.conn().SetWriteDeadline(s.srv.now().Add(5 * time.Second))
			s.w.Raw(fmt.Sprintf("* BYE [%s] %s\r\n", orCode(we.Code, "LIMIT"), we.Text))
			s.w.Flush()
			return false
		}
		return s.w.Flush() == nil
	}
	var ne net.Error
	switch {
	case s.srv.closing.Load():
		s.bye("Server shutting down")
	case errors.As(err, &ne) && ne.Timeout():
		s.bye("Autologout; idle for too long")
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	default:
		s.log.Debug("imap: read", "err", err)
	}
	return false
}

func (s *session) bye(text string) {
	s.conn().SetWriteDeadline(s.srv.now().Add(5 * time.Second))
	s.w.Raw("* BYE " + text + "\r\n")
	s.w.Flush()
}

func orCode(code, def string) string {
	if code == "" {
		return def
	}
	return code
}

func codeStr(code string) string {
	if code == "" {
		return ""
	}
	return " [" + code + "]"
}

// redact hides credentials from the transcript: the arguments of any
// command whose name so much as contains LOGIN or AUTH, in any case, so
// that a malformed command cannot slip past by its spelling.
func redact(cmd *imapwire.Command) string {
	if n := strings.ToUpper(cmd.Name); strings.Contains(n, "LOGIN") || strings.Contains(n, "AUTH") {
		return "<redacted>"
	}
	if len(cmd.Args) > 200 {
		return string(cmd.Args[:200]) + "…"
	}
	return string(cmd.Args)
}

func (s *session) startTLS() error {
	tc := tls.Server(s.conn(), s.srv.TLSConfig)
	tc.SetDeadline(s.srv.now().Add(30 * time.Second))
	if err := tc.HandshakeContext(s.ctx); err != nil {
		return err
	}
	tc.SetDeadline(time.Time{})
	s.setConn(tc)
	s.tls = true
	return nil
}

// status is a tagged response other than the default OK.
type status struct {
	kind string // OK, NO, BAD
	code string
	text string
}

func (e *status) Error() string { return e.kind + " " + e.text }

// errTagged means the command wrote its tagged response itself.
var errTagged = &status{"", "", ""}

func okStatus(code, text string) error { return &status{"OK", code, text} }
func no(code, text string) error       { return &status{"NO", code, text} }
func bad(text string) error            { return &status{"BAD", "", text} }

// command is the dispatcher table entry of one command.
type command struct {
	states []state
	// seqCmd marks FETCH, STORE and SEARCH with sequence numbers, during
	// which EXPUNGE must not be sent (RFC 9051 §7.5.1).
	seqCmd bool
	fn     func(s *session, tag string, p *imapwire.Parser) error
}

var (
	anyState      = []state{stateNotAuth, stateAuth, stateSelected}
	notAuthState  = []state{stateNotAuth}
	authStates    = []state{stateAuth, stateSelected}
	selectedState = []state{stateSelected}
)

var commands map[string]command

func init() {
	commands = map[string]command{
		"CAPABILITY":   {anyState, false, (*session).cmdCapability},
		"NOOP":         {anyState, false, (*session).cmdNoop},
		"LOGOUT":       {anyState, false, (*session).cmdLogout},
		"ID":           {anyState, false, (*session).cmdID},
		"STARTTLS":     {notAuthState, false, (*session).cmdStartTLS},
		"LOGIN":        {notAuthState, false, (*session).cmdLogin},
		"AUTHENTICATE": {notAuthState, false, (*session).cmdAuthenticate},
		"ENABLE":       {authStates, false, (*session).cmdEnable},
		"NAMESPACE":    {authStates, false, (*session).cmdNamespace},
		"LIST":         {authStates, false, (*session).cmdList},
		"LSUB":         {authStates, false, (*session).cmdLsub},
		"CREATE":       {authStates, false, (*session).cmdCreate},
		"DELETE":       {authStates, false, (*session).cmdDelete},
		"RENAME":       {authStates, false, (*session).cmdRename},
		"SUBSCRIBE":    {authStates, false, (*session).cmdSubscribe},
		"UNSUBSCRIBE":  {authStates, false, (*session).cmdUnsubscribe},
		"STATUS":       {authStates, false, (*session).cmdStatus},
		"SELECT":       {authStates, false, (*session).cmdSelect},
		"EXAMINE":      {authStates, false, (*session).cmdExamine},
		"APPEND":       {authStates, false, (*session).cmdAppend},
		"GETQUOTA":     {authStates, false, (*session).cmdGetQuota},
		"GETQUOTAROOT": {authStates, false, (*session).cmdGetQuotaRoot},
		"SETQUOTA":     {authStates, false, (*session).cmdSetQuota},
		"GETMETADATA":  {authStates, false, (*session).cmdGetMetadata},
		"SETMETADATA":  {authStates, false, (*session).cmdSetMetadata},
		"IDLE":         {authStates, false, (*session).cmdIdle},
		"CLOSE":        {selectedState, false, (*session).cmdClose},
		"UNSELECT":     {selectedState, false, (*session).cmdUnselect},
		"EXPUNGE":      {selectedState, false, (*session).cmdExpunge},
		"UID EXPUNGE":  {selectedState, false, (*session).cmdUIDExpunge},
		"FETCH":        {selectedState, true, (*session).cmdFetch},
		"UID FETCH":    {selectedState, false, (*session).cmdUIDFetch},
		"STORE":        {selectedState, true, (*session).cmdStore},
		"UID STORE":    {selectedState, false, (*session).cmdUIDStore},
		"SEARCH":       {selectedState, true, (*session).cmdSearch},
		"UID SEARCH":   {selectedState, false, (*session).cmdUIDSearch},
		"SORT":         {selectedState, true, (*session).cmdSort},
		"UID SORT":     {selectedState, false, (*session).cmdUIDSort},
		"THREAD":       {selectedState, true, (*session).cmdThread},
		"UID THREAD":   {selectedState, false, (*session).cmdUIDThread},
		"COPY":         {selectedState, false, (*session).cmdCopy},
		"UID COPY":     {selectedState, false, (*session).cmdUIDCopy},
		"MOVE":         {selectedState, false, (*session).cmdMove},
		"UID MOVE":     {selectedState, false, (*session).cmdUIDMove},
		"CHECK":        {selectedState, false, (*session).cmdNoop},
	}
}

// dispatch runs one command and writes its tagged response, preceded by
// the pending mailbox updates the command allows.
func (s *session) dispatch(cmd *imapwire.Command) {
	c, ok := commands[cmd.Name]
	if !ok {
		s.tagged(cmd.Tag, &status{"BAD", "", "Unknown command " + sanitize(cmd.Name)})
		return
	}
	if !stateIn(s.state, c.states) {
		s.tagged(cmd.Tag, &status{"BAD", "", cmd.Name + " not allowed now"})
		return
	}
	p := imapwire.NewParser(cmd.Args, s.utf8)
	if len(cmd.Args) > 0 && cmd.Args[0] == ' ' {
		p.Accept(' ') // tolerate the space a UID command leaves
	}
	err := c.fn(s, cmd.Tag, p)
	if errors.Is(err, store.ErrNotFound) && stateIn(stateSelected, c.states) && !stateIn(stateAuth, c.states) {
		// A command on messages of the selected mailbox found one gone:
		// another session expunged it (RFC 2180 §4.1). The mailbox
		// itself is not "NONEXISTENT".
		err = no("EXPUNGEISSUED", "Some messages were expunged")
	}
	if err == errTagged {
		return
	}
	if s.sel != nil {
		s.flushUpdates(!c.seqCmd)
		s.sendHighestModSeq()
	} else {
		s.announceModSeq = false
	}
	var st *status
	switch {
	case err == nil:
		st = &status{"OK", "", cmd.Name + " completed"}
	case errors.As(err, &st):
	case errors.As(err, new(*imapwire.SyntaxError)):
		st = &status{"BAD", "", err.Error()}
	default:
		st = s.internalError(cmd.Name, err)
	}
	s.tagged(cmd.Tag, st)
}

func (s *session) internalError(name string, err error) *status {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &status{"NO", "NONEXISTENT", "No such mailbox"}
	case errors.Is(err, store.ErrExists):
		return &status{"NO", "ALREADYEXISTS", "Mailbox already exists"}
	case errors.Is(err, store.ErrInvalid):
		return &status{"NO", "CANNOT", "Invalid mailbox name or operation"}
	case errors.Is(err, store.ErrOverQuota):
		return &status{"NO", "OVERQUOTA", "Over quota"}
	case errors.Is(err, store.ErrNoSpace):
		// As Dovecot does: the client offers to delete messages, which
		// works on a full disk (the store's reserve).
		s.log.Error("imap: disk full", "cmd", name, "err", err)
		return &status{"NO", "OVERQUOTA", "Not enough disk space on the server; deleting messages frees some"}
	case errors.Is(err, context.Canceled):
		return &status{"NO", "UNAVAILABLE", "Interrupted"}
	}
	s.log.Error("imap: command failed", "cmd", name, "err", err)
	return &status{"NO", "SERVERBUG", "Internal error, try again later"}
}

func (s *session) tagged(tag string, st *status) {
	s.w.Raw(tag + " " + st.kind + codeStr(st.code) + " " + st.text + "\r\n")
}

func stateIn(st state, states []state) bool {
	for _, x := range states {
		if x == st {
			return true
		}
	}
	return false
}

func sanitize(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}
