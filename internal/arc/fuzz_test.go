package arc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/dkim"
)

// FuzzParseField parses one ARC field value as each of the three kinds,
// and the AAR payload and results.
func FuzzParseField(f *testing.F) {
	f.Add(" i=1; mx.example; spf=pass smtp.mailfrom=a@b.example")
	f.Add(" i=2; a=rsa-sha256; cv=pass; d=example.com; s=sel; t=1; b=AAAA")
	f.Add(" i=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=s;\r\n\th=from:to; bh=AAAA; b=AAAA")
	f.Add(` i=1; "quoted id" 1; dkim=pass (a (nested) comment; x) reason="a \" b"; none`)
	f.Fuzz(func(t *testing.T, value string) {
		for k := kindAAR; k <= kindAS; k++ {
			af, err := parseField(k, k.String()+":"+value)
			if err != nil {
				continue
			}
			if af.Instance < 1 || af.Instance > MaxInstances {
				t.Fatalf("%s: instance %d accepted", k, af.Instance)
			}
			if k == kindAAR {
				splitPayload(af.Payload)
			} else {
				parseSig(af.Tags, "cv")
				parseAMS(af.Tags, time.Unix(0, 0))
			}
		}
		for _, m := range ParseResults(value) {
			if m.Method == "" || m.Result == "" {
				t.Fatalf("empty method or result: %+v", m)
			}
		}
		emptyB(value)
	})
}

// fuzzBase is the test message without ARC fields, which FuzzVerify puts
// under a random header block.
func fuzzBase(t testing.TB) string { return readFile(t, "message.eml") }

// arcBlock returns the ARC fields at the top of msg.
func arcBlock(msg string) string {
	var b strings.Builder
	for line := range strings.SplitAfterSeq(msg, "\r\n") {
		if strings.HasPrefix(line, "From:") {
			break
		}
		b.WriteString(line)
	}
	return b.String()
}

// FuzzVerify validates random header blocks above the test message: no
// panic, no error but for over-long headers, a reason for every failure,
// and never more key lookups than the bound.
func FuzzVerify(f *testing.F) {
	res := testResolver(f)
	base := fuzzBase(f)
	signer := edSigner(f)
	f.Add(arcBlock(twoHops(f, res)))
	f.Add("ARC-Seal: i=1; cv=fail\r\n")
	f.Fuzz(func(t *testing.T, block string) {
		res.Reset()
		v := &Verifier{Resolver: res, Now: verifyNow}
		r, err := v.Verify(context.Background(), strings.NewReader(block+base))
		if err != nil {
			if err == dkim.ErrHeaderTooLong {
				return
			}
			t.Fatalf("Verify: %v", err)
		}
		switch r.Chain {
		case StatusNone, StatusPass:
		case StatusFail:
			if r.Reason == "" {
				t.Fatal("failure without a reason")
			}
		default:
			t.Fatalf("chain status %q", r.Chain)
		}
		if n := res.Total(); n > DefaultMaxLookups {
			t.Fatalf("%d lookups", n)
		}
		if r.Chain == StatusPass && len(r.Sets) != r.Instances {
			t.Fatalf("pass with %d sets for %d instances", len(r.Sets), r.Instances)
		}
		// Whatever the chain, sealing either works or refuses cleanly.
		s := &Sealer{Signer: signer, Now: verifyNow}
		s.Seal(strings.NewReader(block+base), arFor(posthornDomain), r)
	})
}

// TestWriteFuzzSeeds writes the committed seed corpora with -update.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz")
	}
	res := testResolver(t)
	two := arcBlock(twoHops(t, res))
	seeds := map[string]map[string]string{
		"FuzzVerify": {
			"two-hops":    two,
			"terminated":  arcBlock(editField(t, twoHops(t, res), kindAS, 2, replace("cv=pass", "cv=fail"))),
			"gap":         arcBlock(removeField(t, twoHops(t, res), kindAMS, 1)),
			"instance-51": strings.Replace(two, "i=2;", "i=51;", 3),
			"many":        strings.Repeat("ARC-Seal: i=1; cv=none; a=rsa-sha256; d=a.example; s=s; b=AA==\r\n", 60),
			"lf":          strings.ReplaceAll(two, "\r\n", "\n"),
		},
		"FuzzParseField": {
			"aar":          " i=1; mx.example; spf=pass smtp.mailfrom=a@b.example; dmarc=pass header.from=b.example",
			"as":           " i=2; a=rsa-sha256; cv=pass; d=example.com; s=sel; t=1; b=AAAA",
			"ams-folded":   " i=1; a=ed25519-sha256; c=simple;\r\n\td=example.com; s=s; h=from : to; bh=AAAA; b=AA\r\n\tAA",
			"comments":     ` i=1; "id" 1; dkim=pass (a (nested) comment; x) reason="a \" b"; none`,
			"bad-instance": " i=007x; a=b",
		},
	}
	for target, m := range seeds {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, v := range m {
			data := fmt.Sprintf("go test fuzz v1\nstring(%q)\n", v)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
