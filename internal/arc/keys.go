package arc

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dkim"
	"github.com/posthorn/posthorn/internal/dns"
)

// DefaultMaxLookups bounds the distinct key records one Verify fetches. A
// chain of 50 sets needs up to 50 seal keys and 50 signature keys; a real
// one is a few hops whose sealers use one key each, so 16 is generous and
// keeps a crafted message from making us a DNS amplifier.
const DefaultMaxLookups = 16

// keyFailure is why a key could not be used; temporary failures may pass
// later.
type keyFailure struct {
	reason    string
	temporary bool
}

func (e *keyFailure) Error() string { return e.reason }

// keys fetches key records for one Verify: each name once, at most max
// distinct names.
type keys struct {
	ctx   context.Context
	res   dns.Resolver
	max   int
	cache map[string]keyAnswer
}

type keyAnswer struct {
	rec *dkim.KeyRecord
	err error
}

// get returns the key record of selector s under domain d.
func (k *keys) get(d addr.Domain, s string) (*dkim.KeyRecord, error) {
	name := strings.ToLower(s) + "._domainkey." + d.ASCII
	if a, ok := k.cache[name]; ok {
		return a.rec, a.err
	}
	if len(k.cache) >= k.max {
		return nil, &keyFailure{reason: fmt.Sprintf("the chain needs more than %d distinct keys; posthorn fetches no more", k.max)}
	}
	a := keyAnswer{}
	a.rec, a.err = k.fetch(name)
	k.cache[name] = a
	return a.rec, a.err
}

func (k *keys) fetch(name string) (*dkim.KeyRecord, error) {
	txts, _, err := k.res.LookupTXT(k.ctx, name)
	switch {
	case dns.IsNotFound(err):
		return nil, &keyFailure{reason: "no key record at " + name}
	case errors.Is(err, dns.ErrPermanent):
		return nil, &keyFailure{reason: "key record at " + name + " could not be fetched: " + err.Error()}
	case err != nil:
		return nil, &keyFailure{reason: "key record at " + name + " could not be fetched: " + err.Error(), temporary: true}
	case len(txts) != 1:
		// RFC 6376 §3.6.2.2: several records give undefined results.
		return nil, &keyFailure{reason: fmt.Sprintf("%d key records at %s; exactly one is needed", len(txts), name)}
	}
	rec, err := dkim.ParseKeyRecord(txts[0])
	if err != nil {
		return nil, &keyFailure{reason: "key at " + name + ": " + strings.TrimPrefix(err.Error(), "dkim: ")}
	}
	return rec, nil
}
