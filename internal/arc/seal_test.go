package arc

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dkim"
)

// TestSealGolden pins the exact fields of a two-hop chain: Ed25519 and
// RSA PKCS#1 v1.5 signatures are deterministic.
func TestSealGolden(t *testing.T) {
	res := testResolver(t)
	two := twoHops(t, res)
	head, _, _ := strings.Cut(two, "\r\n\r\n")
	var arc strings.Builder
	for line := range strings.SplitAfterSeq(head+"\r\n", "\r\n") {
		if strings.HasPrefix(line, "From:") {
			break
		}
		arc.WriteString(line)
	}
	golden(t, "two-hops.golden", arc.String())
}

// TestSealFailedChain: a broken chain is sealed once with cv=fail, over
// the new set alone (RFC 8617 §5.1.2), and then never again.
func TestSealFailedChain(t *testing.T) {
	res := testResolver(t)
	broken := strings.Replace(seal(t, res, readFile(t, "message.eml"), edSigner(t)), "shall we", "shall WE", 1)
	chain := verify(t, res, broken)
	if chain.Chain != StatusFail {
		t.Fatalf("tampered: %s", describe(chain))
	}
	sealed := seal(t, res, broken, fwdSigner(t))
	if !strings.HasPrefix(sealed, "ARC-Seal: i=2; cv=fail; a=rsa-sha256;") {
		t.Fatalf("sealed:\n%s", sealed[:200])
	}
	// The new seal verifies over its own set only.
	h, err := dkim.ReadHeader(bufio.NewReader(strings.NewReader(sealed)))
	if err != nil {
		t.Fatal(err)
	}
	fields, _, _ := parseFields(h)
	var own []*arcField
	for _, f := range fields {
		if f.Instance == 2 {
			own = append(own, f)
		}
	}
	if len(own) != 3 || own[0].Kind != kindAS || own[1].Kind != kindAMS || own[2].Kind != kindAAR {
		t.Fatalf("new set: %+v", own)
	}
	hh := sha256.New()
	io.WriteString(hh, dkim.RelaxedHeader(own[2].Raw))
	io.WriteString(hh, dkim.RelaxedHeader(own[1].Raw))
	io.WriteString(hh, strings.TrimSuffix(dkim.RelaxedHeader(emptyB(own[0].Raw)), "\r\n"))
	s, err := parseSig(own[0].Tags, "cv")
	if err != nil {
		t.Fatal(err)
	}
	ks := &keys{ctx: t.Context(), res: res, max: 4, cache: map[string]keyAnswer{}}
	if err := s.check(ks, hh.Sum(nil)); err != nil {
		t.Errorf("cv=fail seal over its own set: %v", err)
	}
	// The chain has ended: it fails, and nobody seals it again.
	r := verify(t, res, sealed)
	if r.Chain != StatusFail || !r.Terminated || r.FailedInstance != 2 {
		t.Errorf("after cv=fail: %s", describe(r))
	}
	sealer := &Sealer{Signer: edSigner(t)}
	if _, err := sealer.Seal(strings.NewReader(sealed), arFor(posthornDomain), r); !errors.Is(err, ErrTerminated) {
		t.Errorf("sealing a terminated chain: %v", err)
	}
	// Even when handed a Result that does not say so.
	if _, err := sealer.Seal(strings.NewReader(sealed), arFor(posthornDomain), Result{Chain: StatusFail, Instances: 2}); !errors.Is(err, ErrTerminated) {
		t.Errorf("sealing a terminated chain with a stale result: %v", err)
	}
}

