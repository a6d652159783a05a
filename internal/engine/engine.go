// Package engine is the pipeline state machine of the CI service, kept in
// the database: it turns a trigger (a push, a manual run, a rebuild) into a
// workflow and its initial pipeline, queues pipelines (docs/semaphore.md §1.9), applies
// auto_cancel (§1.10), starts blocks when their dependencies pass, applies
// fail_fast, time limits and stops, runs after_pipeline jobs (§1.11), folds
// results, and creates partial reruns (§1.14). The decisions are the pure
// state machine's (internal/pipelinestate, which `baton run` drives in
// memory); the engine applies them on the store, so that several servers
// sharing one PostgreSQL database can advance the same pipelines safely.
//
// Every change to a pipeline happens in one store transaction that first
// locks the pipeline's row (store.Tx.LockPipeline), reads the pipeline with
// its blocks and jobs, hands the operation's event (a job finished, a
// stop...) to pipelinestate.Receive, lets pipelinestate.Advance move every
// unit as far as it can, and writes back what changed. The only writer that does not take the
// pipeline lock is the dispatcher's store.Tx.ClaimJob (queued → running);
// the engine therefore writes a job only if its state is still the one it
// read, and starts over when a claim won the race. Notifications ("jobs"
// with a machine type when jobs are queued, "cancel" with an agent ID when
// a running job must stop) are sent with the transaction and delivered on
// commit.
//
// Unit states: a pipeline is pending (created), queued (waiting behind an
// older pipeline of its queue), running, stopping (a stop or time limit
// asked it to end), then done. A block is pending, running, stopping,
// done. A job is pending (its block has not started), queued (waiting for
// an agent), running (claimed by an agent), stopping (the agent was told to
// stop it), done.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/logstore"
	"github.com/batonci/baton/internal/pipelinestate"
	"github.com/batonci/baton/internal/repocache"
	"github.com/batonci/baton/internal/store"
)

// The notification channels the engine sends on.
const (
	// ChannelJobs carries a machine type whenever jobs of that type are
	// queued; dispatchers wake the polls of agents of that type.
	ChannelJobs = "jobs"
	// ChannelCancel carries an agent ID whenever a job running on it must
	// stop; dispatchers answer that agent's poll at once.
	ChannelCancel = "cancel"
)

// ReasonReused marks a job of a partial rerun that did not run again: it
// passed in the rerun pipeline and its result was reused (docs/semaphore.md §1.14).
const ReasonReused ci.Reason = "reused"

// ErrSkipCI is returned by Trigger when the head commit's message contains
// [skip ci] or [ci skip] (docs/semaphore.md §10.1): no workflow is created.
var ErrSkipCI = errors.New("the commit message asks to skip CI ([skip ci])")

// SecretSource resolves the secrets a job names into the variables and
// files to inject. It is called when the job is assigned to an agent;
// values are never stored with the job. An unknown name is an error that
// names it (for example `secret "aws" not found`).
type SecretSource interface {
	Resolve(ctx context.Context, projectID string, names []string) (env []jobspec.Var, files []jobspec.File, err error)
}

// ForkPolicy is implemented by a SecretSource that knows which secrets a
// workflow of a pull request from a fork may receive. ForkAllowed reports,
// for each name, whether its secret allows forks; an unknown name is an
// error as in Resolve. With a source that does not implement it, such
// workflows get no secrets.
type ForkPolicy interface {
	ForkAllowed(ctx context.Context, projectID string, names []string) (map[string]bool, error)
}

// Config configures an Engine.
type Config struct {
	Store *store.DB
	Repos *repocache.Cache
	Logs  *logstore.Store
	// Secrets resolves secret names; nil means no secrets are configured,
	// so a job naming one fails before it starts.
	Secrets SecretSource
	// BaseURL is the server's URL (SEMAPHORE_ORGANIZATION_URL).
	BaseURL string
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// RecheckInterval is how often Run re-examines every unfinished
	// pipeline, a safety net behind the event-driven path (default 30s).
	RecheckInterval time.Duration
	// Observer, if set, hears of every committed change of a pipeline's
	// state or result (see observe.go).
	Observer Observer
	// Finisher, if set, hears of each pipeline's end in the transaction
	// that ends it (see observe.go).
	Finisher Finisher
	// Libraries gives compiles the organisation's script libraries
	// (commands_file "@NAME/path"); nil means there are none.
	Libraries LibrarySource
}

