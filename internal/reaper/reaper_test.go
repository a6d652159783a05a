package reaper_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
// combined output and exit status. With ahead, the supervisor is started
// before it is given cmd (Supervisor.Prestart), else with it (Wrap).
func supervise(t *testing.T, cmd *exec.Cmd, recordDir string, ahead bool) (string, int) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := reaper.Supervisor{Binary: self, RecordDir: recordDir}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd.Stdout, cmd.Stderr = w, w
	var l *reaper.Lifeline
	if ahead {
		ready, err := s.Prestart(time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if cmd, l, err = ready.Start(cmd); err != nil {
			t.Fatal(err)
		}
	} else {
		if l, err = s.Wrap(cmd, time.Second); err != nil {
			t.Fatal(err)
		}
		err = cmd.Start()
		l.Started()
		if err != nil {
			t.Fatal(err)
		}
	}
	defer l.Close()
	w.Close()
	out, _ := io.ReadAll(r)
	_ = cmd.Wait()
	return string(out), cmd.ProcessState.ExitCode()
}

// bothWays runs test with a supervisor started with its program and with
// one started ahead of it.
func bothWays(t *testing.T, test func(t *testing.T, ahead bool)) {
	t.Run("with", func(t *testing.T) { test(t, false) })
	t.Run("ahead", func(t *testing.T) { test(t, true) })
}

func TestExitStatusIsTheProgramsOne(t *testing.T) {
	bothWays(t, func(t *testing.T, ahead bool) {
		for cmd, want := range map[string]int{"exit 7": 7, "kill -KILL $$": 128 + 9, "true": 0} {
			if out, code := supervise(t, exec.Command("bash", "-c", cmd), "", ahead); code != want {
				t.Errorf("%q: status %d (output %q), want %d", cmd, code, out, want)
			}
		}
	})
}

func TestExtraFilesKeepTheirDescriptors(t *testing.T) {
	bothWays(t, testExtraFilesKeepTheirDescriptors)
}

func testExtraFilesKeepTheirDescriptors(t *testing.T, ahead bool) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command("bash", "-c", "echo through-fd-3 >&3; readlink /proc/$$/fd/4 || echo none")
	cmd.ExtraFiles = []*os.File{w}
	out, code := supervise(t, cmd, "", ahead)
	w.Close()
	b := make([]byte, 64)
	n, _ := r.Read(b)
	if code != 0 || string(b[:n]) != "through-fd-3\n" {
		t.Errorf("fd 3 got %q (status %d, output %q)", b[:n], code, out)
	}
	// The supervisor had the lifeline at fd 4 (ahead: the lifeline at
	// 3 and its control socket at 4); the program has not.
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
	bothWays(t, func(t *testing.T, ahead bool) {
		cmd := exec.Command("sh", "-c", `id -u; id -g; id -G; grep '^Uid:' /proc/$PPID/status | cut -f2; kill -TERM $PPID 2>/dev/null || echo refused`)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
		out, code := supervise(t, cmd, "", ahead)
		if want := "65534\n65534\n65534\n0\nrefused\n"; out != want || code != 0 {
			t.Errorf("got %q (status %d), want %q", out, code, want)
		}
	})
}

func TestRecordRemovedWhenDone(t *testing.T) {
	bothWays(t, testRecordRemovedWhenDone)
}

func testRecordRemovedWhenDone(t *testing.T, ahead bool) {
	dir := t.TempDir()
	out, code := supervise(t, exec.Command("sh", "-c", "ls "+dir), dir, ahead)
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

// readySupervisor starts a supervisor ahead (this test binary) recording
// itself in recordDir, given up when the test ends if it was not used.
func readySupervisor(t *testing.T, recordDir string) *reaper.Ready {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ready, err := reaper.Supervisor{Binary: self, RecordDir: recordDir}.Prestart(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ready.Close() })
	return ready
}

// A supervisor started ahead holds nothing of the agent's environment, and
// its program gets the job's environment, directory and nothing else; it
// runs one program only.
func TestReadySupervisorGetsTheJobsEnvironmentOnlyWithIt(t *testing.T) {
	ready := readySupervisor(t, "")
	probe.Eventually(t, 10*time.Second, func() error {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", ready.Pid()))
		if err != nil || !strings.HasPrefix(string(b), reaper.Name) {
			return fmt.Errorf("the supervisor is not running yet: %q, %v", b, err)
		}
		return nil
	})
	if env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", ready.Pid())); err != nil || len(env) != 0 {
		t.Errorf("the waiting supervisor's environment: %q, %v; want none", env, err)
	}
	dir := t.TempDir()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command("sh", "-c", "/usr/bin/env; [ \"$(/bin/pwd)\" = "+dir+" ] || echo wrong-directory")
	cmd.Env = []string{"BATON_JOB_CANARY=job"}
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = w, w
	sup, l, err := ready.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	w.Close()
	out, _ := io.ReadAll(r)
	if err := sup.Wait(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got := strings.Fields(string(out))
	slices.Sort(got)
	if want := []string{"BATON_JOB_CANARY=job", "PWD=" + dir}; !slices.Equal(got, want) { // sh sets PWD
		t.Errorf("the program's environment is %q, want %q", got, want)
	}
	if _, _, err := ready.Start(exec.Command("true")); err == nil {
		t.Errorf("a ready supervisor started a second program")
	}
}

// A ready supervisor that is given up, and one left running when its agent
// died and swept by the next, are gone with their records.
func TestReadySupervisorGivenUpOrSweptLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	given := readySupervisor(t, dir)
	left := readySupervisor(t, dir)
	probe.Eventually(t, 10*time.Second, func() error {
		if entries, _ := os.ReadDir(dir); len(entries) != 2 {
			return fmt.Errorf("%d records, want 2", len(entries))
		}
		return nil
	})
	if err := given.Close(); err != nil {
		t.Errorf("give up: %v", err)
	}
	if running(given.Pid()) {
		t.Errorf("the supervisor given up still runs")
	}
	if n, err := reaper.Sweep(dir); n != 1 || err != nil {
		t.Errorf("Sweep = %d, %v; want the one left", n, err)
	}
	probe.Eventually(t, 10*time.Second, func() error {
		if running(left.Pid()) {
			return errors.New("the swept supervisor still runs")
		}
		return nil
	})
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("records left: %v", entries)
	}
}
