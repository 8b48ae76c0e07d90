package smtpserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/posthorn/posthorn/internal/guard"
)

// Input modes of a wireConn, mirroring go-smtp's reader.
const (
	modeCommand = iota // one command line per Read
	modeData           // DATA content up to and including CRLF.CRLF
	modeChunk          // the bytes of a BDAT chunk
)

// States of go-smtp's DATA reader (data.go), mirrored byte for byte so the
// end of the data is found exactly where go-smtp finds it: only
// <CR><LF>.<CR><LF> (or "." CRLF right at the start) ends a message.
const (
	dBeginLine = iota
	dDot
	dDotCR
	dCR
	dData
	dEOF
)

// levelTrace is the slog level of protocol transcripts.
const levelTrace = slog.LevelDebug - 4

// wireConn is the net.Conn go-smtp reads and writes. See the package
// comment: it works in lock-step with go-smtp, one command line at a time.
type wireConn struct {
	srv  *Server
	mode Mode
	raw  net.Conn      // the socket
	conn net.Conn      // raw, or the TLS connection over it
	br   *bufio.Reader // reads conn
	log  *slog.Logger
	st   *connState
	sess *session

	// Read side (go-smtp's goroutine).
	started   bool
	startErr  error
	in        int // modeCommand, modeData, modeChunk
	dstate    int
	dotBareCR bool // DATA had "." then a bare CR at a line start
	chunkLeft int64
	pending   []byte // the current line, not yet handed over
	readErr   error  // to return once pending is drained
	lastVerb  string // verb of the last command handed over
	commands  int    // commands since the last MAIL
	errs      int    // 4xx/5xx replies

	// Write side.
	mu        sync.Mutex
	out       []byte // replies not yet flushed
	partial   []byte // an incomplete reply line
	swallow   int    // replies to drop (to synthetic commands)
	ehlo      bool   // the reply being written answers EHLO/LHLO
	ehloLines []string
	replyCode int // code of the last complete reply
	closed    bool
	stopping  bool // Shutdown asked idle clients to leave
	release   func()
}

// session is created with the connection; go-smtp's NewSession returns it.
func newWireConn(s *Server, m Mode, c net.Conn) *wireConn {
	w := &wireConn{srv: s, mode: m, raw: c, conn: c}
	w.br = bufio.NewReaderSize(c, s.opt.Limits.MaxLineLength+2)
	w.st = newConnState(s, m, c)
	w.log = s.log.With("conn", w.st.id, "listener", m.String())
	w.sess = newSession(s, w)
	s.track(w, true)
	return w
}

// start runs once, before the greeting: PROXY header, connection limits,
// implicit TLS, early-talker check.
func (w *wireConn) start() error {
	if w.started {
		return w.startErr
	}
	w.started = true
	w.startErr = w.prelude()
	if w.startErr != nil {
		w.closeNow()
	}
	return w.startErr
}

func (w *wireConn) prelude() error {
	lim := w.srv.opt.Limits
	ip := w.st.remoteIP
	if inPrefixes(ip, w.srv.opt.TrustedProxies) {
		w.raw.SetReadDeadline(time.Now().Add(lim.CommandTimeout))
		src, err := readProxyHeader(w.br)
		if err != nil {
			w.log.Warn("connection refused: bad PROXY header", "client", ip, "err", err)
			return err
		}
		if src.IsValid() {
			w.st.setClient(src.Addr(), src.Port())
		}
		ip = w.st.remoteIP
	}
	w.log.Info("connection", "client", ip, "local", w.raw.LocalAddr().String())
	w.srv.opt.Observer.Connection(w.mode.String())
	// Unix-socket peers (LMTP) have no address to count; XCLIENT front ends
	// are counted by the address they present.
	if g := w.srv.opt.Guard; g != nil && !w.st.xclientTrusted && ip.IsValid() {
		release, err := connect(g, ip, w.mode)
		if err != nil {
			w.srv.opt.Observer.MessageRejected(w.mode.String(), ReasonConnLimit)
			return w.refuse("421 4.7.0 "+limitReason(err), err)
		}
		w.release = release
		if w.mode.submission() {
			if blocked, reason := g.Blocked(ip); blocked {
				w.srv.opt.Observer.MessageRejected(w.mode.String(), ReasonBlocked)
				return w.refuse("421 4.7.0 "+reason, errors.New(reason))
			}
		}
	}
	if w.mode == ModeSubmissions {
		if !w.srv.tlsReady() {
			// No certificate to offer: a handshake would only fail.
			w.log.Info("connection closed: no usable TLS certificate", "client", ip)
			return errors.New("no usable TLS certificate")
		}
		if err := w.handshake(); err != nil {
			return err
		}
	}
	if w.mode == ModeMX && lim.GreetDelay > 0 {
		w.raw.SetReadDeadline(time.Now().Add(lim.GreetDelay))
		_, err := w.br.Peek(1)
		if err == nil {
			w.srv.opt.Observer.MessageRejected(w.mode.String(), ReasonEarlyTalker)
			return w.refuse("554 5.5.1 Error: you talked before my greeting", errors.New("early talker"))
		}
		if !isTimeout(err) {
			return err
		}
	} else if w.mode == ModeMX && w.br.Buffered() > 0 {
		w.srv.opt.Observer.MessageRejected(w.mode.String(), ReasonEarlyTalker)
		return w.refuse("554 5.5.1 Error: you talked before my greeting", errors.New("early talker"))
	}
	return nil
}

