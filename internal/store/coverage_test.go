package store

import (
	"errors"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
)

func testCoverage(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	s := newSeed(t, db, "p")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	j1, j2 := s.job("unit", "m", 0, t0), s.job("e2e", "m", 0, t0)
	write(t, db, func(tx *Tx) error { return errors.Join(tx.CreateJob(j1), tx.CreateJob(j2)) })

	if _, err := db.JobCoverage(ctx, j1.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no coverage yet: %v", err)
	}
	r1 := CoverageReport{JobID: j1.ID, PipelineID: s.pipeline.ID, ProjectID: s.project.ID, Format: "go", BlobKey: "k1",
		Files: 3, Lines: 100, Covered: 80, UpdatedAt: t0}
	if old, err := db.PutJobCoverage(ctx, r1); err != nil || old != "" {
		t.Fatalf("put = %q, %v", old, err)
	}
	got, err := db.JobCoverage(ctx, j1.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := r1
	want.JobName = "unit"
	diff(t, "job coverage", got, want)
	// Published again: replaced, and the old blob is named.
	r1.BlobKey, r1.Covered = "k1b", 90
	if old, err := db.PutJobCoverage(ctx, r1); err != nil || old != "k1" {
		t.Fatalf("replace = %q, %v; want old k1", old, err)
	}
	r2 := CoverageReport{JobID: j2.ID, PipelineID: s.pipeline.ID, ProjectID: s.project.ID, Format: "lcov", BlobKey: "k2", Lines: 10, Covered: 1, UpdatedAt: t0}
	if _, err := db.PutJobCoverage(ctx, r2); err != nil {
		t.Fatal(err)
	}
	rs, err := db.PipelineJobCoverage(ctx, s.pipeline.ID)
	if err != nil || len(rs) != 2 || rs[0].JobName != "e2e" || rs[1].Covered != 90 {
		t.Fatalf("pipeline's jobs' coverage = %+v, %v", rs, err)
	}
	if _, err := db.PutJobCoverage(ctx, CoverageReport{JobID: "nope", PipelineID: s.pipeline.ID, ProjectID: s.project.ID, UpdatedAt: t0}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("coverage of a missing job: %v, want ErrNotFound", err)
	}

	// Pipelines' coverage and the branch's trend.
	if _, err := db.PipelineCoverage(ctx, s.pipeline.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no pipeline coverage yet: %v", err)
	}
	pipelines := []*ci.Pipeline{s.pipeline}
	write(t, db, func(tx *Tx) error {
		for range 3 {
			p := &ci.Pipeline{WorkflowID: s.workflow.ID, ProjectID: s.project.ID, Name: "p", State: ci.StateDone}
			if err := tx.CreatePipeline(p); err != nil {
				return err
			}
			pipelines = append(pipelines, p)
		}
		return nil
	})
	for i, p := range pipelines {
		branch := "main"
		if i == 2 {
			branch = "" // a pull request's
		}
		c := PipelineCoverage{PipelineID: p.ID, ProjectID: s.project.ID, WorkflowID: s.workflow.ID, Branch: branch, SHA: "abc",
			Format: "go", Files: 2, Lines: 100, Covered: int64(50 + i), CreatedAt: t0.Add(time.Duration(i) * time.Hour), UpdatedAt: t0}
		if err := db.PutPipelineCoverage(ctx, c); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			c.Covered = 40 // made again when a rerun job publishes
			if err := db.PutPipelineCoverage(ctx, c); err != nil {
				t.Fatal(err)
			}
			got, err := db.PipelineCoverage(ctx, p.ID)
			diff(t, "pipeline coverage", got, c)
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	trend, err := db.CoverageTrend(ctx, s.project.ID, "main", time.Time{}, 10)
	if err != nil || len(trend) != 3 || trend[0].PipelineID != pipelines[3].ID || trend[1].PipelineID != pipelines[1].ID || trend[2].Covered != 40 {
		t.Fatalf("trend = %+v, %v", trend, err)
	}
	trend, err = db.CoverageTrend(ctx, s.project.ID, "main", t0.Add(3*time.Hour), 1)
	if err != nil || len(trend) != 1 || trend[0].PipelineID != pipelines[1].ID {
		t.Fatalf("trend before the last = %+v, %v", trend, err)
	}
	if trend, _ := db.CoverageTrend(ctx, newSeed(t, db, "other").project.ID, "main", time.Time{}, 10); len(trend) != 0 {
		t.Fatalf("another project's trend = %+v", trend)
	}
}
