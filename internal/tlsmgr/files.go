package tlsmgr

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// fileSource is a certificate and key in PEM files, reloaded when they
// change.
type fileSource struct {
	cfg  Files
	name string // the name the certificate must cover ("": any)
	now  func() time.Time
	log  *slog.Logger
	cert atomic.Pointer[tls.Certificate]

	mu    sync.Mutex // serialises reloads
	stamp fileStamp  // of the files last tried, valid or not
	tried bool       // a load was tried before: later ones are reloads
}

// fileStamp identifies a version of the two files.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// newFileSource loads the pair. Files that cannot be read or parsed are an
// error; a pair that parses but cannot be served (expired, not yet valid,
// not for the host name) is logged and the source starts with no
// certificate, so mail still flows without TLS (see Manager.Usable) until
// the files are fixed.
func newFileSource(cfg Files, name string, now func() time.Time, log *slog.Logger) (*fileSource, error) {
	f := &fileSource{cfg: cfg, name: name, now: now, log: log}
	if err := f.reload(); err != nil {
		var ue *unusableError
		if !errors.As(err, &ue) {
			return nil, err
		}
	}
	return f, nil
}

func (f *fileSource) current() *tls.Certificate { return f.cert.Load() }

func (f *fileSource) statFiles() (fileStamp, error) {
	c, err := os.Stat(f.cfg.CertFile)
	if err != nil {
		return fileStamp{}, err
	}
	k, err := os.Stat(f.cfg.KeyFile)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{certMod: c.ModTime(), keyMod: k.ModTime(), certSize: c.Size(), keySize: k.Size()}, nil
}

// reloadIfChanged reloads when either file's size or modification time
// changed since the last attempt, so a broken pair is reported once, not
// at every poll.
func (f *fileSource) reloadIfChanged() {
	st, err := f.statFiles()
	f.mu.Lock()
	same := err == nil && st == f.stamp
	f.mu.Unlock()
	if same {
		return
	}
	f.reload() // logs its error
}

// reload loads the pair; an invalid one is logged and refused.
func (f *fileSource) reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, _ := f.statFiles()
	f.stamp = st
	reload := f.tried
	f.tried = true
	cert, err := loadPair(f.cfg.CertFile, f.cfg.KeyFile)
	if err != nil && f.cfg.Explain != nil {
		err = f.cfg.Explain(err)
	}
	if err == nil {
		err = checkUsable(cert, f.cfg.CertFile, f.name, f.now())
	}
	if err != nil {
		if f.cert.Load() != nil {
			f.log.Error("tls: new certificate files are invalid; still serving the previous certificate",
				"cert_file", f.cfg.CertFile, "key_file", f.cfg.KeyFile, "err", err)
		} else if _, ok := err.(*unusableError); ok {
			f.log.Error("tls: certificate files are not usable; TLS is off until they are fixed",
				"cert_file", f.cfg.CertFile, "key_file", f.cfg.KeyFile, "err", err)
		}
		return err
	}
	f.cert.Store(cert)
	if reload {
		f.log.Info("tls: certificate reloaded", "cert_file", f.cfg.CertFile,
			"names", cert.Leaf.DNSNames, "not_after", cert.Leaf.NotAfter)
	}
	return nil
}

// loadPair loads and checks a certificate chain and its key.
func loadPair(certFile, keyFile string) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
	}
	if len(cert.Leaf.DNSNames) == 0 && len(cert.Leaf.IPAddresses) == 0 && cert.Leaf.Subject.CommonName == "" {
		return nil, errors.New("tls: certificate names no host")
	}
	return &cert, nil
}

// unusableError is a certificate that parses but must not be served.
type unusableError struct{ msg string }

func (e *unusableError) Error() string { return e.msg }

// checkUsable refuses a certificate that is expired or not yet valid at
// now, or that does not cover name ("" skips the name check). file names
// the certificate in the message.
func checkUsable(c *tls.Certificate, file, name string, now time.Time) error {
	leaf := c.Leaf
	switch {
	case now.After(leaf.NotAfter):
		return &unusableError{fmt.Sprintf("tls: certificate %s expired on %s; renew it and replace the file",
			file, leaf.NotAfter.UTC().Format(time.RFC3339))}
	case now.Before(leaf.NotBefore):
		return &unusableError{fmt.Sprintf("tls: certificate %s is not valid before %s; check the clock or the certificate",
			file, leaf.NotBefore.UTC().Format(time.RFC3339))}
	}
	if name != "" {
		if err := leaf.VerifyHostname(name); err != nil {
			return &unusableError{fmt.Sprintf("tls: certificate %s is for %v, not for %s; get one that names %s",
				file, certNames(leaf), name, name)}
		}
	}
	return nil
}

// certNames lists the names a certificate is for.
func certNames(leaf *x509.Certificate) []string {
	names := slices.Clone(leaf.DNSNames)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && leaf.Subject.CommonName != "" {
		names = append(names, leaf.Subject.CommonName)
	}
	return names
}
