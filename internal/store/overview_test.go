package store

import (
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
)

func testOverview(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	p := &ci.Project{Name: "p"}
	other := &ci.Project{Name: "other"}
	write(t, db, func(tx *Tx) error {
		if err := tx.CreateProject(p); err != nil {
			return err
		}
		return tx.CreateProject(other)
	})
	add := func(proj *ci.Project, refType, branch, tag, pr string, minute int) *ci.Workflow {
		w := &ci.Workflow{ProjectID: proj.ID, Trigger: ci.TriggerPush, RefType: refType, Branch: branch, Tag: tag, PR: pr, CreatedAt: at(9, minute, 0)}
		write(t, db, func(tx *Tx) error { return tx.CreateWorkflow(w) })
		return w
	}
	add(p, "branch", "main", "", "", 0)
	main2 := add(p, "branch", "main", "", "", 1)
	feat := add(p, "branch", "feature", "", "", 2)
	tag := add(p, "tag", "", "v1", "", 3)
	add(p, "pull-request", "main", "", "7", 4)
	pr7 := add(p, "pull-request", "main", "", "7", 5)
	pr8 := add(p, "pull-request", "main", "", "8", 6)
	add(other, "branch", "main", "", "", 7)

	latest, err := db.LatestWorkflows(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range latest {
		got = append(got, w.ID)
	}
	want := []string{pr8.ID, pr7.ID, tag.ID, feat.ID, main2.ID}
	if len(got) != len(want) {
		t.Fatalf("latest: %d workflows, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("latest[%d] = workflow %d (%s %s%s%s), want %s", i, latest[i].Number, latest[i].RefType, latest[i].Branch, latest[i].Tag, latest[i].PR, want[i])
		}
	}

	// Spans: the first start to the last end, open while a pipeline runs.
	start := at(10, 0, 0).UTC().Truncate(time.Microsecond)
	write(t, db, func(tx *Tx) error {
		for _, pl := range []*ci.Pipeline{
			{WorkflowID: main2.ID, ProjectID: p.ID, Name: "a", State: ci.StateDone, Result: ci.ResultPassed, StartedAt: start, DoneAt: start.Add(time.Minute)},
			{WorkflowID: main2.ID, ProjectID: p.ID, Name: "b", State: ci.StateDone, Result: ci.ResultPassed, StartedAt: start.Add(30 * time.Second), DoneAt: start.Add(90 * time.Second)},
			{WorkflowID: feat.ID, ProjectID: p.ID, Name: "a", State: ci.StateDone, Result: ci.ResultPassed, StartedAt: start, DoneAt: start.Add(time.Minute)},
			{WorkflowID: feat.ID, ProjectID: p.ID, Name: "b", State: ci.StateRunning, StartedAt: start.Add(time.Minute)},
		} {
			if err := tx.CreatePipeline(pl); err != nil {
				return err
			}
		}
		return nil
	})
	spans, err := db.WorkflowSpans(ctx, []string{main2.ID, feat.ID, tag.ID})
	if err != nil {
		t.Fatal(err)
	}
	if s := spans[main2.ID]; !s.Started.Equal(start) || !s.Done.Equal(start.Add(90*time.Second)) {
		t.Errorf("span of a finished workflow = %v .. %v, want %v .. +90s", s.Started, s.Done, start)
	}
	if s := spans[feat.ID]; !s.Started.Equal(start) || !s.Done.IsZero() {
		t.Errorf("span of a running workflow = %v .. %v, want %v .. (open)", s.Started, s.Done, start)
	}
	if _, ok := spans[tag.ID]; ok || len(spans) != 2 {
		t.Errorf("spans = %v, want none for a workflow without pipelines", spans)
	}
	if spans, err := db.WorkflowSpans(ctx, nil); err != nil || len(spans) != 0 {
		t.Errorf("no IDs: %v, %v", spans, err)
	}
}
