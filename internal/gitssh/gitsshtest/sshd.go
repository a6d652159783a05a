// Package gitsshtest serves git repositories over SSH for tests: the
// real OpenSSH server (/usr/sbin/sshd) on a loopback port, run as root
// with a configuration of its own, letting in one client key, which may
// only run git-shell (fetches and pushes of the repositories it names).
//
// Without sshd or root the test is skipped; in CI (probe.InCI) it fails
// instead, since CI installs the server.
package gitsshtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/batonci/baton/internal/testenv/probe"
)

// Sshd is the OpenSSH server's path.
const Sshd = "/usr/sbin/sshd"

// Server is a running sshd.
type Server struct {
	// Addr is its loopback host:port; Port its port.
	Addr, Port string
	// ClientKey is the private key it lets in; OtherKey one it does not.
	ClientKey, OtherKey string
	// HostKnown is the known_hosts line of its host key.
	HostKnown string
	// delayFile holds the seconds the server waits before it runs git
	// (SetDelay).
	delayFile string

	mu  sync.Mutex
	log bytes.Buffer
}

// URL is the ssh:// URL of the repository at path on this machine.
func (s *Server) URL(path string) string { return "ssh://root@" + s.Addr + path }

// SetDelay makes the next connections wait d before git runs.
func (s *Server) SetDelay(t testing.TB, d time.Duration) {
	t.Helper()
	if err := os.WriteFile(s.delayFile, fmt.Appendf(nil, "%d\n", int(d.Seconds())), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Log is what sshd logged.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

func (s *Server) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.Write(p)
}

func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if probe.InCI() {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// Start runs sshd until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := os.Stat(Sshd); err != nil {
		skipOrFail(t, "no OpenSSH server at %s (apt-get install openssh-server): %v", Sshd, err)
	}
	if os.Geteuid() != 0 {
		skipOrFail(t, "sshd runs as root in this test")
	}
	// sshd's privilege separation needs its directory (made by the
	// service's start, which nothing ran here).
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keygen := func(name string) string {
		p := filepath.Join(dir, name)
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", p).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		return p
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	host, client, other := keygen("host"), keygen("client"), keygen("other")
	s := &Server{ClientKey: read(client), OtherKey: read(other), delayFile: filepath.Join(dir, "delay")}
	s.SetDelay(t, 0)
	// The client may run git-shell alone, after the test's delay.
	forced := fmt.Sprintf(`sleep "$(cat %s)"; exec git-shell -c "$SSH_ORIGINAL_COMMAND"`, s.delayFile)
	auth := fmt.Sprintf("command=%q,no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-pty %s", forced, read(client+".pub"))
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(auth), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	_, s.Port, _ = net.SplitHostPort(s.Addr)
	ln.Close()
	conf := strings.Join([]string{
		"ListenAddress " + s.Addr,
		"HostKey " + host,
		"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"StrictModes no", "UsePAM no", "PermitRootLogin prohibit-password",
		"PasswordAuthentication no", "KbdInteractiveAuthentication no",
		"PubkeyAuthentication yes", "AllowUsers root", "LogLevel VERBOSE",
	}, "\n") + "\n"
	cfg := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Sshd, "-D", "-e", "-f", cfg)
	cmd.Stdout, cmd.Stderr = s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("sshd's log:\n%s", s.Log())
		}
	})
	pub := strings.Fields(read(host + ".pub"))
	s.HostKnown = fmt.Sprintf("[127.0.0.1]:%s %s %s\n", s.Port, pub[0], pub[1])
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not listen on %s: %v\n%s", s.Addr, err, s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