// Engine runs pipelines on the store. Its methods are safe for concurrent
// use, also by several servers sharing one database.
type Engine struct {
	cfg    Config
	db     *store.DB
	log    *slog.Logger
	wake   chan struct{} // nudges Run to recompute its next deadline
	graphs graphCache    // decoded graphs, for assignments
}

// New returns an engine.
func New(cfg Config) *Engine {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RecheckInterval <= 0 {
		cfg.RecheckInterval = 30 * time.Second
	}
	return &Engine{cfg: cfg, db: cfg.Store, log: cfg.Logger, wake: make(chan struct{}, 1)}
}

func (e *Engine) now() time.Time { return e.cfg.Now() }

// nudge tells Run that a deadline may have appeared.
func (e *Engine) nudge() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// errRetry makes mutate run its transaction again: a job changed under it
// (an agent claimed it).
var errRetry = errors.New("a job changed concurrently")

// maxAttempts bounds how often mutate retries after a lost race.
const maxAttempts = 20

// op is an operation on a locked pipeline tree: it checks the request
// and says what happened, which the state machine (pipelinestate) applies
// to the tree in memory; mutate persists the changes.
type op func(tx *store.Tx, p *ci.Pipeline) (pipelinestate.Event, error)

// mutate applies fn to the pipeline in a transaction that locks it, then
// advances the pipeline and writes back every change. After commit it
// advances the pipelines that may start because this one ended.
func (e *Engine) mutate(ctx context.Context, pipelineID string, fn op) error {
	var done, changed *ci.Pipeline
	for attempt := 1; ; attempt++ {
		done, changed = nil, nil
		err := e.db.Tx(ctx, func(tx *store.Tx) error {
			var err error
			done, changed, err = e.mutateTx(tx, pipelineID, fn)
			return err
		})
		if errors.Is(err, errRetry) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	if changed != nil {
		e.observe(context.WithoutCancel(ctx), changed)
	}
	if done != nil {
		// The change is committed: what follows from it must happen even
		// if the caller gives up now.
		e.startNext(context.WithoutCancel(ctx), done)
		e.autoPromote(context.WithoutCancel(ctx), done)
	}
	return nil
}

// mutateTx is the body of mutate's transaction. It returns the pipeline if
// it reached done, and (changed) if its state or result changed.
func (e *Engine) mutateTx(tx *store.Tx, pipelineID string, fn op) (done, changed *ci.Pipeline, err error) {
	// The jobs' specs are not read (they are large and rarely change),
	// nor the pipeline's graph once it is cached; persist leaves a nil
	// spec and a nil graph alone.
	var p *ci.Pipeline
	g, cached := e.graphs.cached(pipelineID)
	if cached {
		p, err = tx.LockPipelineTreeNoGraph(pipelineID)
	} else if p, err = tx.LockPipelineTreeLite(pipelineID); err == nil {
		g, _ = e.graphs.get(p.ID, p.Graph) // nil if it has none
	}
	if err != nil {
		return nil, nil, err
	}
	snap := snapshot(p)
	ev := pipelinestate.Event{Kind: pipelinestate.Check}
	if fn != nil {
		if ev, err = fn(tx, p); err != nil {
			return nil, nil, err
		}
	}
	now := e.now()
	d := pipelinestate.Receive(p, ev, now)
	f := pipelinestate.Facts{Now: now, Admitted: true}
	if p.State == ci.StatePending || p.State == ci.StateQueued {
		f.Admitted, f.QueueWait, err = e.admission(tx, p)
		if err != nil {
			return nil, nil, err
		}
	}
	pipelinestate.Advance(p, f, d)
	// after_pipeline jobs see the pipeline's result in their variables.
	for _, j := range d.AfterPipeline {
		full, err := tx.GetJob(j.ID)
		if err == nil {
			j.Spec, err = afterPipelineSpec(full.Spec, p, d.Result, d.Reason, now)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("after_pipeline of pipeline %s: %w", p.ID, err)
		}
	}
	if err := persist(tx, snap, p); err != nil {
		return nil, nil, err
	}
	if err := e.notify(tx, d); err != nil {
		return nil, nil, err
	}
	if p.State != snap.pipeline.State || p.Result != snap.pipeline.Result {
		changed = p
	}
	if p.State == ci.StateDone && snap.pipeline.State != ci.StateDone {
		if err := e.finished(tx, p); err != nil {
			return nil, nil, err
		}
		if g != nil && len(g.Promotions) > 0 {
			// Committed with the end, so that a crash before autoPromote
			// runs leaves them to recheck.
			if err := tx.SetPromotionsDue(p.ID, true); err != nil {
				return nil, nil, err
			}
		}
		return p, changed, nil
	}
	return nil, changed, nil
}

// notify sends the notifications of the state machine's decisions: the
// machine types that got queued jobs, the agents that must stop a job.
// They are delivered when the transaction commits.
func (e *Engine) notify(tx *store.Tx, d *pipelinestate.Decisions) error {
	machineTypes := map[string]bool{}
	for _, j := range d.Queue {
		machineTypes[j.MachineType] = true
	}
	for mt := range machineTypes {
		if err := tx.Notify(ChannelJobs, mt); err != nil {
			return err
		}
	}
	agents := map[string]bool{}
	for _, j := range d.Stop {
		if j.AgentID != "" {
			agents[j.AgentID] = true
		}
	}
	for a := range agents {
		if err := tx.Notify(ChannelCancel, a); err != nil {
			return err
		}
	}
	if d.Started || len(d.Queue) > 0 {
		e.nudge()
	}
	return nil
}

// admission decides whether a pipeline may leave its queue (docs/semaphore.md §1.9):
// it may when its processing is parallel, or when no other serialized
// pipeline of its queue runs and none older waits. The queue is locked
// while deciding, so two servers never start two pipelines of one queue.
// Otherwise the reason names the pipeline it waits for.
func (e *Engine) admission(tx *store.Tx, p *ci.Pipeline) (bool, string, error) {
	if p.Parallel {
		return true, "", nil
	}
	// A pipeline that has an unfinished one ahead of it (or a running one
	// beside it) waits, whatever else happens meanwhile, so that decision
	// needs no lock: p is already stored, so the blocker's end, committed
	// after this read, finds p waiting and advances it (startNext), and p's
	// row lock, held here, makes that wait for this transaction. Only
	// admitting p must be serialised with the other admissions of the
	// queue; a thousand pipelines created at once into one queue would
	// otherwise take its lock one after the other for nothing.
	blocker, err := tx.QueueBlocker(p)
	if err != nil {
		return false, "", err
	}
	if blocker == nil {
		if err := tx.LockQueue(p.ProjectID, p.Queue, p.QueueScope); err != nil {
			return false, "", err
		}
		if blocker, err = tx.QueueBlocker(p); err != nil {
			return false, "", err
		}
	}
	if blocker != nil {
		return false, queueText(blocker, p.Queue), nil
	}
	return true, "", nil
}

// queueText says which pipeline a queued one waits for.
func queueText(ahead *store.Blocker, queue string) string {
	name := "pipeline " + ahead.PipelineID
	if ahead.WorkflowNumber > 0 {
		name = fmt.Sprintf("pipeline #%d", ahead.WorkflowNumber)
	}
	return fmt.Sprintf("queued behind %s in queue %s", name, queue)
}

// startNext advances the first pipeline waiting in the queue of p, which
// just finished, so it starts now.
func (e *Engine) startNext(ctx context.Context, p *ci.Pipeline) {
	ps, err := e.db.QueuePipelines(ctx, p.ProjectID, p.Queue, p.QueueScope)
	if err != nil {
		e.log.Error("read queue", "queue", p.Queue, "err", err)
		return
	}
	for _, o := range ps {
		if o.Parallel || o.ID == p.ID {
			continue
		}
		if o.State == ci.StatePending || o.State == ci.StateQueued {
			if err := e.mutate(ctx, o.ID, nil); err != nil {
				e.log.Error("advance queued pipeline", "pipeline", o.ID, "err", err)
			}
		}
		return
	}
}

// Advance re-examines a pipeline and moves it as far as it can go. The
// engine calls it itself after every change; it is exported for callers
// that know something changed outside the engine.
func (e *Engine) Advance(ctx context.Context, pipelineID string) error {
	return e.mutate(ctx, pipelineID, nil)
}

// jobEvent is the operation that reports ev about the job jobID, which
// must be in the pipeline.
func jobEvent(jobID string, ev pipelinestate.Event) op {
	return func(tx *store.Tx, p *ci.Pipeline) (pipelinestate.Event, error) {
		for _, b := range p.Blocks {
			for _, j := range b.Jobs {
				if j.ID == jobID {
					ev.Job = jobID
					return ev, nil
				}
			}
		}
		return ev, fmt.Errorf("job %s: %w", jobID, store.ErrNotFound)
	}
}

// JobStarted records that an agent claimed a job (store.Tx.ClaimJob set its
// state, agent and start time): it clears the job's wait reason and, if
// the job's block or pipeline was stopped meanwhile, has it stopped.
//
// When the job's block and pipeline already run and nothing asks the job
// to stop, the claim changed all there was to change: the pipeline is
// not locked and rewritten. A stop that commits after the claim finds
// the job running and stops it itself.
func (e *Engine) JobStarted(ctx context.Context, jobID string) error {
	j, err := e.db.GetJobStart(ctx, jobID)
	if err != nil {
		return fmt.Errorf("job started: %w", err)
	}
	return e.jobStarted(ctx, jobID, j)
}

// jobStarted is JobStarted for a job whose JobStart the caller has just
// read.
func (e *Engine) jobStarted(ctx context.Context, jobID string, j *store.JobStart) error {
	if j.Running && j.State == ci.StateRunning && !j.StopRequested {
		e.nudge() // its time limit runs from now
		return nil
	}
	err := e.mutate(ctx, j.PipelineID, jobEvent(jobID, pipelinestate.Event{Kind: pipelinestate.JobStarted}))
	if err != nil {
		return fmt.Errorf("job started: %w", err)
	}
	e.nudge()
	return nil
}

// JobFinished records a job's end as its agent (or the dispatcher, for a
// lost agent) reports it, then advances the pipeline. A job already done
// is left as it is, so the call is idempotent.
func (e *Engine) JobFinished(ctx context.Context, jobID string, result ci.Result, reason ci.Reason) error {
	j, err := e.db.GetJobLite(ctx, jobID)
	if err != nil {
		return fmt.Errorf("job finished: %w", err)
	}
	return e.FinishJob(ctx, j, result, reason)
}

// FinishJob is JobFinished for a job the caller has just read (its IDs
// are what it needs).
//
// A job that passed while its block goes on running changes nothing but
// its own row: it is ended in one statement, without the pipeline's
// lock, and the block is looked at (under the lock) only when, after
// that commit, none of its jobs is left unfinished. Of several jobs
// ending at once, the last to count sees every other's commit, so a
// block's end is never missed (it may be looked at twice, which changes
// nothing the second time). A server that dies between the two leaves
// the block to the engine's recheck.
func (e *Engine) FinishJob(ctx context.Context, j *ci.Job, result ci.Result, reason ci.Reason) error {
	if result == ci.ResultPassed {
		finished, err := e.db.FinishRunningJob(ctx, j.ID, result, ci.ReasonNone, e.now())
		if err != nil {
			return fmt.Errorf("job finished: %w", err)
		}
		if finished {
			n, err := e.db.BlockUnfinished(context.WithoutCancel(ctx), j.BlockID)
			if err == nil && n > 0 {
				return nil
			}
			// The block may be done (or the count failed): advance
			// the pipeline, whatever the caller does now.
			if err := e.mutate(context.WithoutCancel(ctx), j.PipelineID, nil); err != nil {
				return fmt.Errorf("job finished: %w", err)
			}
			return nil
		}
	}
	err := e.mutate(ctx, j.PipelineID, jobEvent(j.ID, pipelinestate.Event{Kind: pipelinestate.JobFinished, Result: result, Reason: reason}))
	if err != nil {
		return fmt.Errorf("job finished: %w", err)
	}
	return nil
}