// limitReason is the client-safe text of a guard.Connect error.
// ServiceGuard is an optional extension of Guard (guard.Pools implements
// it): connections are counted per service, the listener's Mode
// ("smtp", "submission", …), so that each kind of listener has limits
// of its own.
type ServiceGuard interface {
	ConnectService(ip netip.Addr, service string) (release func(), err error)
}

// connect counts a connection from ip to a listener of mode m.
func connect(g Guard, ip netip.Addr, m Mode) (release func(), err error) {
	if sg, ok := g.(ServiceGuard); ok {
		return sg.ConnectService(ip, m.String())
	}
	return g.Connect(ip)
}

func limitReason(err error) string {
	var le *guard.LimitError
	if errors.As(err, &le) {
		return le.Reason
	}
	return "too many connections"
}

// refuse answers line and closes before the greeting. On an
// implicit-TLS listener before the handshake nothing is written: the
// client expects a TLS handshake, and plaintext would be noise to it.
func (w *wireConn) refuse(line string, err error) error {
	w.log.Info("connection refused", "client", w.st.remoteIP, "reason", err.Error())
	if w.mode == ModeSubmissions && w.st.tls == nil {
		return err
	}
	w.mu.Lock()
	w.out = append(w.out, line+"\r\n"...)
	w.mu.Unlock()
	w.flush()
	return err
}

// handshake runs a TLS server handshake on the connection (implicit TLS
// or after STARTTLS); the bytes already buffered are the client's first.
func (w *wireConn) handshake() error {
	tc := tls.Server(&bufConn{Conn: w.conn, r: w.br}, w.srv.opt.TLSConfig)
	w.raw.SetDeadline(time.Now().Add(w.srv.opt.Limits.CommandTimeout))
	err := tc.HandshakeContext(w.srv.ctx)
	w.raw.SetDeadline(time.Time{})
	if err != nil {
		w.log.Info("TLS handshake failed", "client", w.st.remoteIP, "err", err)
		return err
	}
	cs := tc.ConnectionState()
	w.conn = tc
	w.br = bufio.NewReaderSize(tc, w.srv.opt.Limits.MaxLineLength+2)
	w.st.tls = &cs
	w.log.Debug("TLS", "version", tls.VersionName(cs.Version), "cipher", tls.CipherSuiteName(cs.CipherSuite), "sni", cs.ServerName)
	return nil
}

// bufConn reads through a bufio.Reader that may hold bytes already read.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// ---------------------------------------------------------------- reading

// Read hands go-smtp its input: in command mode exactly one line per call,
// so that go-smtp's buffer never holds more than the command it is
// handling and every reply is written before the next line is read.
func (w *wireConn) Read(p []byte) (int, error) {
	if err := w.start(); err != nil {
		return 0, io.EOF
	}
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if closed {
		// go-smtp closed the connection (QUIT, too many errors) and dropped
		// its session: nothing more may reach it.
		return 0, io.EOF
	}
	for len(w.pending) == 0 {
		if w.readErr != nil {
			return 0, w.readErr
		}
		switch w.in {
		case modeData:
			return w.readData(p)
		case modeChunk:
			return w.readChunk(p)
		}
		if err := w.nextLine(); err != nil {
			w.readErr = err
		}
	}
	n := copy(p, w.pending)
	w.pending = w.pending[n:]
	return n, nil
}

