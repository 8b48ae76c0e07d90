package smtpclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/dane"
)

// errRetryPlain: an opportunistic TLS handshake failed; RFC 7435 §3 lets
// the client reconnect without TLS.
var errRetryPlain = errors.New("smtpclient: TLS handshake failed, retrying without TLS")

// tryAddr makes one attempt at one address of a host.
func (c *Client) tryAddr(ctx context.Context, d *delivery, t target, recs dane.Records, ip netip.Addr) {
	cn, fail, kind, err := c.open(ctx, t, recs, ip, false)
	if errors.Is(err, errRetryPlain) {
		c.logger().Info("STARTTLS failed, retrying in plaintext", slog.String("host", t.host), slog.String("ip", ip.String()), slog.Any("err", err))
		cn, fail, kind, err = c.open(ctx, t, recs, ip, true)
	}
	if fail != nil {
		c.logger().Info("delivery attempt failed", slog.String("host", t.host), slog.String("ip", ip.String()), slog.Any("err", err), slog.String("reason", fail.Text))
		d.hostFailed(*fail, err, kind)
		return
	}
	c.run(ctx, d, cn, t.cacheKey)
}

// run does one transaction on cn and then caches or closes it.
func (c *Client) run(ctx context.Context, d *delivery, cn *conn, key string) {
	stop := context.AfterFunc(ctx, func() { cn.nc.SetDeadline(time.Unix(1, 0)) })
	c.transact(d, cn)
	if !stop() || cn.broken || !cn.esmtp {
		cn.close()
		return
	}
	c.cache.put(key, cn, c)
}

// reuse runs a transaction on a cached connection after RSET. It reports
// whether every recipient was decided.
func (c *Client) reuse(ctx context.Context, d *delivery, cn *conn, key string) bool {
	r, err := cn.do(cn.to.Command, "RSET")
	if err != nil || !r.ok() {
		cn.broken = err != nil
		cn.close()
		return false
	}
	c.run(ctx, d, cn, key)
	return d.done()
}

// open connects, reads the greeting, says EHLO and applies the TLS policy.
// It returns the ready connection, or the failure to record and its kind.
func (c *Client) open(ctx context.Context, t target, recs dane.Records, ip netip.Addr, plain bool) (cn *conn, fail *RecipientResult, kind failKind, err error) {
	to := c.timeouts()
	where := fmt.Sprintf("%s [%s]", t.host, ip)
	dctx, cancel := context.WithTimeout(ctx, to.Connect)
	defer cancel()
	var dialer Dialer = c.Dialer
	if dialer == nil {
		dialer = &net.Dialer{}
	}
	nc, err := dialer.DialContext(dctx, "tcp", netip.AddrPortFrom(ip, uint16(t.port)).String())
	if err != nil {
		return nil, &RecipientResult{Code: 451, Enhanced: "4.4.1", Text: fmt.Sprintf("Could not connect to %s (%v)", where, err)}, failUnreached, err
	}
	cn = newConn(nc, t.host, ip.String(), to)
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	defer func() {
		if fail != nil {
			cn.close()
			cn = nil
		}
	}()
	if t.relay != nil && t.relay.ImplicitTLS {
		tc := tls.Client(nc, c.tlsConfig(t.host, nil))
		nc.SetDeadline(time.Now().Add(to.Connect))
		if err := tc.Handshake(); err != nil {
			cn.broken = true
			return cn, &RecipientResult{Code: 451, Enhanced: "4.7.5", Text: fmt.Sprintf("TLS with %s failed (%v)", where, err)}, failTemp, err
		}
		nc.SetDeadline(time.Time{})
		cs := tc.ConnectionState()
		cn.nc, cn.tls = tc, &cs
		cn.r.Reset(tc)
		cn.w.Reset(tc)
		if fail, err := c.checkPeer(cn, t, recs, c.mode(t, recs)); fail != nil {
			return cn, fail, failTemp, err
		}
	}
	r, err := cn.readReply(to.Greeting)
	if err != nil {
		return cn, &RecipientResult{Code: 451, Enhanced: "4.4.2", Text: fmt.Sprintf("No greeting from %s (%v)", where, err)}, failUnreached, err
	}
	if r.Code != 220 {
		f := fromReply(r)
		return cn, &f, failTemp, nil
	}
	if r, err := cn.hello(c.Hostname.ASCII); err != nil || !r.ok() {
		if err != nil {
			return cn, &RecipientResult{Code: 451, Enhanced: "4.4.2", Text: fmt.Sprintf("EHLO to %s failed (%v)", where, err)}, failTemp, err
		}
		f := fromReply(r)
		return cn, &f, failTemp, nil
	}
	if cn.tls == nil {
		if fail, err := c.secure(cn, t, recs, plain); fail != nil || err != nil {
			return cn, fail, failTemp, err
		}
	}
	if t.relay != nil && t.relay.Username != "" {
		if fail, err := c.auth(cn, t.relay); fail != nil {
			return cn, fail, failTemp, err
		}
	}
	return cn, nil, failTemp, nil
}