func TestSealErrors(t *testing.T) {
	res := testResolver(t)
	msg := readFile(t, "message.eml")
	one := seal(t, res, msg, edSigner(t))
	good := &Sealer{Signer: edSigner(t), Now: verifyNow}
	for _, c := range []struct {
		name   string
		sealer *Sealer
		msg    string
		ar     string
		chain  Result
		want   error
	}{
		{"result of another message", good, one, arFor(posthornDomain), Result{Chain: StatusNone}, ErrChainMismatch},
		{"none for a sealed message", good, one, arFor(posthornDomain), Result{Chain: StatusNone, Instances: 1}, ErrChainMismatch},
		{"pass for no chain", good, msg, arFor(posthornDomain), Result{Chain: StatusPass}, ErrChainMismatch},
		{"pass for a broken chain", good, removeField(t, one, kindAAR, 1), arFor(posthornDomain), Result{Chain: StatusPass, Instances: 1}, ErrChainMismatch},
		{"no authserv-id", good, msg, "; spf=pass", Result{}, nil},
		{"no From", good, strings.Replace(msg, "From:", "Sender:", 1), arFor(posthornDomain), Result{}, nil},
		{"no key", &Sealer{Signer: dkim.Signer{Domain: posthornDomain, Selector: "x"}}, msg, arFor(posthornDomain), Result{}, nil},
		{"bad selector", &Sealer{Signer: dkim.Signer{Domain: posthornDomain, Selector: "a;b", Key: edSigner(t).Key}}, msg, arFor(posthornDomain), Result{}, nil},
		{"no domain", &Sealer{Signer: dkim.Signer{Selector: "ed", Key: edSigner(t).Key}}, msg, arFor(posthornDomain), Result{}, nil},
	} {
		_, err := c.sealer.Seal(strings.NewReader(c.msg), c.ar, c.chain)
		if err == nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestAAR(t *testing.T) {
	for _, c := range []struct {
		ar   string
		cv   Status
		want string
	}{
		{"mx.example; spf=pass smtp.mailfrom=a@b.example", StatusNone,
			"ARC-Authentication-Results: i=1; mx.example;\r\n\tspf=pass smtp.mailfrom=a@b.example;\r\n\tarc=none\r\n"},
		{"Authentication-Results: mx.example 1;\r\n dkim=pass (good) header.d=b.example;\r\n arc=fail", StatusPass,
			"ARC-Authentication-Results: i=1; mx.example 1;\r\n\tdkim=pass (good) header.d=b.example;\r\n\tarc=fail\r\n"},
		{"mx.example; none", StatusNone, "ARC-Authentication-Results: i=1; mx.example;\r\n\tnone;\r\n\tarc=none\r\n"},
	} {
		got, err := newAAR(1, c.ar, c.cv)
		if err != nil || got != c.want {
			t.Errorf("newAAR(%q) = %q, %v; want %q", c.ar, got, err, c.want)
		}
	}
}

func TestTrustedOverride(t *testing.T) {
	res := testResolver(t)
	two := twoHops(t, res)
	r := verify(t, res, two)
	trusted := []addr.Domain{addr.MustParseDomain("Lists.Forwarder.Example")}
	id, dmarc, ok := TrustedOverride(r, trusted)
	if !ok || id != "mx.lists.forwarder.example" || dmarc != "pass" {
		t.Errorf("trusted list: %q %q %v", id, dmarc, ok)
	}
	methods := r.Sets[1].Methods()
	if len(methods) != 4 || methods[0].Method != "spf" || methods[0].Props["smtp.mailfrom"] != "alice@posthorn.example" ||
		methods[1].Props["header.s"] != "ed" || methods[3].Method != "arc" || methods[3].Result != "pass" {
		t.Errorf("methods %+v", methods)
	}
	if _, _, ok := TrustedOverride(r, []addr.Domain{posthornDomain}); ok {
		t.Error("override by a sealer that is not the latest")
	}
	if _, _, ok := TrustedOverride(r, nil); ok {
		t.Error("override without trusted sealers")
	}
	failed := verify(t, res, strings.Replace(two, "shall we", "shall WE", 1))
	if _, _, ok := TrustedOverride(failed, trusted); ok {
		t.Error("override from a failed chain")
	}
	// A trusted sealer that recorded no DMARC result.
	sealer := &Sealer{Signer: fwdSigner(t), Now: verifyNow}
	msg := readFile(t, "message.eml")
	f, err := sealer.Seal(strings.NewReader(msg), "mx.lists.forwarder.example; spf=pass smtp.mailfrom=x@y.example", Result{Chain: StatusNone})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := TrustedOverride(verify(t, res, f+msg), trusted); ok {
		t.Error("override without a DMARC result")
	}
}

func TestParseResults(t *testing.T) {
	for _, c := range []struct {
		in, want string
	}{
		{"", ""},
		{"none", ""},
		{"dmarc=pass header.from=example.com", "dmarc=pass{header.from:example.com}"},
		{"DKIM/1 = Pass (good; really) header.d = a.example; spf=fail", "dkim=pass{header.d:a.example} spf=fail{}"},
		{`spf=fail reason="no; match" smtp.mailfrom=x@y`, "spf=fail{reason:no; match smtp.mailfrom:x@y}"},
		{"(only a comment)", ""},
		{"dmarc=pass (unterminated comment", "dmarc=pass{}"},
		{"=pass; dmarc=; x", ""},
	} {
		var got []string
		for _, m := range ParseResults(c.in) {
			var props []string
			for _, k := range []string{"reason", "header.from", "header.d", "smtp.mailfrom"} {
				if v, ok := m.Props[k]; ok {
					props = append(props, k+":"+v)
				}
			}
			got = append(got, m.Method+"="+m.Result+"{"+strings.Join(props, " ")+"}")
		}
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("ParseResults(%q) = %q, want %q", c.in, g, c.want)
		}
	}
}

func TestAuthResult(t *testing.T) {
	for _, c := range []struct {
		r    Result
		want string
	}{
		{Result{}, "arc=none"},
		{Result{Chain: StatusNone}, "arc=none"},
		{Result{Chain: StatusPass, OldestPass: 2}, "arc=pass header.oldest-pass=2"},
		{Result{Chain: StatusFail, Reason: "ARC-Seal i=2 (by x): bad\r\n"}, "arc=fail (ARC-Seal i=2 [by x]: bad  )"},
	} {
		if got := c.r.AuthResult(); got != c.want {
			t.Errorf("AuthResult(%+v) = %q, want %q", c.r, got, c.want)
		}
	}
}

// TestClock: t= comes from the Sealer's clock.
func TestClock(t *testing.T) {
	s := &Sealer{Signer: edSigner(t), Now: func() time.Time { return time.Unix(1234567890, 0) }}
	f, err := s.Seal(strings.NewReader(readFile(t, "message.eml")), arFor(posthornDomain), Result{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(f, "t=1234567890;") != 2 {
		t.Errorf("t= not from the clock:\n%s", f)
	}
}