// fill makes sure at least one byte is buffered: it flushes the replies
// first (the client may be waiting for them) and waits at most timeout.
func (w *wireConn) fill(timeout time.Duration) error {
	if w.br.Buffered() > 0 {
		return nil
	}
	if err := w.flush(); err != nil {
		return err
	}
	for {
		w.raw.SetReadDeadline(time.Now().Add(timeout))
		if w.in == modeCommand && w.isStopping() {
			return os.ErrDeadlineExceeded
		}
		_, err := w.br.Peek(1)
		if err == nil {
			return nil
		}
		if isTimeout(err) && w.isStopping() && w.in != modeCommand {
			continue // let a transfer in progress finish
		}
		return err
	}
}

func (w *wireConn) readData(p []byte) (int, error) {
	if err := w.fill(w.srv.opt.Limits.DataTimeout); err != nil {
		return 0, w.inputError(err)
	}
	buf, _ := w.br.Peek(min(w.br.Buffered(), len(p)))
	n, st, dotCR := scanData(w.dstate, buf)
	w.dstate = st
	w.dotBareCR = w.dotBareCR || dotCR
	if st == dEOF {
		w.in = modeCommand
	}
	copy(p, buf[:n])
	w.br.Discard(n)
	return n, nil
}

// scanData runs nextDataState over buf from state s and returns how many
// bytes belong to the data (all of buf, or up to and including the end
// marker), the state after them, and whether a line started with "." and
// a bare CR. go-smtp's reader drops both of those bytes, so the bare CR
// never reaches the line-ending check: the session refuses the message
// from this flag instead.
func scanData(s int, buf []byte) (int, int, bool) {
	n := 0
	dotCR := false
	for n < len(buf) {
		if s == dData {
			// Inside a line only a CR can change the state: skip to it.
			i := bytes.IndexByte(buf[n:], '\r')
			if i < 0 {
				return len(buf), s, dotCR
			}
			n += i
		}
		prev := s
		s = nextDataState(s, buf[n])
		if prev == dDotCR && s != dEOF {
			dotCR = true
		}
		n++
		if s == dEOF {
			break
		}
	}
	return n, s, dotCR
}

// nextDataState is go-smtp's dataReader state machine (data.go).
func nextDataState(s int, c byte) int {
	switch s {
	case dBeginLine:
		switch c {
		case '.':
			return dDot
		case '\r':
			return dCR
		}
		return dData
	case dDot:
		if c == '\r' {
			return dDotCR
		}
		return dData
	case dDotCR:
		if c == '\n' {
			return dEOF
		}
		return dData
	case dCR:
		if c == '\n' {
			return dBeginLine
		}
		return dData
	}
	if c == '\r' {
		return dCR
	}
	return dData
}

func (w *wireConn) readChunk(p []byte) (int, error) {
	if err := w.fill(w.srv.opt.Limits.DataTimeout); err != nil {
		return 0, w.inputError(err)
	}
	n := int(min(int64(len(p)), w.chunkLeft, int64(w.br.Buffered())))
	n, _ = w.br.Read(p[:n])
	w.chunkLeft -= int64(n)
	if w.chunkLeft == 0 {
		w.in = modeCommand
	}
	return n, nil
}

// inputError turns a read error into what go-smtp should see: io.EOF
// (end quietly) after answering a timeout or shutdown ourselves.
func (w *wireConn) inputError(err error) error {
	switch {
	case isTimeout(err) && w.isStopping():
		w.reply("421 4.3.2 Service shutting down, try again later")
	case isTimeout(err):
		w.log.Info("timeout", "client", w.st.remoteIP)
		w.reply("421 4.4.2 Timeout, closing connection")
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	default:
		w.log.Debug("read error", "err", err)
	}
	w.flush()
	w.closeNow()
	return io.EOF
}

