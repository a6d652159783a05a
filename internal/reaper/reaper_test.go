package reaper_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/batonci/baton/internal/reaper"
)

// TestMain makes the test binary the job supervisor when it is started as
// one.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == reaper.Name {
		os.Exit(reaper.Main(os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}

// supervise runs cmd under a supervisor (this test binary) and returns its
// combined output and exit status.
func supervise(t *testing.T, cmd *exec.Cmd, recordDir string) (string, int) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	l, err := reaper.Supervisor{Binary: self, RecordDir: recordDir}.Wrap(cmd, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Start()
	l.Started()
	if err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	return out.String(), cmd.ProcessState.ExitCode()
}

func TestExitStatusIsTheProgramsOne(t *testing.T) {
	for cmd, want := range map[string]int{"exit 7": 7, "kill -KILL $$": 128 + 9, "true": 0} {
		if out, code := supervise(t, exec.Command("bash", "-c", cmd), ""); code != want {
			t.Errorf("%q: status %d (output %q), want %d", cmd, code, out, want)
		}
	}
}

func TestExtraFilesKeepTheirDescriptors(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command("bash", "-c", "echo through-fd-3 >&3; readlink /proc/$$/fd/4 || echo none")
	cmd.ExtraFiles = []*os.File{w}
	out, code := supervise(t, cmd, "")
	w.Close()
	b := make([]byte, 64)
	n, _ := r.Read(b)
	if code != 0 || string(b[:n]) != "through-fd-3\n" {
		t.Errorf("fd 3 got %q (status %d, output %q)", b[:n], code, out)
	}
	// The supervisor had the lifeline at fd 4; the program has not.
	if strings.TrimSpace(out) != "none" {
		t.Errorf("the program has fd 4 open: %s", out)
	}
}

// The program runs as the user of its credential; the supervisor stays
// this process's user, so that the program cannot signal it.
func TestCredentialIsTheProgramsOnly(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to change users")
	}
	cmd := exec.Command("sh", "-c", `id -u; id -g; grep '^Uid:' /proc/$PPID/status | cut -f2; kill -TERM $PPID 2>/dev/null || echo refused`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, code := supervise(t, cmd, "")
	if want := "65534\n65534\n0\nrefused\n"; out != want || code != 0 {
		t.Errorf("got %q (status %d), want %q", out, code, want)
	}
}

func TestRecordRemovedWhenDone(t *testing.T) {
	dir := t.TempDir()
	out, code := supervise(t, exec.Command("sh", "-c", "ls "+dir), dir)
	if code != 0 || strings.TrimSpace(out) == "" {
		t.Fatalf("no record while running: %q, status %d", out, code)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("records left after the supervisor exited: %v", left)
	}
	if n, err := reaper.Sweep(dir); n != 0 || err != nil {
		t.Errorf("Sweep = %d, %v; want nothing to do", n, err)
	}
}
