package store

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/batonci/baton/internal/ci"
)

func testWorkflows(t *testing.T, e *testEnv) {
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
	w := &ci.Workflow{
		ProjectID:   p.ID,
		Trigger:     ci.TriggerPR,
		RefType:     "pull-request",
		Branch:      "main",
		Tag:         "v1.0.0",
		PR:          "42",
		PRBranch:    "feature",
		PRFork:      true,
		PRSHA:       "89abcdef0123456789abcdef0123456789abcdef",
		PRName:      "Add a thing",
		PRSlug:      "forker/baton",
		PRHeadURL:   "https://git.example.com/forker/baton.git",
		SHA:         "0123456789abcdef0123456789abcdef01234567",
		CommitRange: "aaa...bbb",
		Message:     "Add a thing\n\nwith a body",
		Author:      "Ada <ada@example.com>",
		TriggeredBy: "ada",
		RerunOf:     "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
		Schedule:    "nightly",
		Parameters:  map[string]string{"ENV": "staging", "EMPTY": ""},
		CreatedAt:   at(9, 0, 0),
		RefVerified: "refs/heads/main",
	}
	write(t, db, func(tx *Tx) error { return tx.CreateWorkflow(w) })
	allSet(t, w, "Result")
	if w.Number != 1 || w.State != ci.StatePending || w.Result != ci.ResultNone {
		t.Errorf("new workflow: Number %d, State %q, Result %q; want 1, pending, none", w.Number, w.State, w.Result)
	}
	got, err := db.GetWorkflow(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "GetWorkflow", got, w)

	// More workflows, one per hour, on two branches and two projects.
	all := []*ci.Workflow{w}
	for i, branch := range []string{"main", "dev", "main", "dev"} {
		x := &ci.Workflow{ProjectID: p.ID, Trigger: ci.TriggerPush, RefType: "branch", Branch: branch, CreatedAt: at(10+i, 0, 0)}
		write(t, db, func(tx *Tx) error { return tx.CreateWorkflow(x) })
		if x.Number != i+2 {
			t.Errorf("workflow %d: Number %d", i+2, x.Number)
		}
		all = append(all, x)
	}
	o := &ci.Workflow{ProjectID: other.ID, Trigger: ci.TriggerManual, CreatedAt: at(20, 0, 0)}
	write(t, db, func(tx *Tx) error { return tx.CreateWorkflow(o) })
	if o.Number != 1 {
		t.Errorf("other project's first workflow: Number %d, want 1", o.Number)
	}
	newest := slices.Clone(all)
	slices.Reverse(newest)

	for _, tc := range []struct {
		name    string
		project string
		filter  WorkflowFilter
		want    []*ci.Workflow
	}{
		{"all of a project", p.ID, WorkflowFilter{}, newest},
		{"branch", p.ID, WorkflowFilter{Branch: "dev"}, []*ci.Workflow{all[4], all[2]}},
		{"limit", p.ID, WorkflowFilter{Limit: 2}, newest[:2]},
		{"before", p.ID, WorkflowFilter{Before: all[3].CreatedAt}, newest[2:]},
		{"all filters", p.ID, WorkflowFilter{Branch: "main", Before: all[4].CreatedAt, Limit: 2}, []*ci.Workflow{all[3], all[1]}},
		{"every project", "", WorkflowFilter{Limit: 2}, []*ci.Workflow{o, all[4]}},
		{"no match", p.ID, WorkflowFilter{Branch: "nope"}, nil},
	} {
		got, err := db.ListWorkflows(ctx, tc.project, tc.filter)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		diff(t, "ListWorkflows "+tc.name, got, tc.want)
	}

	err = db.Tx(ctx, func(tx *Tx) error { return tx.CreateWorkflow(&ci.Workflow{ProjectID: "nope"}) })
	wantErr(t, "CreateWorkflow of no project", err, ErrNotFound)
	err = db.Tx(ctx, func(tx *Tx) error { return tx.CreateWorkflow(&ci.Workflow{ID: w.ID, ProjectID: p.ID}) })
	wantErr(t, "CreateWorkflow with an ID taken", err, ErrConflict)
	_, err = db.GetWorkflow(ctx, "nope")
	wantErr(t, "GetWorkflow of no workflow", err, ErrNotFound)
}

