package testresults

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testreport"
	"github.com/google/go-cmp/cmp"
)

// env is a Service on a real SQLite store and a directory of blobs, with
// a running job.
type env struct {
	db    *store.DB
	blobs blob.Store
	svc   *Service
	job   *ci.Job
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
	return &env{db: db, blobs: blobs, svc: New(Config{Store: db, Blobs: blobs}), job: j}
}

func (e *env) publish(t *testing.T, xml string) {
	t.Helper()
	r, err := testreport.Parse("r.xml", []byte(xml), testreport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PutJob(t.Context(), e.job, testreport.Received{Result: r}); err != nil {
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
	rec, err := e.db.JobTestReport(t.Context(), e.job.ID)
	if err != nil {
		t.Fatal(err)
	}
	rec.OutcomesPending = true
	if _, err := e.db.PutJobTestReport(t.Context(), rec, nil); err != nil {
		t.Fatal(err)
	}
	e.svc.omu.Lock()
	r, _ := testreport.Parse("r.xml", []byte(`<testsuite name="s"><testcase name="AtStop"/></testsuite>`), testreport.Options{})
	e.svc.queue = append(e.svc.queue, pendingOutcomes{job: e.job.ID, key: rec.BlobKey, outcomes: []store.TestOutcome{{ProjectID: e.job.ProjectID, TestID: r.TestResults[0].Suites[0].Tests[0].ID,
		JobID: e.job.ID, PipelineID: e.job.PipelineID, Suite: "s", Name: "AtStop", State: "passed", At: time.Now()}}})
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

// TestOutcomesAfterACrash: a server that stops after answering a publish
// and before writing its outcomes (here: its writer never runs, as when
// the process is killed) loses nothing: the next server's sweep, at its
// start, writes the job's outcomes from its stored report, each test
// once, and what the first publish had written is not doubled.
func TestOutcomesAfterACrash(t *testing.T) {
	e := newEnv(t)
	e.publish(t, `<testsuite name="s"><testcase name="First"/><testcase name="Rerun"><failure/></testcase></testsuite>`)
	e.svc.omu.Lock()
	e.svc.running = true // outcomes are queued, and nothing writes them
	e.svc.omu.Unlock()
	e.publish(t, `<testsuite name="s"><testcase name="Second"/><testcase name="Rerun"/></testsuite>`)
	e.publish(t, `<testsuite name="t"><testcase name="Third"/></testsuite>`)
	if n := e.outcomes(t, "Second") + e.outcomes(t, "Third"); n != 0 {
		t.Fatalf("outcomes written without a writer: %d", n)
	}

	restarted := New(Config{Store: e.db, Blobs: e.blobs})
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- restarted.Run(ctx) }()
	defer func() {
		cancel()
		<-ran
	}()
	deadline := time.Now().Add(time.Minute)
	for e.outcomes(t, "Third") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the restarted service did not write the pending outcomes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	rows := func() map[string][]string { // test name: its rows' states
		found, err := e.db.FindTestOutcomes(t.Context(), []string{e.job.ID}, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]string{}
		for _, o := range found {
			h, err := e.db.TestHistory(t.Context(), e.job.ProjectID, o.TestID, "main", 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range h {
				out[r.Name] = append(out[r.Name], r.State)
			}
		}
		return out
	}
	want := map[string][]string{"First": {"passed"}, "Second": {"passed"}, "Third": {"passed"}, "Rerun": {"failed"}}
	if diff := cmp.Diff(want, rows()); diff != "" {
		t.Errorf("outcomes after the restart (-want +got):\n%s", diff)
	}
	if pending, err := e.db.PendingTestOutcomes(t.Context(), time.Now().Add(time.Hour), 10); err != nil || len(pending) != 0 {
		t.Errorf("still pending: %v, %v", pending, err)
	}
	// The crashed server's writer, were it to run late, finds nothing to
	// write.
	for _, o := range e.svc.queue {
		if ok, err := e.db.AddTestOutcomes(t.Context(), o.job, o.key, o.outcomes); ok || err != nil {
			t.Errorf("late write: %v, %v; want nothing written", ok, err)
		}
	}
	if diff := cmp.Diff(want, rows()); diff != "" {
		t.Errorf("outcomes after a late write (-want +got):\n%s", diff)
	}
}

// TestStoredAsReceived: a job's first report, received as the server
// would store it, is stored byte for byte as it came; a second is merged
// with it and stored anew.
func TestStoredAsReceived(t *testing.T) {
	e := newEnv(t)
	r, err := testreport.Parse("r.xml", []byte(`<testsuite name="s"><testcase name="A"/><testcase name="B"><failure/></testcase></testsuite>`), testreport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := testreport.Compress(testreport.Merge(r))
	if err != nil {
		t.Fatal(err)
	}
	received, err := testreport.Receive(bytes.NewReader(sent))
	if err != nil || received.Gzip == nil {
		t.Fatalf("received = %v, %v; want storable as sent", received.Gzip != nil, err)
	}
	stored := func() []byte {
		rec, err := e.db.JobTestReport(t.Context(), e.job.ID)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := e.svc.Open(t.Context(), rec.BlobKey)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		data, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	if sum, err := e.svc.PutJob(t.Context(), e.job, received); err != nil || sum.Total != 2 || sum.Failed != 1 {
		t.Fatalf("put = %+v, %v", sum, err)
	}
	if !bytes.Equal(stored(), sent) {
		t.Error("the report was not stored as received")
	}
	e.publish(t, `<testsuite name="s"><testcase name="C"/></testsuite>`)
	if bytes.Equal(stored(), sent) {
		t.Error("the second publish was not stored")
	}
	got, err := e.svc.JobReport(t.Context(), e.job.ID)
	if err != nil || got.Summary().Total != 3 {
		t.Errorf("report after the second publish: %+v, %v", got.Summary(), err)
	}
}

// TestSweepOfALostReport: outcomes pending for a report whose object is
// lost cannot be derived; the sweep ends their record rather than try
// again every minute.
func TestSweepOfALostReport(t *testing.T) {
	e := newEnv(t)
	e.svc.omu.Lock()
	e.svc.running = true // outcomes are queued, and nothing writes them
	e.svc.omu.Unlock()
	e.publish(t, `<testsuite name="s"><testcase name="A"/></testsuite>`)
	rec, err := e.db.JobTestReport(t.Context(), e.job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.blobs.Delete(t.Context(), rec.BlobKey); err != nil {
		t.Fatal(err)
	}
	if n, err := e.svc.SweepOutcomes(t.Context(), time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v", n, err)
	}
	if pending, err := e.db.PendingTestOutcomes(t.Context(), time.Now().Add(time.Hour), 10); err != nil || len(pending) != 0 {
		t.Errorf("still pending: %v, %v", pending, err)
	}
}
