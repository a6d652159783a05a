// Package coveragereports keeps the code coverage that jobs publish
// (`coverage publish`, parsed into internal/coverage's report on the
// job's side): each job's report is an object in the blob store, merged
// with what the job published before, with its totals in the database.
// Objects are under coverage/<project>/, so a deleted project's go with
// it. When a pipeline ends its jobs' reports are merged into the
// pipeline's coverage: by file and block, so that a file two jobs
// measured counts once and a line either covered is covered.
package coveragereports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/coverage"
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/jobreport"
	"github.com/batonci/baton/internal/store"
)

// Config configures a Service.
type Config struct {
	Store  *store.DB
	Blobs  blob.Store
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
}

// Service stores and merges coverage reports.
type Service struct {
	cfg  Config
	jobs jobreport.Locks
	// pending are the pipelines that ended and whose coverage is to be
	// merged.
	pending *jobreport.Pending
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, pending: jobreport.NewPending()}
}

// PutJob merges report into job's coverage (the job must exist) and
// stores it. It returns the job's whole coverage's totals.
func (s *Service) PutJob(ctx context.Context, job *ci.Job, report coverage.Report) (coverage.Totals, error) {
	unlock := s.jobs.Lock(job.ID)
	defer unlock()
	merged := coverage.Merge(report)
	old, err := s.cfg.Store.JobCoverage(ctx, job.ID)
	switch {
	case err == nil:
		prev, err := s.read(ctx, old.BlobKey)
		if err != nil {
			return coverage.Totals{}, fmt.Errorf("read the job's earlier coverage: %w", err)
		}
		merged = coverage.Merge(prev, report)
	case !errors.Is(err, store.ErrNotFound):
		return coverage.Totals{}, err
	}
	key := "coverage/" + job.ProjectID + "/jobs/" + job.ID + "/" + ids.New() + ".json.gz"
	if err := s.write(ctx, key, merged); err != nil {
		return coverage.Totals{}, err
	}
	tot := merged.Totals()
	oldKey, err := s.cfg.Store.PutJobCoverage(ctx, store.CoverageReport{
		JobID: job.ID, PipelineID: job.PipelineID, ProjectID: job.ProjectID, Format: string(merged.Format), BlobKey: key,
		Files: len(merged.Files), Lines: tot.Lines, Covered: tot.Covered, UpdatedAt: s.cfg.Now(),
	})
	if err != nil {
		s.cfg.Blobs.Delete(context.WithoutCancel(ctx), key)
		return coverage.Totals{}, err
	}
	if oldKey != "" {
		if err := s.cfg.Blobs.Delete(context.WithoutCancel(ctx), oldKey); err != nil {
			s.cfg.Logger.Warn("delete a replaced coverage report", "key", oldKey, "err", err)
		}
	}
	return tot, nil
}

// write stores r as gzipped JSON under key.
func (s *Service) write(ctx context.Context, key string, r coverage.Report) error {
	if _, err := jobreport.Write(ctx, s.cfg.Blobs, key, r); err != nil {
		return fmt.Errorf("store the coverage report: %w", err)
	}
	return nil
}

func (s *Service) read(ctx context.Context, key string) (coverage.Report, error) {
	var r coverage.Report
	err := jobreport.Read(ctx, s.cfg.Blobs, key, &r)
	return r, err
}

// JobReport returns a job's whole report; store.ErrNotFound if it
// published none.
func (s *Service) JobReport(ctx context.Context, jobID string) (coverage.Report, error) {
	rec, err := s.cfg.Store.JobCoverage(ctx, jobID)
	if err != nil {
		return coverage.Report{}, err
	}
	return s.read(ctx, rec.BlobKey)
}

// Pipeline is a pipeline's coverage and its jobs'.
type Pipeline struct {
	Format coverage.Format
	Files  int
	coverage.Totals
	Jobs []store.CoverageReport
	// Final is whether it is the merge made when the pipeline ended
	// (else the pipeline runs and it is its jobs' reports so far).
	Final bool
}

