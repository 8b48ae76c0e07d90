// Package tlsmgr provides the TLS certificates of every listener (SMTP,
// submission, IMAP, HTTPS): one certificate and key from files, reloaded
// when they change, or certificates from an ACME CA (RFC 8555) obtained and
// renewed by github.com/caddyserver/certmagic; and the expiry watch, which
// raises the alarm when a certificate nears its end without a renewal.
//
// Listeners take certificates through GetCertificate (see [Manager.TLSConfig]
// and [Manager.MailTLSConfig]), so a renewed or reloaded certificate is
// served from the next handshake on, without a restart.
//
// On-disk layout, all under the ACME storage directory (DATA_DIR/acme):
//
//	certificates/ISSUER/NAME/NAME.crt, .key, .json   certmagic FileStorage: one
//	                                                  certificate per name; the
//	                                                  key is reused on renewal
//	acme/ISSUER/users/EMAIL/…                         the ACME account
//	locks/, ocsp/                                     certmagic's own
//
// and the alarm state, the expiry thresholds already mailed per certificate,
// in the file given as Options.StateFile (DATA_DIR/tls-alarms.json), a JSON
// object from certificate key (SHA-256 of the leaf) to the thresholds in days.
package tlsmgr

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
)

// Options configure a Manager. Exactly one of Files and ACME is set.
type Options struct {
	Files *Files
	ACME  *ACME
	// DefaultName is the name whose certificate is served to clients that
	// send no SNI (many SMTP clients): the MX host name.
	DefaultName string
	// StateFile remembers which expiry alarms were sent; "" keeps them in
	// memory only.
	StateFile string
	// Notifier mails the postmaster about a certificate near its expiry;
	// nil: the alarm is only logged.
	Notifier Notifier
	// Thresholds are the remaining lifetimes at which the postmaster is
	// mailed, once each per certificate. Nil: 14, 7, 3 and 1 days.
	Thresholds []time.Duration
	// AlarmRatio: a threshold only fires once less than this fraction of
	// the certificate's lifetime remains, past the point where a healthy
	// renewal (at a third of the lifetime) has already replaced it. 0: 1/4.
	AlarmRatio float64
	// CheckInterval is how often the expiry watch runs. 0: one hour.
	CheckInterval time.Duration
	Logger        *slog.Logger     // nil: discard
	Now           func() time.Time // nil: time.Now
}

// Files is a certificate chain and key in PEM files.
type Files struct {
	CertFile, KeyFile string
	// ReloadInterval is how often the files' size and modification time
	// are compared with those last loaded. 0: never (Reload only).
	ReloadInterval time.Duration
	// Explain, if set, rewrites an error reading the files before it is
	// returned or logged, e.g. a permission error into one line naming
	// the file's owner and mode and the fix. Nil: errors as they are.
	Explain func(error) error
}

// Challenge types (RFC 8737, RFC 8555 §8.3).
const (
	TLSALPN01 = "tls-alpn-01"
	HTTP01    = "http-01"
)

// ACME configures certificates from an ACME CA.
type ACME struct {
	DirectoryURL string // "": Let's Encrypt
	Email        string // account contact; may be empty
	StorageDir   string // certmagic FileStorage
	// Roots, when set, are trusted for the CA's HTTPS endpoint instead of
	// the system roots (a test CA such as pebble).
	Roots *x509.CertPool
	// Names returns the names to hold certificates for. It is called at
	// Start and every NamesInterval; names that appear are obtained.
	Names         func(ctx context.Context) ([]string, error)
	NamesInterval time.Duration // 0: one minute
	// Challenges allowed; nil: both TLSALPN01 and HTTP01.
	Challenges []string
	// HTTPPort and TLSALPNPort are the ports the CA connects to for
	// HTTP-01 and TLS-ALPN-01; 0: 80 and 443. When nothing of ours
	// listens there, certmagic binds them itself during a challenge.
	HTTPPort, TLSALPNPort int
	// RenewCheckInterval is how often certmagic looks for certificates to
	// renew. 0: certmagic's default (10 minutes).
	RenewCheckInterval time.Duration
}

