package arc

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/posthorn/posthorn/internal/addr"
	"github.com/posthorn/posthorn/internal/dkim"
)

// kind is which of the three ARC fields a field is.
type kind int

const (
	kindAAR kind = iota
	kindAMS
	kindAS
)

var kindNames = [...]string{fieldAAR, fieldAMS, fieldAS}

func (k kind) String() string { return kindNames[k] }

// arcField is one ARC header field of a message.
type arcField struct {
	Kind     kind
	Raw      string // as read, line ends included
	Instance int
	Tags     dkim.TagList // AMS and AS
	Payload  string       // AAR: the authres-payload after "i=N;"
}

// set is one instance's fields.
type set struct {
	AAR, AMS, AS *arcField
}

// chain is the ARC fields of a message grouped by instance.
type chain struct {
	N    int   // highest instance
	Sets []set // Sets[i-1] is instance i; only when the structure is valid
}

// failure is why a chain fails, and which instance made it fail.
type failure struct {
	Instance   int
	Reason     string
	Terminated bool
	Temporary  bool
}

func (f *failure) result(n int) Result {
	return Result{Chain: StatusFail, Instances: n, FailedInstance: f.Instance, Reason: f.Reason,
		Terminated: f.Terminated, Temporary: f.Temporary}
}

func failf(instance int, format string, args ...any) *failure {
	return &failure{Instance: instance, Reason: fmt.Sprintf(format, args...)}
}

// fieldKind returns the kind of a header field name, if it is an ARC one.
func fieldKind(name string) (kind, bool) {
	for k, n := range kindNames {
		if strings.EqualFold(name, n) {
			return kind(k), true
		}
	}
	return 0, false
}

// parseFields finds and parses the ARC fields of h. With no ARC fields it
// returns nil, 0, nil. n is the highest instance among the fields that
// parse, which is what a sealer numbers its set after (RFC 8617 §5.1
// step 2) even when the chain is broken.
func parseFields(h *dkim.Header) (fields []*arcField, n int, fail *failure) {
	for _, f := range h.Fields {
		k, ok := fieldKind(f.Name)
		if !ok {
			continue
		}
		// Three fields per set: anything beyond cannot be a valid chain
		// (RFC 8617 §5.2 step 1), and stops us parsing without bound.
		if len(fields) == 3*MaxInstances {
			if fail == nil {
				fail = failf(0, "more than %d ARC sets (RFC 8617 §5.2)", MaxInstances)
			}
			break
		}
		af, err := parseField(k, f.Raw)
		if err != nil {
			if fail == nil {
				fail = failf(0, "malformed %s field: %v", k, err)
			}
			continue
		}
		n = max(n, af.Instance)
		fields = append(fields, af)
	}
	return fields, n, fail
}

// parseField parses one ARC field's instance and tags.
func parseField(k kind, raw string) (*arcField, error) {
	_, value, _ := strings.Cut(raw, ":")
	af := &arcField{Kind: k, Raw: raw}
	var inst string
	if k == kindAAR {
		// arc-info = instance [CFWS] ";" authres-payload (RFC 8617 §4.1.1)
		head, payload, ok := strings.Cut(value, ";")
		if !ok {
			return nil, fmt.Errorf("no authres-payload after the instance")
		}
		name, v, ok := strings.Cut(head, "=")
		if !ok || trimFWS(name) != "i" {
			return nil, fmt.Errorf("does not start with i=")
		}
		inst, af.Payload = trimFWS(v), payload
	} else {
		tags, err := dkim.ParseTags(value)
		if err != nil {
			return nil, err
		}
		v, ok := tags.Get("i")
		if !ok {
			return nil, fmt.Errorf("no instance tag i=")
		}
		inst, af.Tags = trimFWS(v), tags
	}
	i, err := parseInstance(inst)
	if err != nil {
		return nil, err
	}
	af.Instance = i
	return af, nil
}

// parseInstance parses an i= value: 1*DIGIT within 1..MaxInstances
// (RFC 8617 §4.2.1).
func parseInstance(s string) (int, error) {
	if s == "" || len(s) > 3 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("instance i=%.10q is not a number from 1 to %d", s, MaxInstances)
	}
	i, _ := strconv.Atoi(s)
	if i < 1 || i > MaxInstances {
		return 0, fmt.Errorf("instance i=%d is outside 1..%d (RFC 8617 §4.2.1)", i, MaxInstances)
	}
	return i, nil
}

