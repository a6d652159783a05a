package shell_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/executor/executortest"
	"github.com/batonci/baton/internal/executor/shell"
	"github.com/batonci/baton/internal/reaper"
	"github.com/batonci/baton/internal/testenv/probe"
)

// TestMain makes the test binary a job supervisor when it is started as
// one (the supervised tests start it so).
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == reaper.Name {
		os.Exit(reaper.Main(os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}

// supervised returns an executor whose sessions run under a job
// supervisor (this test binary).
func supervised(t *testing.T, pty bool, recordDir string) *shell.Executor {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return shell.New(shell.Options{PTY: pty, GracePeriod: 500 * time.Millisecond, Supervisor: &reaper.Supervisor{Binary: self, RecordDir: recordDir}})
}

// supervisedAhead returns an executor whose sessions run under job
// supervisors started ahead of them (Options.Prestart), given up when the
// test ends.
func supervisedAhead(t *testing.T, recordDir string) *shell.Executor {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	e := shell.New(shell.Options{GracePeriod: 500 * time.Millisecond, Supervisor: &reaper.Supervisor{Binary: self, RecordDir: recordDir}, Prestart: 1})
	t.Cleanup(e.Close)
	return e
}

// modes are the two output modes every test runs in.
var modes = []struct {
	name string
	pty  bool
}{{"pipe", false}, {"pty", true}}

func newExec(pty bool) *shell.Executor {
	return shell.New(shell.Options{PTY: pty, GracePeriod: 500 * time.Millisecond})
}

func TestContract(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			executortest.Run(t, func(t *testing.T) executor.Executor { return newExec(m.pty) })
		})
		t.Run("supervised-"+m.name, func(t *testing.T) {
			executortest.Run(t, func(t *testing.T) executor.Executor { return supervised(t, m.pty, t.TempDir()) })
		})
	}
	t.Run("supervised-ahead-pipe", func(t *testing.T) {
		executortest.Run(t, func(t *testing.T) executor.Executor { return supervisedAhead(t, t.TempDir()) })
	})
}

func start(t *testing.T, e *shell.Executor) executor.Session {
	t.Helper()
	s, err := e.Start(t.Context(), executor.SessionConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func run(t *testing.T, s executor.Session, command string) string {
	t.Helper()
	var out bytes.Buffer
	code, err := s.Run(t.Context(), command, &out)
	if err != nil || code != 0 {
		t.Fatalf("Run(%q) = %d, %v (output %q)", command, code, err, out.String())
	}
	return out.String()
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && len(b) > i+2 && b[i+2] != 'Z'
}

func TestTerminal(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := start(t, newExec(m.pty))
			want := "not a tty\n"
			if m.pty {
				want = "tty\n"
			}
			if got := run(t, s, "if [ -t 1 ] && [ -t 2 ]; then echo tty; else echo not a tty; fi"); got != want {
				t.Errorf("got %q, want %q", got, want)
			}
			if got := run(t, s, "[ -t 0 ] && echo stdin is a tty || echo stdin is not a tty"); got != "stdin is not a tty\n" {
				t.Errorf("got %q", got)
			}
		})
	}
}

func TestBackgroundOutputGoesToNextCommand(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := start(t, newExec(m.pty))
			written := filepath.Join(t.TempDir(), "written")
			if got := run(t, s, "(sleep 0.3; echo late; touch "+written+") &"); got != "" {
				t.Errorf("first command output = %q", got)
			}
			probe.Eventually(t, 10*time.Second, func() error { // the background job wrote
				_, err := os.Stat(written)
				return err
			})
			if got := run(t, s, "echo now"); got != "late\nnow\n" {
				t.Errorf("second command output = %q, want %q", got, "late\nnow\n")
			}
		})
	}
}

func TestPreviousNonceDoesNotConfuse(t *testing.T) {
	s := start(t, newExec(true))
	run(t, s, "true")
	out := run(t, s, `printf '\037%s;0;\n' "$__baton_n"; echo after`)
	if !strings.HasSuffix(out, ";0;\nafter\n") {
		t.Errorf("output = %q", out)
	}
}

