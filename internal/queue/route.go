package queue

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/store"
)

// send routes one attempt: through the smarthost when it covers the
// domain, to the MX hosts better than us for a relay (backup MX) domain,
// else to the domain's own MX hosts. The Sender applies the same
// transport-security policy on every route.
func (q *Queue) send(ctx context.Context, e store.QueueEntry, m Message) Result {
	dom, err := addr.ParseDomain(e.Domain)
	if err != nil {
		return Result{Err: permanentError{fmt.Errorf("queue: invalid destination domain %q: %w", e.Domain, err)}}
	}
	if relay, ok := q.smarthostFor(dom); ok {
		return q.Sender.DeliverVia(ctx, relay, m)
	}
	if q.isRelayDomain(dom) {
		return q.Sender.DeliverBackup(ctx, dom, m)
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

// permanentError marks an attempt error as permanent.
type permanentError struct{ error }

func (permanentError) Permanent() bool { return true }
func (p permanentError) Unwrap() error { return p.error }
