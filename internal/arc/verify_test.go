package arc

import (
	"fmt"
	"strings"
	"testing"

	"github.com/posthorn/posthorn/internal/dkim"
)

// splitMessage returns the raw header fields of msg (continuations
// included) and its body.
func splitMessage(msg string) ([]string, string) {
	head, body, _ := strings.Cut(msg, "\r\n\r\n")
	var fields []string
	for line := range strings.SplitSeq(head, "\r\n") {
		if len(fields) > 0 && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) {
			fields[len(fields)-1] += line + "\r\n"
			continue
		}
		fields = append(fields, line+"\r\n")
	}
	return fields, body
}

func joinMessage(fields []string, body string) string {
	return strings.Join(fields, "") + "\r\n" + body
}

// findField returns the index of the ARC field of kind k and instance i.
func findField(t testing.TB, fields []string, k kind, i int) int {
	t.Helper()
	for n, f := range fields {
		name, _, _ := strings.Cut(f, ":")
		if fk, ok := fieldKind(name); ok && fk == k {
			if af, err := parseField(k, f); err == nil && af.Instance == i {
				return n
			}
		}
	}
	t.Fatalf("no %s i=%d", k, i)
	return -1
}

// editField applies edit to the ARC field of kind k and instance i.
func editField(t testing.TB, msg string, k kind, i int, edit func(string) string) string {
	fields, body := splitMessage(msg)
	n := findField(t, fields, k, i)
	fields[n] = edit(fields[n])
	return joinMessage(fields, body)
}

func removeField(t testing.TB, msg string, k kind, i int) string {
	fields, body := splitMessage(msg)
	n := findField(t, fields, k, i)
	return joinMessage(append(fields[:n:n], fields[n+1:]...), body)
}

func replace(old, new string) func(string) string {
	return func(s string) string {
		if !strings.Contains(s, old) {
			panic(fmt.Sprintf("%q not in %q", old, s))
		}
		return strings.Replace(s, old, new, 1)
	}
}

func describe(r Result) string {
	s := fmt.Sprintf("chain=%s instances=%d", r.Chain, r.Instances)
	if r.FailedInstance > 0 {
		s += fmt.Sprintf(" failed=%d", r.FailedInstance)
	}
	if r.OldestPass > 0 {
		s += fmt.Sprintf(" oldest-pass=%d", r.OldestPass)
	}
	if r.Terminated {
		s += " terminated"
	}
	if r.Temporary {
		s += " temporary"
	}
	return s + "\n\t" + r.Reason
}

func TestRoundTrip(t *testing.T) {
	res := testResolver(t)
	msg := readFile(t, "message.eml")
	if r := verify(t, res, msg); r.Chain != StatusNone || r.Instances != 0 {
		t.Fatalf("unsealed: %s", describe(r))
	}
	for _, s := range []dkim.Signer{edSigner(t), rsaSigner(t)} {
		one := seal(t, res, msg, s)
		r := verify(t, res, one)
		if r.Chain != StatusPass || r.Instances != 1 || r.OldestPass != 0 || len(r.Sets) != 1 {
			t.Fatalf("%s, one hop: %s", s.Selector, describe(r))
		}
		set := r.Sets[0]
		if set.AuthServID != "mx.posthorn.example" || set.CV != StatusNone || set.SealDomain != posthornDomain ||
			set.SealSelector != s.Selector || set.SignatureDomain != posthornDomain || !strings.HasSuffix(set.Results, "; arc=none") {
			t.Errorf("%s: set %+v", s.Selector, set)
		}
		// A second hop that changes nothing: every AMS still verifies.
		two := seal(t, res, one, fwdSigner(t))
		r = verify(t, res, two)
		if r.Chain != StatusPass || r.Instances != 2 || r.OldestPass != 0 || r.Sets[1].CV != StatusPass {
			t.Fatalf("%s, two hops: %s", s.Selector, describe(r))
		}
		if !strings.HasSuffix(r.Sets[1].Results, "; arc=pass") || r.Sets[1].SealDomain != forwarderDomain {
			t.Errorf("second set %+v", r.Sets[1])
		}
	}
	// A list that changes the message: the chain passes, AMS 1 does not.
	r := verify(t, res, twoHops(t, res))
	if r.Chain != StatusPass || r.Instances != 2 || r.OldestPass != 2 {
		t.Fatalf("list: %s", describe(r))
	}
	// Bare LF line ends verify like CRLF.
	lf := strings.ReplaceAll(twoHops(t, res), "\r\n", "\n")
	if r := verify(t, res, lf); r.Chain != StatusPass {
		t.Errorf("LF line ends: %s", describe(r))
	}
}

