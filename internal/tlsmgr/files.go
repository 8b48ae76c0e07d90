package tlsmgr

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// fileSource is a certificate and key in PEM files, reloaded when they
// change.
type fileSource struct {
	cfg  Files
	log  *slog.Logger
	cert atomic.Pointer[tls.Certificate]

	mu    sync.Mutex // serialises reloads
	stamp fileStamp  // of the files last tried, valid or not
}

// fileStamp identifies a version of the two files.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

func newFileSource(cfg Files, log *slog.Logger) (*fileSource, error) {
	f := &fileSource{cfg: cfg, log: log}
	if err := f.reload(); err != nil {
		return nil, err
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
	cert, err := loadPair(f.cfg.CertFile, f.cfg.KeyFile)
	if err != nil {
		if f.cert.Load() != nil {
			f.log.Error("tls: new certificate files are invalid; still serving the previous certificate",
				"cert_file", f.cfg.CertFile, "key_file", f.cfg.KeyFile, "err", err)
		}
		return err
	}
	old := f.cert.Swap(cert)
	if old != nil {
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
