// Package testresults keeps the test reports that jobs publish
// (`test-results publish`, parsed into internal/testreport's JSON on the
// job's side): each job's report is an object in the blob store, merged
// with what the job published before, with its counts and every test's
// outcome in the database (for flaky tests and history). Objects are
// under test-results/<project>/, so a deleted project's go with it. When a pipeline
// ends, its jobs' reports are merged into the pipeline's report.
package testresults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/jobreport"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testreport"
)

// Config configures a Service.
type Config struct {
	Store  *store.DB
	Blobs  blob.Store
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
}

// Service stores and merges reports.
type Service struct {
	cfg  Config
	jobs jobreport.Locks
	// pending are the pipelines that ended and whose report is to be made.
	pending *jobreport.Pending

	// The outcomes of published tests are written after the report, by
	// Run (writeOutcomes), so that a job does not wait for thousands of
	// rows; readers of outcomes call Flush first.
	omu      sync.Mutex
	running  bool // writeOutcomes takes outcomes; else PutJob writes them
	queue    [][]store.TestOutcome
	queued   uint64        // batches queued since the start
	written  uint64        // of which written (or given up)
	progress chan struct{} // closed when written grows
	owake    chan struct{}
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, pending: jobreport.NewPending(), progress: make(chan struct{}), owake: make(chan struct{}, 1)}
}

// PutJob merges report into the report of job (which must exist), stores
// it and records the outcomes of report's tests. It returns the job's
// whole report's summary.
func (s *Service) PutJob(ctx context.Context, job *ci.Job, report testreport.Result) (testreport.Summary, error) {
	p, err := s.cfg.Store.GetPipeline(ctx, job.PipelineID)
	if err != nil {
		return testreport.Summary{}, err
	}
	wf, err := s.cfg.Store.GetWorkflow(ctx, p.WorkflowID)
	if err != nil {
		return testreport.Summary{}, err
	}
	unlock := s.jobs.Lock(job.ID)
	defer unlock()

	merged := report
	if old, err := s.cfg.Store.JobTestReport(ctx, job.ID); err == nil {
		prev, err := s.read(ctx, old.BlobKey)
		if err != nil {
			return testreport.Summary{}, fmt.Errorf("read the job's earlier report: %w", err)
		}
		merged = testreport.Merge(prev, report)
	} else if !errors.Is(err, store.ErrNotFound) {
		return testreport.Summary{}, err
	} else {
		merged = testreport.Merge(report)
	}
	now := s.cfg.Now()
	key := "test-results/" + job.ProjectID + "/jobs/" + job.ID + "/" + ids.New() + ".json.gz"
	size, err := s.write(ctx, key, merged)
	if err != nil {
		return testreport.Summary{}, err
	}
	sum := merged.Summary()
	branch := ""
	if wf.RefType == "branch" {
		branch = wf.Branch
	}
	var outcomes []store.TestOutcome
	for _, tr := range report.TestResults {
		for _, su := range tr.Suites {
			for _, t := range su.Tests {
				outcomes = append(outcomes, store.TestOutcome{
					ProjectID: job.ProjectID, TestID: t.ID, JobID: job.ID, PipelineID: p.ID, WorkflowID: wf.ID,
					SHA: wf.SHA, Branch: branch, Report: tr.Name, Suite: su.Name, Classname: t.Classname, Name: t.Name,
					State: string(t.State), Duration: t.Duration, At: now,
				})
			}
		}
	}
	digest, err := json.Marshal(merged.Digest())
	if err != nil {
		return testreport.Summary{}, err
	}
	old, err := s.cfg.Store.PutJobTestReport(ctx, store.TestReport{
		JobID: job.ID, PipelineID: p.ID, ProjectID: job.ProjectID, BlobKey: key, Size: size, Counts: counts(sum), UpdatedAt: now, Digest: digest,
	}, nil)
	if err != nil {
		s.cfg.Blobs.Delete(context.WithoutCancel(ctx), key)
		return testreport.Summary{}, err
	}
	if err := s.addOutcomes(ctx, outcomes); err != nil {
		s.cfg.Logger.Warn("record the outcomes of a job's tests", "job", job.ID, "err", err)
	}
	if old != "" {
		if err := s.cfg.Blobs.Delete(context.WithoutCancel(ctx), old); err != nil {
			s.cfg.Logger.Warn("delete a replaced test report", "key", old, "err", err)
		}
	}
	return sum, nil
}

func counts(s testreport.Summary) store.TestCounts {
	return store.TestCounts{Total: s.Total, Passed: s.Passed, Failed: s.Failed, Error: s.Error, Skipped: s.Skipped, Disabled: s.Disabled, Duration: s.Duration}
}

