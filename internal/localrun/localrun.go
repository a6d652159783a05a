// Package localrun is `baton run`: it runs a pipeline of a git working
// tree on this machine, with no server. Compile locates, loads and
// compiles the pipeline file for a local event, with a snapshot of the
// working tree; a Session prepares each job (its home directory with a
// private copy of the tree, its variables, the secrets given to the run,
// a job service, its containers) and runs it with the runner and the
// shell or docker executor; Plan.Chain and Stage.Promotions are the local
// side of promotions.
//
// Run drives a compiled job graph: the pipeline state machine
// (pipelinestate) decides, as it does for the server: blocks start when
// their dependencies have passed, fail_fast, time limits and stops
// (docs/semaphore.md §1.4, §1.10, §7.2); Run keeps the pipeline in
// memory, runs the jobs the machine queues in parallel up to a limit, and
// stops those it says to stop. How a single job runs is delegated to a
// JobRunner, how a plan.Job becomes a jobspec.Job to a Prepare callback,
// which a Session fills in and tests replace.
//
// The command line (internal/cli) keeps the flags and the rendering.
package localrun

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/jobenv"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/pipelinestate"
	"github.com/batonci/baton/internal/plan"
)

// JobRunner runs one job; *runner.Runner implements it.
type JobRunner interface {
	Run(ctx context.Context, job jobspec.Job, emit func(ci.Event)) (ci.Result, ci.Reason)
}

// Spec is one job about to run.
type Spec struct {
	Block *plan.Block
	Job   *plan.Job
	// Number is the job's position in the whole run, from 1.
	Number int
	// Extra holds variables only this kind of job gets (after_pipeline's
	// SEMAPHORE_PIPELINE_* variables).
	Extra []jobspec.Var
}

// Options configure a run.
type Options struct {
	Runner JobRunner
	// Parallel caps the jobs running at once; < 1 means 1.
	Parallel int
	// Prepare turns a planned job into a runnable one. The returned
	// cleanup runs once the job is done. An error fails the job with the
	// error as its output, as a missing secret does on Semaphore.
	Prepare func(ctx context.Context, s Spec) (job jobspec.Job, cleanup func(), err error)
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
// ci.StopCause as cause, or not) stops every running job and cancels the
// after_pipeline jobs that have not started; the report is still
// complete.
func Run(ctx context.Context, g *plan.Graph, opts Options) *Report {
	r := newRun(g, opts)
	return r.run(ctx)
}

// unit is a job of the graph with its node in the pipeline tree.
type unit struct {
	block *plan.Block
	job   *plan.Job
	node  *ci.Job
	// extra are the after_pipeline variables, set when it is queued.
	extra []jobspec.Var
	// stop cancels the running job's context.
	stop context.CancelCauseFunc
}

// finished is a job's end as its runner reported it.
type finished struct {
	id     string
	result ci.Result
	reason ci.Reason
}

type run struct {
	g    *plan.Graph
	opts Options
	now  func() time.Time

	emitMu sync.Mutex
	number int // jobs started so far

	tree  *ci.Pipeline
	units map[string]*unit
	// queue holds the jobs the machine queued, in order, until a slot
	// frees.
	queue   []*unit
	running int
	done    chan finished
	wg      sync.WaitGroup

	// Reported when they reach done.
	blockDone map[*ci.Block]bool
	mainDone  time.Time
	result    ci.Result
	reason    ci.Reason
}

func newRun(g *plan.Graph, opts Options) *run {
	if opts.Parallel < 1 {
		opts.Parallel = 1
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	r := &run{g: g, opts: opts, now: now, units: map[string]*unit{}, done: make(chan finished), blockDone: map[*ci.Block]bool{}}
	r.tree = &ci.Pipeline{ID: "local", State: ci.StatePending, FailFast: g.FailFast, TimeLimit: g.TimeLimit.D()}
	add := func(i int, b *plan.Block, after bool) {
		cb := &ci.Block{ID: fmt.Sprint(i), Index: i, Name: b.Name, Dependencies: b.Dependencies, State: ci.StatePending,
			Skipped: b.Skipped, TimeLimit: b.TimeLimit.D(), FailFast: b.FailFast, AfterPipeline: after}
		for k, j := range b.Jobs {
			// The job's own time limit is the runner's (jobspec.Job.TimeLimit).
			cj := &ci.Job{ID: fmt.Sprintf("%d/%d", i, k), BlockID: cb.ID, Index: k, Name: j.Name, State: ci.StatePending}
			cb.Jobs = append(cb.Jobs, cj)
			r.units[cj.ID] = &unit{block: b, job: j, node: cj}
		}
		r.tree.Blocks = append(r.tree.Blocks, cb)
	}
	for i, b := range g.Blocks {
		add(i, b, false)
	}
	if g.AfterPipeline != nil {
		add(len(g.Blocks), g.AfterPipeline, true)
	}
	return r
}

func (r *run) emit(ev ci.Event) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	if r.opts.Emit != nil {
		r.opts.Emit(ev)
	}
}

// apply feeds an event to the state machine and acts on its decisions.
func (r *run) apply(ev pipelinestate.Event) {
	now := r.now()
	d := pipelinestate.Apply(r.tree, ev, pipelinestate.Facts{Now: now, Admitted: true})
	for _, j := range d.Stop {
		if u := r.units[j.ID]; u.stop != nil {
			u.stop(ci.StopCause{Reason: j.StopReason})
		}
	}
	if d.Result != "" && r.mainDone.IsZero() {
		r.mainDone, r.result, r.reason = now, d.Result, d.Reason
	}
	extra := r.afterPipelineEnv()
	for _, j := range d.Queue {
		u := r.units[j.ID]
		if slices.Contains(d.AfterPipeline, j) {
			u.extra = extra
		}
		r.queue = append(r.queue, u)
	}
	for _, b := range r.tree.Blocks {
		if b.State == ci.StateDone && !r.blockDone[b] {
			r.blockDone[b] = true
			r.emit(ci.Event{Kind: ci.EventBlockFinished, Timestamp: ci.Timestamp(now), Block: b.Name, Result: b.Result, Reason: b.Reason})
		}
	}
}

func (r *run) run(ctx context.Context) *Report {
	started := r.now()
	if ctx.Err() != nil {
		r.apply(pipelinestate.Event{Kind: pipelinestate.Interrupt, Reason: stopReason(context.Cause(ctx), ci.ReasonUser)})
	} else {
		r.apply(pipelinestate.Event{Kind: pipelinestate.Check})
	}
	interrupted := ctx.Done()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		r.startJobs(ctx)
		if r.tree.State == ci.StateDone && r.running == 0 {
			break
		}
		var tick <-chan time.Time
		if next := pipelinestate.NextDeadline(r.tree); !next.IsZero() {
			if timer != nil {
				timer.Stop()
			}
			timer = time.NewTimer(next.Sub(r.now()))
			tick = timer.C
		}
		select {
		case f := <-r.done:
			r.running--
			r.units[f.id].stop = nil
			r.apply(pipelinestate.Event{Kind: pipelinestate.JobFinished, Job: f.id, Result: f.result, Reason: f.reason})
		case <-interrupted:
			interrupted = nil
			r.apply(pipelinestate.Event{Kind: pipelinestate.Interrupt, Reason: stopReason(context.Cause(ctx), ci.ReasonUser)})
		case <-tick:
			r.apply(pipelinestate.Event{Kind: pipelinestate.Tick})
		}
	}
	r.wg.Wait()
	rep := r.report(started)
	r.emit(ci.Event{Kind: ci.EventPipelineFinished, Timestamp: ci.Timestamp(r.now()), Result: rep.Result, Reason: rep.Reason})
	return rep
}

