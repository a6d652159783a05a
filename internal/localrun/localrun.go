// Package localrun executes a compiled job graph on this machine: blocks
// start when their dependencies have passed, jobs run in parallel up to a
// limit, and fail_fast, time limits and stops behave as Semaphore's
// pipeline engine does (docs/semaphore.md §1.4, §1.10, §7.2). How a single job runs is
// delegated to a JobRunner; how a plan.Job becomes a runner.Job (workspace,
// environment, secrets) to a Prepare callback.
package localrun

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/plan"
	"github.com/batonci/baton/internal/runner"
)

// JobRunner runs one job; *runner.Runner implements it.
type JobRunner interface {
	Run(ctx context.Context, job runner.Job, emit func(ci.Event)) (ci.Result, ci.Reason)
}

// Spec is one job about to run.
type Spec struct {
	Block *plan.Block
	Job   *plan.Job
	// Number is the job's position in the whole run, from 1.
	Number int
	// Extra holds variables only this kind of job gets (after_pipeline's
	// SEMAPHORE_PIPELINE_* variables).
	Extra []plan.EnvVar
}

// Options configure a run.
type Options struct {
	Runner JobRunner
	// Parallel caps the jobs running at once; < 1 means 1.
	Parallel int
	// Prepare turns a planned job into a runnable one. The returned
	// cleanup runs once the job is done. An error fails the job with the
	// error as its output, as a missing secret does on Semaphore.
	Prepare func(ctx context.Context, s Spec) (job runner.Job, cleanup func(), err error)
	// Emit receives every event, one at a time, with Block and Job set.
	Emit func(ci.Event)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Report is the outcome of a run.
type Report struct {
	Result  ci.Result
	Reason  ci.Reason
	Started time.Time
	Done    time.Time
	Blocks  []*BlockReport
	// AfterPipeline is the report of the after_pipeline jobs, if any.
	AfterPipeline *BlockReport
}

// BlockReport is the outcome of one block.
type BlockReport struct {
	Name         string
	Dependencies []string
	Result       ci.Result
	Reason       ci.Reason
	Started      time.Time // zero when it never ran
	Done         time.Time
	Jobs         []*JobReport
}

// JobReport is the outcome of one job.
type JobReport struct {
	Name    string
	Result  ci.Result
	Reason  ci.Reason
	Started time.Time
	Done    time.Time
}

// Run executes g and returns its report. Cancelling ctx (with a
// ci.StopCause as cause, or not) stops every running job; the report is
// still complete.
func Run(ctx context.Context, g *plan.Graph, opts Options) *Report {
	r := newRun(g, opts)
	return r.run(ctx)
}

type run struct {
	g     *plan.Graph
	opts  Options
	now   func() time.Time
	slots chan struct{}

	emitMu sync.Mutex
	number int // jobs started so far, under emitMu

	mu       sync.Mutex
	blocks   map[string]*BlockReport
	stopAll  context.CancelCauseFunc // fail_fast stop: stops everything
	noStarts bool                    // fail_fast cancel: start nothing new
	failFast string
}

func newRun(g *plan.Graph, opts Options) *run {
	if opts.Parallel < 1 {
		opts.Parallel = 1
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &run{g: g, opts: opts, now: now, slots: make(chan struct{}, opts.Parallel), blocks: map[string]*BlockReport{}, failFast: g.FailFast}
}

func (r *run) emit(ev ci.Event) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	if r.opts.Emit != nil {
		r.opts.Emit(ev)
	}
}

func (r *run) run(parent context.Context) *Report {
	rep := &Report{Started: r.now()}
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	r.stopAll = cancel
	if tl := r.g.TimeLimit.D(); tl > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, tl, ci.StopCause{Reason: ci.ReasonTimeout})
		defer stop()
	}

	done := map[string]chan struct{}{}
	for _, b := range r.g.Blocks {
		br := &BlockReport{Name: b.Name, Dependencies: b.Dependencies}
		for _, j := range b.Jobs {
			br.Jobs = append(br.Jobs, &JobReport{Name: j.Name})
		}
		r.blocks[b.Name] = br
		rep.Blocks = append(rep.Blocks, br)
		done[b.Name] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for _, b := range r.g.Blocks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[b.Name])
			for _, d := range b.Dependencies {
				if ch, ok := done[d]; ok {
					<-ch
				}
			}
			r.runBlock(ctx, b, r.blocks[b.Name])
		}()
	}
	wg.Wait()

	rep.Result, rep.Reason = pipelineResult(rep.Blocks, context.Cause(ctx))
	rep.Done = r.now()
	if ap := r.g.AfterPipeline; ap != nil {
		rep.AfterPipeline = r.afterPipeline(parent, ap, rep)
	}
	r.emit(ci.Event{Kind: ci.EventPipelineFinished, Timestamp: ci.Timestamp(rep.Done), Result: rep.Result, Reason: rep.Reason})
	return rep
}

