package e2e

import (
	"bufio"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// TestIMAPFullMXStillAccepts fills the IMAP connection limit (logged-in
// sessions in IDLE) and checks that the MX still greets with 220: each
// kind of listener has connection limits of its own (smtp.max_connections,
// imap.max_connections), where 500 IMAP sessions used to make port 25
// answer 421.
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
		"\nmax_connections = 1000\n":           "\nmax_connections = 4\n", // [imap]
		"\nmax_connections_per_account = 20\n": "\nmax_connections_per_account = 10\n",
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
	// The MX and submission still accept...
	for _, addr := range []string{m.smtp, m.submission} {
		s := dialSMTP(t, addr)
		s.expect("220 ")
		s.cmd("QUIT", "221")
	}
	// ... while the next IMAP connection is over IMAP's limit.
	c, err := net.DialTimeout("tcp", m.imap, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(l, "* BYE [LIMIT] too many IMAP connections (4)") {
		t.Fatalf("IMAP connection over the limit: %q, %v", l, err)
	}
}