// Notifier delivers an expiry alarm to the postmaster.
type Notifier interface {
	NotifyExpiry(ctx context.Context, a Alarm) error
}

// Alarm is one expiry alarm.
type Alarm struct {
	Cert      CertStatus
	Threshold time.Duration // the threshold crossed
	Remaining time.Duration
}

// Manager holds the certificates.
type Manager struct {
	opt Options
	log *slog.Logger

	file *fileSource // Files mode

	magic  *certmagic.Config // ACME mode
	cache  *certmagic.Cache
	issuer *certmagic.ACMEIssuer

	mu       sync.Mutex
	attempts map[string]attempt // by name (ACME)
	managed  map[string]bool
	failures int64
	sent     map[string][]int // thresholds sent, in days, by certificate key

	unusable atomic.Bool // Usable last found no certificate (logged once)

	stop context.CancelFunc
	wg   sync.WaitGroup
}

// attempt is the last renewal (or first obtain) attempt for a name.
type attempt struct {
	at  time.Time
	ok  bool
	err string
	end bool // the attempt finished
}

// New checks opt and loads what can be loaded without network access: the
// file certificate (an error if it is invalid) and the alarm state.
func New(opt Options) (*Manager, error) {
	if (opt.Files == nil) == (opt.ACME == nil) {
		return nil, errors.New("tlsmgr: exactly one of Files and ACME must be set")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Thresholds == nil {
		opt.Thresholds = DefaultThresholds
	}
	if opt.AlarmRatio == 0 {
		opt.AlarmRatio = 0.25
	}
	if opt.CheckInterval == 0 {
		opt.CheckInterval = time.Hour
	}
	m := &Manager{opt: opt, log: opt.Logger, attempts: map[string]attempt{}, managed: map[string]bool{}}
	if err := m.loadState(); err != nil {
		return nil, err
	}
	if opt.Files != nil {
		f, err := newFileSource(*opt.Files, opt.DefaultName, opt.Now, m.log)
		if err != nil {
			return nil, err
		}
		m.file = f
		return m, nil
	}
	m.newMagic()
	return m, nil
}

// Start begins obtaining and renewing (ACME), polling the files (Files),
// and the expiry watch. It returns at once; Shutdown stops it all.
func (m *Manager) Start(ctx context.Context) error {
	ctx, m.stop = context.WithCancel(ctx)
	if m.file != nil && m.opt.Files.ReloadInterval > 0 {
		m.goLoop(ctx, m.opt.Files.ReloadInterval, false, func(context.Context) { m.file.reloadIfChanged() })
	}
	if m.magic != nil {
		if err := m.manageNames(ctx); err != nil {
			return err
		}
		iv := m.opt.ACME.NamesInterval
		if iv == 0 {
			iv = time.Minute
		}
		m.goLoop(ctx, iv, false, func(ctx context.Context) {
			if err := m.manageNames(ctx); err != nil {
				m.log.Error("tls: updating certificate names", "err", err)
			}
		})
	}
	m.goLoop(ctx, m.opt.CheckInterval, true, m.CheckExpiry)
	return nil
}

// goLoop runs f every interval until ctx is done, and at once when now.
func (m *Manager) goLoop(ctx context.Context, interval time.Duration, now bool, f func(context.Context)) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if now {
			f(ctx)
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f(ctx)
			}
		}
	}()
}

// Shutdown stops the background work.
func (m *Manager) Shutdown(ctx context.Context) error {
	if m.stop != nil {
		m.stop()
	}
	if m.cache != nil {
		m.cache.Stop()
	}
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// GetCertificate is tls.Config.GetCertificate: the certificate for the
// client's SNI name (ACME), or the one file certificate.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if m.file != nil {
		return m.file.current(), nil
	}
	return m.magic.GetCertificate(hello)
}

