package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/posthorn/posthorn/internal/accounts"
	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/config"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/store"
	"github.com/posthorn/posthorn/internal/tlsmgr"
)

// tlsParams are what startTLS needs.
type tlsParams struct {
	cfg   config.Config
	host  addr.Domain
	st    store.Store
	paths dataDirPaths
	log   *slog.Logger
}

// startTLS builds and starts the certificate manager: files or ACME, with
// the expiry watch mailing the postmaster. It returns nil when no
// certificate is configured (no TLS listener needs one). SIGHUP reloads
// certificate files.
func startTLS(ctx context.Context, p tlsParams, run *running) (*tlsmgr.Manager, error) {
	cfg := p.cfg
	log := p.log.With("svc", "tls")
	opt := tlsmgr.Options{
		DefaultName:   p.host.ASCII,
		StateFile:     filepath.Join(p.paths.dir, "tls-alarms.json"),
		Notifier:      &postmasterNotifier{st: p.st, host: p.host, to: cfg.TLS.AlarmTo, log: log},
		CheckInterval: cfg.TLS.CheckInterval,
		Logger:        log,
	}
	switch {
	case cfg.ACME.Enabled:
		a, err := acmeOptions(cfg, p.host, p.st, p.paths)
		if err != nil {
			return nil, err
		}
		opt.ACME = a
	case cfg.TLS.CertFile != "":
		opt.Files = &tlsmgr.Files{CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile, ReloadInterval: cfg.TLS.ReloadInterval,
			Explain: accessHelp{dataDir: p.paths.dir, server: true}.explain}
	default:
		return nil, nil
	}
	m, err := tlsmgr.New(opt)
	if err != nil {
		return nil, err
	}
	if err := m.Start(ctx); err != nil {
		return nil, err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
				if err := m.Reload(); err != nil {
					log.Error("tls: reload on SIGHUP", "err", accessHelp{dataDir: p.paths.dir, server: true}.explain(err))
				}
			}
		}
	}()
	run.add("tls", func(ctx context.Context) error {
		signal.Stop(hup)
		close(done)
		return m.Shutdown(ctx)
	})
	return m, nil
}

// acmeOptions turns the [acme] section into tlsmgr options.
func acmeOptions(cfg config.Config, host addr.Domain, st store.Store, paths dataDirPaths) (*tlsmgr.ACME, error) {
	c := cfg.ACME
	a := &tlsmgr.ACME{
		DirectoryURL:       c.DirectoryURL,
		Email:              c.Email,
		StorageDir:         filepath.Join(paths.dir, "acme"),
		Challenges:         c.Challenges,
		HTTPPort:           c.HTTPPort,
		TLSALPNPort:        c.TLSPort,
		RenewCheckInterval: c.RenewCheckInterval,
		Names: func(ctx context.Context) ([]string, error) {
			return certificateNames(ctx, host, c.Names, st)
		},
	}
	if c.CARoot != "" {
		b, err := os.ReadFile(c.CARoot)
		if err != nil {
			return nil, fmt.Errorf("acme.ca_root: %w", err)
		}
		a.Roots = x509.NewCertPool()
		if !a.Roots.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("acme.ca_root: no PEM certificate in %s", c.CARoot)
		}
	}
	return a, nil
}

