package tlsmgr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/caddyserver/certmagic"
)

// newMagic sets up certmagic: its own cache and configuration (never
// certmagic.Default), key reuse for DANE, ARI left on.
func (m *Manager) newMagic() {
	a := m.opt.ACME
	zl := zapLogger(m.log.With("component", "certmagic"))
	var cfgPtr atomic.Pointer[certmagic.Config]
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return cfgPtr.Load(), nil },
		RenewCheckInterval: a.RenewCheckInterval,
		Logger:             zl,
	})
	m.magic = certmagic.New(m.cache, certmagic.Config{
		Storage: &certmagic.FileStorage{Path: a.StorageDir},
		// The same key across renewals keeps DANE "3 1 1" TLSA records
		// valid; docs/certificates.md describes how to roll it.
		ReusePrivateKeys:  true,
		DefaultServerName: m.opt.DefaultName,
		// OCSP stapling is off: Let's Encrypt ended OCSP in 2025.
		OCSP:    certmagic.OCSPConfig{DisableStapling: true},
		OnEvent: m.onEvent,
		Logger:  zl,
	})
	cfgPtr.Store(m.magic)
	ca := a.DirectoryURL
	if ca == "" {
		ca = certmagic.LetsEncryptProductionCA
	}
	allowed := func(c string) bool { return len(a.Challenges) == 0 || slices.Contains(a.Challenges, c) }
	m.issuer = certmagic.NewACMEIssuer(m.magic, certmagic.ACMEIssuer{
		CA:                      ca,
		TestCA:                  ca, // never fall back to a staging CA
		Email:                   a.Email,
		Agreed:                  true,
		TrustedRoots:            a.Roots,
		AltHTTPPort:             a.HTTPPort,
		AltTLSALPNPort:          a.TLSALPNPort,
		DisableHTTPChallenge:    !allowed(HTTP01),
		DisableTLSALPNChallenge: !allowed(TLSALPN01),
		Logger:                  zl,
	})
	m.magic.Issuers = []certmagic.Issuer{m.issuer}
}

// manageNames asks certmagic to manage the names not managed yet.
func (m *Manager) manageNames(ctx context.Context) error {
	names, err := m.opt.ACME.Names(ctx)
	if err != nil {
		return err
	}
	var fresh []string
	m.mu.Lock()
	for _, n := range names {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if n != "" && !m.managed[n] {
			m.managed[n] = true
			fresh = append(fresh, n)
		}
	}
	m.mu.Unlock()
	if len(fresh) == 0 {
		return nil
	}
	m.log.Info("tls: managing certificates", "names", fresh)
	return m.magic.ManageAsync(ctx, fresh)
}

// onEvent follows certmagic's attempts to obtain and renew certificates.
func (m *Manager) onEvent(_ context.Context, event string, data map[string]any) error {
	name, _ := data["identifier"].(string)
	if name == "" {
		return nil
	}
	now := m.opt.Now()
	switch event {
	case "cert_obtaining":
		m.mu.Lock()
		a := m.attempts[name]
		a.at, a.end = now, false
		m.attempts[name] = a
		m.mu.Unlock()
	case "cert_obtained":
		m.mu.Lock()
		m.attempts[name] = attempt{at: now, ok: true, end: true}
		m.mu.Unlock()
		renewal, _ := data["renewal"].(bool)
		m.log.Info("tls: certificate obtained", "name", name, "renewal", renewal)
	case "cert_failed":
		cause, _ := data["error"].(error)
		if cause == nil {
			cause = errors.New("unknown error")
		}
		m.mu.Lock()
		m.attempts[name] = attempt{at: now, err: cause.Error(), end: true}
		m.failures++
		m.mu.Unlock()
		renewal, _ := data["renewal"].(bool)
		what := "obtaining"
		if renewal {
			what = "renewal"
		}
		m.log.Error(fmt.Sprintf("tls: certificate %s failed; retrying with backoff", what),
			"name", name, "remaining", data["remaining"], "err", cause)
	}
	return nil
}
