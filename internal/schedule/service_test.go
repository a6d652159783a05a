package schedule_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/engine/enginetest"
	"github.com/batonci/baton/internal/gitrepo/gittest"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/logstore"
	"github.com/batonci/baton/internal/repocache"
	"github.com/batonci/baton/internal/schedule"
	"github.com/batonci/baton/internal/store"
)

func TestMain(m *testing.M) {
	restore := gittest.Hermetic()
	code := m.Run()
	restore()
	os.Exit(code)
}

const nightly = `version: v1.0
name: Nightly ${{parameters.ENV}}
agent:
  machine:
    type: e1-standard-2
    os_image: ubuntu2004
global_job_config:
  env_vars:
    - name: TARGET
      value: deploy-${{parameters.ENV}}
blocks:
  - name: build
    task:
      jobs:
        - name: job
          commands:
            - echo to ${{parameters.ENV}}
`

// server is one Baton server's share of the schedules: its own store
// connection, engine and schedule service on a shared database.
type server struct {
	db  *store.DB
	eng *engine.Engine
	svc *schedule.Service
}

func newServer(t testing.TB, dsn string) *server {
	t.Helper()
	db := enginetest.Open(t, dsn)
	logs, err := logstore.Open(filepath.Join(t.TempDir(), "logs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	eng := engine.New(engine.Config{Store: db, Repos: repocache.New(filepath.Join(t.TempDir(), "repos")), Logs: logs})
	return &server{db: db, eng: eng, svc: &schedule.Service{Store: db, Trigger: eng.Trigger, Head: eng.BranchHead}}
}

func create(t testing.TB, db *store.DB, s *ci.Schedule) *ci.Schedule {
	t.Helper()
	spec, err := schedule.Check(s)
	if err != nil {
		t.Fatal(err)
	}
	if s.NextRun.IsZero() {
		s.NextRun = spec.Next(time.Now())
	}
	if err := db.Tx(t.Context(), func(tx *store.Tx) error { return tx.CreateSchedule(s) }); err != nil {
		t.Fatal(err)
	}
	return s
}

func workflows(t *testing.T, db *store.DB, proj *ci.Project) []*ci.Workflow {
	t.Helper()
	ws, err := db.ListWorkflows(t.Context(), proj.ID, store.WorkflowFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// TestScheduledRun: a due schedule starts one workflow on its branch with
// trigger "schedule", the schedule's name, its parameters' defaults in
// the workflow, exported in every job and substituted into the pipeline's
// name and env_vars values, and SEMAPHORE_WORKFLOW_TRIGGERED_BY_SCHEDULE=true.
func TestScheduledRun(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		dsn := enginetest.NewDSN(t, dialect)
		srv := newServer(t, dsn)
		repo := enginetest.NewRepo(t, map[string]string{".semaphore/nightly.yml": nightly, ".semaphore/semaphore.yml": "broken: ["})
		proj := enginetest.CreateProject(t, srv.db, "app", repo.Dir)
		tick := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
		create(t, srv.db, &ci.Schedule{ProjectID: proj.ID, Name: "nightly", Cron: "0 3 * * *", Timezone: "UTC",
			Branch: "main", PipelineFile: ".semaphore/nightly.yml", NextRun: tick,
			Parameters: []ci.Parameter{{Name: "ENV", Required: true, Options: []string{"staging", "prod"}, DefaultValue: "staging"}}})

		if n, err := srv.svc.Tick(t.Context(), tick.Add(-time.Second)); err != nil || n != 0 {
			t.Fatalf("Tick before the time = %d, %v; want nothing", n, err)
		}
		if n, err := srv.svc.Tick(t.Context(), tick.Add(2*time.Second)); err != nil || n != 1 {
			t.Fatalf("Tick at the time = %d, %v; want 1", n, err)
		}
		ws := workflows(t, srv.db, proj)
		if len(ws) != 1 {
			t.Fatalf("%d workflows, want 1", len(ws))
		}
		wf := ws[0]
		if wf.Trigger != ci.TriggerSchedule || wf.Schedule != "nightly" || wf.Branch != "main" || wf.Parameters["ENV"] != "staging" {
			t.Errorf("scheduled workflow: trigger %q, schedule %q, branch %q, parameters %v", wf.Trigger, wf.Schedule, wf.Branch, wf.Parameters)
		}
		ps, err := srv.db.ListPipelines(t.Context(), wf.ID)
		if err != nil || len(ps) != 1 {
			t.Fatalf("pipelines: %v, %v", ps, err)
		}
		if ps[0].Name != "Nightly staging" || ps[0].File != ".semaphore/nightly.yml" {
			t.Errorf("pipeline %q from %q, want \"Nightly staging\" from the schedule's file", ps[0].Name, ps[0].File)
		}
		jobs, err := srv.db.ListJobs(t.Context(), ps[0].ID)
		if err != nil || len(jobs) != 1 {
			t.Fatalf("jobs: %v, %v", jobs, err)
		}
		var spec jobspec.Job
		if err := json.Unmarshal(jobs[0].Spec, &spec); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{}
		for _, v := range spec.Env {
			env[v.Name] = v.Value
		}
		for k, v := range map[string]string{"ENV": "staging", "TARGET": "deploy-staging",
			"SEMAPHORE_WORKFLOW_TRIGGERED_BY_SCHEDULE": "true", "SEMAPHORE_WORKFLOW_TRIGGERED_BY_HOOK": "false",
			"SEMAPHORE_GIT_BRANCH": "main"} {
			if env[k] != v {
				t.Errorf("job env %s = %q, want %q", k, env[k], v)
			}
		}
		// As on Semaphore, commands are not templates: they see the
		// exported variable.
		if !slices.Contains(spec.Commands, "echo to ${{parameters.ENV}}") {
			t.Errorf("job commands %q, want them as written", spec.Commands)
		}
		got, _ := srv.db.GetSchedule(t.Context(), proj.ID, "nightly")
		if got.LastWorkflow != wf.ID || got.LastError != "" || !got.LastRun.Equal(tick) || !got.NextRun.Equal(tick.Add(24*time.Hour)) {
			t.Errorf("schedule after its run: last %v %q %q, next %v", got.LastRun, got.LastWorkflow, got.LastError, got.NextRun)
		}

		// Run now: values checked against the declarations, the tick stays.
		for given, want := range map[string]string{
			"COLOR=red": "parameter COLOR is not declared (the schedule declares ENV)",
			"ENV=dev":   `parameter ENV must be one of staging, prod, got "dev"`,
		} {
			k, v, _ := strings.Cut(given, "=")
			_, err := srv.svc.RunNow(t.Context(), got, map[string]string{k: v}, "ada")
			if err == nil || !errors.Is(err, schedule.ErrInvalid) || !strings.Contains(err.Error(), want) {
				t.Errorf("RunNow(%s) = %v, want %q", given, err, want)
			}
		}
		now, err := srv.svc.RunNow(t.Context(), got, map[string]string{"ENV": "prod"}, "ada")
		if err != nil {
			t.Fatal(err)
		}
		if now.Trigger != ci.TriggerSchedule || now.TriggeredBy != "ada" || now.Parameters["ENV"] != "prod" {
			t.Errorf("run now: trigger %q by %q, parameters %v", now.Trigger, now.TriggeredBy, now.Parameters)
		}
		if len(workflows(t, srv.db, proj)) != 2 {
			t.Errorf("refused runs made workflows")
		}
		after, _ := srv.db.GetSchedule(t.Context(), proj.ID, "nightly")
		if !after.NextRun.Equal(got.NextRun) || after.LastWorkflow != now.ID {
			t.Errorf("after run now: next %v (was %v), last workflow %q", after.NextRun, got.NextRun, after.LastWorkflow)
		}

		// The pipeline file becomes invalid: the next tick makes a failed
		// workflow with the positioned errors, as a push would.
		repo.Commit("break nightly", map[string]string{".semaphore/nightly.yml": "version: v1.0\nname: x\nblocks:\n  - name: b\n    task:\n      jobz: []\n"})
		if n, err := srv.svc.Tick(t.Context(), tick.Add(24*time.Hour)); err != nil || n != 1 {
			t.Fatalf("Tick the next day = %d, %v", n, err)
		}
		ws = workflows(t, srv.db, proj)
		ps, _ = srv.db.ListPipelines(t.Context(), ws[0].ID)
		if len(ps) != 1 || ps[0].Result != ci.ResultFailed || !strings.Contains(ps[0].Diagnostics, ".semaphore/nightly.yml:6:") {
			t.Errorf("pipeline of an invalid file: %+v", ps[0])
		}

		// The branch is deleted: the tick makes no workflow and says why.
		create(t, srv.db, &ci.Schedule{ProjectID: proj.ID, Name: "gone", Cron: "0 3 * * *", Branch: "gone", NextRun: tick})
		if _, err := srv.svc.Tick(t.Context(), tick.Add(48*time.Hour)); err != nil {
			t.Fatal(err)
		}
		gone, _ := srv.db.GetSchedule(t.Context(), proj.ID, "gone")
		if gone.LastWorkflow != "" || !strings.Contains(gone.LastError, "refs/heads/gone") {
			t.Errorf("schedule of a missing branch: last workflow %q, error %q", gone.LastWorkflow, gone.LastError)
		}
	})
}

// TestCatchUpOnce: a schedule whose servers were down for three days runs
// once, not once per missed tick, and its next run is the next tick
// after now.
func TestCatchUpOnce(t *testing.T) {
	srv := newServer(t, enginetest.NewDSN(t, store.SQLite))
	repo := enginetest.NewRepo(t, map[string]string{".semaphore/semaphore.yml": nightly})
	proj := enginetest.CreateProject(t, srv.db, "app", repo.Dir)
	missed := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	create(t, srv.db, &ci.Schedule{ProjectID: proj.ID, Name: "hourly", Cron: "0 * * * *", Branch: "main", NextRun: missed,
		Parameters: []ci.Parameter{{Name: "ENV", DefaultValue: "prod"}}})
	now := missed.Add(72*time.Hour + 30*time.Minute)
	for range 3 {
		if _, err := srv.svc.Tick(t.Context(), now); err != nil {
			t.Fatal(err)
		}
	}
	if ws := workflows(t, srv.db, proj); len(ws) != 1 {
		t.Errorf("%d workflows after three days down, want 1", len(ws))
	}
	got, _ := srv.db.GetSchedule(t.Context(), proj.ID, "hourly")
	if want := missed.Add(73 * time.Hour); !got.NextRun.Equal(want) {
		t.Errorf("next run %v, want %v", got.NextRun, want)
	}
}

// twoServers are two servers on one new database of the dialect and a
// project of both whose pipeline is nightly.
func twoServers(t *testing.T, dialect string) (a, b *server, proj *ci.Project) {
	t.Helper()
	dsn := enginetest.NewDSN(t, dialect)
	a, b = newServer(t, dsn), newServer(t, dsn)
	repo := enginetest.NewRepo(t, map[string]string{".semaphore/semaphore.yml": nightly})
	return a, b, enginetest.CreateProject(t, a.db, "app", repo.Dir)
}

// TestTwoServers: two servers on one PostgreSQL database tick at the same
// moments; every schedule runs exactly once per tick.
func TestTwoServers(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		a, b, proj := twoServers(t, dialect)
		tick := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		const n = 20
		for i := range n {
			create(t, a.db, &ci.Schedule{ProjectID: proj.ID, Name: fmt.Sprintf("s%02d", i), Cron: "*/5 * * * *",
				Branch: "main", NextRun: tick, Parameters: []ci.Parameter{{Name: "ENV", DefaultValue: "x"}}})
		}
		for round := range 2 {
			now := tick.Add(time.Duration(round)*5*time.Minute + time.Second)
			var wg sync.WaitGroup
			for _, s := range []*server{a, b, a, b} {
				wg.Go(func() {
					if _, err := s.svc.Tick(context.WithoutCancel(t.Context()), now); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			ws := workflows(t, a.db, proj)
			count := map[string]int{}
			for _, w := range ws {
				count[w.Schedule]++
			}
			if len(ws) != n*(round+1) || len(count) != n {
				t.Fatalf("round %d: %d workflows of %d schedules, want %d of %d", round, len(ws), len(count), n*(round+1), n)
			}
			for name, c := range count {
				if c != round+1 {
					t.Errorf("round %d: schedule %s ran %d times", round, name, c)
				}
			}
		}
	})
}

// TestRunLoop drives Run with an injected clock: it sleeps until the next
// due time (or the poll interval) and runs each tick once.
func TestRunLoop(t *testing.T) {
	srv := newServer(t, enginetest.NewDSN(t, store.SQLite))
	repo := enginetest.NewRepo(t, map[string]string{".semaphore/semaphore.yml": nightly})
	proj := enginetest.CreateProject(t, srv.db, "app", repo.Dir)
	clock := enginetest.NewClock() // 2025-03-01 12:00:00 UTC
	create(t, srv.db, &ci.Schedule{ProjectID: proj.ID, Name: "every-minute", Cron: "* * * * *", Branch: "main",
		NextRun: clock.Now().Add(time.Minute), Parameters: []ci.Parameter{{Name: "ENV", DefaultValue: "x"}}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var slept []time.Duration
	srv.svc.Now, srv.svc.Poll = clock.Now, 20*time.Second
	srv.svc.Sleep = func(_ context.Context, d time.Duration) {
		slept = append(slept, d)
		clock.Advance(d)
		if clock.Now().Sub(enginetest.NewClock().Now()) > 3*time.Minute {
			cancel()
		}
	}
	srv.svc.Run(ctx)
	ws := workflows(t, srv.db, proj)
	if len(ws) != 3 {
		t.Errorf("%d workflows in three minutes of an every-minute schedule, want 3", len(ws))
	}
	for _, d := range slept {
		if d <= 0 || d > 20*time.Second {
			t.Errorf("slept %v, want (0, 20s]", d)
		}
	}
}

// TestServerDiesAfterClaim: server a claims a due tick (its claim
// commits) and dies before it creates the workflow. Until the claim's
// lease ends no server runs the tick; then the next tick of server b runs
// it once, with the trigger, schedule and parameters of the tick, and
// again-and-again ticks of both do not run it twice. When a comes back
// and creates the workflow it claimed, it is refused and creates nothing.
func TestServerDiesAfterClaim(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		a, b, proj := twoServers(t, dialect)
		tick := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		create(t, a.db, &ci.Schedule{ProjectID: proj.ID, Name: "nightly", Cron: "0 12 * * *", Timezone: "UTC",
			Branch: "main", NextRun: tick, Parameters: []ci.Parameter{{Name: "ENV", DefaultValue: "prod"}}})
		const lease = time.Minute
		a.svc.Lease, b.svc.Lease = lease, lease

		// a's tick claims and dies: the claim is the store call Tick makes
		// first, committed, and nothing after it.
		now := tick.Add(time.Second)
		next := func(*ci.Schedule) time.Time { return tick.Add(24 * time.Hour) }
		claimed, err := a.db.ClaimDueSchedules(t.Context(), now, now.Add(lease), 50, next)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim = %d, %v", len(claimed), err)
		}
		if n, err := b.svc.Tick(t.Context(), now.Add(lease/2)); err != nil || n != 0 {
			t.Fatalf("b's tick within a's lease = %d, %v; want none", n, err)
		}
		if ws := workflows(t, a.db, proj); len(ws) != 0 {
			t.Fatalf("%d workflows within the lease", len(ws))
		}

		after := now.Add(lease + time.Second)
		var wg sync.WaitGroup
		for _, s := range []*server{b, a, b} {
			wg.Go(func() {
				if _, err := s.svc.Tick(context.WithoutCancel(t.Context()), after); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		ws := workflows(t, a.db, proj)
		if len(ws) != 1 {
			t.Fatalf("%d workflows after the lease, want the lost run once", len(ws))
		}
		wf := ws[0]
		if wf.Trigger != ci.TriggerSchedule || wf.Schedule != "nightly" || wf.Parameters["ENV"] != "prod" || wf.Branch != "main" {
			t.Errorf("recovered run: trigger %q, schedule %q, parameters %v, branch %q", wf.Trigger, wf.Schedule, wf.Parameters, wf.Branch)
		}
		got, _ := a.db.GetSchedule(t.Context(), proj.ID, "nightly")
		if got.LastWorkflow != wf.ID || got.LastError != "" || !got.NextRun.Equal(tick.Add(24*time.Hour)) {
			t.Errorf("schedule after the recovered run: last workflow %q (want %q), error %q, next %v", got.LastWorkflow, wf.ID, got.LastError, got.NextRun)
		}

		// a comes back and creates the run it claimed: refused.
		_, err = a.eng.Trigger(t.Context(), engine.TriggerRequest{Project: proj, Trigger: ci.TriggerSchedule, Schedule: "nightly",
			Branch: "main", Params: map[string]string{"ENV": "prod"}, ScheduleID: claimed[0].ID, ScheduleTick: claimed[0].NextRun})
		if !errors.Is(err, store.ErrScheduleRunTaken) {
			t.Errorf("a creates the run it claimed after b ran it: %v, want ErrScheduleRunTaken", err)
		}
		for _, s := range []*server{a, b} {
			if _, err := s.svc.Tick(t.Context(), after.Add(10*lease)); err != nil {
				t.Fatal(err)
			}
		}
		if ws := workflows(t, a.db, proj); len(ws) != 1 {
			t.Errorf("%d workflows in the end, want 1", len(ws))
		}
	})
}
