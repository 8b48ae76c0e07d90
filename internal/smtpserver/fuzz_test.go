package smtpserver

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/posthorn/posthorn/internal/guard"
)

// FuzzSession runs whole SMTP sessions over net.Pipe on every listener
// mode. Invariants: no panic, the server never hangs on a closed client,
// and every connection is released.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"EHLO a\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n",
		"EHLO a\r\nMAIL FROM:<a@remote.example> BODY=BINARYMIME\r\nRCPT TO:<alice@example.org>\r\nBDAT 5 LAST\r\nab\ncdQUIT\r\n",
		"EHLO a\r\nMAIL FROM:<a@r.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nx\n.\nMAIL FROM:<e@v.example>\r\n.\r\n",
		"EHLO a\r\nSTARTTLS\r\nMAIL FROM:<x@y.example>\r\n",
		"EHLO a\r\nAUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHg=\r\nAUTH LOGIN\r\nYQ==\r\n*\r\n",
		"EHLO a\r\nXCLIENT ADDR=1.2.3.4\r\nRCPT TO:<postmaster>\r\n",
		"LHLO a\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.org>\r\nRCPT TO:<full@example.org>\r\nDATA\r\n.\r\n",
		"HELO a\r\nMAIL FROM:<\"a b\"@example.org> SMTPUTF8\r\nRCPT TO:<jörg@example.org>\r\nBDAT 0 LAST\r\n",
	} {
		f.Add(s, uint8(0))
	}
	e := newEnv(f, func(o *Options) {
		o.Limits.CommandTimeout = 2 * time.Second
		o.Limits.DataTimeout = 2 * time.Second
		o.XCLIENTNetworks = mustPrefixes("192.0.2.0/24")
		// Failed logins accumulate over the inputs: no delays or blocks.
		o.Guard = guard.New(guard.Options{MaxDelay: -1, BlockAfter: -1, AccountBlockAfter: -1})
	})
	modes := []Mode{ModeMX, ModeSubmission, ModeLMTP, ModeMX}
	f.Fuzz(func(t *testing.T, input string, mode uint8) {
		e.logs.reset()
		start := time.Now()
		defer func() {
			// A hang, not slowness: the timeouts above end any session
			// in seconds, even under -race on a busy machine.
			if d := time.Since(start); d > time.Minute {
				t.Errorf("session took %v", d)
			}
		}()
		cc, sc := net.Pipe()
		e.ls[modes[int(mode)%len(modes)]].c <- addrConn{sc, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 40000}}
		go io.Copy(io.Discard, cc)
		cc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		cc.Write([]byte(input))
		cc.Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			e.srv.mu.Lock()
			n := len(e.srv.conns)
			e.srv.mu.Unlock()
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d connections still open 5s after the client closed", n)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if logs := e.logs.String(); strings.Contains(logs, "panic") {
			t.Fatalf("panic:\n%s", logs)
		}
	})
}