// runBlock runs one block once its dependencies are done.
func (r *run) runBlock(ctx context.Context, b *plan.Block, br *BlockReport) {
	defer func() {
		r.emit(ci.Event{Kind: ci.EventBlockFinished, Timestamp: ci.Timestamp(r.now()), Block: b.Name, Result: br.Result, Reason: br.Reason})
	}()
	for _, d := range b.Dependencies {
		dep := r.blocks[d]
		if dep != nil && !dep.Result.Passed() {
			r.cancelBlock(br, ci.ReasonDependency)
			return
		}
	}
	if b.Skipped {
		br.Result, br.Reason = ci.ResultPassed, ci.ReasonSkipped
		for _, j := range br.Jobs {
			j.Result, j.Reason = ci.ResultPassed, ci.ReasonSkipped
		}
		return
	}
	if ctx.Err() != nil || r.startsBlocked() {
		r.cancelBlock(br, stopReason(context.Cause(ctx), ci.ReasonFastFailing))
		return
	}
	br.Started = r.now()
	bctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if tl := b.TimeLimit.D(); tl > 0 {
		var stop context.CancelFunc
		bctx, stop = context.WithTimeoutCause(bctx, tl, ci.StopCause{Reason: ci.ReasonTimeout})
		defer stop()
	}
	var wg sync.WaitGroup
	for i, j := range b.Jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jr := br.Jobs[i]
			r.runJob(bctx, b, j, jr, nil)
			if jr.Result == ci.ResultFailed {
				r.onFailure(b, cancel)
			}
		}()
	}
	wg.Wait()
	br.Done = r.now()
	br.Result, br.Reason = blockResult(br.Jobs)
}

// onFailure applies the fail_fast strategies after a job failed.
func (r *run) onFailure(b *plan.Block, cancelBlock context.CancelCauseFunc) {
	stop := ci.StopCause{Reason: ci.ReasonFastFailing}
	switch b.FailFast {
	case "stop":
		cancelBlock(stop)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.failFast {
	case "stop":
		r.noStarts = true
		r.stopAll(stop)
	case "cancel":
		r.noStarts = true
	}
}

func (r *run) startsBlocked() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.noStarts
}

func (r *run) cancelBlock(br *BlockReport, reason ci.Reason) {
	br.Result, br.Reason = ci.ResultCanceled, reason
	for _, j := range br.Jobs {
		j.Result, j.Reason = ci.ResultCanceled, reason
	}
}

// runJob waits for a slot, prepares and runs one job.
func (r *run) runJob(ctx context.Context, b *plan.Block, j *plan.Job, jr *JobReport, extra []plan.EnvVar) {
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		jr.Result, jr.Reason = ci.ResultCanceled, stopReason(context.Cause(ctx), ci.ReasonUser)
		return
	}
	defer func() { <-r.slots }()
	if ctx.Err() != nil || r.startsBlocked() {
		jr.Result, jr.Reason = ci.ResultCanceled, stopReason(context.Cause(ctx), ci.ReasonFastFailing)
		return
	}
	r.emitMu.Lock()
	r.number++
	n := r.number
	r.emitMu.Unlock()

	emit := func(ev ci.Event) {
		ev.Block, ev.Job = b.Name, j.Name
		r.emit(ev)
	}
	jr.Started = r.now()
	defer func() { jr.Done = r.now() }()
	job, cleanup, err := r.opts.Prepare(ctx, Spec{Block: b, Job: j, Number: n, Extra: extra})
	if cleanup != nil {
		defer cleanup()
	}
	if err != nil {
		failPrepare(emit, r.now(), err)
		jr.Result, jr.Reason = ci.ResultFailed, ci.ReasonMalformed
		return
	}
	jr.Result, jr.Reason = r.opts.Runner.Run(ctx, job, emit)
}

