package reaper_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/batonci/baton/internal/reaper"
	"github.com/batonci/baton/internal/testenv/probe"
)

// TestMain makes the test binary the job supervisor when it is started as
// one.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == reaper.Name {
		os.Exit(reaper.Main(os.Args[1:], os.Stderr))
	}
	if os.Getenv("BATON_REAPER_TEST_LEAKY_AGENT") != "" {
		leakyAgent()
	}
	os.Exit(m.Run())
}

// leakyAgent is an agent whose lifeline's write end leaks into a process
// that outlives it: it starts a supervised `sleep 300`, then another
// `sleep 300` that inherits every pipe it holds, prints "PIDS supervisor
// leak" and waits to be killed.
func leakyAgent() {
	self, _ := os.Executable()
	job := exec.Command("sleep", "300")
	l, err := reaper.Supervisor{Binary: self}.Wrap(job, time.Second)
	if err != nil {
		panic(err)
	}
	if err := job.Start(); err != nil {
		panic(err)
	}
	l.Started()
	leak := exec.Command("sleep", "300")
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		n, _ := strconv.Atoi(fd.Name())
		if target, _ := os.Readlink("/proc/self/fd/" + fd.Name()); n > 2 && strings.HasPrefix(target, "pipe:") {
			leak.ExtraFiles = append(leak.ExtraFiles, os.NewFile(uintptr(n), "leaked"))
		}
	}
	if err := leak.Start(); err != nil {
		panic(err)
	}
	fmt.Printf("PIDS %d %d\n", job.Process.Pid, leak.Process.Pid)
	time.Sleep(time.Hour)
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

// The agent dies while its lifeline's write end lives on in another
// process: the parent-death signal still tells the supervisor, which
// kills the job.
func TestSupervisorNoticesParentDeathDespiteLeakedLifeline(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	agent := exec.Command(self, "-test.run=^$")
	agent.Env = append(os.Environ(), "BATON_REAPER_TEST_LEAKY_AGENT=1")
	out, err := agent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	var supervisor, leak int
	t.Cleanup(func() {
		agent.Process.Kill()
		agent.Wait()
	})
	if _, err := fmt.Fscanf(out, "PIDS %d %d\n", &supervisor, &leak); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(leak, syscall.SIGKILL)
		syscall.Kill(supervisor, syscall.SIGKILL)
	})
	var job int
	probe.Eventually(t, 5*time.Second, func() error {
		// The children of any of the supervisor's threads.
		b, _ := exec.Command("sh", "-c", fmt.Sprintf("cat /proc/%d/task/*/children", supervisor)).Output()
		if job, _ = strconv.Atoi(strings.TrimSpace(string(b))); job == 0 {
			return errors.New("the supervisor started no job")
		}
		return nil
	})
	t.Cleanup(func() { syscall.Kill(job, syscall.SIGKILL) })
	agent.Process.Kill()
	agent.Wait()
	probe.Eventually(t, 5*time.Second, func() error {
		if running(job) {
			return fmt.Errorf("the job (%d) still runs 5 s after its agent died", job)
		}
		return nil
	})
}

// running reports whether pid is a live, not zombie, process.
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && len(b) > i+2 && b[i+2] != 'Z'
}
