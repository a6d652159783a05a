package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
)

func testTestReports(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	s := newSeed(t, db, "p")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	j1, j2 := s.job("a", "m", 0, t0), s.job("b", "m", 0, t0)
	write(t, db, func(tx *Tx) error { return errors.Join(tx.CreateJob(j1), tx.CreateJob(j2)) })

	if _, err := db.JobTestReport(ctx, j1.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no report yet: %v", err)
	}
	outcome := func(job *ci.Job, test, state string, at time.Time, sha, wf string) TestOutcome {
		return TestOutcome{ProjectID: s.project.ID, TestID: test, JobID: job.ID, PipelineID: s.pipeline.ID, WorkflowID: wf,
			SHA: sha, Branch: "main", Report: "Unit", Suite: "s", Name: "name " + test, State: state, Duration: time.Second, At: at}
	}
	// Many outcomes go in batches.
	var many []TestOutcome
	for i := range 450 {
		many = append(many, outcome(j1, fmt.Sprintf("t%03d", i), "passed", t0, "sha1", "wf1"))
	}
	r1 := TestReport{JobID: j1.ID, PipelineID: s.pipeline.ID, ProjectID: s.project.ID, BlobKey: "k1", Size: 10,
		Counts: TestCounts{Total: 450, Passed: 450, Duration: 450 * time.Second}, UpdatedAt: t0}
	if old, err := db.PutJobTestReport(ctx, r1, many); err != nil || old != "" {
		t.Fatalf("put = %q, %v", old, err)
	}
	got, err := db.JobTestReport(ctx, j1.ID)
	diff(t, "job report", got, r1)
	if err != nil {
		t.Fatal(err)
	}
	// A second report of the job replaces the first and names its blob.
	r1b := r1
	r1b.BlobKey, r1b.Counts.Failed = "k1b", 1
	if old, err := db.PutJobTestReport(ctx, r1b, []TestOutcome{outcome(j1, "t000", "failed", t0.Add(time.Minute), "sha1", "wf1")}); err != nil || old != "k1" {
		t.Fatalf("replace = %q, %v; want old k1", old, err)
	}
	r2 := TestReport{JobID: j2.ID, PipelineID: s.pipeline.ID, ProjectID: s.project.ID, BlobKey: "k2", UpdatedAt: t0}
	if _, err := db.PutJobTestReport(ctx, r2, nil); err != nil {
		t.Fatal(err)
	}
	rs, err := db.PipelineJobTestReports(ctx, s.pipeline.ID)
	if err != nil || len(rs) != 2 {
		t.Fatalf("pipeline's job reports = %v, %v", rs, err)
	}
	// A job that does not exist has no report.
	if _, err := db.PutJobTestReport(ctx, TestReport{JobID: "nope", PipelineID: s.pipeline.ID, ProjectID: s.project.ID, UpdatedAt: t0}, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("report of a missing job: %v, want ErrNotFound", err)
	}

	// The pipeline's merged report.
	if _, err := db.PipelineTestReport(ctx, s.pipeline.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no pipeline report yet: %v", err)
	}
	pr := TestReport{PipelineID: s.pipeline.ID, ProjectID: s.project.ID, BlobKey: "pk", Counts: TestCounts{Total: 3}, UpdatedAt: t0}
	if old, err := db.PutPipelineTestReport(ctx, pr); err != nil || old != "" {
		t.Fatal(old, err)
	}
	pr.BlobKey = "pk2"
	if old, err := db.PutPipelineTestReport(ctx, pr); err != nil || old != "pk" {
		t.Fatalf("replace pipeline report = %q, %v", old, err)
	}
	if got, err := db.PipelineTestReport(ctx, s.pipeline.ID); err != nil || got.BlobKey != "pk2" || got.Counts.Total != 3 {
		t.Fatalf("pipeline report = %+v, %v", got, err)
	}

	// Flaky: t000 failed (j1, second publish) and passed (j1, first) on
	// sha1. t001 failed on sha2 and passed on sha1: not flaky.
	if _, err := db.PutJobTestReport(ctx, r2, []TestOutcome{
		outcome(j2, "t001", "error", t0.Add(2*time.Minute), "sha2", "wf2"),
		outcome(j2, "t002", "skipped", t0.Add(2*time.Minute), "sha1", "wf2"),
	}); err != nil {
		t.Fatal(err)
	}
	fl, err := db.FlakyTests(ctx, s.project.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(fl) != 1 || fl[0].TestID != "t000" || fl[0].Failed != 1 || fl[0].Passed != 1 || !fl[0].FirstSeen.Equal(t0) ||
		!fl[0].LastSeen.Equal(t0.Add(time.Minute)) || len(fl[0].Workflows) != 1 || fl[0].Name != "name t000" {
		t.Fatalf("flaky = %+v", fl)
	}
	// Resolved: hidden until it flips again.
	if err := db.ResolveFlaky(ctx, s.project.ID, "t000", "alice", t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if fl, _ := db.FlakyTests(ctx, s.project.ID); len(fl) != 0 {
		t.Fatalf("resolved test still listed: %+v", fl)
	}
	if _, err := db.PutJobTestReport(ctx, r2, []TestOutcome{
		outcome(j2, "t000", "passed", t0.Add(4*time.Minute), "sha3", "wf3"),
		outcome(j2, "t000", "failed", t0.Add(5*time.Minute), "sha3", "wf3"),
	}); err != nil {
		t.Fatal(err)
	}
	if fl, _ := db.FlakyTests(ctx, s.project.ID); len(fl) != 1 || fl[0].Failed != 2 || fl[0].Passed != 2 || len(fl[0].Workflows) != 2 || fl[0].ResolvedAt.IsZero() {
		t.Fatalf("flipped again after resolved: %+v", fl)
	}
	// Another project sees none of it.
	other := newSeed(t, db, "other")
	if fl, _ := db.FlakyTests(ctx, other.project.ID); len(fl) != 0 {
		t.Fatalf("other project's flaky = %+v", fl)
	}

	// History: newest first, on the branch, limited.
	h, err := db.TestHistory(ctx, s.project.ID, "t000", "main", 3)
	if err != nil || len(h) != 3 || h[0].State != "failed" || !h[0].At.Equal(t0.Add(5*time.Minute)) || h[2].State != "failed" {
		t.Fatalf("history = %+v, %v", h, err)
	}
	if h, _ := db.TestHistory(ctx, s.project.ID, "t000", "dev", 50); len(h) != 0 {
		t.Fatalf("history on another branch = %+v", h)
	}
}

// testTestOutcomesPending: a report stored with its outcomes pending is
// listed until they are written, by the publish's writer
// (AddTestOutcomes) or by a sweep (ReplaceTestOutcomes), whichever comes
// first: the other writes nothing, even when both run at once (two
// servers on one database); a sweep of a report replaced meanwhile is
// refused.
func testTestOutcomesPending(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	s := newSeed(t, db, "p")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	j1, j2 := s.job("a", "m", 0, t0), s.job("b", "m", 0, t0)
	write(t, db, func(tx *Tx) error { return errors.Join(tx.CreateJob(j1), tx.CreateJob(j2)) })
	outcomes := func(job *ci.Job, tests ...string) []TestOutcome {
		var out []TestOutcome
		for _, id := range tests {
			out = append(out, TestOutcome{ProjectID: s.project.ID, TestID: id, JobID: job.ID, PipelineID: s.pipeline.ID,
				WorkflowID: "wf", SHA: "sha", Branch: "main", Report: "r", Suite: "s", Name: id, State: "passed", At: t0})
		}
		return out
	}
	rows := func(job *ci.Job) int {
		t.Helper()
		found, err := db.FindTestOutcomes(ctx, []string{job.ID}, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, o := range found {
			h, err := db.TestHistory(ctx, s.project.ID, o.TestID, "main", 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range h {
				if r.JobID == job.ID {
					n++
				}
			}
		}
		return n
	}
	put := func(job *ci.Job, key string, at time.Time) {
		t.Helper()
		if _, err := db.PutJobTestReport(ctx, TestReport{JobID: job.ID, PipelineID: s.pipeline.ID, ProjectID: s.project.ID,
			BlobKey: key, UpdatedAt: at, OutcomesPending: true}, nil); err != nil {
			t.Fatal(err)
		}
	}
	pending := func(before time.Time) []string {
		t.Helper()
		ids, err := db.PendingTestOutcomes(ctx, before, 10)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}

	put(j1, "k1", t0)
	put(j2, "k2", t0.Add(time.Minute))
	diff(t, "pending", pending(t0.Add(time.Hour)), []string{j1.ID, j2.ID})
	diff(t, "pending before j2's", pending(t0.Add(time.Second)), []string{j1.ID})

	// The writer writes, and ends the record; again, it writes nothing.
	if ok, err := db.AddTestOutcomes(ctx, j1.ID, "k1", outcomes(j1, "a", "b")); !ok || err != nil {
		t.Fatalf("write = %v, %v", ok, err)
	}
	if ok, err := db.AddTestOutcomes(ctx, j1.ID, "k1", outcomes(j1, "a", "b")); ok || err != nil {
		t.Fatalf("write again = %v, %v; want nothing written", ok, err)
	}
	diff(t, "pending after the write", pending(t0.Add(time.Hour)), []string{j2.ID})
	if n := rows(j1); n != 2 {
		t.Fatalf("j1's rows = %d, want 2", n)
	}

	// A second publish of j1, never written: the sweep replaces j1's rows
	// with those of its (merged) report; a sweep of the replaced report
	// is refused.
	put(j1, "k1b", t0.Add(2*time.Minute))
	if err := db.ReplaceTestOutcomes(ctx, j1.ID, "k1", outcomes(j1, "a")); !errors.Is(err, ErrConflict) {
		t.Fatalf("sweep of a replaced report: %v, want ErrConflict", err)
	}
	if err := db.ReplaceTestOutcomes(ctx, j1.ID, "k1b", outcomes(j1, "a", "b", "c")); err != nil {
		t.Fatal(err)
	}
	if n := rows(j1); n != 3 {
		t.Fatalf("j1's rows after the sweep = %d, want 3", n)
	}
	if ok, err := db.AddTestOutcomes(ctx, j1.ID, "k1b", outcomes(j1, "c")); ok || err != nil {
		t.Fatalf("a late write after the sweep = %v, %v; want nothing written", ok, err)
	}

	// The writer and a sweep at once: one of them writes.
	for range 5 {
		write(t, db, func(tx *Tx) error {
			_, err := tx.exec(`DELETE FROM test_outcomes WHERE job_id = $1`, j2.ID)
			return err
		})
		put(j2, "k2", t0)
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := db.AddTestOutcomes(ctx, j2.ID, "k2", outcomes(j2, "x", "y")); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if err := db.ReplaceTestOutcomes(ctx, j2.ID, "k2", outcomes(j2, "x", "y")); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		if n := rows(j2); n != 2 {
			t.Fatalf("j2's rows after the writer and the sweep at once = %d, want 2", n)
		}
	}
	diff(t, "pending after the writers", pending(t0.Add(time.Hour)), []string(nil))

	// A lost report's record is dropped, but not a newer report's.
	put(j1, "k1c", t0)
	if err := db.DropPendingTestOutcomes(ctx, j1.ID, "k1b"); err != nil {
		t.Fatal(err)
	}
	diff(t, "pending after dropping a replaced report's", pending(t0.Add(time.Hour)), []string{j1.ID})
	if err := db.DropPendingTestOutcomes(ctx, j1.ID, "k1c"); err != nil {
		t.Fatal(err)
	}
	diff(t, "pending at the end", pending(t0.Add(time.Hour)), []string(nil))
	if n := rows(j1); n != 3 {
		t.Fatalf("j1's rows after the drop = %d, want 3 (untouched)", n)
	}
}