// PipelineCoverage returns a pipeline's coverage: the merge made when it
// ended, else (while it runs) its jobs' reports merged now.
// store.ErrNotFound when no job of it published coverage.
func (s *Service) PipelineCoverage(ctx context.Context, pipelineID string) (Pipeline, error) {
	jobs, err := s.cfg.Store.PipelineJobCoverage(ctx, pipelineID)
	if err != nil {
		return Pipeline{}, err
	}
	if len(jobs) == 0 {
		return Pipeline{}, fmt.Errorf("pipeline %s: no coverage: %w", pipelineID, store.ErrNotFound)
	}
	p, err := s.cfg.Store.GetPipeline(ctx, pipelineID)
	if err != nil {
		return Pipeline{}, err
	}
	rec, err := s.cfg.Store.PipelineCoverage(ctx, pipelineID)
	if err == nil && p.State == ci.StateDone {
		return Pipeline{Format: coverage.Format(rec.Format), Files: rec.Files, Totals: coverage.Totals{Lines: rec.Lines, Covered: rec.Covered}, Jobs: jobs, Final: true}, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Pipeline{}, err
	}
	merged, err := s.merge(ctx, jobs)
	if err != nil {
		return Pipeline{}, err
	}
	v := Pipeline{Format: merged.Format, Files: len(merged.Files), Totals: merged.Totals(), Jobs: jobs}
	if p.State == ci.StateDone && rec.PipelineID == "" {
		// It ended and Run has not merged it yet: this merge is the
		// one, stored now so that the trend has it from now on.
		if err := s.put(ctx, p, merged); err != nil {
			return Pipeline{}, err
		}
		v.Final = true
	}
	return v, nil
}

func (s *Service) merge(ctx context.Context, jobs []store.CoverageReport) (coverage.Report, error) {
	all := make([]coverage.Report, 0, len(jobs))
	for _, j := range jobs {
		r, err := s.read(ctx, j.BlobKey)
		if err != nil {
			return coverage.Report{}, fmt.Errorf("read the coverage of job %s: %w", j.JobID, err)
		}
		all = append(all, r)
	}
	return coverage.Merge(all...), nil
}

// MergePipeline merges the reports of a pipeline's jobs into the
// pipeline's coverage and stores it (again, if it was made before). It
// returns store.ErrNotFound when no job published coverage.
func (s *Service) MergePipeline(ctx context.Context, pipelineID string) (coverage.Totals, error) {
	p, err := s.cfg.Store.GetPipeline(ctx, pipelineID)
	if err != nil {
		return coverage.Totals{}, err
	}
	jobs, err := s.cfg.Store.PipelineJobCoverage(ctx, pipelineID)
	if err != nil {
		return coverage.Totals{}, err
	}
	if len(jobs) == 0 {
		return coverage.Totals{}, fmt.Errorf("pipeline %s: no coverage: %w", pipelineID, store.ErrNotFound)
	}
	merged, err := s.merge(ctx, jobs)
	if err != nil {
		return coverage.Totals{}, err
	}
	return merged.Totals(), s.put(ctx, p, merged)
}

// put stores merged as p's coverage.
func (s *Service) put(ctx context.Context, p *ci.Pipeline, merged coverage.Report) error {
	wf, err := s.cfg.Store.GetWorkflow(ctx, p.WorkflowID)
	if err != nil {
		return err
	}
	branch := ""
	if wf.RefType == "branch" {
		branch = wf.Branch
	}
	tot := merged.Totals()
	return s.cfg.Store.PutPipelineCoverage(ctx, store.PipelineCoverage{
		PipelineID: p.ID, ProjectID: p.ProjectID, WorkflowID: wf.ID, Branch: branch, SHA: wf.SHA, Format: string(merged.Format),
		Files: len(merged.Files), Lines: tot.Lines, Covered: tot.Covered, CreatedAt: p.CreatedAt, UpdatedAt: s.cfg.Now(),
	})
}

// PipelineChanged queues the merge of a pipeline that ended (an
// engine.Observer).
func (s *Service) PipelineChanged(_ context.Context, p *ci.Pipeline, _ *ci.Workflow, _ *ci.Project) {
	s.pending.Add(p)
}

// Run merges the coverage of the pipelines that end until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	s.pending.Run(ctx, func(ctx context.Context, id string) {
		if _, err := s.MergePipeline(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			s.cfg.Logger.Warn("merge the pipeline's coverage", "pipeline", id, "err", err)
		}
	})
	return nil
}
