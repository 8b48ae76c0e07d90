package dnstest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// nodeResolver is a CommonJS module answering like node:dns/promises'
// resolve(name, rrtype) from zone.json beside it, for Node programs that take
// a resolver function (mailauth's resolver option): TXT as arrays of strings,
// MX as {exchange, priority}, CNAMEs followed; errors carry the codes
// node:dns uses, ENOTFOUND (NXDOMAIN), ENODATA and ESERVFAIL.
const nodeResolver = `'use strict';
const zone = require('./zone.json');
const exists = name => Object.keys(zone).some(k => k === name || k.endsWith('.' + name));
const fail = (code, name, type) => {
    const err = new Error(type + ' ' + name + ': ' + code);
    err.code = code;
    return err;
};
const keyOf = name => String(name).replace(/\.$/, '').toLowerCase();
const pick = (rec, type) => {
    switch (type) {
        case 'A': return rec.A;
        case 'AAAA': return rec.AAAA;
        case 'TXT': return rec.TXT && rec.TXT.map(t => [t]);
        case 'MX': return rec.MX && rec.MX.map(m => ({ exchange: m.Host.replace(/\.$/, ''), priority: m.Pref }));
        case 'PTR': return rec.PTR && rec.PTR.map(p => p.replace(/\.$/, ''));
        case 'CNAME': return rec.CNAME ? [rec.CNAME.replace(/\.$/, '')] : null;
    }
    return null;
};
module.exports.queries = [];
module.exports.resolve = async (name, type = 'A') => {
    let k = keyOf(name);
    module.exports.queries.push(type + ' ' + k);
    for (let i = 0; i < 8; i++) {
        const rec = zone[k];
        if (rec && rec.ServFail) throw fail('ESERVFAIL', name, type);
        const list = rec && pick(rec, type);
        if (list && list.length) return list;
        if (rec && rec.CNAME && type !== 'CNAME') { k = keyOf(rec.CNAME); continue; }
        throw fail(exists(k) ? 'ENODATA' : 'ENOTFOUND', name, type);
    }
    throw fail('ESERVFAIL', name, type);
};
`

// WriteNodeResolver writes a Node module answering DNS queries from z into
// a temporary directory of t and returns its path. The module exports
// resolve(name, rrtype), shaped like node:dns/promises' resolve, and queries,
// the lookups made ("TXT example.com"):
//
//	const { resolve } = require(path);
//	await mailauth.authenticate(msg, { resolver: resolve, ... });
func WriteNodeResolver(t testing.TB, z Zone) string {
	t.Helper()
	if err := z.Validate(); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(z.normalize())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "zone.json"), j, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "resolver.js")
	if err := os.WriteFile(path, []byte(nodeResolver), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
