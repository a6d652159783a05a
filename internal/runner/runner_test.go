package runner_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/executor/shell"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/runner"
	"github.com/google/go-cmp/cmp"
)

// ev is an event without timestamps; consecutive cmd_output events are
// merged into one Output.
type ev struct {
	Kind      ci.EventKind
	Directive string
	Output    string
	Exit      int
	Result    ci.Result
	Reason    ci.Reason
}

// log collects the events of one job run.
type log struct {
	t      *testing.T
	events []ci.Event
	hook   func(ci.Event) // called for each event, if set
}

func (l *log) emit(e ci.Event) {
	l.events = append(l.events, e)
	if l.hook != nil {
		l.hook(e)
	}
}

// simple returns the events without timestamps, outputs merged.
func (l *log) simple() []ev {
	var out []ev
	for _, e := range l.events {
		if e.Kind == ci.EventCmdOutput && len(out) > 0 && out[len(out)-1].Kind == ci.EventCmdOutput {
			out[len(out)-1].Output += e.Output
			continue
		}
		s := ev{Kind: e.Kind, Directive: e.Directive, Output: e.Output, Result: e.Result, Reason: e.Reason}
		if e.ExitCode != nil {
			s.Exit = *e.ExitCode
		}
		out = append(out, s)
	}
	return out
}

// output returns the merged output of the n-th command with directive d.
func (l *log) output(d string, n int) string {
	var b strings.Builder
	in := false
	for _, e := range l.events {
		switch {
		case e.Kind == ci.EventCmdStarted && e.Directive == d:
			in = n == 0
			n--
		case e.Kind == ci.EventCmdFinished:
			in = false
		case e.Kind == ci.EventCmdOutput && in:
			b.WriteString(e.Output)
		}
	}
	return b.String()
}

// check verifies the invariants of every event stream.
func (l *log) check() {
	t := l.t
	t.Helper()
	if len(l.events) < 2 || l.events[0].Kind != ci.EventJobStarted || l.events[len(l.events)-1].Kind != ci.EventJobFinished {
		t.Fatalf("stream must start with job_started and end with job_finished: %v", l.simple())
	}
	var open *ci.Event
	var last time.Time
	for i, e := range l.events {
		if ts := e.Timestamp.Time(); ts.Before(last) {
			t.Errorf("event %d: timestamp goes back", i)
		} else {
			last = ts
		}
		switch e.Kind {
		case ci.EventCmdStarted:
			if open != nil {
				t.Errorf("event %d: cmd_started inside %q", i, open.Directive)
			}
			open = &l.events[i]
		case ci.EventCmdOutput:
			if open == nil {
				t.Errorf("event %d: cmd_output outside a command", i)
			}
			if e.Output == "" {
				t.Errorf("event %d: empty cmd_output", i)
			}
		case ci.EventCmdFinished:
			if open == nil || open.Directive != e.Directive {
				t.Errorf("event %d: cmd_finished %q does not close a cmd_started", i, e.Directive)
			}
			if e.ExitCode == nil || e.StartedAt == nil || e.FinishedAt == nil {
				t.Errorf("event %d: cmd_finished without exit code or times", i)
			} else if e.FinishedAt.Time().Before(e.StartedAt.Time()) {
				t.Errorf("event %d: finished before it started", i)
			}
			open = nil
		case ci.EventJobStarted, ci.EventJobFinished:
			if open != nil {
				t.Errorf("event %d: %s inside %q", i, e.Kind, open.Directive)
			}
		}
	}
}

// newRunner returns a runner on the real shell executor.
func newRunner() *runner.Runner {
	return &runner.Runner{Executor: shell.New(shell.Options{GracePeriod: 500 * time.Millisecond})}
}

// baseJob returns a job with an isolated $HOME and working directory.
func baseJob(t *testing.T) jobspec.Job {
	home := t.TempDir()
	return jobspec.Job{
		Name:    t.Name(),
		Dir:     home,
		BaseEnv: []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home},
	}
}