// write stores r as gzipped JSON under key and returns the object's size.
func (s *Service) write(ctx context.Context, key string, r testreport.Result) (int64, error) {
	size, err := jobreport.Write(ctx, s.cfg.Blobs, key, r)
	if err != nil {
		return 0, fmt.Errorf("store the test report: %w", err)
	}
	return size, nil
}

// copyReport copies the stored report from to the key to and returns
// its size.
func (s *Service) copyReport(ctx context.Context, from, to string) (int64, error) {
	rc, err := s.Open(ctx, from)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return 0, err
	}
	info, err := s.cfg.Blobs.PutSized(ctx, to, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return 0, fmt.Errorf("store the test report: %w", err)
	}
	return info.Size, nil
}

// Open opens a stored report's gzipped JSON.
func (s *Service) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	return s.cfg.Blobs.Get(ctx, key, blob.Range{})
}

func (s *Service) read(ctx context.Context, key string) (testreport.Result, error) {
	var r testreport.Result
	err := jobreport.Read(ctx, s.cfg.Blobs, key, &r)
	return r, err
}

// Digests returns the digests of the jobs' reports recs, by job ID. A
// report stored before digests existed has its digest made from the
// report now, and stored.
func (s *Service) Digests(ctx context.Context, recs []store.TestReport) (map[string]testreport.Digest, error) {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.JobID
	}
	raw, err := s.cfg.Store.JobTestDigests(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]testreport.Digest, len(recs))
	for _, rec := range recs {
		var d testreport.Digest
		if data, ok := raw[rec.JobID]; ok {
			if err := json.Unmarshal(data, &d); err != nil {
				return nil, fmt.Errorf("read the digest of job %s's test report: %w", rec.JobID, err)
			}
			out[rec.JobID] = d
			continue
		}
		r, err := s.read(ctx, rec.BlobKey)
		if err != nil {
			return nil, fmt.Errorf("read the test report of job %s: %w", rec.JobID, err)
		}
		d = r.Digest()
		out[rec.JobID] = d
		if data, err := json.Marshal(d); err == nil {
			if err := s.cfg.Store.AddJobTestDigest(ctx, rec.JobID, data); err != nil && !errors.Is(err, store.ErrNotFound) {
				s.cfg.Logger.Warn("store a test report's digest", "job", rec.JobID, "err", err)
			}
		}
	}
	return out, nil
}

// JobReport returns a job's report; store.ErrNotFound if it published
// none.
func (s *Service) JobReport(ctx context.Context, jobID string) (testreport.Result, error) {
	rec, err := s.cfg.Store.JobTestReport(ctx, jobID)
	if err != nil {
		return testreport.Result{}, err
	}
	return s.read(ctx, rec.BlobKey)
}

// PipelineReport returns a pipeline's report: the merged one made when
// it ended, else (while it runs) its jobs' reports merged now.
// store.ErrNotFound when no job of it published a report.
func (s *Service) PipelineReport(ctx context.Context, pipelineID string) (testreport.Result, error) {
	rec, err := s.cfg.Store.PipelineTestReport(ctx, pipelineID)
	if err == nil {
		return s.read(ctx, rec.BlobKey)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return testreport.Result{}, err
	}
	return s.mergeJobs(ctx, pipelineID)
}

func (s *Service) mergeJobs(ctx context.Context, pipelineID string) (testreport.Result, error) {
	recs, err := s.cfg.Store.PipelineJobTestReports(ctx, pipelineID)
	if err != nil {
		return testreport.Result{}, err
	}
	if len(recs) == 0 {
		return testreport.Result{}, fmt.Errorf("pipeline %s: no test report: %w", pipelineID, store.ErrNotFound)
	}
	var all []testreport.Result
	for _, rec := range recs {
		r, err := s.read(ctx, rec.BlobKey)
		if err != nil {
			return testreport.Result{}, fmt.Errorf("read the report of job %s: %w", rec.JobID, err)
		}
		all = append(all, r)
	}
	return testreport.Merge(all...), nil
}

