package dmarc

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParsePolicy(t *testing.T) {
	for _, c := range []struct {
		in, want string // want: summary, or the error sentinel's text
	}{
		{"v=DMARC1; p=reject", "p=reject sp= np= adkim=r aspf=r pct=100 t=false psd=u rua=[] fo=0"},
		{"v=DMARC1;p=quarantine;sp=none;np=reject;adkim=s;aspf=s;pct=50;rua=mailto:a@example.com,mailto:b@example.com!10m;fo=1:d",
			"p=quarantine sp=none np=reject adkim=s aspf=s pct=50 t=false psd=u rua=[mailto:a@example.com mailto:b@example.com!10m] fo=1:d"},
		{"v = DMARC1 ; P = Reject ; ", "p=reject sp= np= adkim=r aspf=r pct=100 t=false psd=u rua=[] fo=0"},
		{"v=DMARC1", "p=none sp= np= adkim=r aspf=r pct=100 t=false psd=u rua=[] fo=0"},
		{"v=DMARC1; p=reject; t=y", "p=reject sp= np= adkim=r aspf=r pct=100 t=true psd=u rua=[] fo=0"},
		{"v=DMARC1; p=reject; pct=0", "p=reject sp= np= adkim=r aspf=r pct=0 t=true psd=u rua=[] fo=0"},
		{"v=DMARC1; p=reject; pct=0; t=n", "p=reject sp= np= adkim=r aspf=r pct=0 t=false psd=u rua=[] fo=0"},
		{"v=DMARC1; p=none; psd=y", "p=none sp= np= adkim=r aspf=r pct=100 t=false psd=y rua=[] fo=0"},
		{"v=DMARC1; p=reject; future=tag", "p=reject sp= np= adkim=r aspf=r pct=100 t=false psd=u rua=[] fo=0"},
		// Invalid values of other tags fall back to defaults.
		{"v=DMARC1; p=reject; adkim=x; pct=200; psd=maybe; fo=9", "p=reject sp= np= adkim=r aspf=r pct=100 t=false psd=u rua=[] fo=0 warnings=4"},
		// Invalid p= is rescued by a valid rua= (RFC 7489 §6.6.3).
		{"v=DMARC1; p=bogus; rua=mailto:r@example.com", "p=none sp= np= adkim=r aspf=r pct=100 t=false psd=u rua=[mailto:r@example.com] fo=0 warnings=1"},
		{"v=DMARC1; p=bogus", ErrSyntax.Error()},
		{"v=DMARC1; p=reject; sp=bogus", ErrSyntax.Error()},
		{"v=DMARC1; p=reject; p=none", ErrSyntax.Error()},
		{"v=DMARC1; p", ErrSyntax.Error()},
		{"v=DMARC1; p=", ErrSyntax.Error()},
		{"v=DMARC1; p=reject\x00", ErrSyntax.Error()},
		{"v=dmarc1; p=reject", ErrNotDMARC.Error()},
		{"p=reject; v=DMARC1", ErrNotDMARC.Error()},
		{"v=spf1 -all", ErrNotDMARC.Error()},
		{"", ErrNotDMARC.Error()},
		{"hello", ErrNotDMARC.Error()},
	} {
		p, err := ParsePolicy(c.in)
		var got string
		switch {
		case errors.Is(err, ErrSyntax):
			got = ErrSyntax.Error()
		case err != nil:
			got = err.Error()
		default:
			got = summary(p)
		}
		if got != c.want {
			t.Errorf("ParsePolicy(%q)\n got %s\nwant %s", c.in, got, c.want)
		}
	}
}

func summary(p *Policy) string {
	s := fmt.Sprintf("p=%s sp=%s np=%s adkim=%s aspf=%s pct=%d t=%v psd=%s rua=%v fo=%s",
		p.P, p.SP, p.NP, p.ADKIM, p.ASPF, p.Percent, p.Testing, p.PSD, p.RUA, p.FO)
	if len(p.Warnings) > 0 {
		s += fmt.Sprintf(" warnings=%d", len(p.Warnings))
	}
	return s
}

// FuzzParsePolicy: no panics; a parsed policy always holds valid values.
func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{
		"v=DMARC1; p=reject; sp=none; np=quarantine; adkim=s; aspf=r; pct=10; rua=mailto:x@y; ruf=mailto:z@y; fo=d:s; rf=afrf; ri=3600; psd=n; t=y",
		"v=DMARC1; p=bogus; rua=mailto:x@y", "v=DMARC1;;", "v=DMARC1; =", "v=DMARC1; p=reject; p=none",
	} {
		f.Add(s)
	}
	valid := map[Disposition]bool{DispositionNone: true, DispositionQuarantine: true, DispositionReject: true}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePolicy(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrNotDMARC) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !strings.HasPrefix(strings.TrimLeft(s, " \t"), "v") {
			t.Fatalf("parsed a record not starting with v: %q", s)
		}
		if !valid[p.P] || p.SP != "" && !valid[p.SP] || p.NP != "" && !valid[p.NP] {
			t.Fatalf("invalid dispositions %+v", p)
		}
		if p.ADKIM != Relaxed && p.ADKIM != Strict || p.ASPF != Relaxed && p.ASPF != Strict {
			t.Fatalf("invalid alignment %+v", p)
		}
		if p.Percent < 0 || p.Percent > 100 {
			t.Fatalf("pct %d", p.Percent)
		}
	})
}