// certificateNames are the names certificates are held for: the host
// name, mta-sts., autoconfig. and autodiscover. of every local domain
// (each a CNAME to the host in `domain records`), and the extra names
// configured.
func certificateNames(ctx context.Context, host addr.Domain, extra []string, st store.Store) ([]string, error) {
	names := []string{host.ASCII}
	doms, err := st.Domains(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range doms {
		names = append(names, "mta-sts."+d.Name.ASCII, "autoconfig."+d.Name.ASCII, "autodiscover."+d.Name.ASCII)
	}
	for _, n := range extra {
		if d, err := addr.ParseDomain(n); err == nil {
			names = append(names, d.ASCII)
		}
	}
	return names, nil
}

// postmasterNotifier delivers expiry alarms to the postmaster's mailbox.
type postmasterNotifier struct {
	st   store.Store
	host addr.Domain
	to   string // configured address; "": postmaster@ the first local domain
	log  *slog.Logger
}

var _ tlsmgr.Notifier = (*postmasterNotifier)(nil)

func (n *postmasterNotifier) recipient(ctx context.Context) (addr.Address, error) {
	if n.to != "" {
		return addr.ParseAddress(n.to)
	}
	doms, err := n.st.Domains(ctx)
	if err != nil {
		return addr.Address{}, err
	}
	if len(doms) == 0 {
		return addr.Address{}, errors.New("no local domain to mail postmaster@ at; set tls.alarm_to")
	}
	return addr.ParseAddress("postmaster@" + doms[0].Name.ASCII)
}

// NotifyExpiry implements tlsmgr.Notifier.
func (n *postmasterNotifier) NotifyExpiry(ctx context.Context, a tlsmgr.Alarm) error {
	to, err := n.recipient(ctx)
	if err != nil {
		return err
	}
	res, err := (&accounts.Service{Store: n.st}).Resolve(ctx, to)
	if err != nil {
		return fmt.Errorf("%s: %w", to, err)
	}
	if len(res.Accounts) == 0 {
		return fmt.Errorf("%s: no local account", to)
	}
	id := make([]byte, 12)
	rand.Read(id)
	msgID := hex.EncodeToString(id)
	msg := expiryMessage(a, to, n.host, msgID, time.Now())
	d := &delivery.Deliverer{Store: n.st, Hostname: n.host}
	env := &delivery.Envelope{ID: msgID, Recipients: []delivery.Recipient{{Address: to, Accounts: res.Accounts}}}
	if _, err := d.Deliver(ctx, env, delivery.Bytes(msg), nil); err != nil {
		return err
	}
	n.log.Info("tls: expiry alarm mailed", "to", to.String(), "names", a.Cert.Names)
	return nil
}

// remainingWords says how long a certificate has left, for the alarm's
// subject: whole days from two days on, then hours. The watch runs just
// after a threshold is crossed, so 23h59m left is "23 hours", not the
// "0 days" a truncation to days would say.
func remainingWords(d time.Duration) string {
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d <= 0:
		return "no time: it has expired"
	case d >= 48*time.Hour:
		return plural(int(d/(24*time.Hour)), "day")
	case d >= time.Hour:
		return plural(int(d/time.Hour), "hour")
	default:
		return "less than an hour"
	}
}

// expiryMessage is the alarm mail.
func expiryMessage(a tlsmgr.Alarm, to addr.Address, host addr.Domain, id string, now time.Time) []byte {
	c := a.Cert
	names := strings.Join(c.Names, ", ")
	var b strings.Builder
	fmt.Fprintf(&b, "From: posthorn <postmaster@%s>\r\n", host.ASCII)
	fmt.Fprintf(&b, "To: <%s>\r\n", to.ASCIIString())
	fmt.Fprintf(&b, "Subject: TLS certificate for %s expires in %s\r\n", c.Names[0], remainingWords(a.Remaining))
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", id, host.ASCII)
	b.WriteString("Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	fmt.Fprintf(&b, "The TLS certificate of this mail server for %s expires on %s\r\n", names, c.NotAfter.UTC().Format(time.RFC1123))
	fmt.Fprintf(&b, "(in %s) and has not been renewed.\r\n\r\n", a.Remaining.Round(time.Minute))
	fmt.Fprintf(&b, "Issuer: %s\r\n", c.Issuer)
	if !c.LastAttempt.IsZero() {
		fmt.Fprintf(&b, "Last renewal attempt: %s\r\n", c.LastAttempt.UTC().Format(time.RFC1123))
	}
	if c.LastError != "" {
		fmt.Fprintf(&b, "Error: %s\r\n", c.LastError)
	}
	b.WriteString("\r\nWhen it expires, mail clients and other mail servers will refuse to connect.\r\n")
	b.WriteString("Run \"posthorn tls status\" and see docs/certificates.md.\r\n")
	return []byte(b.String())
}
