package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/posthorn/posthorn/internal/accounts"
	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/admin"
	"github.com/posthorn/posthorn/internal/admin/ctl"
	"github.com/posthorn/posthorn/internal/config"
	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/guard"
	"github.com/posthorn/posthorn/internal/queue"
	"github.com/posthorn/posthorn/internal/store"
)

func cmdServe(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "serve", "[--config FILE] [--create]", `
Run the mail server with the configuration in FILE until SIGTERM or SIGINT.
Listening ports are bound first; then, when started as root, posthorn
hands data_dir to the unprivileged "user" of the configuration and
switches to it. data_dir must hold a store (posthorn init creates one)
unless --create is given.`)
	configPath := fs.String("config", "", "configuration file (default ./posthorn.toml, then /etc/posthorn/posthorn.toml)")
	create := fs.Bool("create", false, "create data_dir with an empty store if it holds none (posthorn init makes a complete one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{"unexpected arguments"}
	}
	path, err := findConfig(*configPath)
	if err != nil {
		return err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return accessHelp{server: true}.explain(err)
	}
	logger, err := newLogger(env.stderr, cfg.Log)
	if err != nil {
		return err
	}
	return runServer(ctx, serverParams{cfg: cfg, logger: logger, dropPrivileges: true, create: *create})
}

// newLogger builds the slog logger the configuration asks for.
func newLogger(w io.Writer, c config.Log) (*slog.Logger, error) {
	var level slog.Level
	switch c.Level {
	case "trace":
		level = slog.LevelDebug - 4
	case "", "info":
		level = slog.LevelInfo
	default:
		if err := level.UnmarshalText([]byte(c.Level)); err != nil {
			return nil, fmt.Errorf("log level: %w", err)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// serverParams are the inputs of runServer.
type serverParams struct {
	cfg            config.Config
	logger         *slog.Logger
	dropPrivileges bool
	// create makes data_dir and an empty store when it holds none
	// (serve --create, localserve); otherwise that is an error.
	create bool
	// setup, if set, runs on the open store before any service starts.
	setup func(ctx context.Context, st store.Store) error
	// ready, if set, is called once everything listens, with the bound
	// addresses by service name.
	ready func(listening map[string][]string)
	// redirectAll, if set, receives all mail to any address (localserve).
	redirectAll addr.Address
	// annotateOnly records authentication results without enforcing
	// DMARC policies (localserve).
	annotateOnly bool
	// resolver, if set, replaces the DNS client of the configuration
	// (localserve without --dns: no query leaves the machine).
	resolver dns.Resolver
	// sender, if set, replaces the outbound SMTP client (tests).
	sender queue.Sender
}

// runServer binds the listeners, drops privileges, opens the store and
// serves until ctx is done, then shuts down cleanly.
func runServer(ctx context.Context, p serverParams) error {
	cfg, log := p.cfg, p.logger
	host, err := addr.ParseDomain(cfg.Hostname)
	if err != nil {
		return fmt.Errorf("hostname: %w", err)
	}
	ls, err := bindAll(cfg.Listen)
	if errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("%w: ports below 1024 need root: start serve as root (it switches to \"user\" once they are bound) "+
			"or give it CAP_NET_BIND_SERVICE", err)
	} else if err != nil {
		return err
	}
	defer ls.close()
	paths := dataPaths(cfg.DataDir)
	help := accessHelp{dataDir: paths.dir, server: true}
	if err := checkStore(paths, p.create); err != nil {
		return help.explain(err)
	}
	if p.dropPrivileges {
		if err := dropPrivileges(cfg, log); err != nil {
			return help.explain(err)
		}
	}
	st, err := openStore(ctx, paths, log, nil)
	if err != nil {
		return help.explain(err)
	}
	defer st.Close()
	if p.setup != nil {
		if err := p.setup(ctx, st); err != nil {
			return err
		}
	}
	errc := make(chan error, 64)
	run := &running{log: log}
	// Every directory change made in this process empties the recipient
	// cache of the SMTP server at once (accounts.Watch).
	rcpts := &accounts.Cache{Service: &accounts.Service{Store: st}}
	listening, err := startServices(ctx, p, host, paths, accounts.Watch(st, rcpts), rcpts, ls, run, errc)
	if err != nil {
		run.shutdown()
		return help.explain(err)
	}
	log.Info("posthorn started", "version", versionString(), "hostname", host.ASCII, "data_dir", paths.dir,
		"listening", listeningSummary(listening))
	if p.ready != nil {
		p.ready(listening)
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) && !isServerClosed(err) {
			log.Error("service failed; shutting down", "err", err)
		}
	}
	run.shutdown()
	os.Remove(paths.socket)
	if err := st.Close(); err != nil {
		return fmt.Errorf("closing store: %w", err)
	}
	log.Info("stopped")
	return nil
}

// listeners are every socket bound before the privilege drop.
type listeners struct {
	http  []net.Listener
	https []net.Listener
	smtp  *smtpListeners
	imap  *imapListeners
}

func bindAll(l config.Listen) (*listeners, error) {
	ls := &listeners{}
	var err error
	if ls.http, err = listenAll(l.HTTP); err != nil {
		return nil, err
	}
	if ls.https, err = listenAll(l.HTTPS); err != nil {
		ls.close()
		return nil, err
	}
	if ls.smtp, err = listenSMTP(l); err != nil {
		ls.close()
		return nil, err
	}
	if ls.imap, err = listenIMAP(l); err != nil {
		ls.close()
		return nil, err
	}
	return ls, nil
}

func (ls *listeners) close() {
	closeAll(ls.http)
	closeAll(ls.https)
	if ls.smtp != nil {
		ls.smtp.close()
	}
	if ls.imap != nil {
		ls.imap.close()
	}
}

// running is the list of started services, stopped in reverse order.
type running struct {
	log   *slog.Logger
	stops []namedStop
}

type namedStop struct {
	name string
	stop func(context.Context) error
}

func (r *running) add(name string, stop func(context.Context) error) {
	r.stops = append(r.stops, namedStop{name, stop})
}

// shutdown stops every service, giving them 20 seconds in all.
func (r *running) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := len(r.stops) - 1; i >= 0; i-- {
		if err := r.stops[i].stop(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Warn("shutdown", "svc", r.stops[i].name, "err", err)
		}
	}
	r.stops = nil
}

