package store

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/pipelinestate"
)

func testUpdateJobIf(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	s := newSeed(t, db, "p")
	j := s.job("j", "linux", 0, at(10, 0, 0))
	write(t, db, func(tx *Tx) error { return tx.CreateJob(j) })

	// A claim moves the job on: the engine's write, made for a queued job,
	// must not overwrite it.
	var claimed *ci.Job
	write(t, db, func(tx *Tx) (err error) { claimed, err = tx.ClaimJob("agent", "linux", at(11, 0, 0)); return err })
	stale := *j
	stale.State, stale.Result = ci.StateDone, ci.ResultCanceled
	err := db.Tx(ctx, func(tx *Tx) error { return tx.UpdateJobIf(&stale, ci.StateQueued) })
	wantErr(t, "UpdateJobIf of a job no longer queued", err, ErrConflict)
	got, err := db.GetJob(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "job after a refused UpdateJobIf", got, claimed)

	claimed.State, claimed.Result = ci.StateDone, ci.ResultPassed
	write(t, db, func(tx *Tx) error { return tx.UpdateJobIf(claimed, ci.StateRunning) })
	got, err = db.GetJob(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "job after UpdateJobIf", got, claimed)
	err = db.Tx(ctx, func(tx *Tx) error { return tx.UpdateJobIf(&ci.Job{ID: "nope"}, ci.StateRunning) })
	wantErr(t, "UpdateJobIf of no job", err, ErrConflict)
}

func testActivePipelines(t *testing.T, e *testEnv) {
	db := e.open(t)
	a, b := newSeed(t, db, "a"), newSeed(t, db, "b") // each with a running pipeline
	done := &ci.Pipeline{WorkflowID: a.workflow.ID, ProjectID: a.project.ID, State: ci.StateDone, Result: ci.ResultPassed}
	queued := &ci.Pipeline{WorkflowID: b.workflow.ID, ProjectID: b.project.ID, State: ci.StateQueued}
	write(t, db, func(tx *Tx) error {
		if err := tx.CreatePipeline(done); err != nil {
			return err
		}
		return tx.CreatePipeline(queued)
	})
	want := []*ci.Pipeline{a.pipeline, b.pipeline, queued}
	slices.SortFunc(want, func(x, y *ci.Pipeline) int { return x.CreatedAt.Compare(y.CreatedAt) })
	got, err := db.ActivePipelines(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "ActivePipelines", got, want)
}

// testTimeLimits holds TimeLimits to pipelinestate's rule: for every
// pipeline, its earliest deadline read in one statement is the earliest
// of pipelinestate.Deadlines of its tree; what is not running (a queued
// or done job, a stopping pipeline's own limit, a pipeline whose regular
// blocks are done, a done pipeline) has none.
func testTimeLimits(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	start := at(10, 0, 0).UTC().Truncate(time.Microsecond) // as stored
	running := func(s *seed, name string, started time.Time, limit time.Duration) *ci.Job {
		j := s.job(name, "linux", 0, start)
		j.State, j.AgentID, j.StartedAt, j.TimeLimit, j.WaitReason = ci.StateRunning, "agent", started, limit, ""
		return j
	}
	limited := func(s *seed, state ci.State, limit time.Duration) {
		s.pipeline.State, s.pipeline.StartedAt, s.pipeline.TimeLimit = state, start, limit
		s.block.StartedAt, s.block.TimeLimit = start.Add(time.Minute), 10*time.Minute
		write(t, db, func(tx *Tx) error {
			if err := tx.UpdatePipeline(s.pipeline); err != nil {
				return err
			}
			return tx.UpdateBlock(s.block)
		})
	}

	// All kinds at once: the pipeline's limit, the block's, two jobs
	// under one limit (the earlier start counts), a job without a limit,
	// a queued job and a done one.
	all := newSeed(t, db, "all")
	limited(all, ci.StateRunning, time.Hour)
	queued := all.job("queued", "linux", 0, start)
	queued.TimeLimit = time.Second
	done := running(all, "done", start, time.Second)
	done.State, done.Result = ci.StateDone, ci.ResultPassed
	jobs := []*ci.Job{running(all, "j1", start.Add(2*time.Minute), 5*time.Minute), running(all, "j2", start.Add(3*time.Minute), 5*time.Minute),
		running(all, "j3", start.Add(time.Minute), 0), queued, done}

	// Only a job's limit: the earliest deadline is a job's.
	jobOnly := newSeed(t, db, "job-only")
	jobs = append(jobs, running(jobOnly, "j", start.Add(time.Minute), 3*time.Minute), running(jobOnly, "k", start.Add(time.Minute), 7*time.Minute))

	// The regular blocks are done, the after_pipeline block runs: the
	// pipeline's limit no longer counts, the after block's job's does.
	after := newSeed(t, db, "after")
	limited(after, ci.StateRunning, time.Minute)
	after.block.State, after.block.Result, after.block.TimeLimit = ci.StateDone, ci.ResultPassed, 0
	write(t, db, func(tx *Tx) error { return tx.UpdateBlock(after.block) })
	ap := &ci.Block{PipelineID: after.pipeline.ID, Index: 1, Name: "after", State: ci.StateRunning, AfterPipeline: true}
	write(t, db, func(tx *Tx) error { return tx.CreateBlock(ap) })
	apJob := running(after, "cleanup", start.Add(20*time.Minute), 2*time.Minute)
	apJob.BlockID = ap.ID
	jobs = append(jobs, apJob)

	// A stopping pipeline: its own limit no longer counts; its running
	// block's and job's do.
	stopping := newSeed(t, db, "stopping")
	limited(stopping, ci.StateStopping, time.Second)
	jobs = append(jobs, running(stopping, "j", start.Add(5*time.Minute), 4*time.Minute))

	// A done pipeline (a job left running in it) and a running pipeline
	// without limits have none.
	over := newSeed(t, db, "over")
	limited(over, ci.StateDone, time.Second)
	jobs = append(jobs, running(over, "j", start, time.Second))
	free := newSeed(t, db, "free")
	jobs = append(jobs, running(free, "j", start, 0))

	write(t, db, func(tx *Tx) error {
		for _, j := range jobs {
			if err := tx.CreateJob(j); err != nil {
				return err
			}
		}
		return nil
	})

	deadlines, err := db.TimeLimits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	earliest := map[string]time.Time{}
	for _, d := range deadlines {
		if e, ok := earliest[d.Pipeline]; !ok || d.At.Before(e) {
			earliest[d.Pipeline] = d.At
		}
	}
	want := map[string]time.Time{}
	for _, s := range []*seed{all, jobOnly, after, stopping, over, free} {
		tree, err := db.GetPipelineTreeLite(ctx, s.pipeline.ID)
		if err != nil {
			t.Fatal(err)
		}
		if tree.State != ci.StateRunning && tree.State != ci.StateStopping {
			continue
		}
		if d := pipelinestate.NextDeadline(tree); !d.IsZero() {
			want[s.pipeline.ID] = d
		}
	}
	diff(t, "earliest deadline by pipeline", earliest, want)
	// The cases above are what they say.
	for name, c := range map[string]struct {
		s    *seed
		want time.Time
	}{
		"all":      {all, start.Add(7 * time.Minute)},
		"job-only": {jobOnly, start.Add(4 * time.Minute)},
		"after":    {after, start.Add(22 * time.Minute)},
		"stopping": {stopping, start.Add(9 * time.Minute)},
	} {
		if got := earliest[c.s.pipeline.ID]; !got.Equal(c.want) {
			t.Errorf("%s: earliest deadline %v, want %v", name, got, c.want)
		}
	}
	for name, s := range map[string]*seed{"done pipeline": over, "no limits": free} {
		if got, ok := earliest[s.pipeline.ID]; ok {
			t.Errorf("%s: deadline %v, want none", name, got)
		}
	}
}

