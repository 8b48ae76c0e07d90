package main

import (
	"log/slog"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/config"
	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/msgauth"
	"github.com/posthorn/posthorn/internal/store"
)

// newResolver returns the DNS client of the configuration: the [dns]
// servers, or /etc/resolv.conf's when there are none.
func newResolver(c config.DNS, log *slog.Logger) (*dns.Client, error) {
	return dns.New(dns.Options{Servers: c.Servers, Logger: log})
}

// newChecker builds the message-authentication checker from [auth].
func newChecker(cfg config.Config, host addr.Domain, r dns.Resolver, reports msgauth.ReportSink, enforce bool, log *slog.Logger) *msgauth.Checker {
	c := cfg.Auth
	var trusted []addr.Domain
	for _, s := range c.TrustedARCSealers {
		if d, err := addr.ParseDomain(s); err == nil {
			trusted = append(trusted, d)
		}
	}
	tempErr := msgauth.Defer
	if c.DMARCTempError == "accept" {
		tempErr = msgauth.Deliver
	}
	return msgauth.NewChecker(msgauth.Options{
		Resolver:          r,
		Hostname:          host,
		AuthServID:        c.AuthServID,
		TrustedARCSealers: trusted,
		DMARCReject:       msgauth.Action(c.DMARCReject),
		DMARCTempError:    tempErr,
		Enforce:           enforce,
		Timeout:           c.CheckTimeout,
		Reports:           reports,
		Logger:            log,
	})
}

// newAuthHook builds the delivery hook that checks inbound mail and signs
// submitted mail. DMARC report records go to the store.
func newAuthHook(cfg config.Config, host addr.Domain, r dns.Resolver, st store.Store, enforce bool, log *slog.Logger) *msgauth.Hook {
	chk := newChecker(cfg, host, r, st, enforce, log)
	h := &msgauth.Hook{AuthServID: chk.AuthServID(), Checker: chk, Logger: log, Sealer: &msgauth.Signer{Keys: st}}
	if cfg.DKIM.Sign {
		h.Signer = &msgauth.Signer{Keys: st}
	}
	return h
}
