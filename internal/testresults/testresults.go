// Package testresults keeps the test reports that jobs publish
// (`test-results publish`, parsed into internal/testreport's JSON on the
// job's side): each job's report is an object in the blob store, merged
// with what the job published before, with its counts and every test's
// outcome in the database (for flaky tests and history). Objects are
// under test-results/<project>/, so a deleted project's go with it. When a pipeline
// ends, its jobs' reports are merged into the pipeline's report.
//
// A job's publish is answered once its report, counts and digest are
// stored, with a record that its tests' outcomes are pending; the
// outcomes are written right after, ending that record. A record left
// behind (the server stopped in between, or the writes failed) is found
// by the sweep, which derives the job's outcomes from its stored report.
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
	// SweepAfter is how long outcomes stay pending before Run's periodic
	// sweep writes them from the stored report (0: 5 minutes); it sweeps
	// every SweepAfter/5, and once at its start whatever is pending.
	SweepAfter time.Duration
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
	queue    []pendingOutcomes
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
	if cfg.SweepAfter <= 0 {
		cfg.SweepAfter = 5 * time.Minute
	}
	return &Service{cfg: cfg, pending: jobreport.NewPending(), progress: make(chan struct{}), owake: make(chan struct{}, 1)}
}

// PutJob merges report into the report of job (which must exist), stores
// it and records the outcomes of report's tests. It returns the job's
// whole report's summary. A job's first report, received as it would be
// stored (report.Gzip), is stored as it came.
func (s *Service) PutJob(ctx context.Context, job *ci.Job, report testreport.Received) (testreport.Summary, error) {
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

	merged, asReceived := report.Result, report.Gzip
	if old, err := s.cfg.Store.JobTestReport(ctx, job.ID); err == nil {
		prev, err := s.read(ctx, old.BlobKey)
		if err != nil {
			return testreport.Summary{}, fmt.Errorf("read the job's earlier report: %w", err)
		}
		merged, asReceived = testreport.Merge(prev, report.Result), nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return testreport.Summary{}, err
	} else if asReceived == nil {
		merged = testreport.Merge(report.Result)
	}
	now := s.cfg.Now()
	key := "test-results/" + job.ProjectID + "/jobs/" + job.ID + "/" + ids.New() + ".json.gz"
	var size int64
	if asReceived != nil {
		size, err = s.put(ctx, key, asReceived)
	} else {
		size, err = s.write(ctx, key, merged)
	}
	if err != nil {
		return testreport.Summary{}, err
	}
	sum := merged.Summary()
	digest, err := json.Marshal(merged.Digest())
	if err != nil {
		return testreport.Summary{}, err
	}
	old, err := s.cfg.Store.PutJobTestReport(ctx, store.TestReport{
		JobID: job.ID, PipelineID: p.ID, ProjectID: job.ProjectID, BlobKey: key, Size: size, Counts: counts(sum), UpdatedAt: now, Digest: digest,
		OutcomesPending: true,
	}, nil)
	if err != nil {
		s.cfg.Blobs.Delete(context.WithoutCancel(ctx), key)
		return testreport.Summary{}, err
	}
	if err := s.addOutcomes(ctx, pendingOutcomes{job: job.ID, key: key, outcomes: outcomes(report.Result, job, p, wf, now)}); err != nil {
		s.cfg.Logger.Warn("record the outcomes of a job's tests (the sweep will)", "job", job.ID, "err", err)
	}
	if old != "" {
		if err := s.cfg.Blobs.Delete(context.WithoutCancel(ctx), old); err != nil {
			s.cfg.Logger.Warn("delete a replaced test report", "key", old, "err", err)
		}
	}
	return sum, nil
}