// startJobs starts queued jobs while slots are free. A job the machine
// canceled meanwhile is dropped.
func (r *run) startJobs(ctx context.Context) {
	for r.running < r.opts.Parallel && len(r.queue) > 0 {
		u := r.queue[0]
		r.queue = r.queue[1:]
		if u.node.State != ci.StateQueued {
			continue
		}
		jctx, stop := context.WithCancelCause(ctx)
		u.stop = stop
		r.running++
		r.apply(pipelinestate.Event{Kind: pipelinestate.JobStarted, Job: u.node.ID})
		r.number++
		n := r.number
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer stop(nil)
			result, reason := r.runJob(jctx, u, n)
			r.done <- finished{id: u.node.ID, result: result, reason: reason}
		}()
	}
}

// runJob prepares and runs one job.
func (r *run) runJob(ctx context.Context, u *unit, n int) (ci.Result, ci.Reason) {
	emit := func(ev ci.Event) {
		ev.Block, ev.Job = u.block.Name, u.job.Name
		r.emit(ev)
	}
	job, cleanup, err := r.opts.Prepare(ctx, Spec{Block: u.block, Job: u.job, Number: n, Extra: u.extra})
	if cleanup != nil {
		defer cleanup()
	}
	if err != nil {
		failPrepare(emit, r.now(), err)
		return ci.ResultFailed, ci.ReasonMalformed
	}
	return r.opts.Runner.Run(ctx, job, emit)
}

// afterPipelineEnv is the SEMAPHORE_PIPELINE_* variables after_pipeline
// jobs get: the result of the regular blocks (docs/semaphore.md §1.11).
func (r *run) afterPipelineEnv() []jobspec.Var {
	if r.mainDone.IsZero() {
		return nil
	}
	started := r.tree.StartedAt
	return jobenv.AfterPipeline(jobenv.PipelineOutcome{Result: string(r.result), Reason: string(r.reason),
		Created: started, Started: started, Done: r.mainDone})
}

// report reads the run's outcome from the tree.
func (r *run) report(started time.Time) *Report {
	rep := &Report{Started: started, Done: r.mainDone, Result: r.tree.Result, Reason: r.tree.Reason}
	if rep.Done.IsZero() {
		rep.Done = r.tree.DoneAt
	}
	for i, b := range r.tree.Blocks {
		br := &BlockReport{Name: b.Name, Result: b.Result, Reason: b.Reason, Started: b.StartedAt, Done: b.DoneAt}
		if !b.AfterPipeline {
			br.Dependencies = r.g.Blocks[i].Dependencies
		}
		for _, j := range b.Jobs {
			br.Jobs = append(br.Jobs, &JobReport{Name: j.Name, Result: j.Result, Reason: j.Reason, Started: j.StartedAt, Done: j.DoneAt})
		}
		if b.AfterPipeline {
			rep.AfterPipeline = br
		} else {
			rep.Blocks = append(rep.Blocks, br)
		}
	}
	return rep
}

// failPrepare reports a job that could not be prepared as a failed job
// whose log says why.
func failPrepare(emit func(ci.Event), now time.Time, err error) {
	for _, ev := range ci.PrepareFailed(ci.Timestamp(now), err.Error(), ci.ResultFailed, "") {
		emit(ev)
	}
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
