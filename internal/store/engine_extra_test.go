package store

import (
	"slices"
	"testing"

	"github.com/batonci/baton/internal/ci"
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
