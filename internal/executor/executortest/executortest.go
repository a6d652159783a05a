// Package executortest is the contract test suite for executor.Executor
// implementations. Every executor (shell, docker) runs it from its own
// tests:
//
//	func TestContract(t *testing.T) {
//		executortest.Run(t, func(t *testing.T) executor.Executor { return New(...) })
//	}
//
// The suite checks the behaviour the runner relies on (docs/semaphore.md §7.2): one
// persistent bash per session, commands sourced in it, exit statuses,
// output capture, and stopping.
package executortest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/executor"
)

// stopTimeout bounds how long stopping a session may take in these tests;
// executors under test should use a short grace period.
const stopTimeout = 15 * time.Second

// Run runs the contract tests. newExec is called once per subtest; it should
// return an executor with a short stop grace period (about a second).
func Run(t *testing.T, newExec func(t *testing.T) executor.Executor) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, e executor.Executor)
	}{
		{"StatePersists", testStatePersists},
		{"ExitStatus", testExitStatus},
		{"MultiLineAndHeredoc", testMultiLine},
		{"Return130", testReturn130},
		{"ExitEndsSession", testExitEndsSession},
		{"SetEFailureEndsSession", testSetE},
		{"StdinIsEmpty", testStdin},
		{"StdoutStderrInterleaved", testInterleaving},
		{"LargeOutput", testLargeOutput},
		{"NoTrailingNewline", testNoTrailingNewline},
		{"OutputIsLive", testLiveOutput},
		{"OutputAfterFloodIsLive", testLiveOutputAfterFlood},
		{"XtraceShowsOnlyUserCommands", testXtrace},
		{"MarkerLookalikes", testMarkerLookalikes},
		{"UnicodeAndBinary", testBinary},
		{"ConfigDirEnvInit", testConfig},
		{"CancelKillsBackgroundChildren", testCancel},
		{"CloseKillsBackgroundChildren", testCloseKills},
		{"CloseDuringRun", testCloseDuringRun},
		{"StartContextStopsSession", testStartContext},
		{"CloseIdempotent", testCloseIdempotent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newExec(t))
		})
	}
}