// startServices starts HTTP, SMTP, IMAP and, once the admin API they share
// is complete, the control socket, and returns the listening addresses by
// service name.
func startServices(ctx context.Context, p serverParams, host addr.Domain, paths dataDirPaths, st store.Store,
	rcpts *accounts.Cache, ls *listeners, run *running, errc chan<- error) (map[string][]string, error) {
	cfg, log := p.cfg, p.logger
	var resolver dns.Resolver = p.resolver
	if resolver == nil {
		client, err := newResolver(cfg.DNS, log.With("svc", "dns"))
		if err != nil {
			return nil, fmt.Errorf("dns: %w", err)
		}
		resolver = client
	}
	adm := &admin.Admin{Store: st, Hostname: host, Resolver: resolver, KeepRetired: cfg.DKIM.KeepRetired, Logger: log.With("svc", "admin"),
		MTASTSMode: cfg.MTASTS.Mode, MTASTSMaxAge: cfg.MTASTS.MaxAge}
	certs, err := startTLS(ctx, tlsParams{cfg: cfg, host: host, st: st, paths: paths, log: log}, run)
	if err != nil {
		return nil, err
	}
	if certs != nil {
		adm.Certificates = certs
	}
	authGuard := guard.New(guard.Options{
		MaxConns:      cfg.SMTP.MaxConnections,
		MaxConnsPerIP: cfg.SMTP.MaxConnectionsPerIP,
		Logger:        log.With("svc", "guard"),
	})
	pools := connPools(authGuard, cfg)
	metrics := newMetrics(st, authGuard, certStatus{certs})
	listening, err := startHTTP(httpParams{cfg: cfg, host: host, st: st, log: log, metrics: metrics,
		tlsConfig: certs.TLSConfig(), challenge: certs.HTTPChallengeHandler}, ls.http, ls.https, run, errc)
	if err != nil {
		return nil, err
	}
	out, err := startQueue(ctx, queueParams{cfg: cfg, host: host, st: st, resolver: resolver, dataDir: paths.dir, log: log, sender: p.sender, observer: metrics}, run)
	if err != nil {
		return nil, err
	}
	adm.Queue = out.queue
	if out.queue.TLSReports != nil {
		adm.TLSReports = out.queue
	}
	smtpSrv, smtpListening, err := startSMTP(smtpParams{
		outbound: out,
		cfg:      cfg, host: host, st: st, log: log, guard: pools, observer: metrics, tls: certs.MailTLSConfig(), tlsReady: certs.Usable,
		dataDir: paths.dir, redirect: p.redirectAll, resolver: resolver, enforce: !p.annotateOnly, rcpts: rcpts,
	}, ls.smtp, errc)
	if err != nil {
		return nil, err
	}
	run.add("smtp", smtpSrv.Shutdown)
	maps.Copy(listening, smtpListening)

	secret, err := saslSecret(filepath.Join(paths.dir, "sasl-secret"))
	if err != nil {
		return nil, err
	}
	imapSrv, imapListening, err := startIMAP(imapParams{cfg: cfg, st: st, log: log, secret: secret, guard: pools, observer: metrics,
		tls: certs.MailTLSConfig(), tlsReady: certs.Usable}, ls.imap, errc)
	if err != nil {
		return nil, err
	}
	run.add("imap", imapSrv.Shutdown)
	maps.Copy(listening, imapListening)
	pruneCtx, stopPrune := context.WithCancel(ctx)
	go pruneJunkEvents(pruneCtx, st, junkEventMaxAge, time.Now, log.With("svc", "imap"))
	run.add("junk-prune", func(context.Context) error { stopPrune(); return nil })

	// adm is complete only now: the admin API is served last.
	watchCtx, stopWatch := context.WithCancel(ctx)
	go adm.WatchDKIMRotations(watchCtx, cfg.DKIM.RotationCheckInterval)
	run.add("dkim-watch", func(context.Context) error { stopWatch(); return nil })
	ctlListener, err := ctl.Listen(paths.socket)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ctlServer := &ctl.Server{API: adm, Logger: log.With("svc", "ctl")}
	go func() { errc <- ctlServer.Serve(ctlListener) }()
	run.add("ctl", ctlServer.Shutdown)
	listening["control"] = []string{paths.socket}
	return listening, nil
}

