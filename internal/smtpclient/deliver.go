package smtpclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dane"
	"github.com/posthorn/posthorn/internal/dns"
)

// Deliver makes one delivery attempt of m to the recipients of domain, all
// of which must be in that domain. It tries the domain's MX hosts in
// preference order (random among equal preference, RFC 5321 §5.1), every
// address of each (IPv6 first), moving on after connection errors and
// temporary failures, with the recipients still undecided. It never
// returns without a result for every recipient.
//
// A connection left idle by an earlier Deliver to the same domain is
// reused first (after RSET); Close closes the idle ones.
//
// Capability failures (SMTPUTF8 or REQUIRETLS not available, message too
// big, 8-bit message that cannot be downgraded) are permanent when every
// host reached lacked the capability; hosts that could not be reached do
// not count. Any other failure of a reached host keeps them temporary.
func (c *Client) Deliver(ctx context.Context, domain addr.Domain, m Message) Result {
	return c.deliverMX(ctx, domain, m, false)
}

// DeliverBackup is Deliver for a domain this server is a backup MX for
// (RFC 5321 §5.1): only the MX hosts with a better (lower) preference than
// this server's own record (Hostname) are tried, all of them when it is
// not listed; none left is a temporary failure (the mail waits for the
// primary). The transport security is the same as Deliver's: DANE,
// MTA-STS and the local requirement apply to the primary.
func (c *Client) DeliverBackup(ctx context.Context, domain addr.Domain, m Message) Result {
	return c.deliverMX(ctx, domain, m, true)
}

func (c *Client) deliverMX(ctx context.Context, domain addr.Domain, m Message, backup bool) Result {
	d := c.newDelivery(m)
	if d.done() {
		return d.res
	}
	if cn := c.cache.take(domain.ASCII); cn != nil {
		if c.reuse(ctx, d, cn, domain.ASCII) {
			return d.res
		}
	}
	hosts, mxAuth, fail := c.route(ctx, domain, backup)
	if fail != nil {
		d.failAll(*fail, fail.Permanent)
		return d.res
	}
	pol := c.transportPolicy(ctx, []addr.Domain{domain}, nil)
	for _, h := range hosts {
		if d.done() || ctx.Err() != nil {
			break
		}
		t := target{host: h, domain: domain, port: c.port(), policy: pol, mxAuthentic: mxAuth, cacheKey: domain.ASCII}
		c.tryHost(ctx, d, t)
	}
	return d.finish(ctx)
}

// DeliverVia makes one delivery attempt of m through a smarthost: all
// recipients, whatever their domain, go to relay. With a Username the
// connection must use TLS with a certificate valid for relay.Host, and
// AUTH PLAIN (or LOGIN) is used (RFC 4954).
func (c *Client) DeliverVia(ctx context.Context, relay Relay, m Message) Result {
	d := c.newDelivery(m)
	if d.done() {
		return d.res
	}
	port := relay.Port
	if port == 0 {
		port = 587
		if relay.ImplicitTLS {
			port = 465
		}
	}
	key := "relay:" + relay.Host + ":" + strconv.Itoa(port)
	if cn := c.cache.take(key); cn != nil {
		if c.reuse(ctx, d, cn, key) {
			return d.res
		}
	}
	host := strings.TrimSuffix(relay.Host, ".")
	// The relay's name is configured, not taken from an MX answer: DANE
	// applies when its address records are DNSSEC-authentic.
	t := target{host: host, port: port, relay: &relay, cacheKey: key, mxAuthentic: true,
		policy: c.transportPolicy(ctx, recipientDomains(m), &relay)}
	if dom, err := addr.ParseDomain(host); err == nil {
		t.domain = dom
	}
	c.tryHost(ctx, d, t)
	return d.finish(ctx)
}

// target is one host to try and what its connection must satisfy.
type target struct {
	host        string // MX or relay host name (no trailing dot), or an IP literal
	domain      addr.Domain
	port        int
	policy      Policy
	mxAuthentic bool
	relay       *Relay
	cacheKey    string
}

