//go:build !linux

package dnstest

import (
	"os/exec"
	"testing"
)

// Netns is a Linux network namespace with a test DNS server; see
// netns_linux.go. Elsewhere StartNetns skips the test.
type Netns struct {
	Name   string
	Server *Server
}

// StartNetns skips t: network namespaces are Linux only.
func StartNetns(t testing.TB, z Zone) *Netns {
	t.Helper()
	t.Skip("network namespaces are Linux only")
	return nil
}

// Command returns a command running name with args inside the namespace.
func (n *Netns) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}
