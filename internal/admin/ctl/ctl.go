// Package ctl carries the admin API over the control socket: a Unix socket
// in the data directory, mode 0600, that only the server's own user (or
// root) may use. The protocol is one JSON request per connection:
//
//	→ {"method":"AddUser","params":{...}}\n
//	← {"result":...}\n  or  {"error":"...","user_error":true}\n
//
// Server exposes an admin.API; Client implements admin.API by calling it.
package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/posthorn/posthorn/internal/admin"
)

// Limits.
const (
	MaxRequestSize = 1 << 20
	ioTimeout      = 60 * time.Second
)

type request struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

type response struct {
	Result    json.RawMessage `json:"result,omitempty"`
	Error     string          `json:"error,omitempty"`
	UserError bool            `json:"user_error,omitempty"`
}

type handler func(ctx context.Context, api admin.API, params json.RawMessage) (any, error)

// handle adapts one admin.API method expression to a JSON handler.
func handle[Req, Resp any](f func(admin.API, context.Context, Req) (Resp, error)) handler {
	return func(ctx context.Context, api admin.API, params json.RawMessage) (any, error) {
		var req Req
		if len(params) > 0 {
			if err := json.Unmarshal(params, &req); err != nil {
				return nil, &admin.UserError{Msg: "bad parameters: " + err.Error(), Err: err}
			}
		}
		return f(api, ctx, req)
	}
}

// methods maps each admin.API method name to its handler. A test checks
// that it covers the whole interface.
var methods = map[string]handler{
	"AddDomain":         handle(admin.API.AddDomain),
	"DeleteDomain":      handle(admin.API.DeleteDomain),
	"ListDomains":       handle(admin.API.ListDomains),
	"DomainRecords":     handle(admin.API.DomainRecords),
	"AddUser":           handle(admin.API.AddUser),
	"DeleteUser":        handle(admin.API.DeleteUser),
	"SetPassword":       handle(admin.API.SetPassword),
	"ListUsers":         handle(admin.API.ListUsers),
	"SetQuota":          handle(admin.API.SetQuota),
	"SetAdminUser":      handle(admin.API.SetAdminUser),
	"AddAppPassword":    handle(admin.API.AddAppPassword),
	"ListAppPasswords":  handle(admin.API.ListAppPasswords),
	"DeleteAppPassword": handle(admin.API.DeleteAppPassword),
	"AddAlias":          handle(admin.API.AddAlias),
	"DeleteAlias":       handle(admin.API.DeleteAlias),
	"ListAliases":       handle(admin.API.ListAliases),
	"RotateDKIM":        handle(admin.API.RotateDKIM),
	"CheckDKIMRotation": handle(admin.API.CheckDKIMRotation),
	"TLSStatus":         handle(admin.API.TLSStatus),
	"ListQueue":         handle(admin.API.ListQueue),
	"ShowQueue":         handle(admin.API.ShowQueue),
	"RetryQueue":        handle(admin.API.RetryQueue),
	"HoldQueue":         handle(admin.API.HoldQueue),
	"ReleaseQueue":      handle(admin.API.ReleaseQueue),
	"DropQueue":         handle(admin.API.DropQueue),
	"SendTLSReports":    handle(admin.API.SendTLSReports),
}

// Listen creates the control socket at path with mode 0600, replacing a
// stale one left by a crash.
func Listen(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	old := unix.Umask(0o177)
	l, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Server serves the admin API on a listener.
type Server struct {
	API    admin.API
	Logger *slog.Logger // nil: discard

	mu       sync.Mutex
	listener net.Listener
	wg       sync.WaitGroup
	closed   bool
}

// Serve accepts connections until Shutdown, then returns nil.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		// Shutdown came first: this listener is not served at all.
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listener = l
	s.mu.Unlock()
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			return err
		}
		// The count is taken under the lock that Shutdown sets closed
		// with, so no Add can run concurrently with Shutdown's Wait.
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serveConn(c)
		}()
	}
}

// Shutdown stops accepting and waits for calls in progress, or ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	if s.listener != nil {
		s.listener.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// peerAllowed reports whether the peer runs as our user or as root: the
// socket mode already restricts this; checking SO_PEERCRED as well keeps a
// mis-set mode from opening the admin API to other local users.
// The peer's uid is returned for the refusal message (-1: unknown).
func peerAllowed(c net.Conn) (bool, int) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return false, -1
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return false, -1
	}
	var cred *unix.Ucred
	var cerr error
	err = raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err != nil || cerr != nil {
		return false, -1
	}
	return cred.Uid == 0 || int(cred.Uid) == os.Getuid(), int(cred.Uid)
}

func (s *Server) serveConn(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	if ok, uid := peerAllowed(c); !ok {
		s.log().Warn("control socket: peer refused", "uid", uid)
		writeResponse(c, response{UserError: true, Error: fmt.Sprintf(
			"the control socket refused uid %d: only root and the server's user (uid %d) may use it; run the command as root",
			uid, os.Getuid())})
		return
	}
	var req request
	r := bufio.NewReader(&limitedReader{r: c, n: MaxRequestSize})
	if err := json.NewDecoder(r).Decode(&req); err != nil {
		writeResponse(c, response{Error: "bad request: " + err.Error(), UserError: true})
		return
	}
	h, ok := methods[req.Method]
	if !ok {
		writeResponse(c, response{Error: fmt.Sprintf("unknown method %q", req.Method), UserError: true})
		return
	}
	result, err := h(context.Background(), s.API, req.Params)
	if err != nil {
		var ue *admin.UserError
		if errors.As(err, &ue) {
			writeResponse(c, response{Error: ue.Msg, UserError: true})
			return
		}
		s.log().Error("control socket call failed", "method", req.Method, "err", err)
		writeResponse(c, response{Error: "internal error: " + err.Error()})
		return
	}
	b, err := json.Marshal(result)
	if err != nil {
		writeResponse(c, response{Error: "internal error: " + err.Error()})
		return
	}
	writeResponse(c, response{Result: b})
}

func writeResponse(c net.Conn, r response) {
	b, _ := json.Marshal(r)
	c.Write(append(b, '\n'))
}

// limitedReader fails reads past n bytes instead of returning EOF, so an
// oversized request is an error, not a truncated request.
type limitedReader struct {
	r interface{ Read([]byte) (int, error) }
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("request too large")
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