// Usable reports whether a certificate valid now for the default name
// (the MX host name) can be served. While none can — ACME has not
// obtained one yet, the files hold an expired certificate or one for
// other names — mail listeners do not offer STARTTLS and implicit-TLS
// listeners close connections, instead of failing handshakes. The change
// either way is logged once. A nil Manager (no TLS configured) has none.
func (m *Manager) Usable() bool {
	if m == nil {
		return false
	}
	err := m.usable()
	if err != nil {
		if m.unusable.CompareAndSwap(false, true) {
			m.log.Error("tls: no usable certificate; STARTTLS is not offered and implicit-TLS ports close connections until there is one",
				"name", m.opt.DefaultName, "err", err)
		}
		return false
	}
	if m.unusable.CompareAndSwap(true, false) {
		m.log.Info("tls: a usable certificate is available again; TLS is offered", "name", m.opt.DefaultName)
	}
	return true
}

func (m *Manager) usable() error {
	var c *tls.Certificate
	what := "the certificate files"
	if m.file != nil {
		c = m.file.current()
		what = m.opt.Files.CertFile
	} else {
		// The cache, not GetCertificate: no handshake, no storage access.
		var best *tls.Certificate
		for _, mc := range m.cache.AllMatchingCertificates(m.opt.DefaultName) {
			if mc.Leaf != nil && (best == nil || mc.Leaf.NotAfter.After(best.Leaf.NotAfter)) {
				best = &tls.Certificate{Certificate: mc.Certificate.Certificate, Leaf: mc.Leaf}
			}
		}
		if best == nil {
			return fmt.Errorf("tls: ACME has no certificate for %s yet (see posthorn tls status)", m.opt.DefaultName)
		}
		c, what = best, "the ACME certificate"
	}
	if c == nil {
		return fmt.Errorf("tls: no certificate loaded from %s", what)
	}
	if c.Leaf == nil {
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			return fmt.Errorf("tls: %s: %w", what, err)
		}
		c = &tls.Certificate{Certificate: c.Certificate, PrivateKey: c.PrivateKey, Leaf: leaf}
	}
	return checkUsable(c, what, m.opt.DefaultName, m.opt.Now())
}

// TLSConfig is the configuration for the HTTPS listener: certificates
// by SNI, and ALPN h2, http/1.1 and acme-tls/1 so that TLS-ALPN-01
// challenges (RFC 8737) are answered on it. A nil Manager returns nil.
func (m *Manager) TLSConfig() *tls.Config {
	if m == nil {
		return nil
	}
	return &tls.Config{
		GetCertificate: m.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1", acmeTLS1},
		MinVersion:     tls.VersionTLS12,
	}
}

const acmeTLS1 = "acme-tls/1"

// MailTLSConfig is the configuration for SMTP and IMAP listeners: the same
// certificates, without ALPN (a mail client offering "imap" or "smtp" must
// not be refused for a protocol we do not list).
// A nil Manager (no certificate configured) returns nil.
func (m *Manager) MailTLSConfig() *tls.Config {
	if m == nil {
		return nil
	}
	return &tls.Config{GetCertificate: m.GetCertificate, MinVersion: tls.VersionTLS12}
}

// HTTPChallengeHandler answers ACME HTTP-01 challenges
// (/.well-known/acme-challenge/) and passes every other request to next.
// Without ACME (or for a nil Manager) it is next.
func (m *Manager) HTTPChallengeHandler(next http.Handler) http.Handler {
	if m == nil || m.issuer == nil {
		return next
	}
	return m.issuer.HTTPChallengeHandler(next)
}

// Reload re-reads the certificate files (on SIGHUP). An invalid pair is
// refused and the current certificate kept. No-op in ACME mode.
func (m *Manager) Reload() error {
	if m.file == nil {
		return nil
	}
	return m.file.reload()
}
