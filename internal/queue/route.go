package queue

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

// send routes one attempt: through the smarthost when it covers the
// domain, to the best MX that is not us for a relay (backup MX) domain,
// else to the domain's own MX hosts.
func (q *Queue) send(ctx context.Context, e store.QueueEntry, m Message) Result {
	dom, err := addr.ParseDomain(e.Domain)
	if err != nil {
		return Result{Err: permanentError{fmt.Errorf("queue: invalid destination domain %q: %w", e.Domain, err)}}
	}
	if relay, ok := q.smarthostFor(dom); ok {
		return q.Sender.DeliverVia(ctx, relay, m)
	}
	if q.isRelayDomain(dom) {
		return q.deliverToPrimary(ctx, dom, m)
	}
	return q.Sender.Deliver(ctx, dom, m)
}

// smarthostFor returns the relay for mail to dom, if any.
func (q *Queue) smarthostFor(dom addr.Domain) (Relay, bool) {
	sh := q.Options.Smarthost
	if sh == nil || sh.Relay.Host == "" {
		return Relay{}, false
	}
	if len(sh.Domains) == 0 {
		return sh.Relay, true
	}
	for _, d := range sh.Domains {
		if strings.EqualFold(d.ASCII, dom.ASCII) {
			return sh.Relay, true
		}
	}
	return Relay{}, false
}

func (q *Queue) isRelayDomain(dom addr.Domain) bool {
	return slices.ContainsFunc(q.Options.RelayDomains, func(d addr.Domain) bool { return strings.EqualFold(d.ASCII, dom.ASCII) })
}

// PrimaryMX returns the MX hosts of dom that mail from a backup MX may go
// to: those with a better (lower) preference than this host's own
// record, best first (RFC 5321 §5.1: an MX must not send to hosts of
// equal or worse preference, or mail loops). When this host is not listed,
// every MX host qualifies.
func (q *Queue) PrimaryMX(ctx context.Context, dom addr.Domain) ([]string, error) {
	if q.Resolver == nil {
		return nil, errors.New("queue: no resolver for MX lookups")
	}
	mxs, _, err := q.Resolver.LookupMX(ctx, dom.ASCII)
	if err != nil {
		return nil, fmt.Errorf("MX lookup of %s: %w", dom, err)
	}
	self := strings.TrimSuffix(strings.ToLower(q.Hostname.ASCII), ".")
	ours := -1
	for _, mx := range mxs {
		if strings.TrimSuffix(strings.ToLower(mx.Host), ".") == self && (ours < 0 || int(mx.Pref) < ours) {
			ours = int(mx.Pref)
		}
	}
	slices.SortStableFunc(mxs, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	var out []string
	for _, mx := range mxs {
		host := strings.TrimSuffix(mx.Host, ".")
		if strings.EqualFold(host, self) || host == "" || (ours >= 0 && int(mx.Pref) >= ours) {
			continue
		}
		out = append(out, host)
	}
	return out, nil
}

// deliverToPrimary sends mail for a relay domain to its better MX hosts
// in turn until one answers.
func (q *Queue) deliverToPrimary(ctx context.Context, dom addr.Domain, m Message) Result {
	hosts, err := q.PrimaryMX(ctx, dom)
	if err != nil {
		return Result{Err: err}
	}
	if len(hosts) == 0 {
		return Result{Err: fmt.Errorf("no MX host of %s has a better preference than this server (%s); holding the mail", dom, q.Hostname)}
	}
	var res Result
	for _, h := range hosts {
		res = q.Sender.DeliverVia(ctx, Relay{Host: h, Port: 25}, m)
		if res.Err == nil || len(res.PerRecipient) > 0 || ctx.Err() != nil {
			return res
		}
	}
	return res
}

// permanentError marks an attempt error as permanent.
type permanentError struct{ error }

func (permanentError) Permanent() bool { return true }
func (p permanentError) Unwrap() error { return p.error }