// TestVerifyCases is the golden table of verdicts: tampering, structure,
// cv= semantics, algorithms and keys, each with its reason.
func TestVerifyCases(t *testing.T) {
	res := testResolver(t)
	two := twoHops(t, res)
	withSelector := func(sel string) string {
		s := rsaSigner(t)
		s.Selector = sel
		return seal(t, res, readFile(t, "message.eml"), s)
	}
	type tc struct {
		name string
		msg  string
		want Status
	}
	cases := []tc{
		{"intact two hops", two, StatusPass},
		{"unsigned header added", "X-Spam: no\r\n" + two, StatusPass},
		{"ARC fields reordered", func() string {
			f, b := splitMessage(two)
			n := findField(t, f, kindAS, 1)
			as1 := f[n]
			f = append(f[:n:n], f[n+1:]...)
			return joinMessage(append([]string{as1}, f...), b)
		}(), StatusPass},
		{"body changed", strings.Replace(two, "shall we", "shall WE", 1), StatusFail},
		{"body appended", two + "P.S. click here\r\n", StatusFail},
		{"signed header changed", strings.Replace(two, "To: bob@", "To: mallory@", 1), StatusFail},
		{"From added", strings.Replace(two, "To: bob@", "From: mallory@evil.example\r\nTo: bob@", 1), StatusFail},
		{"AAR i=1 text changed", editField(t, two, kindAAR, 1, replace("spf=pass", "spf=fail")), StatusFail},
		{"AAR i=2 text changed", editField(t, two, kindAAR, 2, replace("dmarc=pass", "dmarc=fail")), StatusFail},
		{"AMS i=1 changed", editField(t, two, kindAMS, 1, replace("c=relaxed/relaxed", "c=relaxed/simple")), StatusFail},
		{"AS i=1 removed", removeField(t, two, kindAS, 1), StatusFail},
		{"AMS i=2 removed", removeField(t, two, kindAMS, 2), StatusFail},
		{"AAR i=2 removed", removeField(t, two, kindAAR, 2), StatusFail},
		{"set i=1 removed (gap)", removeField(t, removeField(t, removeField(t, two, kindAS, 1), kindAMS, 1), kindAAR, 1), StatusFail},
		{"AAR i=2 duplicated", func() string {
			f, b := splitMessage(two)
			n := findField(t, f, kindAAR, 2)
			return joinMessage(append([]string{f[n]}, f...), b)
		}(), StatusFail},
		{"AS i=1 duplicated", func() string {
			f, b := splitMessage(two)
			n := findField(t, f, kindAS, 1)
			return joinMessage(append([]string{f[n]}, f...), b)
		}(), StatusFail},
		{"cv=pass at i=1", editField(t, two, kindAS, 1, replace("cv=none", "cv=pass")), StatusFail},
		{"cv=none at i=2", editField(t, two, kindAS, 2, replace("cv=pass", "cv=none")), StatusFail},
		{"cv=fail at i=1", editField(t, two, kindAS, 1, replace("cv=none", "cv=fail")), StatusFail},
		{"cv=fail at i=2 (terminated)", editField(t, two, kindAS, 2, replace("cv=pass", "cv=fail")), StatusFail},
		{"instance 51", editField(t, two, kindAAR, 2, replace("i=2;", "i=51;")), StatusFail},
		{"instance 0", editField(t, two, kindAMS, 1, replace("i=1;", "i=0;")), StatusFail},
		{"AAR without instance", editField(t, two, kindAAR, 1, replace("i=1;", "")), StatusFail},
		{"duplicate tag", editField(t, two, kindAS, 2, replace("cv=pass;", "cv=pass; cv=pass;")), StatusFail},
		{"h= in ARC-Seal", editField(t, two, kindAS, 2, replace("cv=pass;", "cv=pass; h=from;")), StatusFail},
		{"rsa-sha1", editField(t, two, kindAMS, 2, replace("a=rsa-sha256", "a=rsa-sha1")), StatusFail},
		{"l= in AMS", editField(t, two, kindAMS, 2, replace("c=relaxed/relaxed;", "c=relaxed/relaxed; l=10;")), StatusFail},
		{"AMS without From", editField(t, two, kindAMS, 2, replace("h=from : from : ", "h=")), StatusFail},
		{"AMS signs ARC-Seal", editField(t, two, kindAMS, 2, replace("h=from :", "h=arc-seal : from :")), StatusFail},
		{"expired AMS", editField(t, two, kindAMS, 2, replace("c=relaxed/relaxed;", "c=relaxed/relaxed; x=1000;")), StatusFail},
		{"unknown canonicalization", editField(t, two, kindAMS, 2, replace("c=relaxed/relaxed", "c=nowsp/relaxed")), StatusFail},
		{"key missing", withSelector("nokey"), StatusFail},
		{"key revoked", withSelector("revoked"), StatusFail},
		{"key too short (RFC 8301)", withSelector("short"), StatusFail},
		{"key temporarily unavailable", withSelector("flaky"), StatusFail},
		{"key restricted to sha1", withSelector("sha1only"), StatusFail},
		{"two key records", withSelector("twokeys"), StatusFail},
		{"wrong key type", withSelector("ed"), StatusFail},
		// RFC 6376 §3.2 tag-list grammar, which RFC 8617 §4.1 uses: no
		// empty tag-spec.
		{"empty tag-spec in ARC-Seal", editField(t, two, kindAS, 2, replace("cv=pass;", "cv=pass;;")), StatusFail},
		{"empty tag-spec with space in ARC-Seal", editField(t, two, kindAS, 1, replace("cv=none;", "cv=none; ;")), StatusFail},
		{"empty tag-spec in AMS", editField(t, two, kindAMS, 2, replace("c=relaxed/relaxed;", "c=relaxed/relaxed;;")), StatusFail},
		{"empty tag-spec in the key record", withSelector("emptytag"), StatusFail},
	}
	var out strings.Builder
	for _, c := range cases {
		r := verify(t, res, c.msg)
		if r.Chain != c.want {
			t.Errorf("%s: %s, want %s", c.name, describe(r), c.want)
		}
		if r.Chain == StatusFail && (r.Reason == "" || r.Instances == 0) {
			t.Errorf("%s: failure without reason or instances: %s", c.name, describe(r))
		}
		fmt.Fprintf(&out, "%s: %s\n", c.name, describe(r))
	}
	golden(t, "verify.golden", out.String())
}