// runJob runs job and checks the stream's invariants.
func runJob(t *testing.T, ctx context.Context, job jobspec.Job) (ci.Result, ci.Reason, *log) {
	t.Helper()
	return runJobHook(t, ctx, job, nil)
}

// runJobHook is runJob with a function called for each event.
func runJobHook(t *testing.T, ctx context.Context, job jobspec.Job, hook func(ci.Event)) (ci.Result, ci.Reason, *log) {
	t.Helper()
	l := &log{t: t, hook: hook}
	res, reason := newRunner().Run(ctx, job, l.emit)
	l.check()
	last := l.events[len(l.events)-1]
	if last.Result != res || last.Reason != reason {
		t.Errorf("job_finished says %s/%s, Run returned %s/%s", last.Result, last.Reason, res, reason)
	}
	return res, reason, l
}

// Event constructors for expected streams.
func started() ev                { return ev{Kind: ci.EventJobStarted} }
func cmd(d string) ev            { return ev{Kind: ci.EventCmdStarted, Directive: d} }
func out(s string) ev            { return ev{Kind: ci.EventCmdOutput, Output: s} }
func done(d string, code int) ev { return ev{Kind: ci.EventCmdFinished, Directive: d, Exit: code} }
func finished(r ci.Result, why ci.Reason) ev {
	return ev{Kind: ci.EventJobFinished, Result: r, Reason: why}
}

// command returns the events of a command with the given output.
func command(d, output string, code int) []ev {
	evs := []ev{cmd(d)}
	if output != "" {
		evs = append(evs, out(output))
	}
	return append(evs, done(d, code))
}

func exportEvents(names ...string) []ev {
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "Exporting %s\n", n)
	}
	return command(jobspec.DirectiveExportEnv, b.String(), 0)
}

