package imapserver

import (
	"compress/flate"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestFlatePartialFlush records why posthorn does not offer
// COMPRESS=DEFLATE (RFC 4978; see docs/imap.md): Go's compress/flate
// reader hands out decompressed bytes only at a stored block (what
// Z_SYNC_FLUSH and Z_FULL_FLUSH end with), when its 32 KiB window fills,
// or at the final block. A client that flushes with Z_PARTIAL_FLUSH ends
// its command with an empty fixed-Huffman block instead, so the server
// would never see the command until more data arrived: a deadlock. The
// deflate stream here comes from zlib itself (Python's zlib module). If
// this test starts failing because partial flushes are readable, the
// decision can be revisited.
func TestFlatePartialFlush(t *testing.T) {
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no python3")
	}
	for _, tc := range []struct {
		flush    string
		readable bool
	}{
		{"Z_SYNC_FLUSH", true},
		{"Z_FULL_FLUSH", true}, // imapflow 2.1.2 (Node's deflate.flush() default)
		{"Z_PARTIAL_FLUSH", false},
	} {
		t.Run(tc.flush, func(t *testing.T) {
			cmd := exec.Command(py, "-c", `
import sys, zlib
c = zlib.compressobj(6, zlib.DEFLATED, -15)
sys.stdout.buffer.write(c.compress(b"a1 NOOP\r\n") + c.flush(zlib.`+tc.flush+`))
sys.stdout.flush()
sys.stdin.read()  # hold the stream open, as a client waiting for the answer
`)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			got := make(chan string, 1)
			go func() {
				buf := make([]byte, 64)
				n, _ := io.ReadAtLeast(flate.NewReader(out), buf, len("a1 NOOP\r\n"))
				got <- string(buf[:n])
			}()
			wait := 5 * time.Second
			if !tc.readable {
				wait = 500 * time.Millisecond
			}
			select {
			case s := <-got:
				if !tc.readable {
					t.Errorf("partial flush readable (%q): COMPRESS=DEFLATE could be offered now", s)
				} else if s != "a1 NOOP\r\n" {
					t.Errorf("got %q", s)
				}
			case <-time.After(wait):
				if tc.readable {
					t.Errorf("no data after %s", tc.flush)
				}
			}
			stdin.Close()
		})
	}
}
