package main

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/posthorn/posthorn/internal/accounts"
	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/config"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/imapserver"
	"github.com/posthorn/posthorn/internal/smtpserver"
	"github.com/posthorn/posthorn/internal/store"
)

// smtpListeners are the bound SMTP sockets, by mode.
type smtpListeners struct {
	byMode map[smtpserver.Mode][]net.Listener
}

var smtpModes = []struct {
	mode smtpserver.Mode
	key  string
}{
	{smtpserver.ModeMX, "smtp"},
	{smtpserver.ModeSubmission, "submission"},
	{smtpserver.ModeSubmissions, "submissions"},
	{smtpserver.ModeLMTP, "lmtp"},
}

// listenSMTP binds every SMTP, submission and LMTP address (before the
// privilege drop: ports 25, 465 and 587 are privileged).
func listenSMTP(l config.Listen) (*smtpListeners, error) {
	ls := &smtpListeners{byMode: map[smtpserver.Mode][]net.Listener{}}
	addrsOf := map[smtpserver.Mode][]string{
		smtpserver.ModeMX: l.SMTP, smtpserver.ModeSubmission: l.Submission,
		smtpserver.ModeSubmissions: l.Submissions, smtpserver.ModeLMTP: l.LMTP,
	}
	for _, m := range smtpModes {
		var tcp []string
		for _, a := range addrsOf[m.mode] {
			if !strings.HasPrefix(a, "/") {
				tcp = append(tcp, a)
				continue
			}
			os.Remove(a) // a stale socket of a previous run
			ul, err := net.Listen("unix", a)
			if err != nil {
				ls.close()
				return nil, fmt.Errorf("listen.%s: %w", m.key, err)
			}
			os.Chmod(a, 0o660)
			ls.byMode[m.mode] = append(ls.byMode[m.mode], ul)
		}
		bound, err := listenAll(tcp)
		if err != nil {
			ls.close()
			return nil, fmt.Errorf("listen.%s: %w", m.key, err)
		}
		ls.byMode[m.mode] = append(ls.byMode[m.mode], bound...)
	}
	return ls, nil
}

func (ls *smtpListeners) close() {
	for _, l := range ls.byMode {
		closeAll(l)
	}
}

// smtpParams are what startSMTP needs besides the configuration.
type smtpParams struct {
	cfg      config.Config
	host     addr.Domain
	st       store.Store
	log      *slog.Logger
	guard    smtpserver.Guard // guard.Pools: connection limits per listener kind
	dataDir  string
	redirect addr.Address // localserve: every recipient goes here
	resolver dns.Resolver
	// rcpts resolves recipients from a cache; nil: from the store.
	rcpts *accounts.Cache
	// enforce applies DMARC policies (not in localserve).
	enforce bool
	// observer counts events for metrics; nil: none.
	observer smtpserver.Observer
	// outbound is the outbound queue; nil: mail to other servers is refused.
	outbound *outbound
	// tls serves STARTTLS and implicit TLS; nil: no certificate.
	tls *tls.Config
	// tlsReady reports whether tls has a usable certificate now.
	tlsReady func() bool
}

// startSMTP builds the SMTP server and serves every listener; errors of
// Serve go to errc. It returns the server and the bound addresses by
// service name.
func startSMTP(p smtpParams, ls *smtpListeners, errc chan<- error) (*smtpserver.Server, map[string][]string, error) {
	c := p.cfg.SMTP
	tlsConfig := p.tls
	secret, err := saslSecret(filepath.Join(p.dataDir, "sasl-secret"))
	if err != nil {
		return nil, nil, err
	}
	svc := &accounts.Service{Store: p.st}
	var dir smtpserver.Directory = svc
	if p.rcpts != nil {
		dir = p.rcpts
	}
	hook := newAuthHook(p.cfg, p.host, p.resolver, p.st, p.enforce, p.log.With("svc", "msgauth"))
	opts := smtpserver.Options{
		Hostname:      p.host,
		Store:         p.st,
		Directory:     dir,
		Authenticator: accounts.SASLAuthenticator{Service: svc, Protocol: "smtp"},
		FakeSecret:    secret,
		Deliverer:     &delivery.Deliverer{Store: p.st, Hostname: p.host, Hooks: []delivery.Hook{hook}, Outbound: p.outbound.deliverer()},
		Guard:         p.guard,
		TLSConfig:     tlsConfig,
		TLSReady:      p.tlsReady,
		Limits: smtpserver.Limits{
			MaxMessageSize:        int64(c.MaxMessageSize),
			MaxLineLength:         c.MaxLineLength,
			MaxRecipients:         c.MaxRecipients,
			MaxCommandsBeforeMail: c.MaxCommandsBeforeMail,
			MaxErrors:             c.MaxErrors,
			CommandTimeout:        c.CommandTimeout,
			DataTimeout:           c.DataTimeout,
			GreetDelay:            c.GreetDelay,
		},
		TrustedProxies:    prefixes(c.TrustedProxies),
		XCLIENTNetworks:   prefixes(c.XCLIENTNetworks),
		SubmissionPrivacy: c.SubmissionPrivacy,
		RedirectAll:       p.redirect,
		Observer:          p.observer,
		Logger:            p.log.With("svc", "smtp"),
	}
	p.outbound.apply(&opts)
	srv := smtpserver.New(opts)
	listening := map[string][]string{}
	for _, m := range smtpModes {
		for _, l := range ls.byMode[m.mode] {
			if m.mode == smtpserver.ModeSubmissions && tlsConfig == nil {
				return nil, nil, errors.New("listen.submissions needs tls.cert_file and tls.key_file")
			}
			listening[m.key] = append(listening[m.key], l.Addr().String())
			go func() { errc <- srv.Serve(l, m.mode) }()
		}
	}
	return srv, listening, nil
}

// saslSecret returns the secret that keys SCRAM's fake salts for unknown
// users; it is created once and kept in the data directory.
func saslSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	b = make([]byte, 32)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	return b, nil
}

// prefixes converts validated config networks.
func prefixes(ss []string) []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range ss {
		if p, err := config.ParsePrefix(s); err == nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// isServerClosed reports errors that mean a service was shut down.
func isServerClosed(err error) bool {
	return errors.Is(err, smtpserver.ErrServerClosed) || errors.Is(err, imapserver.ErrServerClosed)
}