func join(parts ...[]ev) []ev {
	var all []ev
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		job        func(j *jobspec.Job)
		wantResult ci.Result
		wantReason ci.Reason
		want       []ev
	}{
		{
			name:       "no commands passes",
			job:        func(j *jobspec.Job) {},
			wantResult: ci.ResultPassed,
			want: join([]ev{started()}, exportEvents(), exportEvents(runner.JobResultVar),
				[]ev{finished(ci.ResultPassed, "")}),
		},
		{
			name: "commands share one shell",
			job: func(j *jobspec.Job) {
				j.Env = []jobspec.Var{{Name: "GREETING", Value: "hello"}}
				j.Commands = []string{"mkdir sub && cd sub", "export WHO=world; f() { echo \"$GREETING $WHO from ${PWD##*/}\"; }", "f"}
			},
			wantResult: ci.ResultPassed,
			want: join([]ev{started()}, exportEvents("GREETING"),
				command("mkdir sub && cd sub", "", 0),
				command("export WHO=world; f() { echo \"$GREETING $WHO from ${PWD##*/}\"; }", "", 0),
				command("f", "hello world from sub\n", 0),
				exportEvents(runner.JobResultVar),
				[]ev{finished(ci.ResultPassed, "")}),
		},
		{
			name: "stops at the first failure and runs on_fail epilogues",
			job: func(j *jobspec.Job) {
				j.Commands = []string{"echo a", "echo b >&2; false", "echo never"}
				j.EpilogueAlways = []string{"echo always $SEMAPHORE_JOB_RESULT"}
				j.EpilogueOnPass = []string{"echo on pass"}
				j.EpilogueOnFail = []string{"echo on fail"}
			},
			wantResult: ci.ResultFailed,
			wantReason: ci.ReasonTest,
			want: join([]ev{started()}, exportEvents(),
				command("echo a", "a\n", 0),
				command("echo b >&2; false", "b\n", 1),
				exportEvents(runner.JobResultVar),
				command("echo always $SEMAPHORE_JOB_RESULT", "always failed\n", 0),
				command("echo on fail", "on fail\n", 0),
				[]ev{finished(ci.ResultFailed, ci.ReasonTest)}),
		},
		{
			name: "epilogue lists stop at their first failure and never change the result",
			job: func(j *jobspec.Job) {
				j.Commands = []string{"true"}
				j.EpilogueAlways = []string{"echo a1", "(exit 3)", "echo a3"}
				j.EpilogueOnPass = []string{"echo p1 $SEMAPHORE_JOB_RESULT", "false", "echo p3"}
				j.EpilogueOnFail = []string{"echo f1"}
			},
			wantResult: ci.ResultPassed,
			want: join([]ev{started()}, exportEvents(),
				command("true", "", 0),
				exportEvents(runner.JobResultVar),
				command("echo a1", "a1\n", 0),
				command("(exit 3)", "", 3),
				command("echo p1 $SEMAPHORE_JOB_RESULT", "p1 passed\n", 0),
				command("false", "", 1),
				[]ev{finished(ci.ResultPassed, "")}),
		},
		{
			name: "set -x traces user commands, not the runner's exports",
			job: func(j *jobspec.Job) {
				j.Commands = []string{"set -x", "true"}
				j.EpilogueAlways = []string{"echo a1"}
			},
			wantResult: ci.ResultPassed,
			want: join([]ev{started()}, exportEvents(),
				command("set -x", "", 0),
				command("true", "++ true\n", 0),
				exportEvents(runner.JobResultVar),
				command("echo a1", "++ echo a1\na1\n", 0),
				[]ev{finished(ci.ResultPassed, "")}),
		},
		{
			name: "return 130 with result passed",
			job: func(j *jobspec.Job) {
				j.Commands = []string{"export SEMAPHORE_JOB_RESULT=passed; return 130", "echo never"}
				j.EpilogueAlways = []string{"echo epilogue $SEMAPHORE_JOB_RESULT"}
			},
			wantResult: ci.ResultPassed,
			want: join([]ev{started()}, exportEvents(),
				command("export SEMAPHORE_JOB_RESULT=passed; return 130", "", 130),
				exportEvents(runner.JobResultVar),
				command("echo epilogue $SEMAPHORE_JOB_RESULT", "epilogue passed\n", 0),
				[]ev{finished(ci.ResultPassed, "")}),
		},
		{
			name: "return 130 with result failed",
			job: func(j *jobspec.Job) {
				j.Commands = []string{"SEMAPHORE_JOB_RESULT=failed; return 130", "echo never"}
			},
			wantResult: ci.ResultFailed,
			wantReason: ci.ReasonTest,
			want: join([]ev{started()}, exportEvents(),
				command("SEMAPHORE_JOB_RESULT=failed; return 130", "", 130),
				exportEvents(runner.JobResultVar),
				[]ev{finished(ci.ResultFailed, ci.ReasonTest)}),
		},
		{
			name: "return 130 without a result stops the job",
			job: func(j *jobspec.Job) {
				j.Commands = []string{"set -x; return 130", "echo never"}
				j.EpilogueAlways = []string{"echo never"}
			},
			wantResult: ci.ResultStopped,
			wantReason: ci.ReasonUser,
			want: join([]ev{started()}, exportEvents(),
				command("set -x; return 130", "++ return 130\n", 130),
				[]ev{finished(ci.ResultStopped, ci.ReasonUser)}),
		},
		{
			name: "exit fails the job and epilogues get a new shell",
			job: func(j *jobspec.Job) {
				j.Env = []jobspec.Var{{Name: "FOO", Value: "bar"}}
				j.Commands = []string{"cd /; export LOST=1", "echo bye; exit 3", "echo never"}
				j.EpilogueAlways = []string{"echo \"$FOO ${LOST:-unset} $SEMAPHORE_JOB_RESULT ${PWD##*/}\""}
			},
			wantResult: ci.ResultFailed,
			wantReason: ci.ReasonTest,
			want: join([]ev{started()}, exportEvents("FOO"),
				command("cd /; export LOST=1", "", 0),
				command("echo bye; exit 3", "bye\n", 3),
				exportEvents("FOO", runner.JobResultVar),
				command("echo \"$FOO ${LOST:-unset} $SEMAPHORE_JOB_RESULT ${PWD##*/}\"", "bar unset failed home\n", 0),
				[]ev{finished(ci.ResultFailed, ci.ReasonTest)}),
		},
		{
			name: "set -e failure fails the job",
			job: func(j *jobspec.Job) {
				j.Commands = []string{"set -e", "echo a; false; echo b"}
				j.EpilogueOnFail = []string{"echo on fail", "exit 1", "echo never"}
			},
			wantResult: ci.ResultFailed,
			wantReason: ci.ReasonTest,
			want: join([]ev{started()}, exportEvents(),
				command("set -e", "", 0),
				command("echo a; false; echo b", "a\n", 1),
				exportEvents(runner.JobResultVar),
				command("echo on fail", "on fail\n", 0),
				command("exit 1", "", 1),
				[]ev{finished(ci.ResultFailed, ci.ReasonTest)}),
		},
		{
			name: "exit 0 still fails the job",
			job: func(j *jobspec.Job) {
				j.Commands = []string{"exit 0"}
			},
			wantResult: ci.ResultFailed,
			wantReason: ci.ReasonTest,
			want: join([]ev{started()}, exportEvents(),
				command("exit 0", "", 1),
				exportEvents(runner.JobResultVar),
				[]ev{finished(ci.ResultFailed, ci.ReasonTest)}),
		},
		{
			name: "invalid variable name fails the job",
			job: func(j *jobspec.Job) {
				j.Env = []jobspec.Var{{Name: "GOOD", Value: "1"}, {Name: "BAD-NAME", Value: "x"}}
				j.Commands = []string{"echo never"}
			},
			wantResult: ci.ResultFailed,
			wantReason: ci.ReasonTest,
			want: join([]ev{started()},
				command(jobspec.DirectiveExportEnv, "Exporting GOOD\nCannot export \"BAD-NAME\": not a valid variable name\n", 1),
				exportEvents(runner.JobResultVar),
				[]ev{finished(ci.ResultFailed, ci.ReasonTest)}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			job := baseJob(t)
			job.Dir = filepath.Join(job.Dir, "home")
			if err := os.Mkdir(job.Dir, 0o755); err != nil {
				t.Fatal(err)
			}
			tt.job(&job)
			res, reason, l := runJob(t, t.Context(), job)
			if res != tt.wantResult || reason != tt.wantReason {
				t.Errorf("Run = %s/%s, want %s/%s", res, reason, tt.wantResult, tt.wantReason)
			}
			if diff := cmp.Diff(tt.want, l.simple()); diff != "" {
				t.Errorf("events mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnvNastyValues(t *testing.T) {
	t.Parallel()
	values := []string{
		"",
		"plain",
		"it's \"quoted\"",
		"multi\nline\n\n",
		"$HOME ${PATH} $(echo no) `echo no` \\$ \\",
		"unicode ✓ 日本語 🚀",
		"-n",
		"a=b=c",
		"\t leading and trailing \t",
		"'",
		"\x01\x7f\xff binary",
		"!history !! ^caret",
		"*.go ? [abc]",
	}
	job := baseJob(t)
	var printer strings.Builder
	for i, v := range values {
		job.Env = append(job.Env, jobspec.Var{Name: "V" + strconv.Itoa(i), Value: v})
		fmt.Fprintf(&printer, "printf '%%s\\0' \"$V%d\"; ", i)
	}
	job.Env = append(job.Env, jobspec.Var{Name: "LATER", Value: "first"}, jobspec.Var{Name: "LATER", Value: "second"})
	job.Commands = []string{printer.String(), "echo \"$LATER\"; env | grep -c '^V1=plain$'"}
	res, _, l := runJob(t, t.Context(), job)
	if res != ci.ResultPassed {
		t.Fatalf("result = %s; events %v", res, l.simple())
	}
	got := strings.Split(strings.TrimSuffix(l.output(printer.String(), 0), "\x00"), "\x00")
	if diff := cmp.Diff(values, got); diff != "" {
		t.Errorf("values mismatch (-want +got):\n%s", diff)
	}
	if got := l.output(job.Commands[1], 0); got != "second\n1\n" {
		t.Errorf("later value / exported: got %q", got)
	}
	exports := l.output(jobspec.DirectiveExportEnv, 0)
	if strings.Contains(exports, "plain") || !strings.Contains(exports, "Exporting LATER\nExporting LATER\n") {
		t.Errorf("export output shows values or misses names: %q", exports)
	}
}

func TestEnvValueWithNUL(t *testing.T) {
	t.Parallel()
	job := baseJob(t)
	job.Env = []jobspec.Var{{Name: "N", Value: "a\x00b"}}
	job.Commands = []string{`printf '%s' "$N"`}
	res, _, l := runJob(t, t.Context(), job)
	if got := l.output(job.Commands[0], 0); res != ci.ResultPassed || got != "ab" {
		t.Errorf("result %s, value %q; want passed, NUL dropped", res, got)
	}
}

func TestInjectFiles(t *testing.T) {
	t.Parallel()
	job := baseJob(t)
	home := job.Dir
	abs := filepath.Join(t.TempDir(), "abs dir", "it's.txt")
	var binary []byte
	for b := range 256 {
		binary = append(binary, byte(b))
	}
	binary = append(binary, bytes.Repeat([]byte("long content "), 1000)...)
	job.Files = []jobspec.File{
		{Path: "relative/deep/file.txt", Content: []byte("relative\n")},
		{Path: abs, Content: []byte("absolute"), Mode: 0o600},
		{Path: "~/.ssh/id_rsa", Content: binary, Mode: 0o400},
		{Path: "empty", Content: nil},
	}
	job.Commands = []string{"cat relative/deep/file.txt"}
	res, _, l := runJob(t, t.Context(), job)
	if res != ci.ResultPassed {
		t.Fatalf("result = %s; events %v", res, l.simple())
	}
	wantLog := "Injecting relative/deep/file.txt with file mode 0644\n" +
		"Injecting " + abs + " with file mode 0600\n" +
		"Injecting ~/.ssh/id_rsa with file mode 0400\n" +
		"Injecting empty with file mode 0644\n"
	if got := l.output(jobspec.DirectiveInjectFiles, 0); got != wantLog {
		t.Errorf("injection log:\ngot  %q\nwant %q", got, wantLog)
	}
	for _, f := range []struct {
		path    string
		content []byte
		mode    os.FileMode
	}{
		{filepath.Join(home, "relative/deep/file.txt"), []byte("relative\n"), 0o644},
		{abs, []byte("absolute"), 0o600},
		{filepath.Join(home, ".ssh/id_rsa"), binary, 0o400},
		{filepath.Join(home, "empty"), nil, 0o644},
	} {
		got, err := os.ReadFile(f.path)
		if err != nil {
			t.Errorf("%s: %v", f.path, err)
			continue
		}
		if !bytes.Equal(got, f.content) {
			t.Errorf("%s: content differs (%d bytes, want %d)", f.path, len(got), len(f.content))
		}
		if fi, _ := os.Stat(f.path); fi.Mode().Perm() != f.mode {
			t.Errorf("%s: mode %v, want %v", f.path, fi.Mode().Perm(), f.mode)
		}
	}
	if got := l.output("cat relative/deep/file.txt", 0); got != "relative\n" {
		t.Errorf("cat: %q", got)
	}
}

func TestInjectFilesFailure(t *testing.T) {
	t.Parallel()
	job := baseJob(t)
	blocker := filepath.Join(job.Dir, "blocker")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	job.Files = []jobspec.File{{Path: "blocker/sub/file", Content: []byte("x")}, {Path: "never", Content: []byte("x")}}
	job.Commands = []string{"echo never"}
	res, reason, l := runJob(t, t.Context(), job)
	if res != ci.ResultFailed || reason != ci.ReasonTest {
		t.Errorf("result = %s/%s, want failed/test", res, reason)
	}
	got := l.output(jobspec.DirectiveInjectFiles, 0)
	if !strings.HasPrefix(got, "Injecting blocker/sub/file with file mode 0644\n") || !strings.HasSuffix(got, "Failed to inject blocker/sub/file\n") {
		t.Errorf("injection log = %q", got)
	}
	if _, err := os.Stat(filepath.Join(job.Dir, "never")); err == nil {
		t.Errorf("files after the failing one were written")
	}
}

func TestMasking(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-T0ken"
	job := baseJob(t)
	job.Env = []jobspec.Var{{Name: "TOKEN", Value: secret}}
	job.Secrets = []string{secret, "ab"}
	job.Commands = []string{
		`echo "token is $TOKEN"`,
		`printf '%s' "$TOKEN" | base64`,
		`printf 's3cr'; sleep 0.3; printf '3t-T0ken\n'`,
		"set -x",
		`curl_like() { :; }; curl_like -H "Authorization: $TOKEN"`,
		"echo " + secret + " literally",
	}
	job.EpilogueAlways = []string{`echo "epilogue $TOKEN"`}
	res, _, l := runJob(t, t.Context(), job)
	if res != ci.ResultPassed {
		t.Fatalf("result = %s; events %v", res, l.simple())
	}
	for _, e := range l.events {
		for _, s := range []string{e.Output, e.Directive} {
			if strings.Contains(s, secret) || strings.Contains(s, base64.StdEncoding.EncodeToString([]byte(secret))) {
				t.Errorf("secret leaked in %s event: %q", e.Kind, s)
			}
		}
	}
	for _, tc := range []struct{ directive, want string }{
		{`echo "token is $TOKEN"`, "token is [MASKED]\n"},
		{`printf '%s' "$TOKEN" | base64`, "[MASKED]\n"},
		{`printf 's3cr'; sleep 0.3; printf '3t-T0ken\n'`, "[MASKED]\n"},
		{`curl_like() { :; }; curl_like -H "Authorization: $TOKEN"`, "++ curl_like -H 'Authorization: [MASKED]'\n++ :\n"},
		{"echo [MASKED] literally", "++ echo [MASKED] literally\n[MASKED] literally\n"},
		{`echo "epilogue $TOKEN"`, "++ echo 'epilogue [MASKED]'\nepilogue [MASKED]\n"},
	} {
		if got := l.output(tc.directive, 0); got != tc.want {
			t.Errorf("output of %q = %q, want %q", tc.directive, got, tc.want)
		}
	}
	if got := l.output(jobspec.DirectiveExportEnv, 0); got != "Exporting TOKEN\n" {
		t.Errorf("export output = %q", got)
	}
}

func TestOutputChunks(t *testing.T) {
	t.Parallel()
	job := baseJob(t)
	job.Commands = []string{"echo one; sleep 0.3; echo two", "seq 1 20000"}
	_, _, l := runJob(t, t.Context(), job)
	count := func(d string) int {
		n, in := 0, false
		for _, e := range l.events {
			switch {
			case e.Kind == ci.EventCmdStarted:
				in = e.Directive == d
			case e.Kind == ci.EventCmdOutput && in:
				n++
			}
		}
		return n
	}
	if n := count(job.Commands[0]); n != 2 {
		t.Errorf("a line, a pause, a line: %d cmd_output events, want 2", n)
	}
	if n := count(job.Commands[1]); n > 200 {
		t.Errorf("20000 lines in %d cmd_output events; want chunks, not lines", n)
	}
}

// TestLendOutput: with Runner.LendOutput the output events carry the
// same output, masked, but in the buffer it was read into: the chunks of
// a flood share one address instead of a copy each. Emit copies what it
// keeps.
func TestLendOutput(t *testing.T) {
	t.Parallel()
	job := baseJob(t)
	job.Secrets = []string{"12345"}
	job.Commands = []string{"seq 1 1000000"}
	var want strings.Builder
	for i := 1; i <= 1000000; i++ {
		want.WriteString(strings.ReplaceAll(strconv.Itoa(i), "12345", "[MASKED]") + "\n")
	}
	var got strings.Builder
	var kept []string // without lending, no chunk's memory is reused for another
	chunks, addrs := 0, map[*byte]bool{}
	r := newRunner()
	r.LendOutput = true
	in := false
	res, _ := r.Run(t.Context(), job, func(e ci.Event) {
		switch e.Kind {
		case ci.EventCmdStarted:
			in = e.Directive == job.Commands[0]
		case ci.EventCmdOutput:
			if in {
				got.WriteString(e.Output)
				chunks++
				addrs[unsafe.StringData(e.Output)] = true
				kept = append(kept, e.Output)
			}
		}
	})
	if res != ci.ResultPassed {
		t.Fatalf("result = %s", res)
	}
	if got.String() != want.String() {
		t.Errorf("output differs from seq's, masked (%d against %d bytes)", got.Len(), want.Len())
	}
	if chunks < 4 || len(addrs) > chunks/2 {
		t.Errorf("%d output events in %d buffers; want them lent, a few buffers for many events", chunks, len(addrs))
	}
}

func TestManyCommands(t *testing.T) {
	t.Parallel()
	job := baseJob(t)
	for i := range 500 {
		job.Commands = append(job.Commands, fmt.Sprintf("echo %d", i))
	}
	startAt := time.Now()
	res, _, l := runJob(t, t.Context(), job)
	t.Logf("500 commands in %v", time.Since(startAt))
	if res != ci.ResultPassed {
		t.Fatalf("result = %s", res)
	}
	n := 0
	for _, e := range l.events {
		if e.Kind == ci.EventCmdFinished && e.Directive != jobspec.DirectiveExportEnv {
			if got := l.output(e.Directive, 0); got != strings.TrimPrefix(e.Directive, "echo ")+"\n" {
				t.Fatalf("%q printed %q", e.Directive, got)
			}
			n++
		}
	}
	if n != 500 {
		t.Errorf("%d commands finished, want 500", n)
	}
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

func TestStop(t *testing.T) {
	tests := []struct {
		name       string
		limit      time.Duration
		cause      error // nil: cancel without a cause
		wantReason ci.Reason
	}{
		{"time limit", 400 * time.Millisecond, nil, ci.ReasonTimeout},
		{"user stop", 0, nil, ci.ReasonUser},
		{"stop with cause", 0, ci.StopCause{Reason: ci.ReasonStrategy}, ci.ReasonStrategy},
		{"stop with pointer cause", 0, &ci.StopCause{Reason: ci.ReasonFastFailing}, ci.ReasonFastFailing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			job := baseJob(t)
			job.TimeLimit = tt.limit
			pidFile := filepath.Join(job.Dir, "pid")
			job.Commands = []string{"echo start", "sleep 1000 & echo $! > " + pidFile + "; echo running; sleep 1000", "echo never"}
			job.EpilogueAlways = []string{"echo never"}
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			hook := func(e ci.Event) {
				// Stop once the command is running.
				if tt.limit == 0 && e.Kind == ci.EventCmdOutput && e.Output == "running\n" {
					time.AfterFunc(100*time.Millisecond, func() { cancel(tt.cause) })
				}
			}
			startAt := time.Now()
			res, reason, l := runJobHook(t, ctx, job, hook)
			if d := time.Since(startAt); d > 5*time.Second {
				t.Errorf("stopping took %v", d)
			}
			if res != ci.ResultStopped || reason != tt.wantReason {
				t.Errorf("Run = %s/%s, want stopped/%s", res, reason, tt.wantReason)
			}
			evs := l.simple()
			want := join([]ev{started()}, exportEvents(),
				command("echo start", "start\n", 0),
				command(job.Commands[1], "running\n", 143),
				[]ev{finished(ci.ResultStopped, tt.wantReason)})
			if diff := cmp.Diff(want, evs); diff != "" {
				t.Errorf("events mismatch (-want +got):\n%s", diff)
			}
			b, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatal(err)
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			if alive(pid) {
				t.Errorf("background child %d survived the stop", pid)
			}
		})
	}
}

func TestStopBeforeStart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(t.Context())
	cancel(ci.StopCause{Reason: ci.ReasonDeleted})
	job := baseJob(t)
	job.Commands = []string{"echo never"}
	res, reason, l := runJob(t, ctx, job)
	if res != ci.ResultStopped || reason != ci.ReasonDeleted {
		t.Errorf("Run = %s/%s, want stopped/deleted", res, reason)
	}
	if diff := cmp.Diff([]ev{started(), finished(ci.ResultStopped, ci.ReasonDeleted)}, l.simple()); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

func TestStopDuringEpilogue(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	job := baseJob(t)
	job.Commands = []string{"true"}
	job.EpilogueAlways = []string{"sleep 1000", "echo never"}
	job.EpilogueOnPass = []string{"echo never"}
	res, reason, l := runJobHook(t, ctx, job, func(e ci.Event) {
		if e.Kind == ci.EventCmdStarted && e.Directive == "sleep 1000" {
			time.AfterFunc(200*time.Millisecond, cancel)
		}
	})
	if res != ci.ResultStopped || reason != ci.ReasonUser {
		t.Errorf("Run = %s/%s, want stopped/user", res, reason)
	}
	want := join([]ev{started()}, exportEvents(), command("true", "", 0), exportEvents(runner.JobResultVar),
		command("sleep 1000", "", 143), []ev{finished(ci.ResultStopped, ci.ReasonUser)})
	if diff := cmp.Diff(want, l.simple()); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

func TestExecutorFailure(t *testing.T) {
	t.Parallel()
	job := baseJob(t)
	job.Dir = filepath.Join(job.Dir, "missing")
	job.Commands = []string{"echo never"}
	res, reason, l := runJob(t, t.Context(), job)
	if res != ci.ResultFailed || reason != ci.ReasonInternal {
		t.Errorf("Run = %s/%s, want failed/internal", res, reason)
	}
	if diff := cmp.Diff([]ev{started(), finished(ci.ResultFailed, ci.ReasonInternal)}, l.simple()); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

func TestInitAndClock(t *testing.T) {
	t.Parallel()
	base := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tick := 0
	r := newRunner()
	r.Now = func() time.Time { tick++; return base.Add(time.Duration(tick) * time.Second) }
	job := baseJob(t)
	job.Init = "checkout() { echo checked out; }"
	job.Commands = []string{"checkout"}
	l := &log{t: t}
	res, _ := r.Run(t.Context(), job, l.emit)
	l.check()
	if res != ci.ResultPassed || l.output("checkout", 0) != "checked out\n" {
		t.Errorf("result %s, output %q", res, l.output("checkout", 0))
	}
	if got := l.events[0].Timestamp.Time(); !got.Equal(base.Add(time.Second)) {
		t.Errorf("first timestamp = %v, want the injected clock's", got)
	}
}

func TestJobJSON(t *testing.T) {
	// Job is plain data: it survives a JSON round trip.
	job := jobspec.Job{
		Name:      "build",
		Commands:  []string{"make"},
		Env:       []jobspec.Var{{Name: "A", Value: "1"}},
		Files:     []jobspec.File{{Path: "f", Content: []byte{0, 1, 2}, Mode: 0o600}},
		Secrets:   []string{"s3cret"},
		TimeLimit: time.Minute,
	}
	b, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	var got jobspec.Job
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(job, got); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s", diff)
	}
}
