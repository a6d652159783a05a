package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/batonci/baton/internal/agent"
	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/executor/shell"
	"github.com/batonci/baton/internal/gitrepo/gittest"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/jobuser"
	"github.com/batonci/baton/internal/testenv/probe"
	"github.com/batonci/baton/internal/toolbox"
	"github.com/google/go-cmp/cmp"
)

func TestMain(m *testing.M) {
	// The toolbox links to this binary: run its commands.
	if name := filepath.Base(os.Args[0]); slices.Contains(toolbox.Names(), name) {
		os.Exit(toolbox.Main(context.Background(), name, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr))
	}
	restore := gittest.Hermetic()
	code := m.Run()
	restore()
	os.Exit(code)
}

// wait is how long tests wait for things that take milliseconds.
const wait = 30 * time.Second

// testAgent is an agent running in the background.
type testAgent struct {
	cfg    agent.Config
	cancel context.CancelFunc
	stop   chan struct{}
	done   chan error
}

// baseConfig is an agent configuration for tests against url.
func baseConfig(t *testing.T, url string) agent.Config {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return agent.Config{
		ServerURL: url,
		Token:     testToken,
		Name:      "test-agent",
		Type:      "e1-standard-2",
		Slots:     1,
		DataDir:   t.TempDir(),
		BatonPath: self,
		Env: []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
			"BATON_AGENT_TOKEN=do-not-leak", "AGENT_VAR=inherited",
		},
		Executor:      shell.New(shell.Options{GracePeriod: time.Second}),
		Version:       "test-1.0",
		Logger:        slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		ChunkSize:     1024,
		ChunkInterval: 20 * time.Millisecond,
		RetryMin:      5 * time.Millisecond,
		RetryMax:      50 * time.Millisecond,
	}
}

// start runs an agent until the test ends.
func start(t *testing.T, cfg agent.Config) *testAgent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ta := &testAgent{cfg: cfg, cancel: cancel, stop: make(chan struct{}), done: make(chan error, 1)}
	ta.cfg.Stop = ta.stop
	go func() { ta.done <- agent.Run(ctx, ta.cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ta.stop:
		default:
			close(ta.stop)
		}
		select {
		case <-ta.done:
		case <-time.After(wait):
			t.Error("the agent did not stop")
		}
	})
	return ta
}

// wait waits for Run to return and returns its error.
func (ta *testAgent) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-ta.done:
		ta.done <- err // for the cleanup
		return err
	case <-time.After(wait):
		t.Fatal("Run did not return")
		return nil
	}
}

