package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestIMAPFullMXStillAccepts fills the IMAP connection limit (logged-in
// sessions in IDLE, and one more over the per-account limit) and checks
// that the MX still greets with 220: each kind of listener has connection
// limits of its own (smtp.max_connections, imap.max_connections,
// imap.max_connections_per_account), where 500 IMAP sessions used to make
// port 25 answer 421.
func TestIMAPFullMXStillAccepts(t *testing.T) {
	t.Parallel()
	m := newMailServer(t, mailOptions{imap: true, logLevel: "info"})
	b, err := os.ReadFile(m.config)
	if err != nil {
		t.Fatal(err)
	}
	// The same small limit for both: shared, the IMAP sessions would take
	// every place.
	cfg := string(b)
	for old, new := range map[string]string{
		"\nmax_connections = 500\n":            "\nmax_connections = 4\n", // [smtp]
		"\nmax_connections = 1000\n":           "\nmax_connections = 5\n", // [imap]
		"\nmax_connections_per_account = 20\n": "\nmax_connections_per_account = 4\n",
	} {
		if strings.Count(cfg, old) != 1 {
			t.Fatalf("config: %q occurs %d times", old, strings.Count(cfg, old))
		}
		cfg = strings.Replace(cfg, old, new, 1)
	}
	writeFile(t, m.config, cfg)
	m.addUser("bob@example.com", imapPW)
	m.start()

	for i := range 4 {
		c, _ := dialIMAP(t, m.imap, nil)
		c.ok("LOGIN bob@example.com " + imapPW)
		c.ok("SELECT INBOX")
		c.send("i IDLE\r\n")
		if l := c.line(); !strings.HasPrefix(l, "+ ") {
			t.Fatalf("IDLE %d: %q", i, l)
		}
	}
	// A fifth session is over bob's own limit (per account)...
	c5, _ := dialIMAP(t, m.imap, nil)
	if _, st := c5.cmd("LOGIN bob@example.com " + imapPW); !strings.HasPrefix(st, "NO [LIMIT] Too many connections for this account (4)") {
		t.Fatalf("fifth login: %q", st)
	}
	// ... the MX and submission still accept...
	for _, addr := range []string{m.smtp, m.submission} {
		s := dialSMTP(t, addr)
		s.expect("220 ")
		s.cmd("QUIT", "221")
	}
	// ... while the sixth IMAP connection is over IMAP's limit.
	c, err := net.DialTimeout("tcp", m.imap, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(l, "* BYE [LIMIT] too many IMAP connections (5)") {
		t.Fatalf("IMAP connection over the limit: %q, %v", l, err)
	}
}

// TestIMAPPreAuthLiteralMemory is the hostile battery's case: ten clients
// that have not logged in announce 50 MB APPEND literals and send them.
// Each gets a tagged BAD [TOOBIG] and is disconnected at once, and the
// server's peak memory does not grow by the data sent (it grew by 445 MB).
func TestIMAPPreAuthLiteralMemory(t *testing.T) {
	t.Parallel()
	m := newIMAPServer(t)
	before := procStatus(t, m.srv.cmd.Process.Pid, "VmHWM")
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", m.imap, 5*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			r := bufio.NewReader(c)
			if _, err := r.ReadString('\n'); err != nil { // the greeting
				t.Error(err)
				return
			}
			go func() {
				fmt.Fprintf(c, "m%d APPEND INBOX {52428800+}\r\n", i)
				chunk := make([]byte, 64<<10)
				for sent := 0; sent < 52428800; sent += len(chunk) {
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
			}()
			tagged, err := r.ReadString('\n')
			if err != nil || !strings.HasPrefix(tagged, fmt.Sprintf("m%d BAD [TOOBIG] ", i)) {
				t.Errorf("connection %d: %q, %v", i, tagged, err)
				return
			}
			if bye, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(bye, "* BYE ") {
				t.Errorf("connection %d after the refusal: %q, %v", i, bye, err)
			}
			if _, err := r.ReadString('\n'); err == nil {
				t.Errorf("connection %d still open", i)
			}
		}()
	}
	wg.Wait()
	after := procStatus(t, m.srv.cmd.Process.Pid, "VmHWM")
	t.Logf("server peak RSS: %d kB before, %d kB after", before, after)
	if grew := after - before; grew > 64<<10 {
		t.Errorf("server peak RSS grew by %d kB", grew)
	}
}

// procStatus reads a "kB" field of /proc/PID/status.
func procStatus(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("%s: %q", field, l)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
