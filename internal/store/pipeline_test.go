package store

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
)

func testPipelines(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	s := newSeed(t, db, "p")
	p := &ci.Pipeline{
		WorkflowID:  s.workflow.ID,
		ProjectID:   s.project.ID,
		Name:        "Deploy",
		File:        ".semaphore/deploy.yml",
		State:       ci.StateDone,
		Result:      ci.ResultFailed,
		Reason:      ci.ReasonMalformed,
		Queue:       "production",
		QueueScope:  "organization",
		Parallel:    true,
		AutoCancel:  "stop",
		FailFast:    "cancel",
		TimeLimit:   2*time.Hour + 999*time.Microsecond,
		Graph:       json.RawMessage(`{"z": 1,  "a": [true, null]}`), // kept byte for byte
		Diagnostics: "deploy.yml:3:5: unknown key \"blokcs\"\ndeploy.yml:9:1: another",
		Problems: []ci.Diagnostic{
			{File: "deploy.yml", Line: 3, Column: 5, Message: `unknown key "blokcs"`, Severity: ci.SeverityError},
			{Message: "no position", Severity: ci.SeverityWarning},
		},
		PromotionOf:      s.pipeline.ID,
		PromotedBy:       "ada",
		PartialRerun:     s.pipeline.ID,
		Promotion:        "Production",
		DeploymentTarget: "production",
		CreatedAt:        at(10, 0, 0),
		StartedAt:        at(10, 0, 1),
		DoneAt:           at(10, 30, 0),
	}
	write(t, db, func(tx *Tx) error { return tx.CreatePipeline(p) })
	allSet(t, p, "Blocks", "DetailsHidden") // DetailsHidden is the API's view, never stored
	if p.TimeLimit != 2*time.Hour {
		t.Errorf("TimeLimit normalised to %v, want 2h", p.TimeLimit)
	}
	got, err := db.GetPipeline(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "GetPipeline", got, p)
	if string(got.Graph) != string(p.Graph) {
		t.Errorf("Graph = %s, want %s byte for byte", got.Graph, p.Graph)
	}

	p.Name, p.File, p.State, p.Result, p.Reason = "Deploy 2", "d.yml", ci.StateRunning, ci.ResultNone, ci.ReasonNone
	p.Queue, p.QueueScope, p.Parallel, p.AutoCancel, p.FailFast = "q", "project", false, "", "stop"
	graph := p.Graph
	p.TimeLimit, p.Graph, p.Diagnostics, p.Problems = time.Minute, nil, "", nil
	p.PromotionOf, p.PromotedBy, p.PartialRerun = "", "", ""
	p.StartedAt, p.DoneAt = at(11, 0, 0), time.Time{}
	write(t, db, func(tx *Tx) error {
		if err := tx.UpdatePipeline(p); err != nil {
			return err
		}
		// A nil Graph (a pipeline read without it) leaves the graph alone.
		p.Graph = graph
		// Locking returns the updated pipeline.
		locked, err := tx.LockPipeline(p.ID)
		if err != nil {
			return err
		}
		diff(t, "LockPipeline", locked, p)
		return nil
	})
	got, err = db.GetPipeline(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "pipeline after UpdatePipeline", got, p)

	ps, err := db.ListPipelines(ctx, s.workflow.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []*ci.Pipeline{p, s.pipeline}
	slices.SortFunc(want, func(x, y *ci.Pipeline) int { return x.CreatedAt.Compare(y.CreatedAt) })
	diff(t, "ListPipelines", ps, want)

	// The tree: blocks and jobs by index, whatever the order of creation.
	b1 := &ci.Block{PipelineID: p.ID, Index: 1, Name: "Test", Dependencies: []string{"Build"}, State: ci.StatePending}
	b0 := &ci.Block{PipelineID: p.ID, Index: 0, Name: "Build", State: ci.StateRunning}
	b2 := &ci.Block{PipelineID: p.ID, Index: 2, Name: "Empty", Dependencies: []string{"Build", "Test"}}
	var jobs []*ci.Job
	write(t, db, func(tx *Tx) error {
		for _, b := range []*ci.Block{b1, b0, b2} {
			if err := tx.CreateBlock(b); err != nil {
				return err
			}
		}
		for _, x := range []struct {
			b     *ci.Block
			index int
		}{{b1, 1}, {b0, 0}, {b1, 0}, {b0, 1}} {
			j := &ci.Job{PipelineID: p.ID, BlockID: x.b.ID, ProjectID: p.ProjectID, Index: x.index, Name: x.b.Name + string(rune('0'+x.index))}
			if err := tx.CreateJob(j); err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	tw := *p
	b0.Jobs = []*ci.Job{jobs[1], jobs[3]}
	b1.Jobs = []*ci.Job{jobs[2], jobs[0]}
	tw.Blocks = []*ci.Block{b0, b1, b2}
	tree, err := db.GetPipelineTree(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "GetPipelineTree", tree, &tw)
	write(t, db, func(tx *Tx) error {
		tree, err := tx.GetPipelineTree(p.ID)
		if err != nil {
			return err
		}
		diff(t, "Tx.GetPipelineTree", tree, &tw)
		return nil
	})

	_, err = db.GetPipeline(ctx, "nope")
	wantErr(t, "GetPipeline of no pipeline", err, ErrNotFound)
	_, err = db.GetPipelineTree(ctx, "nope")
	wantErr(t, "GetPipelineTree of no pipeline", err, ErrNotFound)
	err = db.Tx(ctx, func(tx *Tx) error { _, err := tx.LockPipeline("nope"); return err })
	wantErr(t, "LockPipeline of no pipeline", err, ErrNotFound)
	err = db.Tx(ctx, func(tx *Tx) error { return tx.UpdatePipeline(&ci.Pipeline{ID: "nope"}) })
	wantErr(t, "UpdatePipeline of no pipeline", err, ErrNotFound)
	err = db.Tx(ctx, func(tx *Tx) error {
		return tx.CreatePipeline(&ci.Pipeline{WorkflowID: "nope", ProjectID: s.project.ID})
	})
	wantErr(t, "CreatePipeline of no workflow", err, ErrNotFound)
	err = db.Tx(ctx, func(tx *Tx) error {
		return tx.CreatePipeline(&ci.Pipeline{ID: p.ID, WorkflowID: s.workflow.ID, ProjectID: s.project.ID})
	})
	wantErr(t, "CreatePipeline with an ID taken", err, ErrConflict)
	err = db.Tx(ctx, func(tx *Tx) error {
		return tx.CreatePipeline(&ci.Pipeline{WorkflowID: s.workflow.ID, ProjectID: s.project.ID, Graph: json.RawMessage(`{"a":`)})
	})
	if err == nil {
		t.Error("CreatePipeline with a Graph that is not JSON succeeded")
	}
}

func testQueuePipelines(t *testing.T, e *testEnv) {
	db := e.open(t)
	a, b := newSeed(t, db, "a"), newSeed(t, db, "b")
	mk := func(s *seed, queue, scope string, state ci.State, created time.Time) *ci.Pipeline {
		p := &ci.Pipeline{WorkflowID: s.workflow.ID, ProjectID: s.project.ID, Queue: queue, QueueScope: scope, State: state, CreatedAt: created}
		write(t, db, func(tx *Tx) error { return tx.CreatePipeline(p) })
		return p
	}
	aProd2 := mk(a, "prod", "project", ci.StateQueued, at(12, 0, 0))
	aProd1 := mk(a, "prod", "project", ci.StateRunning, at(11, 0, 0))
	mk(a, "prod", "project", ci.StateDone, at(10, 0, 0))
	bProd := mk(b, "prod", "project", ci.StateRunning, at(10, 0, 0))
	orgA := mk(a, "deploy", "organization", ci.StatePending, at(13, 0, 0))
	orgB := mk(b, "deploy", "organization", ci.StateStopping, at(9, 0, 0))
	mk(a, "deploy", "project", ci.StateRunning, at(8, 0, 0)) // a project queue of the same name

	for _, tc := range []struct {
		name                  string
		project, queue, scope string
		want                  []*ci.Pipeline
	}{
		{"project queue", a.project.ID, "prod", "project", []*ci.Pipeline{aProd1, aProd2}},
		{"other project's queue", b.project.ID, "prod", "project", []*ci.Pipeline{bProd}},
		{"organization queue", a.project.ID, "deploy", "organization", []*ci.Pipeline{orgB, orgA}},
		{"organization queue, no project", "", "deploy", "organization", []*ci.Pipeline{orgB, orgA}},
		{"empty queue", a.project.ID, "none", "project", nil},
	} {
		got, err := db.QueuePipelines(t.Context(), tc.project, tc.queue, tc.scope)
		if err != nil {
			t.Fatal(err)
		}
		diff(t, "QueuePipelines "+tc.name, got, tc.want)
	}
}