// nextLine reads the next command line, acts on it, and leaves what
// go-smtp should see in w.pending (possibly nothing, if the line was
// answered here).
func (w *wireConn) nextLine() error {
	if w.lastVerb == "DATA" && w.replyCode == 354 {
		w.in, w.dstate, w.dotBareCR = modeData, dBeginLine, false
		w.lastVerb = ""
		return nil
	}
	if w.errs > w.srv.opt.Limits.MaxErrors {
		w.log.Info("too many errors", "client", w.st.remoteIP, "errors", w.errs)
		w.reply("421 4.7.0 Too many errors, closing connection")
		return w.inputError(io.EOF)
	}
	if err := w.fill(w.srv.opt.Limits.CommandTimeout); err != nil {
		return w.inputError(err)
	}
	line, err := w.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		w.reply("500 5.5.6 Line too long, closing connection")
		return w.inputError(io.EOF)
	}
	if err != nil && len(line) == 0 {
		return w.inputError(err)
	}
	sasl := w.replyCode == 334 // a SASL response line (RFC 4954 §4)
	if sasl {
		if w.tracing() {
			w.trace("C: <redacted>")
		}
		w.pending = append(w.pending[:0], line...)
		return nil
	}
	if w.tracing() {
		w.trace("C: " + redactAuth(string(bytes.TrimRight(line, "\r\n"))))
	}
	return w.command(line)
}

// command dispatches one command line.
func (w *wireConn) command(line []byte) error {
	text := string(bytes.TrimRight(line, "\r\n"))
	verb, arg, _ := strings.Cut(text, " ")
	verb = strings.ToUpper(verb)
	if isStartTLS(text) {
		verb = "STARTTLS"
	}
	if w.lastVerb == "MAIL" && w.replyCode/100 == 2 {
		w.commands = 0
	}
	w.lastVerb = verb
	switch verb {
	case "MAIL", "RCPT", "DATA", "BDAT", "QUIT":
	default:
		if w.commands++; w.commands > w.srv.opt.Limits.MaxCommandsBeforeMail {
			w.log.Info("too many commands without mail", "client", w.st.remoteIP)
			w.reply("421 4.7.0 Too many commands without a mail transaction, closing connection")
			return w.inputError(io.EOF)
		}
	}
	switch verb {
	case "STARTTLS":
		return w.startTLS(arg)
	case "XCLIENT":
		return w.xclient(arg)
	case "EHLO", "LHLO":
		w.ehlo = true
		w.st.greeted(strings.TrimSpace(arg), verb)
	case "HELO":
		w.st.greeted(strings.TrimSpace(arg), verb)
	case "RCPT":
		line = rewritePostmaster(line, w.srv.opt.Hostname.ASCII)
	case "BDAT":
		if n, ok := bdatSize(arg); ok && n > 0 {
			w.in, w.chunkLeft = modeChunk, n
		}
	}
	w.pending = append(w.pending[:0], line...)
	return nil
}

// isStartTLS is go-smtp's own test (parse.go): the upper-cased line
// starts with "STARTTLS". ASCII lines are compared without upper-casing a
// copy.
func isStartTLS(text string) bool {
	if isASCII(text) {
		return len(text) >= 8 && strings.EqualFold(text[:8], "STARTTLS")
	}
	return strings.HasPrefix(strings.ToUpper(text), "STARTTLS")
}

// bdatSize mirrors go-smtp's handleBdat: when the arguments parse, the
// chunk follows and is consumed whether or not the command is accepted.
func bdatSize(arg string) (int64, bool) {
	args := strings.Fields(arg)
	if len(args) == 0 || len(args) > 2 || len(args) == 2 && !strings.EqualFold(args[1], "LAST") {
		return 0, false
	}
	n, err := strconv.ParseUint(args[0], 10, 32)
	return int64(n), err == nil
}

// rewritePostmaster turns "RCPT TO:<postmaster>" into
// "RCPT TO:<postmaster@host>": RFC 5321 §4.5.1 requires accepting the bare
// postmaster, which go-smtp's parser does not.
func rewritePostmaster(line []byte, host string) []byte {
	if len(line) < 8 || !strings.EqualFold(string(line[:8]), "RCPT TO:") {
		return line
	}
	rest := bytes.TrimLeft(line[8:], " ")
	const pm = "<postmaster>"
	if len(rest) < len(pm) || !strings.EqualFold(string(rest[:len(pm)]), pm) {
		return line
	}
	out := []byte("RCPT TO:<postmaster@" + host + ">")
	return append(out, rest[len(pm):]...)
}