// connPools gives each kind of listener connection limits of its own, so
// that one cannot take another's places (500 idle IMAP sessions used to
// keep port 25 answering 421); failed logins are still counted across all
// of them by the one Guard.
func connPools(g *guard.Guard, cfg config.Config) guard.Pools {
	mx := g.NewPool("SMTP", guard.PoolLimits{MaxConns: cfg.SMTP.MaxConnections, MaxConnsPerIP: cfg.SMTP.MaxConnectionsPerIP})
	sub := g.NewPool("submission", guard.PoolLimits{MaxConns: cfg.SMTP.MaxSubmissionConns, MaxConnsPerIP: cfg.SMTP.MaxConnectionsPerIP})
	imap := g.NewPool("IMAP", guard.PoolLimits{MaxConns: cfg.IMAP.MaxConnections, MaxConnsPerIP: cfg.IMAP.MaxConnectionsPerIP})
	return guard.Pools{Guard: g, ByService: map[string]*guard.Pool{
		"smtp": mx, "submission": sub, "submissions": sub, "imap": imap, "imaps": imap,
	}}
}

// listeningSummary is "http=ADDR,ADDR smtp=ADDR …" for the start-up line.
func listeningSummary(listening map[string][]string) string {
	names := slices.Sorted(maps.Keys(listening))
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, n+"="+strings.Join(listening[n], ","))
	}
	return strings.Join(parts, " ")
}

// openStore opens the store in the data directory, creating it if needed;
// owner, if set, is given the data directory and what the store creates.
func openStore(ctx context.Context, paths dataDirPaths, log *slog.Logger, owner *store.Owner) (*store.SQLite, error) {
	if err := os.MkdirAll(paths.store, 0o750); err != nil {
		return nil, err
	}
	if owner != nil {
		if err := os.Lchown(paths.dir, owner.UID, owner.GID); err != nil {
			return nil, err
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return store.Open(ctx, paths.store, store.Options{Logger: log.With("svc", "store"), Owner: owner})
}

// listenAll binds every host:port. IPv6 addresses are bound IPv6-only and
// IPv4 ones IPv4-only, so "0.0.0.0:25" and "[::]:25" can both be listed.
func listenAll(hostports []string) ([]net.Listener, error) {
	var ls []net.Listener
	for _, hp := range hostports {
		network := "tcp"
		if host, _, err := net.SplitHostPort(hp); err == nil {
			if ip := net.ParseIP(host); ip != nil {
				network = "tcp6"
				if ip.To4() != nil {
					network = "tcp4"
				}
			}
		}
		l, err := net.Listen(network, hp)
		if err != nil {
			closeAll(ls)
			return nil, err
		}
		ls = append(ls, l)
	}
	return ls, nil
}

func closeAll(ls []net.Listener) {
	for _, l := range ls {
		l.Close()
	}
}

func addrs(ls []net.Listener) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Addr().String())
	}
	return out
}