// route returns the MX hosts of domain in the order to try, and whether
// the MX answer was DNSSEC-authentic; or the failure for all recipients.
func (c *Client) route(ctx context.Context, domain addr.Domain, backup bool) ([]string, bool, *RecipientResult) {
	mxs, res, err := c.Resolver.LookupMX(ctx, domain.ASCII)
	switch {
	case errors.Is(err, dns.ErrNotFound):
		return nil, false, &RecipientResult{Code: 550, Enhanced: "5.1.2", Permanent: true,
			Text: fmt.Sprintf("The domain %s does not exist (DNS: no such domain)", domain)}
	case errors.Is(err, dns.ErrNoData):
		// RFC 5321 §5.1: no MX records, the domain itself is the implicit MX.
		return []string{domain.ASCII}, res.Authentic, nil
	case err != nil:
		return nil, false, &RecipientResult{Code: 451, Enhanced: "4.4.3",
			Text: fmt.Sprintf("Looking up the mail servers of %s failed; will retry (%v)", domain, err)}
	}
	// RFC 7505 §3: a single "0 ." MX says the domain accepts no mail.
	if len(mxs) == 1 && strings.TrimSuffix(mxs[0].Host, ".") == "" {
		return nil, false, &RecipientResult{Code: 556, Enhanced: "5.1.10", Permanent: true,
			Text: fmt.Sprintf("The domain %s does not accept mail: it publishes a null MX record (RFC 7505)", domain)}
	}
	mxs = slices.DeleteFunc(slices.Clone(mxs), func(mx *net.MX) bool { return strings.TrimSuffix(mx.Host, ".") == "" })
	if backup {
		if mxs = c.betterThanSelf(mxs); len(mxs) == 0 {
			return nil, false, &RecipientResult{Code: 451, Enhanced: "4.4.4",
				Text: fmt.Sprintf("No MX host of %s has a better preference than this server (%s); holding the mail for the primary", domain, c.Hostname)}
		}
	}
	rand.Shuffle(len(mxs), func(i, j int) { mxs[i], mxs[j] = mxs[j], mxs[i] })
	slices.SortStableFunc(mxs, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	var hosts []string
	for _, mx := range mxs {
		hosts = append(hosts, strings.ToLower(strings.TrimSuffix(mx.Host, ".")))
	}
	if len(hosts) == 0 {
		return nil, false, &RecipientResult{Code: 556, Enhanced: "5.1.10", Permanent: true,
			Text: fmt.Sprintf("The domain %s publishes no usable MX host", domain)}
	}
	return hosts, res.Authentic, nil
}

// betterThanSelf keeps the MX hosts a backup MX may send to: those with a
// better (lower) preference than this host's own record (RFC 5321 §5.1: a
// backup must not send to hosts of equal or worse preference, or mail
// loops); every host but this one when it is not listed.
func (c *Client) betterThanSelf(mxs []*net.MX) []*net.MX {
	self := strings.TrimSuffix(strings.ToLower(c.Hostname.ASCII), ".")
	isSelf := func(mx *net.MX) bool { return strings.TrimSuffix(strings.ToLower(mx.Host), ".") == self }
	ours := -1
	for _, mx := range mxs {
		if isSelf(mx) && (ours < 0 || int(mx.Pref) < ours) {
			ours = int(mx.Pref)
		}
	}
	return slices.DeleteFunc(mxs, func(mx *net.MX) bool { return isSelf(mx) || ours >= 0 && int(mx.Pref) >= ours })
}

// tryHost tries every address of t.host until the recipients are decided.
func (c *Client) tryHost(ctx context.Context, d *delivery, t target) {
	var ips []netip.Addr
	ipAuth := false
	if ip, err := netip.ParseAddr(t.host); err == nil {
		ips, ipAuth = []netip.Addr{ip}, false
	} else {
		found, res, err := c.Resolver.LookupIP(ctx, "ip", t.host)
		if err != nil {
			d.hostFailed(RecipientResult{Code: 451, Enhanced: "4.4.4",
				Text: fmt.Sprintf("Looking up the address of %s failed (%v)", t.host, err)}, err, failUnreached)
			return
		}
		ips, ipAuth = found, res.Authentic
	}
	// IPv6 first, then IPv4, each in DNS order.
	slices.SortStableFunc(ips, func(a, b netip.Addr) int {
		return boolInt(a.Unmap().Is4()) - boolInt(b.Unmap().Is4())
	})
	// DANE for every route: MX, backup MX and smarthost hosts alike.
	recs, err := dane.Lookup(ctx, c.Resolver, t.host, t.port, t.mxAuthentic && ipAuth)
	if err != nil {
		// RFC 7672 §2.1.1: a failed TLSA lookup of a signed zone
		// must not fall back to insecure delivery.
		d.hostFailed(RecipientResult{Code: 451, Enhanced: "4.7.5",
			Text: fmt.Sprintf("Looking up the DANE TLSA records of %s failed (%v)", t.host, err)}, err, failTemp)
		return
	}
	for _, ip := range ips {
		if d.done() || ctx.Err() != nil {
			return
		}
		c.tryAddr(ctx, d, t, recs, ip)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (c *Client) port() int {
	if c.Port != 0 {
		return c.Port
	}
	return 25
}

func (c *Client) timeouts() Timeouts { return c.Timeouts.withDefaults() }

func (c *Client) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