// testUpdateJobsIf: several jobs written at once, each only while in the
// state read; one job claimed meanwhile refuses the whole write (the
// transaction rolls back, nothing is written); more jobs than one
// statement holds are written in several.
func testUpdateJobsIf(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	s := newSeed(t, db, "p")
	n := maxParams/17 + 13 // two statements
	var jobs []*ci.Job
	for i := range n {
		j := s.job(fmt.Sprintf("j%03d", i), "linux", 0, time.Time{})
		j.State, j.QueuedAt, j.WaitReason = ci.StatePending, time.Time{}, ""
		jobs = append(jobs, j)
	}
	write(t, db, func(tx *Tx) error {
		for _, j := range jobs {
			if err := tx.CreateJob(j); err != nil {
				return err
			}
		}
		return nil
	})
	queue := func() ([]*ci.Job, []ci.State) {
		var out []*ci.Job
		var from []ci.State
		for i, j := range jobs {
			c := *j
			c.Spec = nil
			c.State, c.QueuedAt, c.WaitReason, c.Priority = ci.StateQueued, at(10, 0, i%60), "waiting for an agent", i%3
			out, from = append(out, &c), append(from, ci.StatePending)
		}
		return out, from
	}

	// One job moved on meanwhile: nothing is written.
	write(t, db, func(tx *Tx) error {
		c := *jobs[n-1]
		c.State, c.Result = ci.StateDone, ci.ResultCanceled
		return tx.UpdateJobIf(&c, ci.StatePending)
	})
	batch, from := queue()
	err := db.Tx(ctx, func(tx *Tx) error { return tx.UpdateJobsIf(batch, from) })
	wantErr(t, "UpdateJobsIf with a job no longer pending", err, ErrConflict)
	for _, j := range jobs[:n-1] {
		if got, err := db.GetJob(ctx, j.ID); err != nil || got.State != ci.StatePending {
			t.Fatalf("job %s after a refused UpdateJobsIf: %v, %v; want it pending", j.Name, got.State, err)
		}
	}

	// All in their state: all written, as UpdateJobIf writes them.
	batch, from = queue()
	batch, from = batch[:n-1], from[:n-1]
	write(t, db, func(tx *Tx) error { return tx.UpdateJobsIf(batch, from) })
	for _, want := range batch {
		got, err := db.GetJob(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		want.Spec = got.Spec // left alone
		diff(t, "job after UpdateJobsIf", got, want)
	}
}