func TestStopIgnoringSIGTERM(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, newExec(m.pty))
			pids := strings.Fields(run(t, s, "trap '' TERM HUP; sleep 1000 & echo $$ $!"))
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			startAt := time.Now()
			code, err := s.Run(ctx, "sleep 1000", &bytes.Buffer{})
			d := time.Since(startAt)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error = %v, want context.DeadlineExceeded", err)
			}
			if code != 128+9 {
				t.Errorf("status = %d, want %d (SIGKILL)", code, 128+9)
			}
			if d < 600*time.Millisecond || d > 3*time.Second {
				t.Errorf("stopping took %v, want about 200ms + the 500ms grace period", d)
			}
			for _, p := range pids {
				pid, _ := strconv.Atoi(p)
				if alive(pid) {
					t.Errorf("process %d survived", pid)
				}
			}
		})
	}
}

func TestProcessesGoneAfterClose(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := start(t, newExec(m.pty))
			pids := strings.Fields(run(t, s, "sleep 1000 & (sleep 1000 & echo $!; wait) & echo $$ $!"))
			time.Sleep(100 * time.Millisecond)
			var all []int
			for _, p := range pids {
				pid, _ := strconv.Atoi(p)
				all = append(all, pid)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			for _, pid := range all {
				if alive(pid) {
					t.Errorf("process %d survived Close", pid)
				}
			}
		})
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, m := range modes {
		e := newExec(m.pty)
		for _, cmd := range []string{"echo hi", "exit 3", "sleep 1000 & echo bg"} {
			s, err := e.Start(t.Context(), executor.SessionConfig{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			_, _ = s.Run(t.Context(), cmd, &bytes.Buffer{})
			_ = s.Close()
		}
		ctx, cancel := context.WithCancel(t.Context())
		s, err := e.Start(ctx, executor.SessionConfig{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(100*time.Millisecond, cancel)
		_, _ = s.Run(ctx, "sleep 1000", &bytes.Buffer{})
		_ = s.Close()
	}
	probe.Eventually(t, 2*time.Second, func() error {
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			return fmt.Errorf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
		return nil
	})
}

func TestCommandFileRemovedOnClose(t *testing.T) {
	tmp := t.TempDir()
	e := shell.New(shell.Options{TempDir: tmp, GracePeriod: time.Second})
	s, err := e.Start(t.Context(), executor.SessionConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	run(t, s, "true")
	_ = s.Close()
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("TempDir not cleaned: %v", entries)
	}
}

// TestCommandFileInMemoryByDefault: without Options.TempDir, a session
// keeps its command file in /dev/shm, where making and removing its
// directory costs a few µs instead of up to a few hundred on a disk.
func TestCommandFileInMemoryByDefault(t *testing.T) {
	if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
		t.Skip("no /dev/shm")
	}
	e := shell.New(shell.Options{GracePeriod: time.Second})
	s, err := e.Start(t.Context(), executor.SessionConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := run(t, s, `echo "${BASH_SOURCE[0]}"`); !strings.HasPrefix(got, "/dev/shm/baton-shell-") {
		t.Errorf("the command file is %q, want one in /dev/shm", got)
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := (shell.Options{}).Validate(); err != nil {
		t.Errorf("zero Options: %v", err)
	}
	if err := (shell.Options{GracePeriod: -1}).Validate(); err == nil {
		t.Errorf("negative grace period: no error")
	}
}

func TestExitLeavesChattyBackgroundProcess(t *testing.T) {
	// `yes` keeps writing after the shell exits; Run must still return.
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := start(t, newExec(m.pty))
			startAt := time.Now()
			var out bytes.Buffer
			code, err := s.Run(t.Context(), "trap '' HUP; yes >&2 & sleep 0.1; exit 5", &out)
			if !errors.Is(err, executor.ErrSessionEnded) || code != 5 {
				t.Errorf("Run = %d, %v; want 5, ErrSessionEnded", code, err)
			}
			if d := time.Since(startAt); d > 5*time.Second {
				t.Errorf("Run took %v", d)
			}
		})
	}
}

func TestShellContract(t *testing.T) {
	executortest.RunShell(t, func(t *testing.T) executor.Executor { return newExec(false) })
	t.Run("supervised", func(t *testing.T) {
		executortest.RunShell(t, func(t *testing.T) executor.Executor { return supervised(t, false, t.TempDir()) })
	})
}

// A debug shell starts where the job's shell is now.
func TestShellStartsInSessionDirectory(t *testing.T) {
	dir := t.TempDir()
	s, err := newExec(false).Start(t.Context(), executor.SessionConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if code, err := s.Run(t.Context(), "mkdir sub && cd sub", io.Discard); code != 0 || err != nil {
		t.Fatalf("cd: %d, %v", code, err)
	}
	var out strings.Builder
	p, err := s.(executor.Shell).StartShell(t.Context(), executor.ShellConfig{Command: "pwd", Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(); code != 0 || err != nil || out.String() != filepath.Join(dir, "sub")+"\n" {
		t.Errorf("pwd = %d, %v, %q; want %s/sub", code, err, out.String(), dir)
	}
}

// userDir makes a directory owned by uid, in a parent everyone may
// traverse, removed at the end of the test.
func userDir(t *testing.T, uid, gid int) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "baton-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSessionRunsAsUser checks that a session with a User runs as that
// user, with its HOME, and can neither read this process's files and
// /proc entries nor signal it; so do the shells started beside it.
func TestSessionRunsAsUser(t *testing.T) {
	probe.Require(t, probe.Root)
	const uid, gid = 65534, 65534
	secret := filepath.Join(t.TempDir(), "secret.key")
	if err := os.WriteFile(secret, []byte("top secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			home := userDir(t, uid, gid)
			s, err := newExec(m.pty).Start(t.Context(), executor.SessionConfig{
				Dir:  home,
				Env:  []string{"PATH=/usr/bin:/bin", "HOME=/root"},
				User: &executor.User{UID: uid, GID: gid, Home: home},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			if got := run(t, s, "id -u; id -g; id -G; echo $HOME; pwd"); got != fmt.Sprintf("%d\n%d\n%d\n%s\n%s\n", uid, gid, gid, home, home) {
				t.Errorf("identity = %q", got)
			}
			self := strconv.Itoa(os.Getpid())
			probe := `cat ` + secret + ` 2>/dev/null && echo READ; ` +
				`cat /proc/` + self + `/environ 2>/dev/null && echo ENVIRON; ` +
				`kill -0 ` + self + ` 2>/dev/null && echo SIGNAL; ` +
				`touch /root/baton-test 2>/dev/null && echo WROTE; echo done`
			if got := run(t, s, probe); got != "done\n" {
				t.Errorf("the session reached this process: %q", got)
			}

			var out bytes.Buffer
			p, err := s.(executor.Shell).StartShell(t.Context(), executor.ShellConfig{Command: "id -u; echo $HOME; " + probe, Stdout: &out, Stderr: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			if code, err := p.Wait(); code != 0 || err != nil {
				t.Fatalf("shell = %d, %v", code, err)
			}
			if got, want := out.String(), fmt.Sprintf("%d\n%s\ndone\n", uid, home); got != want {
				t.Errorf("interactive shell printed %q, want %q", got, want)
			}
		})
	}
}

// A supervised session's Close also stops the processes that left the
// session's process group (setsid), and those a double fork orphaned.
func TestSupervisedCloseKillsEscapedProcesses(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s, err := supervised(t, m.pty, t.TempDir()).Start(t.Context(), executor.SessionConfig{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			out := run(t, s, `setsid sleep 301 </dev/null >/dev/null 2>&1 & echo $!
( setsid sh -c 'sleep 302 </dev/null >/dev/null 2>&1 & echo $!' & ) ; sleep 0.2`)
			var pids []int
			for _, f := range strings.Fields(out) {
				pid, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("output %q", out)
				}
				pids = append(pids, pid)
				t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
			}
			if len(pids) != 2 || !alive(pids[0]) || !alive(pids[1]) {
				t.Fatalf("escaped processes %v not running: the test proves nothing", pids)
			}
			_ = s.Close()
			for _, pid := range pids {
				if alive(pid) {
					t.Errorf("escaped process %d still running after Close", pid)
				}
			}
		})
	}
}

// A supervised session with a User runs bash as that user; its
// supervisor stays this process's user, out of the job's reach.
func TestSupervisedSessionRunsAsUser(t *testing.T) {
	probe.Require(t, probe.Root)
	const uid, gid = 65534, 65534
	home := userDir(t, uid, gid)
	s, err := supervised(t, false, t.TempDir()).Start(t.Context(), executor.SessionConfig{
		Dir: home, Env: []string{"PATH=/usr/bin:/bin"},
		User: &executor.User{UID: uid, GID: gid, Home: home},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := run(t, s, `id -u; grep '^Uid:' /proc/$PPID/status | cut -f2; kill -TERM $PPID 2>/dev/null && echo SIGNALLED; echo done`)
	if want := fmt.Sprintf("%d\n0\ndone\n", uid); got != want {
		t.Errorf("got %q, want %q (the job's id, its supervisor's)", got, want)
	}
}

// A supervised session's debug shell takes what it started, also in a
// new session (setsid), with it when it is closed.
func TestSupervisedShellCloseKillsEscapedProcesses(t *testing.T) {
	s, err := supervised(t, false, t.TempDir()).Start(t.Context(), executor.SessionConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, w := io.Pipe()
	p, err := s.(executor.Shell).StartShell(t.Context(), executor.ShellConfig{
		Command: "setsid sleep 303 </dev/null >/dev/null 2>&1 & echo $!; sleep 600", Stdout: w, Stderr: io.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	var line string
	if _, err := fmt.Fscanln(r, &line); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, r)
	pid, _ := strconv.Atoi(line)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if !alive(pid) {
		t.Fatalf("escaped process %q not running: the test proves nothing", line)
	}
	_ = p.Close()
	probe.Eventually(t, 2*time.Second, func() error {
		if alive(pid) {
			return fmt.Errorf("escaped process %d still running after the shell was closed", pid)
		}
		return nil
	})
}

// Sessions of an executor that starts supervisors ahead each get a
// supervisor of their own, started before the session was asked for, that
// had none of this process's environment and passes the session's only.
func TestSupervisorsStartedAheadAreNotShared(t *testing.T) {
	e := supervisedAhead(t, t.TempDir())
	env := []string{"PATH=/usr/bin:/bin", "BATON_SESSION_CANARY=1"}
	var sups []string
	for i := range 3 {
		// The session's supervisor is waiting before it is asked for
		// (beside the i of the sessions still open).
		probe.Eventually(t, 30*time.Second, func() error {
			b, _ := exec.Command("pgrep", "-c", "-P", strconv.Itoa(os.Getpid()), "-f", "control-fd").Output()
			if n, _ := strconv.Atoi(strings.TrimSpace(string(b))); n <= i {
				return errors.New("no supervisor waiting")
			}
			return nil
		})
		s, err := e.Start(t.Context(), executor.SessionConfig{Dir: t.TempDir(), Env: env})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		out := run(t, s, `echo $PPID; grep -c . /proc/$PPID/environ || true; env | grep -v '^_=\|^PWD=\|^SHLVL=\|^OLDPWD=' | sort | tr '\n' ' '`)
		f := strings.Fields(out)
		if len(f) < 2 || f[1] != "0" {
			t.Errorf("session %d: the supervisor's environment has %v lines, want none (output %q)", i, f[1:2], out)
		}
		if got, want := strings.Join(f[2:], " "), "BATON_SESSION_CANARY=1 PATH=/usr/bin:/bin"; got != want {
			t.Errorf("session %d: environment %q, want %q", i, got, want)
		}
		if len(f) > 0 {
			if slices.Contains(sups, f[0]) {
				t.Errorf("session %d shares supervisor %s with an earlier one", i, f[0])
			}
			sups = append(sups, f[0])
		}
	}
}

// A session's output is read from a descriptor of its own, closed on exec:
// a session started later (its bash) holds none of an earlier one's
// output (the pipe, or the pty's master), which would hide that output's
// end.
func TestOutputNotInheritedBySessions(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			first := start(t, newExec(m.pty))
			output := "/dev/ptmx"
			if !m.pty {
				output = strings.TrimSpace(run(t, first, `readlink /proc/$$/fd/1`))
			}
			second := start(t, newExec(m.pty))
			held := run(t, second, `for f in /proc/$$/fd/*; do readlink "$f"; done 2>/dev/null; true`)
			if !strings.Contains(held, "/dev/null") {
				t.Fatalf("no descriptors read: the test proves nothing:\n%s", held)
			}
			if slices.Contains(strings.Fields(held), output) {
				t.Errorf("the second session's shell holds the first's output %s:\n%s", output, held)
			}
		})
	}
}

// Close returns although a process that escaped the session's process
// group (setsid) still holds its output open: the reader waiting for
// more output is woken.
func TestCloseWithEscapedWriter(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := start(t, newExec(m.pty))
			out := run(t, s, `setsid sleep 304 & echo $!`)
			pid, _ := strconv.Atoi(strings.TrimSpace(out))
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
			if !alive(pid) {
				t.Fatalf("escaped process %q not running: the test proves nothing", out)
			}
			closed := make(chan struct{})
			go func() {
				_ = s.Close()
				close(closed)
			}()
			select {
			case <-closed:
			case <-time.After(60 * time.Second):
				t.Fatal("Close did not return while an escaped process held the output")
			}
		})
	}
}
