package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/engine/enginetest"
	"github.com/batonci/baton/internal/gitrepo/gittest"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/logstore"
	"github.com/batonci/baton/internal/repocache"
	"github.com/batonci/baton/internal/store"
)

func TestMain(m *testing.M) {
	restore := gittest.Hermetic()
	code := m.Run()
	restore()
	os.Exit(code)
}

// env is an engine on a real store with a project whose repository is a
// local git repository.
type env struct {
	t     *testing.T
	dsn   string
	db    *store.DB
	eng   *engine.Engine
	repo  *enginetest.Repo
	proj  *ci.Project
	clock *enginetest.Clock
	logs  *logstore.Store
}

const pipelineFile = ".semaphore/semaphore.yml"

func newEnv(t *testing.T, dialect, yaml string) *env {
	t.Helper()
	return newEnvWith(t, dialect, map[string]string{pipelineFile: yaml}, nil)
}

func newEnvWith(t *testing.T, dialect string, files map[string]string, secrets engine.SecretSource) *env {
	t.Helper()
	dsn := enginetest.NewDSN(t, dialect)
	db := enginetest.Open(t, dsn)
	repo := enginetest.NewRepo(t, files)
	proj := enginetest.CreateProject(t, db, "demo", repo.Dir)
	logs, err := logstore.Open(filepath.Join(t.TempDir(), "logs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	clock := enginetest.NewClock()
	eng := engine.New(engine.Config{
		Store:   db,
		Repos:   repocache.New(filepath.Join(t.TempDir(), "repos")),
		Logs:    logs,
		Secrets: secrets,
		BaseURL: "https://ci.example.com",
		Now:     clock.Now,
		Logger:  testLogger(t),
	})
	return &env{t: t, dsn: dsn, db: db, eng: eng, repo: repo, proj: proj, clock: clock, logs: logs}
}

// push triggers a push workflow of the branch's head.
func (e *env) push(branch string) *ci.Workflow {
	e.t.Helper()
	wf, err := e.eng.Trigger(e.t.Context(), engine.TriggerRequest{
		Project: e.proj, Trigger: ci.TriggerPush, RefType: "branch", Branch: branch, TriggeredBy: "ada",
	})
	if err != nil {
		e.t.Fatalf("Trigger: %v", err)
	}
	return wf
}

// pipeline returns the only (or the last) pipeline of a workflow with its
// blocks and jobs.
func (e *env) pipeline(wf *ci.Workflow) *ci.Pipeline {
	e.t.Helper()
	ps, err := e.db.ListPipelines(e.t.Context(), wf.ID)
	if err != nil || len(ps) == 0 {
		e.t.Fatalf("ListPipelines: %v (%d pipelines)", err, len(ps))
	}
	return e.tree(ps[len(ps)-1].ID)
}

func (e *env) tree(id string) *ci.Pipeline {
	e.t.Helper()
	p, err := e.db.GetPipelineTree(e.t.Context(), id)
	if err != nil {
		e.t.Fatalf("GetPipelineTree: %v", err)
	}
	return p
}

// job finds a job of a pipeline by name.
func (e *env) job(p *ci.Pipeline, name string) *ci.Job {
	e.t.Helper()
	for _, b := range e.tree(p.ID).Blocks {
		for _, j := range b.Jobs {
			if j.Name == name {
				return j
			}
		}
	}
	e.t.Fatalf("no job %q in pipeline %s", name, p.ID)
	return nil
}

// claim lets agent claim a queued job of machineType, as dispatch does.
func (e *env) claim(agent, machineType string) *ci.Job {
	e.t.Helper()
	var j *ci.Job
	err := e.db.Tx(e.t.Context(), func(tx *store.Tx) error {
		var err error
		j, err = tx.ClaimJob(agent, machineType, e.clock.Now())
		return err
	})
	if err != nil {
		e.t.Fatalf("ClaimJob: %v", err)
	}
	if err := e.eng.JobStarted(e.t.Context(), j.ID); err != nil {
		e.t.Fatalf("JobStarted: %v", err)
	}
	return j
}

// start makes agent run the queued job of pipeline p named name, as
// ClaimJob would (the test picks the job instead of the claim order), and
// reports it started.
func (e *env) start(p *ci.Pipeline, name, agent string) *ci.Job {
	e.t.Helper()
	j := e.take(p, name, agent)
	if err := e.eng.JobStarted(e.t.Context(), j.ID); err != nil {
		e.t.Fatalf("JobStarted: %v", err)
	}
	return j
}

// take makes agent run the queued job of pipeline p named name, as
// ClaimJob would, without reporting its start.
func (e *env) take(p *ci.Pipeline, name, agent string) *ci.Job {
	e.t.Helper()
	j := e.job(p, name)
	if j.State != ci.StateQueued {
		e.t.Fatalf("job %s is %s, not queued", name, j.State)
	}
	j.State, j.AgentID, j.StartedAt, j.WaitReason = ci.StateRunning, agent, e.clock.Now(), ""
	if err := e.db.Tx(e.t.Context(), func(tx *store.Tx) error { return tx.UpdateJobIf(j, ci.StateQueued) }); err != nil {
		e.t.Fatalf("start %s: %v", name, err)
	}
	return j
}

// run starts and passes the queued jobs of p until none is queued; fail
// names jobs to fail instead.
func (e *env) run(p *ci.Pipeline, fail ...string) {
	e.t.Helper()
	for range 100 {
		var queued []string
		for _, b := range e.tree(p.ID).Blocks {
			for _, j := range b.Jobs {
				if j.State == ci.StateQueued {
					queued = append(queued, j.Name)
				}
			}
		}
		if len(queued) == 0 {
			return
		}
		for _, name := range queued {
			j := e.start(p, name, "agent-1")
			r := ci.ResultPassed
			if slices.Contains(fail, name) {
				r = ci.ResultFailed
			}
			e.finish(j, r)
		}
	}
	e.t.Fatal("run: jobs keep coming")
}

// claimAll claims every queued job of machineType.
func (e *env) claimAll(agent, machineType string) []*ci.Job {
	e.t.Helper()
	var out []*ci.Job
	for {
		var j *ci.Job
		err := e.db.Tx(e.t.Context(), func(tx *store.Tx) error {
			var err error
			j, err = tx.ClaimJob(agent, machineType, e.clock.Now())
			return err
		})
		if err != nil {
			break
		}
		if err := e.eng.JobStarted(e.t.Context(), j.ID); err != nil {
			e.t.Fatalf("JobStarted: %v", err)
		}
		out = append(out, j)
	}
	return out
}

// finish reports a job's result.
func (e *env) finish(j *ci.Job, r ci.Result) {
	e.t.Helper()
	if err := e.eng.JobFinished(e.t.Context(), j.ID, r, ci.ReasonNone); err != nil {
		e.t.Fatalf("JobFinished: %v", err)
	}
}

// runAll claims and passes jobs until none is queued; fail names jobs to
// fail instead.
func (e *env) runAll(machineType string, fail ...string) {
	e.t.Helper()
	for range 100 {
		jobs := e.claimAll("agent-1", machineType)
		if len(jobs) == 0 {
			return
		}
		for _, j := range jobs {
			r := ci.ResultPassed
			for _, f := range fail {
				if j.Name == f {
					r = ci.ResultFailed
				}
			}
			e.finish(j, r)
		}
	}
	e.t.Fatal("runAll: jobs keep coming")
}

// states renders a pipeline tree compactly: one line for the pipeline,
// then a line per block and job, "name state result reason".
func states(p *ci.Pipeline) string {
	var b strings.Builder
	unit := func(indent, name string, s ci.State, r ci.Result, why ci.Reason) {
		fields := []string{string(s)}
		for _, f := range []string{string(r), string(why)} {
			if f != "" {
				fields = append(fields, f)
			}
		}
		fmt.Fprintf(&b, "%s%s: %s\n", indent, name, strings.Join(fields, " "))
	}
	unit("", "pipeline", p.State, p.Result, p.Reason)
	for _, bl := range p.Blocks {
		unit("  ", bl.Name, bl.State, bl.Result, bl.Reason)
		for _, j := range bl.Jobs {
			unit("    ", j.Name, j.State, j.Result, j.Reason)
		}
	}
	return b.String()
}

// wantStates compares a pipeline's states with want (leading and
// trailing blank lines and common indentation of want are ignored).
func (e *env) wantStates(p *ci.Pipeline, want string) {
	e.t.Helper()
	got := states(e.tree(p.ID))
	if d := cmp.Diff(dedent(want), got); d != "" {
		e.t.Errorf("states (-want +got):\n%s\ngot:\n%s", d, got)
	}
}

func dedent(s string) string {
	lines := strings.Split(strings.TrimRight(strings.TrimLeft(s, "\n"), " \t\n"), "\n")
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, "\t"))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	for i, l := range lines {
		if len(l) >= indent {
			lines[i] = strings.ReplaceAll(l[indent:], "\t", "  ")
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// spec decodes a job's stored spec.
func spec(t *testing.T, j *ci.Job) jobspec.Job {
	t.Helper()
	var rj jobspec.Job
	if err := json.Unmarshal(j.Spec, &rj); err != nil {
		t.Fatalf("decode spec of %s: %v", j.Name, err)
	}
	return rj
}

// envOf returns the value of a variable of a job spec, and whether it is
// set.
func envOf(rj jobspec.Job, name string) (string, bool) {
	v, ok := "", false
	for _, e := range rj.Env {
		if e.Name == name {
			v, ok = e.Value, true
		}
	}
	return v, ok
}

// testLogger logs to the test's log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tlogWriter struct{ t *testing.T }

func (w tlogWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// runEngine starts another engine on e's store, as another server's,
// with its background loop (recheck every recheck) running until the
// test ends.
func (e *env) runEngine(recheck time.Duration) *engine.Engine {
	e.t.Helper()
	eng := engine.New(engine.Config{
		Store:           e.db,
		Repos:           repocache.New(e.t.TempDir()),
		Logs:            e.logs,
		RecheckInterval: recheck,
		Logger:          testLogger(e.t),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("Run: %v", err)
		}
	})
	return eng
}
