package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/pipelinestate"
	"github.com/batonci/baton/internal/store"
)

// WhyPending explains in words why a job that has not started is not
// running: "queued behind pipeline #N in queue Q", "waiting for block X",
// "no agent of type T is connected", "all 2 agents of type T are busy",
// "stop requested"... agents is the current list of agents (with Running
// filled). It returns "" for a running or finished job.
func (e *Engine) WhyPending(ctx context.Context, job *ci.Job, agents []*ci.Agent) string {
	if job.StopRequested || job.State == ci.StateStopping {
		return "stop requested"
	}
	switch job.State {
	case ci.StateDone, ci.StateRunning:
		return ""
	case ci.StateQueued:
		return agentWait(job.MachineType, job.NeedsDocker, agents)
	}
	p, err := e.db.GetPipeline(ctx, job.PipelineID)
	if err != nil {
		return job.WaitReason
	}
	switch p.State {
	case ci.StatePending, ci.StateQueued:
		if p.Parallel {
			return "starting"
		}
		blocker, err := e.db.QueueBlocker(ctx, p)
		if err != nil {
			return job.WaitReason
		}
		if blocker == nil {
			return "starting"
		}
		return queueText(blocker, p.Queue)
	case ci.StateStopping:
		return "stop requested"
	}
	blocks, err := e.db.ListBlocks(ctx, p.ID)
	if err != nil {
		return job.WaitReason
	}
	byName := map[string]*ci.Block{}
	var own *ci.Block
	for _, b := range blocks {
		if !b.AfterPipeline {
			byName[b.Name] = b
		}
		if b.ID == job.BlockID {
			own = b
		}
	}
	if own == nil {
		return job.WaitReason
	}
	if own.AfterPipeline {
		return "waiting for the pipeline to finish"
	}
	var waiting []string
	for _, d := range own.Dependencies {
		if b := byName[d]; b != nil && b.State != ci.StateDone {
			waiting = append(waiting, d)
		}
	}
	switch len(waiting) {
	case 0:
		return "starting"
	case 1:
		return "waiting for block " + waiting[0]
	}
	return "waiting for blocks " + joinNames(waiting)
}

func joinNames(names []string) string {
	s := ""
	for i, n := range names {
		switch {
		case i == 0:
		case i == len(names)-1:
			s += " and "
		default:
			s += ", "
		}
		s += n
	}
	return s
}

// agentWait says why a queued job waits for an agent; a job that needs
// Docker waits for an agent with the docker executor.
func agentWait(machineType string, needsDocker bool, agents []*ci.Agent) string {
	connected, free, noDocker := 0, 0, 0
	for _, a := range agents {
		if a.Type != machineType || a.State != ci.AgentConnected {
			continue
		}
		if needsDocker && !slices.Contains(a.Executors, "docker") {
			noDocker++
			continue
		}
		connected++
		free += max(a.Slots-len(a.Running), 0)
	}
	switch {
	case connected == 0 && noDocker > 0:
		return fmt.Sprintf("no connected agent of type %s can run Docker jobs", machineType)
	case connected == 0:
		return fmt.Sprintf("no agent of type %s is connected", machineType)
	case free > 0:
		return fmt.Sprintf("waiting for an agent of type %s", machineType)
	case connected == 1:
		return fmt.Sprintf("the only agent of type %s is busy", machineType)
	}
	return fmt.Sprintf("all %d agents of type %s are busy", connected, machineType)
}

// Run enforces time limits and re-examines unfinished pipelines until ctx
// ends. Everything else is event-driven; Run sleeps until the next
// deadline (job, block or pipeline execution_time_limit) or the next
// safety-net re-check (Config.RecheckInterval), whichever is first, and
// wakes early when a pipeline or job starts.
//
// A check reads the deadlines of every running pipeline, so the wake-ups of a busy server
// (a job starts every few milliseconds) are folded: after a check, a
// wake-up waits until minCheckGap has passed. A new deadline is a time
// limit away (a minute at least), so it is never missed by more than
// that gap.
func (e *Engine) Run(ctx context.Context) error {
	lastRecheck := time.Time{}
	var lastCheck time.Time // real time: it paces work, it decides nothing
	timer := time.NewTimer(0)
	timerAt := time.Now()
	defer timer.Stop()
	reset := func(d time.Duration) {
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(d)
		timerAt = time.Now().Add(d)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-e.wake:
			if gap := minCheckGap - time.Since(lastCheck); gap > 0 {
				if time.Until(timerAt) > gap {
					reset(gap)
				}
				continue
			}
		}
		lastCheck = time.Now()
		now := e.now()
		if now.Sub(lastRecheck) >= e.cfg.RecheckInterval {
			e.recheck(ctx)
			lastRecheck = e.now()
		}
		next, err := e.CheckTimeLimits(ctx)
		if err != nil && ctx.Err() == nil {
			e.log.Error("check time limits", "err", err)
		}
		wait := lastRecheck.Add(e.cfg.RecheckInterval).Sub(e.now())
		if !next.IsZero() {
			wait = min(wait, next.Sub(e.now()))
		}
		reset(max(wait, 10*time.Millisecond))
	}
}

// minCheckGap is the least time between two checks of the time limits
// that wake-ups ask for.
const minCheckGap = time.Second

// recheck advances every unfinished pipeline and runs the auto-promotions
// still due: a safety net for a notification or a follow-up step lost to
// a crash.
func (e *Engine) recheck(ctx context.Context) {
	ps, err := e.db.ActivePipelines(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("recheck pipelines", "err", err)
		}
		return
	}
	for _, p := range ps {
		if ctx.Err() != nil {
			return
		}
		if err := e.mutate(ctx, p.ID, nil); err != nil && ctx.Err() == nil {
			e.log.Error("recheck pipeline", "pipeline", p.ID, "err", err)
		}
	}
	due, err := e.db.PromotionsDue(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("recheck auto-promotions", "err", err)
		}
		return
	}
	for _, p := range due {
		if ctx.Err() != nil {
			return
		}
		e.autoPromote(ctx, p)
	}
}

// Recheck does once what Run does every RecheckInterval: it advances
// every unfinished pipeline and runs the auto-promotions still due.
func (e *Engine) Recheck(ctx context.Context) { e.recheck(ctx) }

// CheckTimeLimits stops what has run past its execution_time_limit (spec
// §7.2): a pipeline's regular blocks, a block, or a job, each with reason
// timeout. It returns the next deadline of what still runs, zero if none.
// Run calls it; tests with a fake clock may call it directly.
//
// The deadlines are read in one statement for every running pipeline;
// only a pipeline with a deadline passed is read whole, under its lock,
// where the time limits are applied (pipelinestate's Tick).
func (e *Engine) CheckTimeLimits(ctx context.Context) (time.Time, error) {
	deadlines, err := e.db.TimeLimits(ctx)
	if err != nil {
		return time.Time{}, err
	}
	var next time.Time
	var expired []string
	now := e.now()
	for _, d := range deadlines {
		if now.Before(d.At) {
			if next.IsZero() || d.At.Before(next) {
				next = d.At
			}
		} else if !slices.Contains(expired, d.Pipeline) {
			expired = append(expired, d.Pipeline)
		}
	}
	for _, id := range expired {
		err = e.mutate(ctx, id, func(*store.Tx, *ci.Pipeline) (pipelinestate.Event, error) {
			return pipelinestate.Event{Kind: pipelinestate.Tick}, nil
		})
		if err != nil {
			return next, err
		}
	}
	return next, nil
}
