package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/config"
	"github.com/posthorn/posthorn/internal/delivery"
	"github.com/posthorn/posthorn/internal/dns"
	"github.com/posthorn/posthorn/internal/msgauth"
	"github.com/posthorn/posthorn/internal/mtasts"
	"github.com/posthorn/posthorn/internal/queue"
	"github.com/posthorn/posthorn/internal/smtpclient"
	"github.com/posthorn/posthorn/internal/store"
	"github.com/posthorn/posthorn/internal/tlsrpt"
)

// mtastsRefresh is how often cached MTA-STS policies older than a day are
// fetched again (RFC 8461 §5.1), so they do not expire while in use.
const mtastsRefresh = 12 * time.Hour

// outboundTLS is the transport security of outbound mail, built from
// [queue]: the CA roots, the MTA-STS resolver and its cache, the local
// require_tls_domains, and the TLS-RPT recorder.
type outboundTLS struct {
	roots    *x509.CertPool // nil: system roots
	http     *http.Client   // MTA-STS fetches and TLS-RPT uploads
	sts      *mtasts.Resolver
	cache    *mtasts.FileCache
	require  map[string]bool
	recorder *tlsrpt.Recorder // nil: TLS-RPT off
	log      *slog.Logger
}

// newOutboundTLS reads [queue]'s TLS settings.
func newOutboundTLS(c config.Queue, r dns.Resolver, dataDir string, log *slog.Logger) (*outboundTLS, error) {
	o := &outboundTLS{require: map[string]bool{}, log: log}
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("queue.tls_ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("queue.tls_ca_file: %s holds no PEM certificate", c.TLSCAFile)
		}
		o.roots = pool
	}
	o.http = resolvingHTTPClient(r, o.roots)
	for _, d := range c.RequireTLSDomains {
		dom, err := addr.ParseDomain(d)
		if err != nil {
			return nil, fmt.Errorf("queue.require_tls_domains: %w", err)
		}
		o.require[dom.ASCII] = true
	}
	if c.MTASTS {
		path := filepath.Join(dataDir, "mta-sts-cache.json")
		cache, err := mtasts.OpenFileCache(path)
		if err != nil {
			log.Warn("MTA-STS policy cache unreadable; set aside as .bad, starting empty", "err", err)
			os.Rename(path, path+".bad")
			if cache, err = mtasts.OpenFileCache(path); err != nil {
				return nil, err
			}
		}
		cache.OnError = func(err error) { log.Warn("saving the MTA-STS policy cache", "err", err) }
		o.cache = cache
		o.sts = &mtasts.Resolver{DNS: r, Fetcher: &mtasts.Fetcher{Client: o.http}, Cache: cache}
	}
	if c.TLSReports {
		o.recorder = &tlsrpt.Recorder{}
	}
	return o, nil
}

// tlsConfig is smtpclient.Client.TLSConfig: the configured roots.
func (o *outboundTLS) tlsConfig(string) *tls.Config {
	if o.roots == nil {
		return nil
	}
	return &tls.Config{RootCAs: o.roots}
}

// policy is smtpclient.Client.Policy: the domain's MTA-STS policy and the
// local TLS requirement (smtpclient.DomainPolicies decides).
func (o *outboundTLS) policy(ctx context.Context, d addr.Domain) (smtpclient.Policy, error) {
	p := smtpclient.DomainPolicies{Require: o.require, STS: o.sts, TLSRPT: o.recorder}
	return p.Lookup(ctx, d)
}

// refresh keeps cached MTA-STS policies fresh until ctx is done.
func (o *outboundTLS) refresh(ctx context.Context) {
	if o.sts == nil {
		return
	}
	t := time.NewTicker(mtastsRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if done := o.sts.Refresh(ctx, o.cache.Domains(), 24*time.Hour); len(done) > 0 {
				o.log.Info("MTA-STS policies refreshed", "domains", strings.Join(done, ","))
			}
		}
	}
}

// tlsReports returns the queue's TLS-RPT sender, nil when off. Reports
// come from postmaster@ the local domain the host name belongs to (so the
// domain's DKIM key signs them), else the host name.
func (o *outboundTLS) tlsReports(ctx context.Context, st store.Store, host addr.Domain, r dns.Resolver) *queue.TLSReports {
	if o.recorder == nil {
		return nil
	}
	submitter := host
	if doms, err := st.Domains(ctx); err == nil {
		slices.SortFunc(doms, func(a, b store.Domain) int { return len(a.Name.ASCII) - len(b.Name.ASCII) })
		for _, d := range doms {
			if host.ASCII == d.Name.ASCII || strings.HasSuffix(host.ASCII, "."+d.Name.ASCII) {
				submitter = d.Name
				break
			}
		}
	}
	signer := &msgauth.Signer{Keys: st}
	return &queue.TLSReports{
		Recorder: o.recorder, Resolver: r, Submitter: submitter, HTTP: o.http,
		State: st, // the tallies survive restarts
		Sign:  func(ctx context.Context, msg []byte) ([]byte, error) { return signer.Sign(ctx, delivery.Bytes(msg)) },
	}
}

// resolvingHTTPClient is an HTTPS client that resolves host names with
// posthorn's resolver (the [dns] servers, like the rest of outbound mail)
// and trusts roots (nil: system roots). Redirects are refused by the
// MTA-STS fetcher itself.
func resolvingHTTPClient(r dns.Resolver, roots *x509.CertPool) *http.Client {
	var d net.Dialer
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots},
		TLSHandshakeTimeout: 30 * time.Second,
		DialContext: func(ctx context.Context, network, hostport string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(hostport)
			if err != nil {
				return nil, err
			}
			if _, err := netip.ParseAddr(host); err == nil {
				return d.DialContext(ctx, network, hostport)
			}
			ips, _, err := r.LookupIP(ctx, "ip", host)
			if err != nil {
				return nil, err
			}
			var last error = fmt.Errorf("%s has no address", host)
			for _, ip := range ips {
				c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
				if err == nil {
					return c, nil
				}
				last = err
			}
			return nil, last
		},
	}
	return &http.Client{Transport: tr, Timeout: mtasts.FetchTimeout}
}
