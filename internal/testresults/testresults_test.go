package testresults

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testreport"
)

// env is a Service on a real SQLite store and a directory of blobs, with
// a running job.
type env struct {
	db  *store.DB
	svc *Service
	job *ci.Job
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := blob.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := &ci.Project{Name: "p", RepoURL: "https://example.com/p.git", DefaultBranch: "main"}
	wf := &ci.Workflow{Trigger: ci.TriggerPush, RefType: "branch", Branch: "main", SHA: "abc"}
	pl := &ci.Pipeline{Name: "p", State: ci.StateRunning}
	b := &ci.Block{Name: "b", State: ci.StateRunning}
	j := &ci.Job{Name: "j", State: ci.StateRunning, MachineType: "m"}
	if err := db.Tx(t.Context(), func(tx *store.Tx) error {
		if err := tx.CreateProject(p); err != nil {
			return err
		}
		wf.ProjectID = p.ID
		if err := tx.CreateWorkflow(wf); err != nil {
			return err
		}
		pl.WorkflowID, pl.ProjectID = wf.ID, p.ID
		if err := tx.CreatePipeline(pl); err != nil {
			return err
		}
		b.PipelineID = pl.ID
		if err := tx.CreateBlock(b); err != nil {
			return err
		}
		j.PipelineID, j.BlockID, j.ProjectID = pl.ID, b.ID, p.ID
		return tx.CreateJob(j)
	}); err != nil {
		t.Fatal(err)
	}
	return &env{db: db, svc: New(Config{Store: db, Blobs: blobs}), job: j}
}

func (e *env) publish(t *testing.T, xml string) {
	t.Helper()
	r, err := testreport.Parse("r.xml", []byte(xml), testreport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PutJob(t.Context(), e.job, r); err != nil {
		t.Fatal(err)
	}
}

func (e *env) outcomes(t *testing.T, name string) int {
	t.Helper()
	os, err := e.db.FindTestOutcomes(t.Context(), []string{e.job.ID}, name, 100)
	if err != nil {
		t.Fatal(err)
	}
	return len(os)
}

// TestOutcomesAfterTheAnswer: with Run going, a publish's outcomes are
// written after PutJob returns and Flush waits for them; the ones queued
// when Run stops are written before it returns, and after it PutJob
// writes them itself. The report and its digest are stored before PutJob
// returns, whatever happens to the outcomes.
func TestOutcomesAfterTheAnswer(t *testing.T) {
	e := newEnv(t)
	// Without Run, PutJob writes them.
	e.publish(t, `<testsuite name="s"><testcase name="Before"/></testsuite>`)
	if n := e.outcomes(t, "Before"); n != 1 {
		t.Fatalf("outcomes without Run: %d", n)
	}

	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- e.svc.Run(ctx) }()
	e.svc.omu.Lock()
	for !e.svc.running { // Run has started
		e.svc.omu.Unlock()
		time.Sleep(time.Millisecond)
		e.svc.omu.Lock()
	}
	e.svc.omu.Unlock()

	e.publish(t, `<testsuite name="s"><testcase name="During"><failure message="m"/></testcase></testsuite>`)
	digests, err := e.db.JobTestDigests(t.Context(), []string{e.job.ID})
	if err != nil || len(digests[e.job.ID]) == 0 {
		t.Fatalf("no digest when PutJob returned: %v", err)
	}
	if err := e.svc.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := e.outcomes(t, "During"); n != 1 {
		t.Fatalf("outcomes after Flush: %d", n)
	}

	// Queued when Run stops: written before Run returns. Holding the
	// queue's lock keeps the writer from taking the batch before the stop.
	e.svc.omu.Lock()
	r, _ := testreport.Parse("r.xml", []byte(`<testsuite name="s"><testcase name="AtStop"/></testsuite>`), testreport.Options{})
	e.svc.queue = append(e.svc.queue, []store.TestOutcome{{ProjectID: e.job.ProjectID, TestID: r.TestResults[0].Suites[0].Tests[0].ID,
		JobID: e.job.ID, PipelineID: e.job.PipelineID, Suite: "s", Name: "AtStop", State: "passed", At: time.Now()}})
	e.svc.queued++
	cancel()
	e.svc.omu.Unlock()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if n := e.outcomes(t, "AtStop"); n != 1 {
		t.Errorf("outcomes queued at the stop: %d, want written", n)
	}
	if err := e.svc.Flush(t.Context()); err != nil {
		t.Errorf("flush after the stop: %v", err)
	}
	// After Run, PutJob writes them again.
	e.publish(t, `<testsuite name="s"><testcase name="After"/></testsuite>`)
	if n := e.outcomes(t, "After"); n != 1 {
		t.Errorf("outcomes after Run stopped: %d", n)
	}
	// Flush gives up when its context ends.
	e.svc.omu.Lock()
	e.svc.queued++ // one that nobody writes
	e.svc.omu.Unlock()
	fctx, fcancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer fcancel()
	if err := e.svc.Flush(fctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("flush of an unwritten batch: %v", err)
	}
}