// MergePipeline merges the reports of a pipeline's jobs into the
// pipeline's report and stores it (again, if it was made before). It
// returns store.ErrNotFound when no job published a report.
func (s *Service) MergePipeline(ctx context.Context, pipelineID string) (testreport.Summary, error) {
	p, err := s.cfg.Store.GetPipeline(ctx, pipelineID)
	if err != nil {
		return testreport.Summary{}, err
	}
	key := "test-results/" + p.ProjectID + "/pipelines/" + p.ID + "/" + ids.New() + ".json.gz"
	var size int64
	var sum testreport.Summary
	recs, err := s.cfg.Store.PipelineJobTestReports(ctx, pipelineID)
	if err != nil {
		return testreport.Summary{}, err
	}
	if len(recs) == 1 {
		// One job's report, stored merged, is the pipeline's as it is:
		// copied, not decoded and encoded again.
		if size, err = s.copyReport(ctx, recs[0].BlobKey, key); err != nil {
			return testreport.Summary{}, err
		}
		c := recs[0].Counts
		sum = testreport.Summary{Total: c.Total, Passed: c.Passed, Failed: c.Failed, Error: c.Error, Skipped: c.Skipped, Disabled: c.Disabled, Duration: c.Duration}
	} else {
		merged, err := s.mergeJobs(ctx, pipelineID)
		if err != nil {
			return testreport.Summary{}, err
		}
		if size, err = s.write(ctx, key, merged); err != nil {
			return testreport.Summary{}, err
		}
		sum = merged.Summary()
	}
	old, err := s.cfg.Store.PutPipelineTestReport(ctx, store.TestReport{PipelineID: p.ID, ProjectID: p.ProjectID, BlobKey: key, Size: size, Counts: counts(sum), UpdatedAt: s.cfg.Now()})
	if err != nil {
		s.cfg.Blobs.Delete(context.WithoutCancel(ctx), key)
		return testreport.Summary{}, err
	}
	if old != "" {
		s.cfg.Blobs.Delete(context.WithoutCancel(ctx), old)
	}
	return sum, nil
}

// PipelineChanged queues the merge of a pipeline that ended (an
// engine.Observer).
func (s *Service) PipelineChanged(_ context.Context, p *ci.Pipeline, _ *ci.Workflow, _ *ci.Project) {
	s.pending.Add(p)
}

// addOutcomes queues outcomes for writeOutcomes, or writes them now when
// it does not run (before Run, or once it stopped).
func (s *Service) addOutcomes(ctx context.Context, outcomes []store.TestOutcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	s.omu.Lock()
	if !s.running {
		s.omu.Unlock()
		return s.cfg.Store.AddTestOutcomes(ctx, outcomes)
	}
	s.queue = append(s.queue, outcomes)
	s.queued++
	s.omu.Unlock()
	select {
	case s.owake <- struct{}{}:
	default:
	}
	return nil
}

// writeOutcomes writes the queued outcomes until ctx ends, then the last
// ones queued, after which PutJob writes them itself: none is lost when
// the server stops.
func (s *Service) writeOutcomes(ctx context.Context) {
	for {
		s.omu.Lock()
		batch := s.queue
		s.queue = nil
		stopping := ctx.Err() != nil
		if stopping {
			s.running = false
		}
		s.omu.Unlock()
		for _, outcomes := range batch {
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			err := s.cfg.Store.AddTestOutcomes(wctx, outcomes)
			for try := 1; err != nil && try < 3 && wctx.Err() == nil; try++ {
				select {
				case <-wctx.Done():
				case <-time.After(time.Duration(try) * time.Second):
				}
				err = s.cfg.Store.AddTestOutcomes(wctx, outcomes)
			}
			cancel()
			if err != nil {
				s.cfg.Logger.Error("record the outcomes of a job's tests", "job", outcomes[0].JobID, "tests", len(outcomes), "err", err)
			}
			s.omu.Lock()
			s.written++
			close(s.progress)
			s.progress = make(chan struct{})
			s.omu.Unlock()
		}
		if stopping {
			return
		}
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
			case <-s.owake:
			}
		}
	}
}

// Flush waits until the outcomes queued before it are written (or ctx
// ends), so that a reader of outcomes sees every report stored before.
func (s *Service) Flush(ctx context.Context) error {
	s.omu.Lock()
	target := s.queued
	s.omu.Unlock()
	for {
		s.omu.Lock()
		written, progress := s.written, s.progress
		s.omu.Unlock()
		if written >= target {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-progress:
		}
	}
}

// Run merges the reports of the pipelines that end, and writes the
// outcomes of published tests, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	s.omu.Lock()
	s.running = true
	s.omu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.writeOutcomes(ctx)
	}()
	defer func() { <-done }()
	s.pending.Run(ctx, func(ctx context.Context, id string) {
		if _, err := s.MergePipeline(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			s.cfg.Logger.Warn("merge the pipeline's test reports", "pipeline", id, "err", err)
		}
	})
	return nil
}