// start starts a session in a fresh temporary directory, closed at cleanup.
func start(t *testing.T, e executor.Executor, cfg executor.SessionConfig) executor.Session {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := e.Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// syncBuffer is a bytes.Buffer safe to read while a Run writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// writes counts Write calls; empty writes are errors.
	writes, empty int
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	if len(p) == 0 {
		b.empty++
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startedWriter collects output and closes started once the output
// holds "started\n".
type startedWriter struct {
	syncBuffer
	once    sync.Once
	started chan struct{}
}

func (w *startedWriter) Write(p []byte) (int, error) {
	n, err := w.syncBuffer.Write(p)
	if strings.Contains(w.String(), "started\n") {
		w.once.Do(func() { close(w.started) })
	}
	return n, err
}

// run runs command and returns its output, status and error.
func run(t *testing.T, s executor.Session, command string) (string, int, error) {
	t.Helper()
	var out syncBuffer
	code, err := s.Run(t.Context(), command, &out)
	if out.empty > 0 {
		t.Errorf("Run(%q) made %d empty writes", command, out.empty)
	}
	return out.String(), code, err
}

// mustRun runs command, which must succeed with status 0.
func mustRun(t *testing.T, s executor.Session, command string) string {
	t.Helper()
	out, code, err := run(t, s, command)
	if err != nil || code != 0 {
		t.Fatalf("Run(%q) = %d, %v; want 0, nil (output %q)", command, code, err, out)
	}
	return out
}

// expect runs command and checks its output and status.
func expect(t *testing.T, s executor.Session, command, wantOut string, wantCode int) {
	t.Helper()
	out, code, err := run(t, s, command)
	if err != nil {
		t.Fatalf("Run(%q): %v (output %q)", command, err, out)
	}
	if out != wantOut || code != wantCode {
		t.Errorf("Run(%q) = %q, status %d; want %q, status %d", command, out, code, wantOut, wantCode)
	}
}

// expectEnded runs command, which must end the session.
func expectEnded(t *testing.T, s executor.Session, command, wantOut string, wantCode int) {
	t.Helper()
	out, code, err := run(t, s, command)
	if !errors.Is(err, executor.ErrSessionEnded) {
		t.Fatalf("Run(%q) error = %v, want ErrSessionEnded (output %q)", command, err, out)
	}
	if out != wantOut || code != wantCode {
		t.Errorf("Run(%q) = %q, status %d; want %q, status %d", command, out, code, wantOut, wantCode)
	}
	// Later calls fail at once.
	startAt := time.Now()
	_, _, err = run(t, s, "echo still here")
	if !errors.Is(err, executor.ErrSessionEnded) {
		t.Errorf("Run after the session ended: error = %v, want ErrSessionEnded", err)
	}
	if d := time.Since(startAt); d > time.Second {
		t.Errorf("Run after the session ended took %v", d)
	}
}

func testStatePersists(t *testing.T, e executor.Executor) {
	s := start(t, e, executor.SessionConfig{})
	mustRun(t, s, "mkdir -p sub/dir && cd sub/dir")
	mustRun(t, s, "export BATON_X='a b'; BATON_LOCAL=local")
	mustRun(t, s, "greet() { echo \"hello $1\"; }")
	mustRun(t, s, "alias ll='echo aliased'")
	mustRun(t, s, "set -o pipefail")
	mustRun(t, s, "sleep 0.2 & BATON_BG=$!")
	expect(t, s, `basename "$PWD"`, "dir\n", 0)
	expect(t, s, `echo "$BATON_X|$BATON_LOCAL"; env | grep -c '^BATON_X='`, "a b|local\n1\n", 0)
	expect(t, s, "greet world", "hello world\n", 0)
	expect(t, s, "ll", "aliased\n", 0)
	expect(t, s, "false | true", "", 1)
	expect(t, s, `wait "$BATON_BG"; echo waited $?`, "waited 0\n", 0)
}

func testExitStatus(t *testing.T, e executor.Executor) {
	s := start(t, e, executor.SessionConfig{})
	for _, tc := range []struct {
		command string
		want    int
	}{
		{"true", 0},
		{"false", 1},
		{"(exit 42)", 42},
		{"return 7", 7},
		{"sh -c 'exit 255'", 255},
		{"no-such-command-baton 2>/dev/null", 127},
		{"", 0},
		{"# only a comment", 0},
		{"false\ntrue", 0},
		{"true\nfalse", 1},
	} {
		expect(t, s, tc.command, "", tc.want)
	}
}

func testMultiLine(t *testing.T, e executor.Executor) {
	s := start(t, e, executor.SessionConfig{})
	expect(t, s, "x=1\nif [ \"$x\" = 1 ]; then\n  echo yes\nelse\n  echo no\nfi\n", "yes\n", 0)
	expect(t, s, "for i in 1 2 3; do\n  printf '%s,' \"$i\"\ndone\necho", "1,2,3,\n", 0)
	expect(t, s, "name=baton\ncat <<EOF\nhello $name\n  indented\nEOF", "hello baton\n  indented\n", 0)
	expect(t, s, "cat <<'EOF'\nliteral $name `x`\nEOF\necho after", "literal $name `x`\nafter\n", 0)
	expect(t, s, "cat <<-EOF\n\ttabbed\n\tEOF", "tabbed\n", 0)
	expect(t, s, "echo one \\\n  two", "one two\n", 0)
	expect(t, s, "f() {\n  return 3\n}\nf", "", 3)
}

func testReturn130(t *testing.T, e executor.Executor) {
	s := start(t, e, executor.SessionConfig{})
	expect(t, s, "echo before; return 130; echo after", "before\n", 130)
	expect(t, s, "echo alive", "alive\n", 0)
}

func testExitEndsSession(t *testing.T, e executor.Executor) {
	s := start(t, e, executor.SessionConfig{})
	mustRun(t, s, "true")
	expectEnded(t, s, "echo bye; echo err >&2; exit 4; echo not reached", "bye\nerr\n", 4)
}

func testSetE(t *testing.T, e executor.Executor) {
	s := start(t, e, executor.SessionConfig{})
	mustRun(t, s, "set -e")
	expect(t, s, "if false; then :; fi; false || echo handled", "handled\n", 0)
	expectEnded(t, s, "echo a; false; echo b", "a\n", 1)
}

func testStdin(t *testing.T, e executor.Executor) {
	s := start(t, e, executor.SessionConfig{})
	startAt := time.Now()
	expect(t, s, "cat", "", 0)
	expect(t, s, "read -r line; echo \"read=$? line=$line\"", "read=1 line=\n", 0)
	expect(t, s, "head -c 10 | wc -c | tr -d ' '", "0\n", 0)
	if d := time.Since(startAt); d > 5*time.Second {
		t.Errorf("reading stdin took %v; want EOF at once", d)
	}
}

func testInterleaving(t *testing.T, e executor.Executor) {
	s := start(t, e, executor.SessionConfig{})
	var cmd, want strings.Builder
	for i := range 50 {
		fmt.Fprintf(&cmd, "echo out%d; echo err%d >&2\n", i, i)
		fmt.Fprintf(&want, "out%d\nerr%d\n", i, i)
	}
	expect(t, s, cmd.String(), want.String(), 0)
	expect(t, s, "sh -c 'echo a; echo b >&2; echo c'", "a\nb\nc\n", 0)
}

func testLargeOutput(t *testing.T, e executor.Executor) {
	s := start(t, e, executor.SessionConfig{})
	var want strings.Builder
	for i := 1; i <= 200000; i++ {
		want.WriteString(strconv.Itoa(i))
		want.WriteByte('\n')
	}
	out, code, err := run(t, s, "seq 1 200000")
	if err != nil || code != 0 {
		t.Fatalf("seq: %d, %v", code, err)
	}
	if out != want.String() {
		t.Errorf("seq output differs: got %d bytes, want %d", len(out), want.Len())
	}
	out = mustRun(t, s, "head -c 3000000 /dev/zero | tr '\\0' 'a'; echo; echo done")
	if want := strings.Repeat("a", 3000000) + "\ndone\n"; out != want {
		t.Errorf("3 MB line: got %d bytes, want %d", len(out), len(want))
	}
	expect(t, s, "echo next", "next\n", 0)
}

func testNoTrailingNewline(t *testing.T, e executor.Executor) {
	s := start(t, e, executor.SessionConfig{})
	expect(t, s, "printf abc", "abc", 0)
	expect(t, s, "printf def; false", "def", 1)
	expect(t, s, "echo ghi", "ghi\n", 0)
	expect(t, s, "printf 'x\\037'", "x\x1f", 0)
}

// liveWriter records when the first byte arrived.
type liveWriter struct {
	syncBuffer
	first chan struct{}
	once  sync.Once
}

func (w *liveWriter) Write(p []byte) (int, error) {
	n, err := w.syncBuffer.Write(p)
	w.once.Do(func() { close(w.first) })
	return n, err
}

// testLiveOutputAfterFlood: the last line of a flood is delivered while
// the command still runs (an executor that reads a flood in large chunks
// must not wait for more output to fill one).
func testLiveOutputAfterFlood(t *testing.T, e executor.Executor) {
	s := start(t, e, executor.SessionConfig{})
	var w syncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = s.Run(ctx, "seq 200000; echo last; sleep 60", &w)
	}()
	deadline := time.After(30 * time.Second)
	for !strings.HasSuffix(w.String(), "\n200000\nlast\n") {
		select {
		case <-done:
			t.Fatalf("the command ended before its last line was delivered")
		case <-deadline:
			out := w.String()
			t.Fatalf("the last line was not delivered while the command ran; %d bytes, ending with %q", len(out), out[max(0, len(out)-20):])
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	<-done
}

func testLiveOutput(t *testing.T, e executor.Executor) {
	s := start(t, e, executor.SessionConfig{})
	w := &liveWriter{first: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		code, err := s.Run(t.Context(), "echo first; sleep 3; echo second", w)
		if err != nil || code != 0 {
			t.Errorf("Run = %d, %v", code, err)
		}
	}()
	select {
	case <-w.first:
		if got := w.String(); got != "first\n" {
			t.Errorf("first chunk = %q, want %q", got, "first\n")
		}
	case <-done:
		t.Errorf("no output before the command finished")
	case <-time.After(2 * time.Second):
		t.Errorf("first line not delivered within 2s")
	}
	<-done
	if got := w.String(); got != "first\nsecond\n" {
		t.Errorf("output = %q", got)
	}
}

func testXtrace(t *testing.T, e executor.Executor) {
	s := start(t, e, executor.SessionConfig{})
	mustRun(t, s, "set -x")
	for range 2 {
		out := mustRun(t, s, "echo hi")
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "+") || !strings.HasSuffix(lines[0], " echo hi") || lines[1] != "hi" {
			t.Errorf("traced output = %q, want a trace of `echo hi` and hi, nothing else", out)
		}
	}
	expect(t, s, "{ set +x; } 2>/dev/null; echo quiet", "quiet\n", 0)
	expect(t, s, "echo still quiet", "still quiet\n", 0)
}

func testMarkerLookalikes(t *testing.T, e executor.Executor) {
	s := start(t, e, executor.SessionConfig{})
	// Anything that looks like an end marker, the shell's own variables
	// and functions (which may include the last marker's nonce), and
	// control characters must pass through as output.
	expect(t, s, `printf '\037ABCDEFGHIJKLMNOPQRSTUVWXYZ;0;\n'; printf '\037\037;1;x\n'`,
		"\x1fABCDEFGHIJKLMNOPQRSTUVWXYZ;0;\n\x1f\x1f;1;x\n", 0)
	out, code, err := run(t, s, "set; declare -f; alias; echo END")
	if err != nil || code != 0 || !strings.HasSuffix(out, "END\n") {
		t.Errorf("set/declare: status %d, %v, output ends %q", code, err, out[max(0, len(out)-40):])
	}
	expect(t, s, "printf '\\037'", "\x1f", 0)
	expect(t, s, "echo ok", "ok\n", 0)
}

func testBinary(t *testing.T, e executor.Executor) {
	s := start(t, e, executor.SessionConfig{})
	expect(t, s, "echo 'héllo wörld ✓ 🚀 日本語'", "héllo wörld ✓ 🚀 日本語\n", 0)
	var cmd strings.Builder
	var want []byte
	cmd.WriteString("printf '")
	for b := range 256 {
		fmt.Fprintf(&cmd, "\\%03o", b)
		want = append(want, byte(b))
	}
	cmd.WriteString("'")
	out, code, err := run(t, s, cmd.String())
	if err != nil || code != 0 {
		t.Fatalf("printf all bytes: %d, %v", code, err)
	}
	if !bytes.Equal([]byte(out), want) {
		t.Errorf("all 256 bytes: got %q\nwant %q", out, want)
	}
	expect(t, s, "printf 'a\\r\\nb\\rc\\n'", "a\r\nb\rc\n", 0)
}

func testConfig(t *testing.T, e executor.Executor) {
	dir := t.TempDir()
	s := start(t, e, executor.SessionConfig{
		Dir:  dir,
		Env:  []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "BATON_BASE=base value"},
		Init: "baton_helper() { echo \"helper $*\"; }\nexport BATON_INIT=1",
	})
	got := strings.TrimSpace(mustRun(t, s, "pwd -P"))
	if want, _ := filepath.EvalSymlinks(dir); got != want {
		t.Errorf("working directory = %q, want %q", got, want)
	}
	expect(t, s, `echo "$BATON_BASE|$BATON_INIT"`, "base value|1\n", 0)
	expect(t, s, "baton_helper a b", "helper a b\n", 0)

	if _, err := e.Start(t.Context(), executor.SessionConfig{Dir: t.TempDir(), Init: "exit 3"}); err == nil {
		t.Errorf("Start with failing Init: no error")
	}
	if _, err := e.Start(t.Context(), executor.SessionConfig{Dir: filepath.Join(dir, "missing")}); err == nil {
		t.Errorf("Start in a missing directory: no error")
	}
}

// heartbeat starts a background child (in a subshell that ignores SIGTERM,
// with a grandchild) that appends to a file in dir, and returns a function
// reporting whether the file is still growing.
func heartbeat(t *testing.T, s executor.Session, dir string) (growing func() bool) {
	t.Helper()
	mustRun(t, s, `( trap '' TERM; while :; do echo . >> hb; sleep 0.05; done ) >/dev/null 2>&1 &
sleep 1000 >/dev/null 2>&1 &`)
	size := func() int64 {
		fi, err := os.Stat(filepath.Join(dir, "hb"))
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	growing = func() bool {
		a := size()
		time.Sleep(300 * time.Millisecond)
		return size() > a
	}
	if !growing() {
		t.Fatal("heartbeat is not running")
	}
	return growing
}

func testCancel(t *testing.T, e executor.Executor) {
	dir := t.TempDir()
	s := start(t, e, executor.SessionConfig{Dir: dir})
	growing := heartbeat(t, s, dir)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(300*time.Millisecond, cancel)
	var out syncBuffer
	startAt := time.Now()
	code, err := s.Run(ctx, "echo started; sleep 1000; echo not reached", &out)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run on cancelled context: error = %v, want context.Canceled", err)
	}
	if d := time.Since(startAt); d > stopTimeout {
		t.Errorf("Run took %v to stop", d)
	}
	if code == 0 {
		t.Errorf("status of the killed command = 0, want non-zero")
	}
	if got := out.String(); got != "started\n" {
		t.Errorf("output = %q, want %q", got, "started\n")
	}
	if growing() {
		t.Errorf("background child still running after cancellation")
	}
	if _, err := s.Run(t.Context(), "true", &out); !errors.Is(err, executor.ErrSessionEnded) {
		t.Errorf("Run after cancellation: error = %v, want ErrSessionEnded", err)
	}
	// A context that is done before Run also stops the session.
	s2 := start(t, e, executor.SessionConfig{})
	done, cancel2 := context.WithCancel(t.Context())
	cancel2()
	if _, err := s2.Run(done, "echo hi", &out); !errors.Is(err, context.Canceled) {
		t.Errorf("Run on a done context: error = %v, want context.Canceled", err)
	}
}

func testCloseKills(t *testing.T, e executor.Executor) {
	dir := t.TempDir()
	s := start(t, e, executor.SessionConfig{Dir: dir})
	growing := heartbeat(t, s, dir)
	startAt := time.Now()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if d := time.Since(startAt); d > stopTimeout {
		t.Errorf("Close took %v", d)
	}
	if growing() {
		t.Errorf("background child still running after Close")
	}
}

func testCloseDuringRun(t *testing.T, e executor.Executor) {
	s := start(t, e, executor.SessionConfig{})
	// Close once the command runs: its first line is out.
	w := &startedWriter{started: make(chan struct{})}
	go func() {
		select {
		case <-w.started:
		case <-time.After(30 * time.Second):
		}
		_ = s.Close()
	}()
	_, err := s.Run(t.Context(), "echo started; sleep 1000", w)
	out := w.String()
	if !errors.Is(err, executor.ErrSessionEnded) {
		t.Errorf("Run interrupted by Close: error = %v, want ErrSessionEnded", err)
	}
	if out != "started\n" {
		t.Errorf("output = %q, want %q", out, "started\n")
	}
}

func testStartContext(t *testing.T, e executor.Executor) {
	ctx, cancel := context.WithCancel(t.Context())
	s, err := e.Start(ctx, executor.SessionConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustRun(t, s, "true")
	time.AfterFunc(200*time.Millisecond, cancel)
	_, _, err = run(t, s, "sleep 1000")
	if !errors.Is(err, executor.ErrSessionEnded) {
		t.Errorf("Run after the Start context was cancelled: error = %v, want ErrSessionEnded", err)
	}
}

func testCloseIdempotent(t *testing.T, e executor.Executor) {
	s, err := e.Start(t.Context(), executor.SessionConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, s, "true")
	for i := range 3 {
		if err := s.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
	if _, _, err := run(t, s, "true"); !errors.Is(err, executor.ErrSessionEnded) {
		t.Errorf("Run after Close: error = %v, want ErrSessionEnded", err)
	}
}