func TestLimits(t *testing.T) {
	res := testResolver(t)
	// 50 sets by one sealer: one key lookup, and the chain passes.
	msg := readFile(t, "message.eml")
	for range MaxInstances {
		msg = seal(t, res, msg, edSigner(t))
	}
	res.Reset()
	if r := verify(t, res, msg); r.Chain != StatusPass || r.Instances != 50 {
		t.Fatalf("50 sets: %s", describe(r))
	}
	if n := res.Total(); n != 1 {
		t.Errorf("50 sets by one key: %d lookups, want 1", n)
	}
	// A 51st set cannot be added ...
	chain := verify(t, res, msg)
	sealer := &Sealer{Signer: edSigner(t)}
	if _, err := sealer.Seal(strings.NewReader(msg), arFor(posthornDomain), chain); err != ErrTooManyInstances {
		t.Errorf("sealing a 51st set: %v", err)
	}
	// ... nor be accepted when forged.
	f, b := splitMessage(msg)
	var top []string
	for k := kindAAR; k <= kindAS; k++ {
		top = append(top, replace("i=50;", "i=51;")(f[findField(t, f, k, 50)]))
	}
	r := verify(t, res, joinMessage(append(top, f...), b))
	if r.Chain != StatusFail || !strings.Contains(r.Reason, "outside 1..50") {
		t.Errorf("51 sets: %s", describe(r))
	}
	// More ARC fields than 50 sets can hold: parsing stops there.
	res.Reset()
	r = verify(t, res, strings.Repeat(f[findField(t, f, kindAAR, 50)], 3*MaxInstances+1)+msg)
	if r.Chain != StatusFail || !strings.Contains(r.Reason, "more than 50 ARC sets") || res.Total() != 0 {
		t.Errorf("151 more fields: %s; %d lookups", describe(r), res.Total())
	}
}

// TestLookupBound seals with more distinct keys than MaxLookups allows:
// the chain fails without fetching more.
func TestLookupBound(t *testing.T) {
	z := testZone(t)
	msg := readFile(t, "message.eml")
	s := edSigner(t)
	for i := range 20 {
		s.Selector = fmt.Sprintf("k%d", i)
		z[s.Selector+"._domainkey.posthorn.example"] = z["ed._domainkey.posthorn.example"]
	}
	res := dnstestResolver(z)
	for i := range 20 {
		s.Selector = fmt.Sprintf("k%d", i)
		msg = seal(t, res, msg, s)
	}
	res.Reset()
	r := verify(t, res, msg)
	if r.Chain != StatusFail || !strings.Contains(r.Reason, "more than 16 distinct keys") {
		t.Errorf("20 keys: %s", describe(r))
	}
	if n := res.Total(); n > DefaultMaxLookups {
		t.Errorf("%d lookups, more than %d", n, DefaultMaxLookups)
	}
	v := &Verifier{Resolver: res, MaxLookups: 25, Now: verifyNow}
	res.Reset()
	r2, err := v.Verify(t.Context(), strings.NewReader(msg))
	if err != nil || r2.Chain != StatusPass {
		t.Errorf("MaxLookups 25: %s %v", describe(r2), err)
	}
	if n := res.Total(); n != 20 {
		t.Errorf("MaxLookups 25: %d lookups, want 20 (one per key)", n)
	}
}