// secure applies the TLS policy: STARTTLS, then DANE or PKIX verification
// (RFC 7672 §2.2, RFC 8461 §4), and records the TLS-RPT outcome.
func (c *Client) secure(cn *conn, t target, recs dane.Records, plain bool) (*RecipientResult, error) {
	mode := c.mode(t, recs)
	policyFail := func(typ, text string, err error) (*RecipientResult, error) {
		c.report(t, recs, mode, cn, typ, text)
		if !mode.required && typ != "" {
			return nil, nil // testing mode: report only
		}
		return &RecipientResult{Code: 451, Enhanced: "4.7.5", Text: text}, err
	}
	// Enforce mode skips unlisted hosts before STARTTLS; testing mode
	// reports them through Check below.
	if mode.sts.Enforced() && !mode.sts.MatchMX(t.host) {
		if f, err := policyFail("validation-failure", fmt.Sprintf("The MX host %s is not listed in the MTA-STS policy of %s", t.host, t.domain), nil); f != nil {
			return f, err
		}
	}
	if plain || !cn.has("STARTTLS") {
		cn.policy = "none"
		why := fmt.Sprintf("%s does not offer STARTTLS", cn.name())
		if mode.required {
			why += fmt.Sprintf(", which the %s policy of %s requires", mode.name, t.domain)
		}
		return policyFail("starttls-not-supported", why, nil)
	}
	cfg := c.tlsConfig(t.host, nil)
	r, err := cn.startTLS(cfg)
	if err != nil || r.Code != 220 {
		if err == nil {
			err = fmt.Errorf("smtpclient: STARTTLS refused by %s: %s", cn.name(), r)
		}
		if !mode.required && !cn.broken {
			cn.policy = "none"
			c.report(t, recs, mode, cn, "starttls-not-supported", err.Error())
			return nil, nil
		}
		if !mode.required {
			c.report(t, recs, mode, cn, "validation-failure", err.Error())
			return &RecipientResult{Code: 451, Enhanced: "4.7.5", Text: err.Error()}, errRetryPlain
		}
		return policyFail("validation-failure", fmt.Sprintf("TLS with %s failed (%v)", cn.name(), err), err)
	}
	if r, err := cn.hello(c.Hostname.ASCII); err != nil || !r.ok() {
		if err == nil {
			err = fmt.Errorf("smtpclient: EHLO after STARTTLS: %s", r)
		}
		return &RecipientResult{Code: 451, Enhanced: "4.4.2", Text: fmt.Sprintf("EHLO to %s after STARTTLS failed (%v)", cn.name(), err)}, err
	}
	return c.checkPeer(cn, t, recs, mode)
}

// checkPeer verifies the certificate of an established TLS session
// (after STARTTLS, or implicit TLS to a smarthost) under the host's
// policy: DANE TLSA records, MTA-STS, or PKIX for the host name when TLS
// is required; and records the TLS-RPT outcome.
func (c *Client) checkPeer(cn *conn, t target, recs dane.Records, mode tlsMode) (*RecipientResult, error) {
	policyFail := func(typ, text string, err error) (*RecipientResult, error) {
		c.report(t, recs, mode, cn, typ, text)
		if !mode.required && typ != "" {
			return nil, nil // testing mode: report only
		}
		return &RecipientResult{Code: 451, Enhanced: "4.7.5", Text: text}, err
	}
	cn.policy = mode.name
	chain := cn.tls.PeerCertificates
	if len(recs.Usable) > 0 {
		if err := dane.Verify(recs.Usable, chain, []string{t.host, t.domain.ASCII}, c.now()); err != nil {
			return policyFail("tlsa-invalid", fmt.Sprintf("The certificate of %s does not match its DANE TLSA records (%v)", cn.name(), err), err)
		}
		cn.verify, cn.requireTLSOK = true, true
		c.report(t, recs, mode, cn, "", "")
		return nil, nil
	}
	cn.verify = c.pkixVerify(chain, t.host) == nil
	if mode.sts != nil {
		if err := mode.sts.Check(t.host, cn.verify); err != nil {
			c.report(t, recs, mode, cn, "certificate-host-mismatch", err.Error())
			if mode.sts.Enforced() {
				return &RecipientResult{Code: 451, Enhanced: "4.7.5", Text: err.Error()}, err
			}
		} else {
			cn.requireTLSOK = true
		}
	}
	if t.policy.RequireVerifiedTLS && !cn.verify {
		c.report(t, recs, mode, cn, "certificate-host-mismatch", "certificate not valid for "+t.host)
		return &RecipientResult{Code: 451, Enhanced: "4.7.5", Text: fmt.Sprintf("The certificate of %s is not valid for its name, and TLS with a valid certificate is required", cn.name())}, nil
	}
	if t.relay != nil {
		cn.requireTLSOK = cn.verify
	}
	if mode.sts == nil || cn.requireTLSOK {
		c.report(t, recs, mode, cn, "", "")
	}
	return nil, nil
}