// redactAuth hides the initial response of an AUTH command in traces.
// It does not rely on the command parsing: any line whose first word
// starts with AUTH, in any case and after any whitespace, keeps at most a
// well-formed mechanism name ("AUTH PLAIN=…" or "auth\tplain …" included).
func redactAuth(line string) string {
	t := strings.TrimLeft(line, " \t")
	if len(t) < 4 || !strings.EqualFold(t[:4], "AUTH") {
		return line
	}
	f := strings.Fields(t[4:])
	if len(t) > 4 && t[4] != ' ' && t[4] != '\t' || len(f) > 0 && !isMechanism(f[0]) {
		return "AUTH <redacted>"
	}
	switch len(f) {
	case 0:
		return "AUTH"
	case 1:
		return "AUTH " + f[0]
	}
	return "AUTH " + f[0] + " <redacted>"
}

// isMechanism reports whether s has the form of a SASL mechanism name
// (RFC 4422 §3.1: up to 20 of A-Z, 0-9, "-" and "_"; any case here).
func isMechanism(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// startTLS handles STARTTLS itself (RFC 3207), so the TLS state is ours
// and input pipelined after the command is discarded, never executed.
func (w *wireConn) startTLS(arg string) error {
	switch {
	case w.mode == ModeLMTP || w.srv.opt.TLSConfig == nil:
		w.reply("502 5.5.1 STARTTLS not available")
		return nil
	case !w.srv.tlsReady():
		// RFC 3207 §4: TLS not available due to a temporary reason.
		w.reply("454 4.7.0 TLS not available now: no usable certificate")
		return nil
	case w.st.tls != nil:
		w.reply("503 5.5.1 Already using TLS")
		return nil
	case strings.TrimSpace(arg) != "":
		w.reply("501 5.5.4 Syntax: STARTTLS")
		return nil
	case w.sess.inTransaction() || w.st.account != nil:
		w.reply("503 5.5.1 STARTTLS not allowed now")
		return nil
	}
	if n := w.br.Buffered(); n > 0 {
		// RFC 3207 §4.2 / CVE-2011-0411: what follows STARTTLS in the same
		// packet was sent in plaintext and must not be executed after TLS.
		w.log.Warn("discarded input pipelined after STARTTLS", "client", w.st.remoteIP, "bytes", n)
		w.br.Discard(n)
	}
	w.reply("220 2.0.0 Ready to start TLS")
	if err := w.flush(); err != nil {
		return w.inputError(err)
	}
	if err := w.handshake(); err != nil {
		w.closeNow()
		return io.EOF
	}
	w.restart()
	return nil
}

// restart makes go-smtp forget the transaction (a synthetic RSET whose
// reply is dropped) and requires a new EHLO, as after a new connection
// (RFC 3207 §4.2; Postfix XCLIENT).
func (w *wireConn) restart() {
	w.mu.Lock()
	w.swallow++
	w.mu.Unlock()
	w.st.needEHLO = true
	w.lastVerb = ""
	w.commands, w.errs = 0, 0
	w.pending = append(w.pending[:0], "RSET\r\n"...)
}

// ---------------------------------------------------------------- writing

// Write receives go-smtp's replies (one line per call in practice) and
// queues them until the next read would block.
func (w *wireConn) Write(p []byte) (int, error) {
	if err := w.start(); err != nil {
		return 0, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, net.ErrClosed
	}
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := string(bytes.TrimRight(w.partial[:i+1], "\r\n"))
		w.partial = w.partial[i+1:]
		w.replyLine(line)
	}
	if len(w.out) > 32<<10 {
		w.mu.Unlock()
		err := w.flush()
		w.mu.Lock()
		if err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// replyLine handles one reply line from go-smtp; w.mu held.
func (w *wireConn) replyLine(line string) {
	final := len(line) < 4 || line[3] != '-'
	if w.swallow > 0 {
		if final {
			w.swallow--
		}
		return
	}
	if w.ehlo {
		w.ehloLines = append(w.ehloLines, line)
		if !final {
			return
		}
		w.ehlo = false
		lines := w.ehloLines
		w.ehloLines = nil
		if strings.HasPrefix(line, "250") {
			lines = w.capabilities(lines)
		}
		for _, l := range lines {
			w.emit(l)
		}
		return
	}
	w.emit(line)
}

// emit queues one reply line; w.mu held.
func (w *wireConn) emit(line string) {
	if w.tracing() {
		w.trace("S: " + line)
	}
	w.out = append(w.out, line...)
	w.out = append(w.out, '\r', '\n')
	if len(line) >= 4 && line[3] == ' ' || len(line) == 3 {
		code, _ := strconv.Atoi(line[:3])
		w.replyCode = code
		// A 452 to RCPT (too many recipients, mailbox full) is a limit the
		// client is told to respect, not a client error (RFC 5321
		// §4.5.3.1.10): counting it would end a good transaction at 421.
		if code >= 400 && !(code == 452 && w.lastVerb == "RCPT") {
			w.errs++
		}
	}
}

// capabilities rewrites go-smtp's EHLO reply: STARTTLS while TLS can be
// started, REQUIRETLS once it is on (RFC 8689 §4), XCLIENT for trusted
// front ends. go-smtp adds neither itself since it sees no TLS.
func (w *wireConn) capabilities(lines []string) []string {
	var caps []string
	for _, l := range lines {
		if len(l) > 4 {
			caps = append(caps, l[4:])
		}
	}
	if len(caps) == 0 {
		return lines
	}
	var extra []string
	if w.st.tls == nil && w.mode != ModeLMTP && w.srv.tlsReady() {
		extra = append(extra, "STARTTLS")
	}
	if w.st.tls != nil {
		extra = append(extra, "REQUIRETLS")
	}
	if w.st.xclientTrusted {
		extra = append(extra, "XCLIENT ADDR PORT NAME HELO PROTO LOGIN DESTADDR DESTPORT")
	}
	for i, c := range caps {
		if c == "SIZE" { // go-smtp leaves the limit to us (Server.Serve)
			caps[i] = "SIZE " + strconv.FormatInt(w.srv.opt.Limits.MaxMessageSize, 10)
		}
	}
	caps = append(caps[:1], append(extra, caps[1:]...)...)
	out := make([]string, len(caps))
	for i, c := range caps {
		sep := "-"
		if i == len(caps)-1 {
			sep = " "
		}
		out[i] = "250" + sep + c
	}
	return out
}

// reply queues a reply of our own.
func (w *wireConn) reply(line string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.emit(line)
}

// flush writes the queued replies.
func (w *wireConn) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.out) == 0 || w.closed {
		return nil
	}
	w.raw.SetWriteDeadline(time.Now().Add(w.srv.opt.Limits.CommandTimeout))
	_, err := w.conn.Write(w.out)
	w.out = w.out[:0]
	return err
}