func serve(t *testing.T, fs *fakeServer) string {
	srv := httptest.NewServer(fs.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func assignment(id string, commands ...string) agentapi.Assignment {
	return agentapi.Assignment{JobID: id, Job: jobspec.Job{
		Name:     "job " + id,
		Commands: commands,
		Env: []jobspec.Var{
			{Name: "SEMAPHORE_PROJECT_ID", Value: "proj-1"},
			{Name: "SEMAPHORE_WORKFLOW_ID", Value: "wf-1"},
		},
	}}
}

func TestJobLogArrivesComplete(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t)
	cfg := baseConfig(t, serve(t, fs))
	start(t, cfg)

	cmds := []string{
		"echo hello",
		"printf 'no newline'",
		"seq 1 3000",
		"printf 'héllo wörld %.0s' $(seq 1 300)",
		`echo "home=$BATON_JOB_HOME token=$BATON_AGENT_TOKEN var=$AGENT_VAR"`,
		`echo "cache=$BATON_CACHE_DIR artifacts=$BATON_ARTIFACT_DIR context=$BATON_CONTEXT_DIR jobsvc=${BATON_JOBSVC:+set}"`,
		`echo "path=$PATH"`,
		"pwd",
		`echo "home=$HOME"; cat ~/.config/key`,
		"echo the secret is s3cr3t-value",
	}
	as := assignment("job-1", cmds...)
	as.Job.Secrets = []string{"s3cr3t-value"}
	as.Job.Files = []jobspec.File{{Path: ".config/key", Content: []byte("key-content\n"), Mode: 0o600}}
	j := fs.enqueue(as)
	fin, events := fs.result(t, j, wait)

	if fin.Result != ci.ResultPassed {
		t.Errorf("result = %s %s, want passed", fin.Result, fin.Reason)
	}
	_, out := outputs(events)
	home := filepath.Join(cfg.DataDir, "jobs", "job-1")
	want := map[string]string{
		"echo hello":                  "hello\n",
		"printf 'no newline'":         "no newline",
		"seq 1 3000":                  seq(1, 3000),
		cmds[3]:                       strings.Repeat("héllo wörld ", 300),
		cmds[4]:                       "home=" + home + " token= var=inherited\n",
		cmds[5]:                       "cache= artifacts= context= jobsvc=set\n",
		"pwd":                         home + "\n",
		cmds[8]:                       "home=" + home + "\nkey-content\n",
		"echo the secret is [MASKED]": "the secret is [MASKED]\n", // the runner masks directives too
	}
	for cmd, w := range want {
		if got := out[cmd]; got != w {
			t.Errorf("output of %q:\n got %q\nwant %q", cmd, trunc(got), trunc(w))
		}
	}
	for _, e := range events {
		if strings.Contains(e.Output+e.Directive, "s3cr3t-value") {
			t.Errorf("the secret leaked: %+v", e)
		}
	}
	if got := out[cmds[6]]; !strings.HasPrefix(got, "path="+filepath.Join(cfg.DataDir, "bin")+":") {
		t.Errorf("PATH = %q, want the toolbox first", got)
	}

	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fin.Chunks != len(j.chunks) || fin.Chunks < 10 {
		t.Errorf("finish says %d chunks, server has %d; want the same, and many", fin.Chunks, len(j.chunks))
	}
	for _, c := range j.chunks {
		b, _ := json.Marshal(c)
		if len(b) > cfg.ChunkSize+cfg.ChunkSize/2 {
			t.Errorf("chunk %d is %d bytes, above the %d cap", c.Seq, len(b), cfg.ChunkSize)
		}
	}
	if !fs.versions["test-1.0"] {
		t.Errorf("agent versions seen = %v, want test-1.0", fs.versions)
	}
	if len(fs.registrations) != 1 || fs.registrations[0].Name != "test-agent" || fs.registrations[0].Type != "e1-standard-2" || fs.registrations[0].Slots != 1 {
		t.Errorf("registrations = %+v", fs.registrations)
	}
	if _, err := os.Stat(home); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the job directory is still there: %v", err)
	}
}

func TestTwoJobsInParallel(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t)
	cfg := baseConfig(t, serve(t, fs))
	cfg.Slots = 2
	start(t, cfg)

	// Each job waits for the other to have started: they pass only if
	// they run at the same time.
	d := t.TempDir()
	meet := func(me, other string) string {
		return "touch " + d + "/" + me + "; for i in $(seq 1 200); do [ -e " + d + "/" + other + " ] && break; sleep 0.05; done; [ -e " + d + "/" + other + " ]"
	}
	a := fs.enqueue(assignment("a", meet("a", "b"), "echo a done"))
	b := fs.enqueue(assignment("b", meet("b", "a"), "echo b done"))
	for _, j := range []*fakeJob{a, b} {
		fin, events := fs.result(t, j, wait)
		if fin.Result != ci.ResultPassed {
			t.Errorf("job %s: result = %s, want passed", j.as.JobID, fin.Result)
		}
		if _, out := outputs(events); out["echo "+j.as.JobID+" done"] != j.as.JobID+" done\n" {
			t.Errorf("job %s: output = %q", j.as.JobID, out)
		}
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if slices.ContainsFunc(fs.polls, func(p agentapi.PollRequest) bool { return p.FreeSlots > 2 || p.FreeSlots < 0 }) {
		t.Errorf("polls announced impossible free slots")
	}
}