// testWorkflowNumbersConcurrent creates workflows from 8 goroutines on two
// servers (two DBs) at once, half of them with a number reserved before
// the transaction (ReserveWorkflowNumber) and half taking it inside: the
// numbers must be 1..N, each once.
func testWorkflowNumbersConcurrent(t *testing.T, e *testEnv) {
	dsn := e.newDSN(t)
	servers := []*DB{openDSN(t, dsn), openDSN(t, dsn)}
	p := &ci.Project{Name: "p"}
	write(t, servers[0], func(tx *Tx) error {
		if err := tx.CreateProject(p); err != nil {
			return err
		}
		if tx.db.dialect == Postgres {
			// As for a project of before the sequences: the first
			// creations race to make it.
			_, err := tx.exec(`DROP SEQUENCE ` + workflowNumbers(p.ID))
			return err
		}
		return nil
	})

	const goroutines, each = 8, 10
	numbers := make(chan int, goroutines*each)
	var wg sync.WaitGroup
	for g := range goroutines {
		db := servers[g%2]
		wg.Go(func() {
			for range each {
				w := &ci.Workflow{ProjectID: p.ID, Trigger: ci.TriggerPush}
				if g%4 < 2 {
					n, err := db.ReserveWorkflowNumber(t.Context(), p.ID)
					if err != nil {
						t.Errorf("ReserveWorkflowNumber: %v", err)
						return
					}
					w.Number = n
				}
				if err := db.Tx(t.Context(), func(tx *Tx) error { return tx.CreateWorkflow(w) }); err != nil {
					t.Errorf("CreateWorkflow: %v", err)
					return
				}
				numbers <- w.Number
			}
		})
	}
	wg.Wait()
	close(numbers)
	var got []int
	for n := range numbers {
		got = append(got, n)
	}
	slices.Sort(got)
	want := make([]int, goroutines*each)
	for i := range want {
		want[i] = i + 1
	}
	diff(t, "workflow numbers", got, want)
}

// testWorkflowNumbersContinue: numbers go on from the project's counter of
// the workflows made before (projects.workflow_seq); a reserved number
// that is not used is a gap, never given again; a deleted project's
// numbers go with it, and a project of no such ID has none.
func testWorkflowNumbersContinue(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	p := &ci.Project{Name: "p"}
	write(t, db, func(tx *Tx) error {
		if err := tx.CreateProject(p); err != nil {
			return err
		}
		// A project of before the sequences, with 41 workflows.
		if tx.db.dialect == Postgres {
			if _, err := tx.exec(`DROP SEQUENCE ` + workflowNumbers(p.ID)); err != nil {
				return err
			}
		}
		_, err := tx.exec(`UPDATE projects SET workflow_seq = 41 WHERE id = $1`, p.ID)
		return err
	})
	create := func() int {
		t.Helper()
		w := &ci.Workflow{ProjectID: p.ID, Trigger: ci.TriggerPush}
		n, err := db.ReserveWorkflowNumber(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		w.Number = n
		write(t, db, func(tx *Tx) error { return tx.CreateWorkflow(w) })
		return w.Number
	}
	if n := create(); n != 42 {
		t.Errorf("first number after 41 workflows = %d, want 42", n)
	}
	if db.Dialect() == Postgres {
		if _, err := db.ReserveWorkflowNumber(ctx, p.ID); err != nil { // 43, never used
			t.Fatal(err)
		}
		if n := create(); n != 44 {
			t.Errorf("number after a reserved one = %d, want 44", n)
		}
	} else if n := create(); n != 43 {
		t.Errorf("second number = %d, want 43", n)
	}
	x := &ci.Workflow{ProjectID: p.ID, Trigger: ci.TriggerPush}
	write(t, db, func(tx *Tx) error { return tx.CreateWorkflow(x) })
	if x.Number != 45 && x.Number != 44 || (db.Dialect() == Postgres) != (x.Number == 45) {
		t.Errorf("number taken inside the transaction = %d", x.Number)
	}

	if _, err := db.ReserveWorkflowNumber(ctx, "nope"); db.Dialect() == Postgres {
		wantErr(t, "ReserveWorkflowNumber of no project", err, ErrNotFound)
	}
	write(t, db, func(tx *Tx) error { return tx.DeleteProject(p.ID) })
	if db.Dialect() == Postgres {
		var exists bool
		if err := db.read.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, workflowNumbers(p.ID)).Scan(&exists); err != nil || exists {
			t.Errorf("the deleted project's sequence exists: %v, %v", exists, err)
		}
	}
}

