package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/posthorn/posthorn/internal/accounts"
	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/config"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/queue"
	"github.com/posthorn/posthorn/internal/smtpclient"
	"github.com/posthorn/posthorn/internal/smtpserver"
	"github.com/posthorn/posthorn/internal/srs"
	"github.com/posthorn/posthorn/internal/store"
)

// outbound is the outbound queue and what the SMTP server needs of it.
type outbound struct {
	queue  *queue.Queue
	srs    *srs.Rewriter
	limits *queue.Limiter
	relay  []smtpserver.RelayDomain
}

// queueParams are what startQueue needs.
type queueParams struct {
	cfg      config.Config
	host     addr.Domain
	st       store.Store
	resolver dns.Resolver
	dataDir  string
	log      *slog.Logger
	// sender replaces the SMTP client (tests); nil: a smtpclient.Client.
	sender queue.Sender
	// observer counts remote deliveries for metrics; nil: none.
	observer queue.Observer
}

// startQueue builds the queue from [queue] and [relay] and runs it until
// shut down (after the SMTP server, which feeds it).
func startQueue(ctx context.Context, p queueParams, run *running) (*outbound, error) {
	c := p.cfg.Queue
	secret, err := saslSecret(filepath.Join(p.dataDir, "srs-secret"))
	if err != nil {
		return nil, fmt.Errorf("SRS secret: %w", err)
	}
	o := &outbound{
		srs:    &srs.Rewriter{Secret: secret},
		limits: &queue.Limiter{MessagesPerDay: c.AccountMessagesPerDay, RecipientsPerHour: c.AccountRecipientsPerHour},
	}
	opts := queue.Options{
		RetryInitial: c.RetryInitial, RetryMax: c.RetryMax, DelayWarning: c.DelayWarning,
		Expire: c.Expire, Concurrency: c.Concurrency, MaxHops: c.MaxHops,
	}
	if c.DelayWarning == 0 {
		opts.DelayWarning = c.Expire * 2 // never before the bounce
	}
	for _, d := range c.RelayDomains {
		dom, err := addr.ParseDomain(d)
		if err != nil {
			return nil, err
		}
		opts.RelayDomains = append(opts.RelayDomains, dom)
		rd := smtpserver.RelayDomain{Domain: dom}
		for _, a := range c.RelayRecipients {
			if ra, err := addr.ParseAddress(a); err == nil && strings.EqualFold(ra.Domain.ASCII, dom.ASCII) {
				rd.Recipients = append(rd.Recipients, ra)
			}
		}
		o.relay = append(o.relay, rd)
	}
	if opts.Smarthost, err = smarthost(p.cfg.Relay); err != nil {
		return nil, err
	}
	tlsOut, err := newOutboundTLS(c, p.resolver, p.dataDir, p.log.With("svc", "smtpclient"))
	if err != nil {
		return nil, err
	}
	sender := p.sender
	if sender == nil {
		// DANE needs no setting: the client uses TLSA records whenever the
		// resolver marks the answers DNSSEC-authentic ([dns] servers must
		// be a validating resolver).
		client := &smtpclient.Client{Resolver: p.resolver, Hostname: p.host, Logger: p.log.With("svc", "smtpclient"),
			TLSConfig: tlsOut.tlsConfig, Policy: tlsOut.policy, TLSRPT: tlsOut.recorder}
		sender = queue.ClientSender{Client: client}
		run.add("smtpclient", func(context.Context) error { client.Close(); return nil })
	}
	svc := &accounts.Service{Store: p.st}
	o.queue = &queue.Queue{
		Store: p.st, Sender: sender, Hostname: p.host, SRS: o.srs, Options: opts,
		Local:      localBounces{svc: svc, d: &delivery.Deliverer{Store: p.st, Hostname: p.host}},
		TLSReports: tlsOut.tlsReports(ctx, p.st, p.host, p.resolver),
		Observer:   p.observer,
		Logger:     p.log.With("svc", "queue"),
	}
	qctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { o.queue.Run(qctx); close(done) }()
	go tlsOut.refresh(qctx)
	run.add("queue", func(sctx context.Context) error {
		cancel()
		select {
		case <-done:
			return nil
		case <-sctx.Done():
			return sctx.Err()
		}
	})
	return o, nil
}

// smarthost converts [relay]; nil when no host is set.
func smarthost(r config.Relay) (*queue.Smarthost, error) {
	if r.Host == "" {
		return nil, nil
	}
	sh := &queue.Smarthost{Relay: queue.Relay{Host: r.Host, Port: r.Port, Username: r.Username, ImplicitTLS: r.ImplicitTLS}}
	if r.PasswordFile != "" {
		b, err := os.ReadFile(r.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("relay.password_file: %w", err)
		}
		pw, _, _ := strings.Cut(string(b), "\n")
		sh.Relay.Password = strings.TrimRight(pw, "\r")
	}
	for _, d := range r.Domains {
		dom, err := addr.ParseDomain(d)
		if err != nil {
			return nil, err
		}
		sh.Domains = append(sh.Domains, dom)
	}
	return sh, nil
}

// deliverer returns the Outbound of the delivery pipeline (nil-safe).
func (o *outbound) deliverer() delivery.Outbound {
	if o == nil {
		return nil
	}
	return o.queue
}

// apply sets the SMTP server's backup-MX domains, SRS reversal and
// outbound limits.
func (o *outbound) apply(opt *smtpserver.Options) {
	if o == nil {
		return
	}
	opt.RelayDomains = o.relay
	opt.SRS = o.srs
	if o.limits.MessagesPerDay > 0 || o.limits.RecipientsPerHour > 0 {
		opt.OutboundLimits = o.limits
	}
}

// localBounces delivers reports to local senders through the local
// delivery pipeline (without the inbound checks: we wrote them).
type localBounces struct {
	svc *accounts.Service
	d   *delivery.Deliverer
}

func (l localBounces) DeliverLocal(ctx context.Context, to addr.Address, msg []byte) error {
	res, err := l.svc.Resolve(ctx, to)
	if errors.Is(err, accounts.ErrNotLocal) {
		return queue.ErrNotLocal
	} else if err != nil {
		return err
	}
	if len(res.Accounts) == 0 {
		return fmt.Errorf("report to %s: the address has no local mailbox", to)
	}
	// A generated message: no client, its own id (delivery.Received
	// writes "by HOST (posthorn) id ID").
	id := make([]byte, 6)
	rand.Read(id)
	env := &delivery.Envelope{ID: "dsn-" + hex.EncodeToString(id), Recipients: []delivery.Recipient{{Address: to, Accounts: res.Accounts}}}
	r, err := l.d.Deliver(ctx, env, delivery.Bytes(msg), nil)
	if err != nil {
		return err
	}
	return r.Errors[0]
}