func TestCancelStopsTheJob(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t)
	cfg := baseConfig(t, serve(t, fs))
	start(t, cfg)

	d := t.TempDir()
	pidFile := filepath.Join(d, "pid")
	j := fs.enqueue(assignment("long", "sleep 300 & echo $! > "+pidFile+".tmp; mv "+pidFile+".tmp "+pidFile+"; wait", "echo never"))
	pid := waitPID(t, pidFile)
	fs.cancel("long", ci.ReasonUser)
	fin, events := fs.result(t, j, wait)
	if fin.Result != ci.ResultStopped || fin.Reason != ci.ReasonUser {
		t.Errorf("result = %s/%s, want stopped/user", fin.Result, fin.Reason)
	}
	if dirs, _ := outputs(events); slices.Contains(dirs, "echo never") {
		t.Errorf("a command ran after the stop: %q", dirs)
	}
	waitGone(t, pid)
}

// waitPID waits for a file holding a process ID.
func waitPID(t *testing.T, path string) int {
	t.Helper()
	var b []byte
	probe.Eventually(t, wait, func() (err error) {
		b, err = os.ReadFile(path)
		return err
	})
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitFile waits until a file exists.
func waitFile(t *testing.T, path string) {
	t.Helper()
	probe.Eventually(t, wait, func() error {
		_, err := os.Stat(path)
		return err
	})
}

// waitGone waits until process pid has exited.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	probe.Eventually(t, wait, func() error {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		// A zombie (exited, not yet reaped by init) counts as gone.
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
			if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); len(f) > 0 && f[0] == "Z" {
				return nil
			}
		}
		return fmt.Errorf("process %d still runs", pid)
	})
}

func TestFlakyServer(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t)
	fl := newFlaky(fs.Handler(), 0.3, 42)
	srv := httptest.NewServer(fl)
	t.Cleanup(srv.Close)
	cfg := baseConfig(t, srv.URL)
	cfg.ChunkSize = 512
	start(t, cfg)

	cmds := []string{"seq 1 1500", "echo middle", "seq 1500 3000", "seq 1 2 | while read i; do echo slow $i; sleep 0.1; done"}
	j := fs.enqueue(assignment("flaky", cmds...))
	fin, events := fs.result(t, j, wait)
	if fin.Result != ci.ResultPassed {
		t.Errorf("result = %s, want passed", fin.Result)
	}
	dirs, out := outputs(events)
	want := map[string]string{cmds[0]: seq(1, 1500), cmds[1]: "middle\n", cmds[2]: seq(1500, 3000), cmds[3]: "slow 1\nslow 2\n"}
	for cmd, w := range want {
		if out[cmd] != w {
			t.Errorf("output of %q:\n got %q\nwant %q", cmd, trunc(out[cmd]), trunc(w))
		}
	}
	// Every command appears once: no chunk was stored twice.
	var cmdDirs []string
	for _, d := range dirs {
		if slices.Contains(cmds, d) {
			cmdDirs = append(cmdDirs, d)
		}
	}
	if diff := cmp.Diff(cmds, cmdDirs); diff != "" {
		t.Errorf("commands in the log (-want +got):\n%s", diff)
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	t.Logf("failures: %v; duplicates resent: %d; chunks: %d", fl.failures, fs.duplicates, len(j.chunks))
	if fl.failures["drop after"] == 0 || fl.failures["5xx"] == 0 {
		t.Errorf("the server was not flaky enough: %v", fl.failures)
	}
}

func TestGapsAreFilled(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t)
	lostLog, lostFinish := false, false
	fs.onLog = func(j *fakeJob, c agentapi.LogChunk) {
		// When chunk 6 comes, forget chunks 3 to 5, which were
		// acknowledged: the agent must send them again.
		if c.Seq == 6 && !lostLog && len(j.chunks) == 6 {
			lostLog = true
			j.chunks = j.chunks[:3]
		}
	}
	fs.onFinish = func(j *fakeJob, f agentapi.FinishRequest) {
		if !lostFinish {
			lostFinish = true
			j.chunks = j.chunks[:len(j.chunks)-2]
		}
	}
	cfg := baseConfig(t, serve(t, fs))
	cfg.ChunkSize = 256
	start(t, cfg)
	j := fs.enqueue(assignment("gappy", "seq 1 1000", "echo end"))
	fin, events := fs.result(t, j, wait)
	if !lostLog || !lostFinish {
		t.Fatalf("no gap was made (log %v, finish %v)", lostLog, lostFinish)
	}
	if fin.Result != ci.ResultPassed {
		t.Errorf("result = %s, want passed", fin.Result)
	}
	if _, out := outputs(events); out["seq 1 1000"] != seq(1, 1000) || out["echo end"] != "end\n" {
		t.Errorf("log incomplete after gaps: %q / %q", trunc(out["seq 1 1000"]), out["echo end"])
	}
}