// group checks the structure of the chain (RFC 8617 §5.2 steps 2 and 3)
// and groups its fields by instance.
func group(fields []*arcField) (*chain, *failure) {
	c := &chain{}
	for _, f := range fields {
		c.N = max(c.N, f.Instance)
	}
	c.Sets = make([]set, c.N)
	counts := make([][3]int, c.N)
	for _, f := range fields {
		s := &c.Sets[f.Instance-1]
		counts[f.Instance-1][f.Kind]++
		switch f.Kind {
		case kindAAR:
			s.AAR = f
		case kindAMS:
			s.AMS = f
		case kindAS:
			s.AS = f
		}
	}
	// Step 2: a chain whose latest seal says cv=fail has ended.
	if latest := c.Sets[c.N-1].AS; latest != nil && counts[c.N-1][kindAS] == 1 {
		if cv, _ := latest.Tags.Get("cv"); strings.EqualFold(trimFWS(cv), "fail") {
			f := failf(c.N, "ARC-Seal i=%d reports cv=fail: the chain was already broken and has ended", c.N)
			f.Terminated = true
			return nil, f
		}
	}
	// Step 3: every instance 1..N has exactly one of each field, ...
	for i := range c.N {
		n := counts[i]
		if n == [3]int{} {
			return nil, failf(i+1, "ARC set i=%d is missing (instances must run from 1 to %d without gaps)", i+1, c.N)
		}
		for k := kindAAR; k <= kindAS; k++ {
			switch {
			case n[k] == 0:
				return nil, failf(i+1, "ARC set i=%d has no %s field", i+1, k)
			case n[k] > 1:
				return nil, failf(i+1, "ARC set i=%d has %d %s fields; exactly one is allowed", i+1, n[k], k)
			}
		}
	}
	// ... and cv= is none for i=1, pass after.
	for i, s := range c.Sets {
		cv, _ := s.AS.Tags.Get("cv")
		cv = strings.ToLower(trimFWS(cv))
		want := "pass"
		if i == 0 {
			want = "none"
		}
		if cv != want {
			return nil, failf(i+1, "ARC-Seal i=%d has cv=%s; it must be %s (RFC 8617 §5.2)", i+1, cv, want)
		}
	}
	return c, nil
}

// describe returns what the chain's sets say, for Result.Sets.
func (c *chain) describe() []Set {
	out := make([]Set, len(c.Sets))
	for i, s := range c.Sets {
		d := Set{Instance: i + 1}
		d.AuthServID, d.Results = splitPayload(s.AAR.Payload)
		cv, _ := s.AS.Tags.Get("cv")
		d.CV = Status(strings.ToLower(trimFWS(cv)))
		d.SealDomain, d.SealSelector = domainSelector(s.AS.Tags)
		d.SignatureDomain, d.SignatureSelector = domainSelector(s.AMS.Tags)
		out[i] = d
	}
	return out
}

// domainSelector returns d= (zero when not a domain) and s= of a tag list.
func domainSelector(tags dkim.TagList) (addr.Domain, string) {
	d, _ := tags.Get("d")
	dom, _ := addr.ParseDomain(dkim.StripWSP(d))
	s, _ := tags.Get("s")
	return dom, dkim.StripWSP(s)
}

// splitPayload splits an authres-payload into the authserv-id and the
// results after it, unfolded with whitespace runs collapsed.
func splitPayload(p string) (authservID, results string) {
	p = unfold(p)
	id, rest, _ := strings.Cut(p, ";")
	id = strings.TrimSpace(id)
	// authserv-id [CFWS authres-version]: keep the id alone.
	if f := strings.Fields(id); len(f) > 0 {
		id = strings.Trim(f[0], `"`)
	}
	return id, strings.TrimSpace(rest)
}

// unfold removes line ends and collapses whitespace runs to one space.
func unfold(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\r' || r == '\n'
	}), " ")
}

// trimFWS removes folding whitespace at both ends.
func trimFWS(s string) string { return strings.Trim(s, " \t\r\n") }