func testWorkflowDerivedState(t *testing.T, e *testEnv) {
	db := e.open(t)
	p := &ci.Project{Name: "p"}
	write(t, db, func(tx *Tx) error { return tx.CreateProject(p) })
	type pl struct {
		state  ci.State
		result ci.Result
	}
	done := func(r ci.Result) pl { return pl{ci.StateDone, r} }
	for _, tc := range []struct {
		name      string
		pipelines []pl
		state     ci.State
		result    ci.Result
	}{
		{"no pipeline", nil, ci.StatePending, ci.ResultNone},
		{"one running", []pl{{ci.StateRunning, ""}}, ci.StateRunning, ci.ResultNone},
		{"one queued", []pl{{ci.StateQueued, ""}}, ci.StateRunning, ci.ResultNone},
		{"one passed, one pending", []pl{done(ci.ResultPassed), {ci.StatePending, ""}}, ci.StateRunning, ci.ResultNone},
		{"a failure while one runs", []pl{done(ci.ResultFailed), {ci.StateStopping, ""}}, ci.StateRunning, ci.ResultNone},
		{"passed", []pl{done(ci.ResultPassed), done(ci.ResultPassed)}, ci.StateDone, ci.ResultPassed},
		{"failed beats all", []pl{done(ci.ResultStopped), done(ci.ResultFailed), done(ci.ResultCanceled)}, ci.StateDone, ci.ResultFailed},
		{"stopped beats canceled", []pl{done(ci.ResultCanceled), done(ci.ResultStopped), done(ci.ResultPassed)}, ci.StateDone, ci.ResultStopped},
		{"canceled beats passed", []pl{done(ci.ResultPassed), done(ci.ResultCanceled)}, ci.StateDone, ci.ResultCanceled},
	} {
		w := &ci.Workflow{ProjectID: p.ID, Trigger: ci.TriggerPush}
		write(t, db, func(tx *Tx) error {
			if err := tx.CreateWorkflow(w); err != nil {
				return err
			}
			for i, x := range tc.pipelines {
				err := tx.CreatePipeline(&ci.Pipeline{WorkflowID: w.ID, ProjectID: p.ID, Name: fmt.Sprint(i), State: x.state, Result: x.result})
				if err != nil {
					return err
				}
			}
			return nil
		})
		got, err := db.GetWorkflow(t.Context(), w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != tc.state || got.Result != tc.result {
			t.Errorf("%s: GetWorkflow: state %q, result %q; want %q, %q", tc.name, got.State, got.Result, tc.state, tc.result)
		}
		list, err := db.ListWorkflows(t.Context(), p.ID, WorkflowFilter{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].State != tc.state || list[0].Result != tc.result {
			t.Errorf("%s: ListWorkflows: %+v; want state %q, result %q", tc.name, list, tc.state, tc.result)
		}
	}
}