// tracing reports whether protocol transcripts are logged; callers check
// it before building a trace line.
func (w *wireConn) tracing() bool {
	return w.log.Enabled(context.Background(), levelTrace)
}

func (w *wireConn) trace(s string) {
	w.log.Log(context.Background(), levelTrace, s)
}

// ---------------------------------------------------------------- net.Conn

// Close flushes pending replies and closes the connection.
func (w *wireConn) Close() error {
	w.flush()
	w.closeNow()
	return nil
}

func (w *wireConn) closeNow() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	release := w.release
	w.mu.Unlock()
	w.conn.Close()
	w.raw.Close()
	if release != nil {
		release()
	}
	w.st.closeRelease()
	w.srv.track(w, false)
	w.log.Debug("connection closed")
}

// interrupt wakes an idle reader so it can say goodbye (Shutdown).
func (w *wireConn) interrupt() {
	w.mu.Lock()
	w.stopping = true
	w.mu.Unlock()
	w.raw.SetReadDeadline(time.Now())
}

func (w *wireConn) isStopping() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stopping
}

func (w *wireConn) LocalAddr() net.Addr  { return w.raw.LocalAddr() }
func (w *wireConn) RemoteAddr() net.Addr { return w.raw.RemoteAddr() }

// Deadlines are ours (per state); go-smtp's calls are ignored.
func (w *wireConn) SetDeadline(time.Time) error      { return nil }
func (w *wireConn) SetReadDeadline(time.Time) error  { return nil }
func (w *wireConn) SetWriteDeadline(time.Time) error { return nil }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// addrPort returns the IP and port of a net.Addr; zero for Unix sockets.
func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	if a != nil {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return ap
		}
	}
	return netip.AddrPort{}
}
