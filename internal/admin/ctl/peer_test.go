package ctl

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/posthorn/posthorn/internal/admin"
)

// TestMain lets the test binary act as a client of the control socket
// named by POSTHORN_CTL_PEER_SOCKET, for TestRefusedPeerIsTold.
func TestMain(m *testing.M) {
	if sock := os.Getenv("POSTHORN_CTL_PEER_SOCKET"); sock != "" {
		_, err := (&Client{Path: sock}).ListDomains(context.Background(), admin.Empty{})
		fmt.Println(err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRefusedPeerIsTold connects as another user to a control socket whose
// mode was loosened by mistake: the server's credential check refuses the
// call and says why and what to do, instead of closing the connection
// without a word.
func TestRefusedPeerIsTold(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to connect as another user")
	}
	_, sock := startServer(t)
	for p := filepath.Dir(sock); p != "/"; p = filepath.Dir(p) {
		if strings.HasPrefix(p, os.TempDir()+"/") {
			os.Chmod(p, 0o755)
		}
	}
	os.Chmod(sock, 0o666)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(filepath.Dir(sock), "client.test")
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "POSTHORN_CTL_PEER_SOCKET="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "refused uid 65534") || !strings.Contains(string(out), "run the command as root") {
		t.Errorf("refused client got %q", out)
	}
}