// outcomes lists the outcomes of r's tests, published by job at the
// time at.
func outcomes(r testreport.Result, job *ci.Job, p *ci.Pipeline, wf *ci.Workflow, at time.Time) []store.TestOutcome {
	branch := ""
	if wf.RefType == "branch" {
		branch = wf.Branch
	}
	var out []store.TestOutcome
	for _, tr := range r.TestResults {
		for _, su := range tr.Suites {
			for _, t := range su.Tests {
				out = append(out, store.TestOutcome{
					ProjectID: job.ProjectID, TestID: t.ID, JobID: job.ID, PipelineID: p.ID, WorkflowID: wf.ID,
					SHA: wf.SHA, Branch: branch, Report: tr.Name, Suite: su.Name, Classname: t.Classname, Name: t.Name,
					State: string(t.State), Duration: t.Duration, At: at,
				})
			}
		}
	}
	return out
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

// put stores a report's gzipped JSON under key and returns the object's
// size.
func (s *Service) put(ctx context.Context, key string, gzipped []byte) (int64, error) {
	info, err := s.cfg.Blobs.PutSized(ctx, key, bytes.NewReader(gzipped), int64(len(gzipped)))
	if err != nil {
		return 0, fmt.Errorf("store the test report: %w", err)
	}
	return info.Size, nil
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
	return s.put(ctx, to, data)
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

// pendingOutcomes are the outcomes of the tests a job published with
// its report key, to be written.
type pendingOutcomes struct {
	job, key string
	outcomes []store.TestOutcome
}

// addOutcomes queues outcomes for writeOutcomes, or writes them now when
// it does not run (before Run, or once it stopped).
func (s *Service) addOutcomes(ctx context.Context, o pendingOutcomes) error {
	s.omu.Lock()
	if !s.running {
		s.omu.Unlock()
		_, err := s.cfg.Store.AddTestOutcomes(ctx, o.job, o.key, o.outcomes)
		return err
	}
	s.queue = append(s.queue, o)
	s.queued++
	s.omu.Unlock()
	select {
	case s.owake <- struct{}{}:
	default:
	}
	return nil
}

// writeOutcomes writes the queued outcomes until ctx ends, then the last
// ones queued, after which PutJob writes them itself. Those it cannot
// write stay pending, for the sweep.
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
		for _, o := range batch {
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			_, err := s.cfg.Store.AddTestOutcomes(wctx, o.job, o.key, o.outcomes)
			for try := 1; err != nil && try < 3 && wctx.Err() == nil; try++ {
				select {
				case <-wctx.Done():
				case <-time.After(time.Duration(try) * time.Second):
				}
				_, err = s.cfg.Store.AddTestOutcomes(wctx, o.job, o.key, o.outcomes)
			}
			cancel()
			if err != nil {
				s.cfg.Logger.Error("record the outcomes of a job's tests (the sweep will)", "job", o.job, "tests", len(o.outcomes), "err", err)
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

// SweepOutcomes writes the outcomes of the jobs whose outcomes have been
// pending since before the time given, each derived from the job's
// stored report (all its tests, as merged) in place of the outcomes the
// job has. It is safe on several servers at once: of two writing one
// job's outcomes, one writes and the other finds nothing pending. It
// returns how many jobs' outcomes it wrote.
func (s *Service) SweepOutcomes(ctx context.Context, before time.Time) (int, error) {
	const page = 100
	written := 0
	var failed error
	for {
		jobs, err := s.cfg.Store.PendingTestOutcomes(ctx, before, page)
		if err != nil {
			return written, err
		}
		progress := false
		for _, id := range jobs {
			err := s.sweepJob(ctx, id)
			if err != nil {
				s.cfg.Logger.Warn("write the pending outcomes of a job's tests", "job", id, "err", err)
				failed = errors.Join(failed, fmt.Errorf("job %s: %w", id, err))
				continue
			}
			written++
			progress = true
		}
		if len(jobs) < page || !progress {
			return written, failed
		}
	}
}

// sweepJob writes a job's outcomes from its stored report.
func (s *Service) sweepJob(ctx context.Context, jobID string) error {
	rec, err := s.cfg.Store.JobTestReport(ctx, jobID)
	if err != nil {
		return err
	}
	job, err := s.cfg.Store.GetJob(ctx, jobID)
	if err != nil {
		return err
	}
	p, err := s.cfg.Store.GetPipeline(ctx, rec.PipelineID)
	if err != nil {
		return err
	}
	wf, err := s.cfg.Store.GetWorkflow(ctx, p.WorkflowID)
	if err != nil {
		return err
	}
	r, err := s.read(ctx, rec.BlobKey)
	if errors.Is(err, blob.ErrNotFound) {
		// Lost (or replaced a moment ago, which DropPending checks):
		// there is nothing to derive outcomes from, now or later.
		s.cfg.Logger.Warn("a job's test report is lost: its outcomes are not recorded", "job", jobID, "key", rec.BlobKey)
		return s.cfg.Store.DropPendingTestOutcomes(ctx, jobID, rec.BlobKey)
	}
	if err != nil {
		return fmt.Errorf("read the job's report: %w", err)
	}
	return s.cfg.Store.ReplaceTestOutcomes(ctx, jobID, rec.BlobKey, outcomes(r, job, p, wf, rec.UpdatedAt))
}

// sweep runs SweepOutcomes at the start, for whatever is pending, then
// every SweepAfter/5 for what has been pending for SweepAfter, until ctx
// ends.
func (s *Service) sweep(ctx context.Context) {
	before := s.cfg.Now()
	tick := time.NewTicker(s.cfg.SweepAfter / 5)
	defer tick.Stop()
	for {
		if n, err := s.SweepOutcomes(ctx, before); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("sweep the pending outcomes of tests", "err", err)
		} else if n > 0 {
			s.cfg.Logger.Info("wrote the pending outcomes of jobs' tests from their reports", "jobs", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		before = s.cfg.Now().Add(-s.cfg.SweepAfter)
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

// Run merges the reports of the pipelines that end, writes the outcomes
// of published tests and sweeps those left pending, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	s.omu.Lock()
	s.running = true
	s.omu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { s.writeOutcomes(ctx) })
	wg.Go(func() { s.sweep(ctx) })
	defer wg.Wait()
	s.pending.Run(ctx, func(ctx context.Context, id string) {
		if _, err := s.MergePipeline(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			s.cfg.Logger.Warn("merge the pipeline's test reports", "pipeline", id, "err", err)
		}
	})
	return nil
}