// failPrepare reports a job that could not be prepared as a failed job
// whose log says why.
func failPrepare(emit func(ci.Event), now time.Time, err error) {
	ts := ci.Timestamp(now)
	code := 1
	emit(ci.Event{Kind: ci.EventJobStarted, Timestamp: ts})
	emit(ci.Event{Kind: ci.EventCmdStarted, Timestamp: ts, Directive: "Preparing the job"})
	emit(ci.Event{Kind: ci.EventCmdOutput, Timestamp: ts, Output: err.Error() + "\n"})
	emit(ci.Event{Kind: ci.EventCmdFinished, Timestamp: ts, Directive: "Preparing the job", ExitCode: &code, StartedAt: &ts, FinishedAt: &ts})
	emit(ci.Event{Kind: ci.EventJobFinished, Timestamp: ts, Result: ci.ResultFailed})
}

// afterPipeline runs the after_pipeline jobs with the pipeline's result
// (docs/semaphore.md §1.11). They run even when the pipeline was stopped, but not when
// the user interrupted the whole run.
func (r *run) afterPipeline(ctx context.Context, ap *plan.Block, rep *Report) *BlockReport {
	br := &BlockReport{Name: ap.Name}
	for _, j := range ap.Jobs {
		br.Jobs = append(br.Jobs, &JobReport{Name: j.Name})
	}
	if ctx.Err() != nil {
		r.cancelBlock(br, stopReason(context.Cause(ctx), ci.ReasonUser))
		return br
	}
	secs := func(d time.Duration) string { return fmt.Sprint(int64(d.Seconds())) }
	extra := []plan.EnvVar{
		{Name: "SEMAPHORE_PIPELINE_RESULT", Value: string(rep.Result)},
		{Name: "SEMAPHORE_PIPELINE_RESULT_REASON", Value: string(rep.Reason)},
		{Name: "SEMAPHORE_PIPELINE_CREATED_AT", Value: fmt.Sprint(rep.Started.Unix())},
		{Name: "SEMAPHORE_PIPELINE_STARTED_AT", Value: fmt.Sprint(rep.Started.Unix())},
		{Name: "SEMAPHORE_PIPELINE_DONE_AT", Value: fmt.Sprint(rep.Done.Unix())},
		{Name: "SEMAPHORE_PIPELINE_TOTAL_DURATION", Value: secs(rep.Done.Sub(rep.Started))},
		{Name: "SEMAPHORE_PIPELINE_RUNNING_DURATION", Value: secs(rep.Done.Sub(rep.Started))},
		{Name: "SEMAPHORE_PIPELINE_QUEUEING_DURATION", Value: "0"},
		{Name: "SEMAPHORE_PIPELINE_INIT_DURATION", Value: "0"},
	}
	br.Started = r.now()
	var wg sync.WaitGroup
	for i, j := range ap.Jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.runJob(ctx, ap, j, br.Jobs[i], extra)
		}()
	}
	wg.Wait()
	br.Done = r.now()
	br.Result, br.Reason = blockResult(br.Jobs)
	r.emit(ci.Event{Kind: ci.EventBlockFinished, Timestamp: ci.Timestamp(br.Done), Block: ap.Name, Result: br.Result, Reason: br.Reason})
	return br
}

// blockResult folds job results (ci.FoldBlock).
func blockResult(jobs []*JobReport) (ci.Result, ci.Reason) {
	out := make([]ci.Outcome, len(jobs))
	for i, j := range jobs {
		out[i] = ci.Outcome{Result: j.Result, Reason: j.Reason, Ran: !j.Started.IsZero()}
	}
	return ci.FoldBlock(out)
}

// pipelineResult folds block results (ci.FoldPipeline); a cancelled run
// context is a stop request.
func pipelineResult(blocks []*BlockReport, cause error) (ci.Result, ci.Reason) {
	out := make([]ci.Outcome, len(blocks))
	for i, b := range blocks {
		out[i] = ci.Outcome{Result: b.Result, Reason: b.Reason, Ran: !b.Started.IsZero()}
	}
	stop := ci.ReasonNone
	if cause != nil {
		stop = stopReason(cause, ci.ReasonUser)
	}
	return ci.FoldPipeline(out, stop)
}

// stopReason extracts the reason of a stop from a context cause.
func stopReason(cause error, def ci.Reason) ci.Reason {
	var sc ci.StopCause
	if errors.As(cause, &sc) {
		return sc.Reason
	}
	if errors.Is(cause, context.DeadlineExceeded) {
		return ci.ReasonTimeout
	}
	return def
}