// tlsConfig returns the TLS configuration for host: verification is done
// by the caller after the handshake (DANE or PKIX, recorded either way).
func (c *Client) tlsConfig(host string, _ *tls.Config) *tls.Config {
	var cfg *tls.Config
	if c.TLSConfig != nil {
		cfg = c.TLSConfig(host)
	}
	if cfg == nil {
		cfg = &tls.Config{}
	} else {
		cfg = cfg.Clone()
	}
	cfg.ServerName = host
	cfg.InsecureSkipVerify = true
	return cfg
}

// pkixVerify verifies chain for host against the configured roots.
func (c *Client) pkixVerify(chain []*x509.Certificate, host string) error {
	if len(chain) == 0 {
		return errors.New("no certificate")
	}
	var roots *x509.CertPool
	if c.TLSConfig != nil {
		if cfg := c.TLSConfig(host); cfg != nil {
			roots = cfg.RootCAs
		}
	}
	inter := x509.NewCertPool()
	for _, ic := range chain[1:] {
		inter.AddCert(ic)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: host, CurrentTime: c.now()})
	return err
}

// auth authenticates to a relay with PLAIN or LOGIN (RFC 4954), only over
// verified TLS.
func (c *Client) auth(cn *conn, relay *Relay) (*RecipientResult, error) {
	if cn.tls == nil || !cn.verify {
		return &RecipientResult{Code: 451, Enhanced: "4.7.5", Text: fmt.Sprintf("Not sending credentials to %s without TLS and a valid certificate", cn.name())}, nil
	}
	mechs := strings.Fields(strings.ToUpper(cn.ext["AUTH"]))
	has := func(m string) bool {
		for _, x := range mechs {
			if x == m {
				return true
			}
		}
		return false
	}
	var r reply
	var err error
	switch {
	case has("PLAIN"):
		ir := base64.StdEncoding.EncodeToString([]byte("\x00" + relay.Username + "\x00" + relay.Password))
		r, err = cn.do(cn.to.Command, "AUTH PLAIN %s", ir)
	case has("LOGIN"):
		r, err = cn.do(cn.to.Command, "AUTH LOGIN")
		for _, s := range []string{relay.Username, relay.Password} {
			if err != nil || r.Code != 334 {
				break
			}
			r, err = cn.do(cn.to.Command, "%s", base64.StdEncoding.EncodeToString([]byte(s)))
		}
	default:
		return &RecipientResult{Code: 451, Enhanced: "4.7.12", Text: fmt.Sprintf("%s offers neither AUTH PLAIN nor AUTH LOGIN", cn.name())}, nil
	}
	if err != nil {
		return &RecipientResult{Code: 451, Enhanced: "4.4.2", Text: fmt.Sprintf("AUTH with %s failed (%v)", cn.name(), err)}, err
	}
	if r.Code != 235 {
		// A refusal of our credentials is a local configuration problem:
		// kept temporary (the mail waits while the operator fixes
		// [relay] username or password_file, and bounces at expiry), with
		// the relay's own reply quoted, code and all.
		c.logger().Error("the smarthost refused our credentials; check [relay] username and password_file",
			slog.String("relay", cn.name()), slog.String("reply", r.String()))
		return &RecipientResult{Code: 451, Enhanced: "4.7.0", Text: fmt.Sprintf(
			"The smarthost %s refused our credentials (it answered %s); check [relay] username and password_file", cn.name(), r)}, nil
	}
	return nil, nil
}
