package executortest

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/executor"
)

// RunShell runs the contract tests of executor.Shell, the optional
// interface of sessions that debug sessions use: processes beside the
// session's shell, in its environment, with exit statuses and a terminal
// that can be resized.
func RunShell(t *testing.T, newExec func(t *testing.T) executor.Executor) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, e executor.Executor)
	}{
		{"CommandSeesEnvAndInit", testShellCommand},
		{"SeesTheSessionAsItIsNow", testShellSessionState},
		{"ExitStatus", testShellExit},
		{"TerminalResize", testShellResize},
		{"CloseSessionEndsShell", testShellSessionClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newExec(t))
		})
	}
}

func shellOf(t *testing.T, s executor.Session) executor.Shell {
	t.Helper()
	sh, ok := s.(executor.Shell)
	if !ok {
		t.Fatalf("%T does not implement executor.Shell", s)
	}
	return sh
}

func testShellCommand(t *testing.T, e executor.Executor) {
	dir := t.TempDir()
	s := start(t, e, executor.SessionConfig{Dir: dir, Env: append(os.Environ(), "BASE_VAR=base"), Init: "f() { echo func; }"})
	mustRun(t, s, "echo session >"+filepath.Join(dir, "file"))
	var out syncBuffer
	p, err := shellOf(t, s).StartShell(t.Context(), executor.ShellConfig{
		Init:    "export JOB_VAR='job value'",
		Command: `echo "$BASE_VAR/$JOB_VAR"; cat ` + filepath.Join(dir, "file"),
		Stdout:  &out, Stderr: &out,
	})
	if err != nil {
		t.Fatalf("StartShell: %v", err)
	}
	code, err := p.Wait()
	if got, want := out.String(), "base/job value\nsession\n"; code != 0 || err != nil || got != want {
		t.Errorf("shell = %d, %v, output %q; want 0, nil, %q", code, err, got, want)
	}
	// The session is untouched.
	expect(t, s, `echo "${JOB_VAR-unset}"`, "unset\n", 0)
}

// testShellSessionState: a shell started beside a session sees what the
// session's commands exported and where they went, over what its Init
// says, also after a command failed.
func testShellSessionState(t *testing.T, e executor.Executor) {
	dir := t.TempDir()
	s := start(t, e, executor.SessionConfig{Dir: dir})
	mustRun(t, s, "export LATER='set by a command'; mkdir -p sub && cd sub")
	if code, err := s.Run(t.Context(), "false", io.Discard); err != nil || code != 1 {
		t.Fatalf("a failing command = %d, %v", code, err)
	}
	var out syncBuffer
	p, err := shellOf(t, s).StartShell(t.Context(), executor.ShellConfig{
		Init:    "export LATER=from-init",
		Command: `echo "$LATER"; pwd`,
		Stdout:  &out, Stderr: &out,
	})
	if err != nil {
		t.Fatalf("StartShell: %v", err)
	}
	code, err := p.Wait()
	if got := out.String(); code != 0 || err != nil || !strings.HasPrefix(got, "set by a command\n") || !strings.HasSuffix(got, "/sub\n") {
		t.Errorf("shell = %d, %v, output %q; want the session's variable and directory", code, err, got)
	}
}

func testShellExit(t *testing.T, e executor.Executor) {
	s := start(t, e, executor.SessionConfig{})
	for _, tc := range []struct {
		cmd  string
		code int
	}{{"true", 0}, {"exit 7", 7}, {"read line; exit $line", 42}} {
		p, err := shellOf(t, s).StartShell(t.Context(), executor.ShellConfig{Command: tc.cmd, Stdin: strings.NewReader("42\n")})
		if err != nil {
			t.Fatalf("StartShell: %v", err)
		}
		if code, err := p.Wait(); code != tc.code || err != nil {
			t.Errorf("%q: Wait = %d, %v; want %d", tc.cmd, code, err, tc.code)
		}
	}
}

// terminal is the user's side of an interactive shell.
type terminal struct {
	in  *io.PipeWriter
	out syncBuffer
}

func (tm *terminal) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(tm.out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("terminal never showed %q; it shows %q", s, tm.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testShellResize(t *testing.T, e executor.Executor) {
	s := start(t, e, executor.SessionConfig{})
	inR, inW := io.Pipe()
	tm := &terminal{in: inW}
	p, err := shellOf(t, s).StartShell(t.Context(), executor.ShellConfig{
		TTY: true, Term: "xterm", Rows: 30, Cols: 100, Stdin: inR, Stdout: &tm.out,
	})
	if err != nil {
		t.Fatalf("StartShell: %v", err)
	}
	defer p.Close()
	io.WriteString(inW, "echo size=$(stty size) term=$TERM.\n")
	tm.waitFor(t, "size=30 100 term=xterm.")
	if err := p.Resize(40, 120); err != nil {
		t.Fatalf("Resize: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(tm.out.String(), "size=40 120.") {
		if time.Now().After(deadline) {
			t.Fatalf("the terminal was not resized: %q", tm.out.String())
		}
		io.WriteString(inW, "echo size=$(stty size).\n")
		time.Sleep(200 * time.Millisecond)
	}
	io.WriteString(inW, "exit 3\n")
	if code, err := p.Wait(); code != 3 || err != nil {
		t.Errorf("Wait = %d, %v; want 3", code, err)
	}
}

func testShellSessionClose(t *testing.T, e executor.Executor) {
	s, err := e.Start(t.Context(), executor.SessionConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	p, err := shellOf(t, s).StartShell(t.Context(), executor.ShellConfig{Command: "sleep 600"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		p.Wait()
		close(done)
	}()
	s.Close()
	select {
	case <-done:
	case <-time.After(stopTimeout):
		t.Fatal("closing the session left its shell running")
	}
}