func TestDrainWaitsForRunningJob(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t)
	fs.pollTimeout = time.Minute // the drain must not wait for a poll to time out
	cfg := baseConfig(t, serve(t, fs))
	ta := start(t, cfg)

	d := t.TempDir()
	first := fs.enqueue(assignment("first", "touch "+d+"/started; sleep 1", "echo finished"))
	waitFile(t, d+"/started")
	ta.cancel()
	second := fs.enqueue(assignment("second", "echo should not run"))

	if err := ta.wait(t); err != nil {
		t.Fatalf("Run() = %v, want nil after a drain", err)
	}
	select {
	case <-first.done:
	default:
		t.Fatal("Run returned before the running job was finished")
	}
	fin, events := fs.result(t, first, wait)
	if _, out := outputs(events); fin.Result != ci.ResultPassed || out["echo finished"] != "finished\n" {
		t.Errorf("drained job: result %s, output %q", fin.Result, out)
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if second.assigned != 0 {
		t.Errorf("a job was assigned during the drain")
	}
	if !slices.ContainsFunc(fs.polls, func(p agentapi.PollRequest) bool { return p.Draining && p.FreeSlots == 0 }) {
		t.Errorf("no poll said the agent was draining")
	}
	if len(fs.disconnects) != 1 {
		t.Errorf("disconnects = %v, want one", fs.disconnects)
	}
}

func TestHardStopStopsJobs(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t)
	cfg := baseConfig(t, serve(t, fs))
	ta := start(t, cfg)
	d := t.TempDir()
	j := fs.enqueue(assignment("stuck", "sleep 300 & echo $! > "+d+"/pid.tmp; mv "+d+"/pid.tmp "+d+"/pid; wait"))
	pid := waitPID(t, d+"/pid")

	ta.cancel()
	time.Sleep(50 * time.Millisecond) // draining: the job keeps running
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the job stopped on a drain: %v", err)
	}
	close(ta.stop)
	if err := ta.wait(t); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	fin, _ := fs.result(t, j, wait)
	if fin.Result != ci.ResultStopped || fin.Reason != ci.ReasonAgentLost {
		t.Errorf("result = %s/%s, want stopped/agent_lost", fin.Result, fin.Reason)
	}
	waitGone(t, pid)
}

func TestRestartReusesAgentID(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t)
	url := serve(t, fs)
	cfg := baseConfig(t, url)

	first := start(t, cfg)
	fs.waitFor(t, "the first poll", wait, func() bool { return len(fs.polls) > 0 })

	// Another agent on the same data directory is refused.
	if err := agent.Run(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "another agent") {
		t.Errorf("a second agent on the data directory: Run() = %v, want an error", err)
	}

	first.cancel()
	if err := first.wait(t); err != nil {
		t.Fatal(err)
	}
	// The agent keeps its ID and credential in agent.json, for itself.
	st, err := os.Stat(filepath.Join(cfg.DataDir, "agent.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("agent.json: %v, %v; want mode 0600", st, err)
	}
	saved, _ := os.ReadFile(filepath.Join(cfg.DataDir, "agent.json"))
	if !strings.Contains(string(saved), `"credential":"bacr_cred-1"`) {
		t.Errorf("agent.json = %s, want the credential", saved)
	}
	start(t, cfg)
	fs.waitFor(t, "the second registration", wait, func() bool { return len(fs.registrations) == 2 && fs.agents["agent-1"] != nil })

	// The server forgets the agent: it registers again, with its ID.
	fs.mu.Lock()
	delete(fs.agents, "agent-1")
	fs.broadcast()
	fs.mu.Unlock()
	fs.waitFor(t, "the third registration", wait, func() bool { return len(fs.registrations) == 3 })

	fs.mu.Lock()
	defer fs.mu.Unlock()
	var ids []string
	for _, r := range fs.registrations {
		ids = append(ids, r.AgentID)
	}
	if diff := cmp.Diff([]string{"", "agent-1", "agent-1"}, ids); diff != "" {
		t.Errorf("registered agent IDs (-want +got):\n%s", diff)
	}
	// A restart proves its identity with the saved credential; after
	// registration every request carries the credential, not the token.
	if got := fs.registrations[1].Credential; got != "bacr_cred-1" {
		t.Errorf("the restarted agent registered with credential %q, want its saved one", got)
	}
	if fs.auths["token"] != 0 || fs.auths["credential"] == 0 {
		t.Errorf("requests after registration authenticated with %v, want the credential only", fs.auths)
	}
}

