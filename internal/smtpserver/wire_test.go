package smtpserver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
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

// refuseAll is a go-smtp session that takes no mail.
type refuseAll struct{}

func (refuseAll) Reset()        {}
func (refuseAll) Logout() error { return nil }
func (refuseAll) Mail(string, *gosmtp.MailOptions) error {
	return errors.New("no mail")
}
func (refuseAll) Rcpt(string, *gosmtp.RcptOptions) error { return errors.New("no mail") }
func (refuseAll) Data(io.Reader) error                   { return errors.New("no mail") }

// TestIsStartTLS: isStartTLS says which lines go-smtp takes for STARTTLS,
// by a table written out by hand and by asking a go-smtp server without
// TLS, which answers those lines "502 5.5.1 TLS not supported".
func TestIsStartTLS(t *testing.T) {
	cases := []struct {
		line string
		want bool
	}{
		{"STARTTLS", true},
		{"starttls", true},
		{"StartTLS x", true},
		{"STARTTLSX", true}, // go-smtp compares a prefix
		{"STARTTLS\x00junk", true},
		{"starttlsé", true}, // non-ASCII after the prefix
		{"ſTARTTLS", true},  // U+017F upper-cases to S
		{"ſtarttls", true},
		{"STARTTL", false},
		{"XSTARTTLS", false},
		{" STARTTLS", false},
		{"ＳTARTTLS", false}, // fullwidth S upper-cases to itself
		{"éSTARTTLS", false},
		{"START TLS", false},
		{"", false},
	}
	gs := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
		return refuseAll{}, nil
	}))
	gs.Domain = "mx.example"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(l)
	defer gs.Close()
	// One connection per line: go-smtp hangs up after three bad commands.
	askGoSMTP := func(line string) string {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		br := bufio.NewReader(c)
		if _, err := br.ReadString('\n'); err != nil { // greeting
			t.Fatalf("go-smtp: %v", err)
		}
		fmt.Fprintf(c, "%s\r\n", line)
		r, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("go-smtp, after %q: %v", line, err)
		}
		return strings.TrimSpace(r)
	}
	for _, tc := range cases {
		if got := isStartTLS(tc.line); got != tc.want {
			t.Errorf("isStartTLS(%q) = %v, want %v", tc.line, got, tc.want)
		}
		if tc.line == "" {
			continue // go-smtp answers nothing to an empty line
		}
		r := askGoSMTP(tc.line)
		if goSMTP := strings.HasPrefix(r, "502 5.5.1 TLS not supported"); goSMTP != tc.want {
			t.Errorf("go-smtp answers %q with %q: taken for STARTTLS %v, table says %v", tc.line, r, goSMTP, tc.want)
		}
	}
}
