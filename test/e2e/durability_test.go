package e2e

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSIGKILLDurability: clients deliver messages in a loop; the server
// is killed with SIGKILL at a random moment. After a restart every
// message that got a 250 is in the store exactly once, intact
// (DESIGN.md principle 1).
func TestSIGKILLDurability(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("Debian's python3 not installed")
	}
	t.Parallel()
	m := newMailServer(t, mailOptions{greetDelay: "0s", logLevel: "info"})
	m.addUser("bob@example.com", bobPW)
	m.start()
	script, _ := filepath.Abs("testdata/flood.py")
	const senders, perSender = 3, 400
	acked := make([]map[int]bool, senders)
	var mu sync.Mutex
	total := 0
	enough := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for i := range senders {
		acked[i] = map[int]bool{}
		cmd := exec.Command(py, script, "127.0.0.1", port(m.smtp), fmt.Sprint(i), fmt.Sprint(perSender))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				var n int
				if _, err := fmt.Sscanf(sc.Text(), "acked %d", &n); err == nil {
					mu.Lock()
					acked[i][n] = true
					total++
					if total >= 30 {
						once.Do(func() { close(enough) })
					}
					mu.Unlock()
				}
			}
			cmd.Wait()
		}()
	}
	select {
	case <-enough:
	case <-time.After(60 * time.Second):
		t.Fatalf("no 30 messages accepted in 60s\n%s", m.logs())
	}
	time.Sleep(time.Duration(rand.IntN(400)) * time.Millisecond)
	m.srv.cmd.Process.Kill() // SIGKILL
	<-m.srv.done
	wg.Wait()
	n := 0
	for i := range acked {
		n += len(acked[i])
	}
	t.Logf("%d messages acknowledged before SIGKILL", n)

	// Restart on the same data (the store recovers), then stop cleanly.
	m.start()
	m.stop()
	msgs := m.messages("bob@example.com")
	seen := map[string]int{}
	for _, msg := range msgs {
		subj := msg.Header("Subject")
		seen[subj]++
		if !strings.HasSuffix(msg.Body, "line 059 of the durability test message\r\n") || !strings.HasPrefix(msg.Prefix, "Received: ") {
			t.Errorf("%s: stored message is damaged: %q…", subj, msg.Body[:min(len(msg.Body), 80)])
		}
	}
	for i := range acked {
		for k := range acked[i] {
			subj := fmt.Sprintf("durable %d %d", i, k)
			if seen[subj] != 1 {
				t.Errorf("%s acknowledged but stored %d times", subj, seen[subj])
			}
		}
	}
	for subj, c := range seen {
		if c != 1 {
			t.Errorf("%s stored %d times", subj, c)
		}
	}
	if len(msgs) > n+senders {
		t.Errorf("%d messages stored, %d acknowledged: more than one unacknowledged per connection", len(msgs), n)
	}
}
