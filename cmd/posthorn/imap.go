package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/posthorn/posthorn/internal/accounts"
	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/config"
	"github.com/posthorn/posthorn/internal/imapserver"
	"github.com/posthorn/posthorn/internal/sasl"
	"github.com/posthorn/posthorn/internal/store"
)

// imapListeners are the bound IMAP sockets: STARTTLS (143) and implicit
// TLS (993).
type imapListeners struct {
	plain, tls []net.Listener
}

// listenIMAP binds the IMAP addresses (before the privilege drop).
func listenIMAP(l config.Listen) (*imapListeners, error) {
	plain, err := listenAll(l.IMAP)
	if err != nil {
		return nil, fmt.Errorf("listen.imap: %w", err)
	}
	implicit, err := listenAll(l.IMAPS)
	if err != nil {
		closeAll(plain)
		return nil, fmt.Errorf("listen.imaps: %w", err)
	}
	return &imapListeners{plain: plain, tls: implicit}, nil
}

func (ls *imapListeners) close() {
	closeAll(ls.plain)
	closeAll(ls.tls)
}

// imapAuth adapts the accounts service to the IMAP server's
// SCRAMAuthenticator.
type imapAuth struct {
	svc  *accounts.Service
	sasl accounts.SASLAuthenticator
}

var _ imapserver.SCRAMAuthenticator = imapAuth{}

func (a imapAuth) Authenticate(ctx context.Context, username, password string) (store.Account, error) {
	acc, err := a.svc.Authenticate(ctx, username, password, "imap")
	if errors.Is(err, accounts.ErrAuthFailed) {
		return store.Account{}, imapserver.ErrAuthFailed
	}
	return acc, err
}

func (a imapAuth) SCRAMCredentials(ctx context.Context, username string) (string, sasl.SCRAMCredentials, error) {
	return a.sasl.SCRAMCredentials(ctx, username)
}

func (a imapAuth) Account(ctx context.Context, identity string) (store.Account, error) {
	ad, err := addr.ParseAddress(identity)
	if err != nil {
		return store.Account{}, imapserver.ErrAuthFailed
	}
	acc, err := a.svc.Store.Account(ctx, ad)
	if errors.Is(err, store.ErrNotFound) || err == nil && acc.Disabled {
		return store.Account{}, imapserver.ErrAuthFailed
	}
	return acc, err
}

// imapParams are what startIMAP needs besides the listeners.
type imapParams struct {
	cfg    config.Config
	st     store.Store
	log    *slog.Logger
	secret []byte // keys fake SCRAM salts of unknown users
	// guard is shared with SMTP: login failures count across both
	// protocols; connections count in IMAP's own pool.
	guard imapserver.Guard
	// observer counts events for metrics; nil: none.
	observer imapserver.Observer
	// tls serves STARTTLS and implicit TLS; nil: no certificate.
	tls *tls.Config
	// tlsReady reports whether tls has a usable certificate now.
	tlsReady func() bool
}

// startIMAP builds the IMAP server and serves every listener; errors of
// Serve go to errc. It returns the server and the bound addresses.
func startIMAP(p imapParams, ls *imapListeners, errc chan<- error) (*imapserver.Server, map[string][]string, error) {
	tlsConfig := p.tls
	if len(ls.tls) > 0 && tlsConfig == nil {
		return nil, nil, errors.New("listen.imaps needs tls.cert_file and tls.key_file")
	}
	svc := &accounts.Service{Store: p.st}
	srv := &imapserver.Server{
		Store: p.st,
		// Events accumulate (one small row and a blob reference per
		// message moved into or out of Junk) until the junk filter
		// consumes them with JunkEvents/DeleteJunkEvents.
		JunkTraining: true,
		Auth:         imapAuth{svc: svc, sasl: accounts.SASLAuthenticator{Service: svc, Protocol: "imap"}},
		SCRAMSecret:  p.secret,
		TLSConfig:    tlsConfig,
		TLSReady:     p.tlsReady,
		AppendLimit:  int64(p.cfg.SMTP.MaxMessageSize),
		Logger:       p.log.With("svc", "imap"),
		Observer:     p.observer,
		// IMAP connections per account, from any addresses.
		MaxConnsPerAccount: p.cfg.IMAP.MaxConnectionsPerAccount,
	}
	if p.guard != nil {
		srv.Guard = p.guard
	}
	listening := map[string][]string{}
	for _, l := range ls.plain {
		listening["imap"] = append(listening["imap"], l.Addr().String())
		go func() { errc <- srv.Serve(l) }()
	}
	for _, l := range ls.tls {
		listening["imaps"] = append(listening["imaps"], l.Addr().String())
		go func() { errc <- srv.ServeTLS(l) }()
	}
	return srv, listening, nil
}

// junkEventMaxAge is how long junk-training events wait for the junk
// filter before they are pruned (and the message content they hold is
// released), so unconsumed events cannot fill the disk.
const junkEventMaxAge = 30 * 24 * time.Hour

// pruneJunkEvents deletes junk-training events older than maxAge, oldest
// first, once an hour until ctx ends.
func pruneJunkEvents(ctx context.Context, st store.Store, maxAge time.Duration, now func() time.Time, log *slog.Logger) {
	for {
		if n, err := pruneJunkEventsOnce(ctx, st, now().Add(-maxAge)); err != nil {
			log.Warn("pruning junk-training events", "err", err)
		} else if n > 0 {
			log.Info("pruned unconsumed junk-training events", "events", n, "older_than", maxAge)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Hour):
		}
	}
}

// pruneJunkEventsOnce deletes the events recorded before cutoff.
func pruneJunkEventsOnce(ctx context.Context, st store.Store, cutoff time.Time) (int, error) {
	total := 0
	for {
		evs, err := st.JunkEvents(ctx, 0, 500)
		if err != nil || len(evs) == 0 {
			return total, err
		}
		var through int64
		for _, e := range evs {
			if !e.Time.Before(cutoff) {
				break
			}
			through = e.ID
		}
		if through == 0 {
			return total, nil
		}
		n, err := st.DeleteJunkEvents(ctx, through)
		total += n
		if err != nil || through != evs[len(evs)-1].ID {
			return total, err
		}
	}
}
