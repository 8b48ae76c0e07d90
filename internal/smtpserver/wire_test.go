package smtpserver

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestScanData: the skipping scan ends the data exactly where go-smtp's
// byte-at-a-time state machine does, from any state and at any split.
func TestScanData(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("\r\n.ab")
	for range 20000 {
		buf := make([]byte, r.IntN(24))
		for i := range buf {
			buf[i] = alphabet[r.IntN(len(alphabet))]
		}
		start := r.IntN(dEOF) // any state but dEOF
		wantN, wantS, wantDotCR := len(buf), start, false
		for i, c := range buf {
			prev := wantS
			wantS = nextDataState(wantS, c)
			wantDotCR = wantDotCR || prev == dDotCR && wantS != dEOF
			if wantS == dEOF {
				wantN = i + 1
				break
			}
		}
		n, s, dotCR := scanData(start, buf)
		if n != wantN || s != wantS || dotCR != wantDotCR {
			t.Fatalf("scanData(%d, %q) = %d, %d, %v; want %d, %d, %v", start, buf, n, s, dotCR, wantN, wantS, wantDotCR)
		}
	}
}

func TestIsStartTLS(t *testing.T) {
	for _, s := range []string{"STARTTLS", "starttls", "StartTLS x", "STARTTL", "ſTARTTLS", "ſtarttls", "XSTARTTLS", "", "starttlsé"} {
		want := strings.HasPrefix(strings.ToUpper(s), "STARTTLS")
		if got := isStartTLS(s); got != want {
			t.Errorf("isStartTLS(%q) = %v, want %v", s, got, want)
		}
	}
}