// TestOldIDWithoutCredentialBecomesANewAgent: an agent whose saved ID the
// server still sees connected, and which has no credential proving it is
// that agent (saved by an older version, or lost), registers as a new
// agent instead of giving up.
func TestOldIDWithoutCredentialBecomesANewAgent(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t)
	fs.connected = map[string]bool{"agent-old": true}
	cfg := baseConfig(t, serve(t, fs))
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "agent.json"), []byte(`{"agent_id":"agent-old"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, cfg)
	fs.waitFor(t, "a poll", wait, func() bool { return len(fs.polls) > 0 })
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var ids []string
	for _, r := range fs.registrations {
		ids = append(ids, r.AgentID)
	}
	if diff := cmp.Diff([]string{"agent-old", ""}, ids); diff != "" {
		t.Errorf("registered agent IDs (-want +got):\n%s", diff)
	}
	if got := fs.polls[0].AgentID; got != "agent-1" {
		t.Errorf("the agent polls as %q, want its new ID agent-1", got)
	}
}

func TestRefusedToken(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t)
	cfg := baseConfig(t, serve(t, fs))
	cfg.Token = "wrong"
	err := agent.Run(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "bad agent token") {
		t.Errorf("Run() = %v, want the server's refusal", err)
	}
}

func TestCheckout(t *testing.T) {
	t.Parallel()
	repo := gittest.Init(t)
	first := gittest.Commit(t, repo, "first", map[string]string{"file.txt": "one\n"})
	gittest.Commit(t, repo, "second", map[string]string{"file.txt": "two\n"})

	fs := newFakeServer(t)
	cfg := baseConfig(t, serve(t, fs))
	start(t, cfg)

	// The copy is prepared in the background; the toolbox's checkout
	// waits for the ready file, as this first command does.
	as := assignment("co",
		`until [ -e "$BATON_WORKSPACE_READY" ]; do sleep 0.01; done; test ! -s "$BATON_WORKSPACE_READY" && cd "$BATON_WORKSPACE"`, "git rev-parse HEAD", "git rev-parse --abbrev-ref HEAD", "cat file.txt",
		`echo "${PWD#$BATON_JOB_HOME/}"`, "git status --porcelain", "git remote get-url origin")
	as.Checkout = &agentapi.Checkout{URL: "file://" + repo, SHA: first, Ref: "refs/heads/main", RepoName: "myrepo"}
	j := fs.enqueue(as)
	fin, events := fs.result(t, j, wait)
	if fin.Result != ci.ResultPassed {
		t.Fatalf("result = %s; events %+v", fin.Result, events)
	}
	_, out := outputs(events)
	want := map[string]string{
		"git rev-parse HEAD":              first + "\n",
		"git rev-parse --abbrev-ref HEAD": "main\n",
		"cat file.txt":                    "one\n",
		`echo "${PWD#$BATON_JOB_HOME/}"`:  "myrepo\n",
		"git status --porcelain":          "",
		"git remote get-url origin":       "file://" + repo + "\n",
	}
	for cmd, w := range want {
		if out[cmd] != w {
			t.Errorf("output of %q = %q, want %q", cmd, out[cmd], w)
		}
	}

	// A commit the repository lacks: the ready file says why, so checkout
	// fails with that reason (a job that never checks out is not
	// affected, as on Semaphore, where checkout clones).
	const waitReady = `until [ -e "$BATON_WORKSPACE_READY" ]; do sleep 0.01; done; cat "$BATON_WORKSPACE_READY"; test ! -s "$BATON_WORKSPACE_READY"`
	bad := assignment("bad-sha", waitReady, "echo never")
	bad.Checkout = &agentapi.Checkout{URL: "file://" + repo, SHA: strings.Repeat("0", 40), RepoName: "myrepo"}
	jb := fs.enqueue(bad)
	fin, events = fs.result(t, jb, wait)
	_, out = outputs(events)
	if fin.Result != ci.ResultFailed || !strings.Contains(out[waitReady], "unknown revision") || out["echo never"] != "" {
		t.Errorf("bad sha: result %s, output %q", fin.Result, out)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := agent.Config{ServerURL: "https://ci.example.com", Token: "t", DataDir: "/d", BatonPath: "/b"}
	tests := []struct {
		name   string
		mod    func(*agent.Config)
		errSub string
	}{
		{"ok", func(*agent.Config) {}, ""},
		{"no URL", func(c *agent.Config) { c.ServerURL = "" }, "server URL"},
		{"bad URL", func(c *agent.Config) { c.ServerURL = "ci.example.com" }, "bad server URL"},
		{"no token", func(c *agent.Config) { c.Token = "" }, "token"},
		{"negative slots", func(c *agent.Config) { c.Slots = -1 }, "slots"},
		{"no data dir", func(c *agent.Config) { c.DataDir = "" }, "data directory"},
		{"no baton", func(c *agent.Config) { c.BatonPath = "" }, "baton binary"},
		{"negative chunk", func(c *agent.Config) { c.ChunkSize = -1 }, "negative"},
		{"retry order", func(c *agent.Config) { c.RetryMin, c.RetryMax = time.Second, time.Millisecond }, "minimum retry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			err := c.Validate()
			if tt.errSub == "" {
				if err != nil {
					t.Errorf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errSub) {
				t.Errorf("Validate() = %v, want an error about %q", err, tt.errSub)
			}
		})
	}
}

func seq(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		b.WriteString(strconv.Itoa(i))
		b.WriteByte('\n')
	}
	return b.String()
}

func trunc(s string) string {
	if len(s) > 200 {
		return s[:100] + "..." + s[len(s)-100:]
	}
	return s
}

func TestAllowedEnvKeepsOnlyTheAllowList(t *testing.T) {
	in := []string{
		"PATH=/usr/bin", "LANG=C.UTF-8", "LC_ALL=C", "TZ=UTC", "TERM=xterm",
		"https_proxy=http://proxy:3128", "SSL_CERT_FILE=/etc/ssl/ca.pem",
		"BATON_SECRET_KEY=k", "BATON_AGENT_TOKEN=t", "AWS_SECRET_ACCESS_KEY=s",
		"DATABASE_URL=postgres://x", "HOME=/root", "LD_PRELOAD=/evil.so", "PATHX=1",
	}
	got := strings.Join(agent.AllowedEnv(in), " ")
	want := "PATH=/usr/bin LANG=C.UTF-8 LC_ALL=C TZ=UTC TERM=xterm https_proxy=http://proxy:3128 SSL_CERT_FILE=/etc/ssl/ca.pem"
	if got != want {
		t.Errorf("AllowedEnv = %q, want %q", got, want)
	}
}

// TestCheckoutAsJobUser: a job that runs as its own user (an agent run as
// root) gets its working copy in the background, as other jobs do, made
// out of its reach and then handed over whole: the copy and its objects
// are the user's, checkout's ready file says it is there, and nothing of
// the staging is left after the job.
func TestCheckoutAsJobUser(t *testing.T) {
	probe.Require(t, probe.Root)
	t.Parallel()
	repo := gittest.Init(t)
	first := gittest.Commit(t, repo, "first", map[string]string{"file.txt": "one\n"})
	prefix := "bt" + strconv.Itoa(os.Getpid()%100000) + "cu-"
	t.Cleanup(func() {
		if u, err := jobuser.Lookup(prefix + "1"); err == nil {
			jobuser.KillAll(u.UID)
		}
		exec.Command("userdel", prefix+"1").Run()
	})
	pool, err := jobuser.Open(jobuser.Options{Prefix: prefix, Group: "baton-jobtest", LockDir: t.TempDir(), HomeDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	work, err := os.MkdirTemp("/tmp", "baton-work-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	if err := os.Chmod(work, 0o755); err != nil {
		t.Fatal(err)
	}

	fs := newFakeServer(t)
	cfg := baseConfig(t, serve(t, fs))
	cfg.JobUsers, cfg.WorkDir = pool, work
	start(t, cfg)

	as := assignment("co-user",
		`until [ -e "$BATON_WORKSPACE_READY" ]; do sleep 0.01; done; test ! -s "$BATON_WORKSPACE_READY" && cd "$BATON_WORKSPACE"`,
		`stat -c %u . file.txt .git .git/HEAD | sort -u`, "id -u", "git rev-parse HEAD", "touch mine && echo written")
	as.Checkout = &agentapi.Checkout{URL: "file://" + repo, SHA: first, Ref: "refs/heads/main", RepoName: "myrepo"}
	j := fs.enqueue(as)
	fin, events := fs.result(t, j, wait)
	_, out := outputs(events)
	if fin.Result != ci.ResultPassed {
		t.Fatalf("result = %s; output %q", fin.Result, out)
	}
	if uid := out["id -u"]; uid == "0\n" || out["stat -c %u . file.txt .git .git/HEAD | sort -u"] != uid {
		t.Errorf("the job runs as uid %q; its working copy is owned by %q", uid, out["stat -c %u . file.txt .git .git/HEAD | sort -u"])
	}
	if out["git rev-parse HEAD"] != first+"\n" || out["touch mine && echo written"] != "written\n" {
		t.Errorf("output %q", out)
	}
	deadline := time.Now().Add(wait)
	for {
		left, _ := filepath.Glob(filepath.Join(work, "jobs", "*"))
		hidden, _ := filepath.Glob(filepath.Join(work, "jobs", ".*"))
		if len(left)+len(hidden) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("left in the jobs directory: %v %v", left, hidden)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLastChunkGoesWithTheResult: a job's last log chunk is sent with its
// result, in one request; a server that does not take it so (as servers
// before it) answers with a gap, and gets the chunk on its own.
func TestLastChunkGoesWithTheResult(t *testing.T) {
	for _, old := range []bool{false, true} {
		t.Run(map[bool]string{false: "server takes it", true: "server before it"}[old], func(t *testing.T) {
			t.Parallel()
			fs := newFakeServer(t)
			fs.ignoreLast = old
			start(t, baseConfig(t, serve(t, fs)))
			j := fs.enqueue(assignment("job-1", "echo hello"))
			fin, events := fs.result(t, j, wait)
			if fin.Result != ci.ResultPassed {
				t.Fatalf("result = %s %s, want passed", fin.Result, fin.Reason)
			}
			if _, out := outputs(events); out["echo hello"] != "hello\n" {
				t.Errorf("output = %q, want hello", out["echo hello"])
			}
			if events[len(events)-1].Kind != ci.EventJobFinished {
				t.Errorf("the log ends with %s, want its job_finished", events[len(events)-1].Kind)
			}
			fs.mu.Lock()
			defer fs.mu.Unlock()
			if fin.Chunks != len(j.chunks) {
				t.Errorf("finish says %d chunks, server has %d", fin.Chunks, len(j.chunks))
			}
			if want := map[bool]int{false: 1, true: 0}[old]; fs.lastTaken != want {
				t.Errorf("last chunks taken with the result: %d, want %d", fs.lastTaken, want)
			}
		})
	}
}
