package dnstest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// Netns is a Linux network namespace for running unmodified external tools
// (opendkim-testmsg, python's spf, dkimpy's arcverify...) against a test
// zone: it has only a loopback interface, its resolv.conf (/etc/netns/NAME,
// which ip-netns-exec(8) bind-mounts over /etc/resolv.conf) points at
// 127.0.0.1, and Server answers there on port 53. The tools cannot reach any
// other address.
//
// Server runs in the test process: its sockets are opened on a thread moved
// into the namespace with setns(2), then the thread moves back. Change the
// zone between commands with Server.Set.
type Netns struct {
	Name   string
	Server *Server
}

var netnsSeq atomic.Int64

// StartNetns creates a namespace serving z, removed when the test ends.
// It skips t when not root or when ip(8) is missing.
func StartNetns(t testing.TB, z Zone) *Netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root (ip netns add)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip(8) missing: apt-get install -y iproute2")
	}
	name := fmt.Sprintf("phtest%d-%d", os.Getpid(), netnsSeq.Add(1))
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	run("netns", "add", name)
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", name).Run()
		os.RemoveAll("/etc/netns/" + name)
	})
	run("-n", name, "link", "set", "lo", "up")
	if err := os.MkdirAll("/etc/netns/"+name, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("/etc/netns/"+name+"/resolv.conf", []byte("nameserver 127.0.0.1\noptions timeout:2 attempts:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := serverInNetns(name, z)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &Netns{Name: name, Server: srv}
}

// Command returns a command running name with args inside the namespace.
func (n *Netns) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// serverInNetns starts a Server on 127.0.0.1:53 of namespace name. The
// listening sockets belong to the namespace they were created in, so they
// are opened on a locked thread that has joined it; since Go 1.10 a locked
// thread does not spawn other threads, so nothing else inherits it.
func serverInNetns(name string, z Zone) (*Server, error) {
	type result struct {
		srv *Server
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: err}
			return
		}
		defer orig.Close()
		target, err := os.Open("/var/run/netns/" + name)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: err}
			return
		}
		defer target.Close()
		if err := setns(target); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: err}
			return
		}
		srv, err := NewServer(z, ServerOptions{Addr: "127.0.0.1:53"})
		if setns(orig) == nil {
			// Back in our namespace: the thread may serve others again.
			// Otherwise it stays locked and exits with this goroutine.
			runtime.UnlockOSThread()
		}
		done <- result{srv, err}
	}()
	r := <-done
	return r.srv, r.err
}

// setns moves the calling thread into the network namespace of f.
func setns(f *os.File) error {
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("dnstest: setns: %w", err)
	}
	return nil
}
