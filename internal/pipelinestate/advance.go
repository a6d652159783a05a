package pipelinestate

import (
	"time"

	"github.com/batonci/baton/internal/ci"
)

// setState moves a unit's state, ignoring illegal moves (which advance
// never attempts; ci.Transition is the guard).
func setState(cur *ci.State, to ci.State) bool {
	if *cur == to {
		return false
	}
	next, err := ci.Transition(*cur, to)
	if err != nil {
		return false
	}
	*cur = next
	return true
}

// splitBlocks separates the regular blocks from the after_pipeline block.
func splitBlocks(p *ci.Pipeline) (main []*ci.Block, ap *ci.Block) {
	for _, b := range p.Blocks {
		if b.AfterPipeline {
			ap = b
			continue
		}
		main = append(main, b)
	}
	return main, ap
}

// Advance moves the pipeline p as far as it can go, adding what the caller
// must act on to d.
func Advance(p *ci.Pipeline, f Facts, d *Decisions) {
	if p.State == ci.StateDone {
		return
	}
	main, ap := splitBlocks(p)
	if p.State == ci.StatePending || p.State == ci.StateQueued {
		if !f.Admitted {
			setState(&p.State, ci.StateQueued)
			for _, b := range p.Blocks {
				for _, j := range b.Jobs {
					if j.State == ci.StatePending {
						j.WaitReason = f.QueueWait
					}
				}
			}
			return
		}
		setState(&p.State, ci.StateRunning)
		p.StartedAt = f.Now
		d.Started = true
		if ap != nil {
			for _, j := range ap.Jobs {
				if j.State == ci.StatePending {
					j.WaitReason = "waiting for the pipeline to finish"
				}
			}
		}
	}

	byName := map[string]*ci.Block{}
	for _, b := range main {
		byName[b.Name] = b
	}
	for progressed := true; progressed; {
		progressed = false
		ffStop, ffCancel := failFastTriggered(p, main)
		pipeStop := ci.ReasonNone
		if p.State == ci.StateStopping {
			pipeStop = orReason(p.Reason, ci.ReasonUser)
		}
		for _, b := range main {
			switch b.State {
			case ci.StatePending:
				if advancePendingBlock(b, byName, pipeStop, ffStop || ffCancel, f.Now, d) {
					progressed = true
				}
			case ci.StateRunning, ci.StateStopping:
				reason := blockStopReason(b, pipeStop, ffStop)
				cancelOnly := ffCancel || (b.FailFast == "cancel" && anyFailed(b))
				if enforceStops(b, reason, cancelOnly, f.Now, d) {
					progressed = true
				}
				if finishBlock(b, f.Now) {
					progressed = true
				}
			}
		}
	}
	if !allDone(main) {
		return
	}
	result, reason := pipelineResult(main, p)
	d.Result, d.Reason = result, reason
	if ap != nil {
		switch ap.State {
		case ci.StatePending:
			queued := len(d.Queue)
			startBlock(ap, f.Now, d)
			d.AfterPipeline = append(d.AfterPipeline, d.Queue[queued:]...)
		case ci.StateRunning, ci.StateStopping:
			reason := ci.ReasonNone
			if ap.State == ci.StateStopping {
				reason = orReason(ap.Reason, ci.ReasonUser)
			}
			enforceStops(ap, reason, false, f.Now, d)
		}
		finishBlock(ap, f.Now)
		if ap.State != ci.StateDone {
			return
		}
	}
	setState(&p.State, ci.StateDone)
	p.Result, p.Reason = result, reason
	p.DoneAt = f.Now
	d.Done = true
}

// advancePendingBlock starts, skips or cancels a block that has not
// started, when its dependencies allow; it reports whether it changed.
func advancePendingBlock(b *ci.Block, byName map[string]*ci.Block, pipeStop ci.Reason, noStarts bool, now time.Time, d *Decisions) bool {
	waitingFor := ""
	for _, d := range b.Dependencies {
		dep := byName[d]
		if dep == nil {
			continue
		}
		if dep.State == ci.StateDone && !dep.Result.Passed() {
			cancelBlock(b, ci.ReasonDependency, now)
			return true
		}
		if dep.State != ci.StateDone && waitingFor == "" {
			waitingFor = dep.Name
		}
	}
	switch {
	case pipeStop != ci.ReasonNone:
		cancelBlock(b, pipeStop, now)
		return true
	case noStarts:
		cancelBlock(b, ci.ReasonFastFailing, now)
		return true
	case waitingFor != "":
		for _, j := range b.Jobs {
			if j.State == ci.StatePending {
				j.WaitReason = "waiting for block " + waitingFor
			}
		}
		return false
	case b.Skipped:
		setState(&b.State, ci.StateDone)
		b.Result, b.Reason, b.DoneAt = ci.ResultPassed, ci.ReasonSkipped, now
		for _, j := range b.Jobs {
			if j.State != ci.StateDone {
				setState(&j.State, ci.StateDone)
				j.Result, j.Reason, j.DoneAt, j.WaitReason = ci.ResultPassed, ci.ReasonSkipped, now, ""
			}
		}
		return true
	}
	startBlock(b, now, d)
	return true
}

// startBlock queues the jobs of a block.
func startBlock(b *ci.Block, now time.Time, d *Decisions) {
	setState(&b.State, ci.StateRunning)
	b.StartedAt = now
	for _, j := range b.Jobs {
		if j.State != ci.StatePending {
			continue
		}
		setState(&j.State, ci.StateQueued)
		j.QueuedAt = now
		j.WaitReason = "waiting for an agent of type " + j.MachineType
		d.Queue = append(d.Queue, j)
	}
}

// cancelBlock ends a block that never started, and its jobs.
func cancelBlock(b *ci.Block, reason ci.Reason, now time.Time) {
	setState(&b.State, ci.StateDone)
	b.Result, b.Reason, b.DoneAt = ci.ResultCanceled, reason, now
	for _, j := range b.Jobs {
		cancelJob(j, reason, now)
	}
}

// cancelJob ends a job that has not started.
func cancelJob(j *ci.Job, reason ci.Reason, now time.Time) bool {
	if j.State != ci.StatePending && j.State != ci.StateQueued {
		return false
	}
	setState(&j.State, ci.StateDone)
	j.Result, j.Reason, j.DoneAt, j.WaitReason = ci.ResultCanceled, reason, now, ""
	return true
}

// requestStop asks the executor of a running job to stop it.
func requestStop(j *ci.Job, reason ci.Reason, d *Decisions) bool {
	if j.State != ci.StateRunning || j.StopRequested {
		return false
	}
	setState(&j.State, ci.StateStopping)
	j.StopRequested, j.StopReason = true, reason
	d.Stop = append(d.Stop, j)
	return true
}

// blockStopReason says why a running block must stop, or "".
func blockStopReason(b *ci.Block, pipeStop ci.Reason, ffStop bool) ci.Reason {
	switch {
	case b.State == ci.StateStopping:
		return orReason(b.Reason, ci.ReasonUser)
	case pipeStop != ci.ReasonNone:
		return pipeStop
	case ffStop:
		return ci.ReasonFastFailing
	case b.FailFast == "stop" && anyFailed(b):
		return ci.ReasonFastFailing
	}
	return ci.ReasonNone
}

// enforceStops cancels the jobs of a running block that have not started
// and asks running ones to stop, as reason (stop) or cancelOnly (cancel
// what has not started) require.
func enforceStops(b *ci.Block, reason ci.Reason, cancelOnly bool, now time.Time, d *Decisions) bool {
	changed := false
	for _, j := range b.Jobs {
		switch {
		case reason != ci.ReasonNone:
			if cancelJob(j, reason, now) || requestStop(j, reason, d) {
				changed = true
			}
		case cancelOnly:
			if cancelJob(j, ci.ReasonFastFailing, now) {
				changed = true
			}
		}
	}
	return changed
}

// finishBlock folds a running block whose jobs are all done.
func finishBlock(b *ci.Block, now time.Time) bool {
	if b.State != ci.StateRunning && b.State != ci.StateStopping {
		return false
	}
	for _, j := range b.Jobs {
		if j.State != ci.StateDone {
			return false
		}
	}
	res, reason := blockResult(b.Jobs)
	if b.State == ci.StateStopping && res == ci.ResultCanceled && b.Reason != ci.ReasonNone {
		reason = b.Reason
	}
	setState(&b.State, ci.StateDone)
	b.Result, b.Reason, b.DoneAt = res, reason, now
	return true
}

// failFastTriggered reports whether the pipeline's fail_fast strategy has
// fired: a job of a regular block failed.
func failFastTriggered(p *ci.Pipeline, main []*ci.Block) (stop, cancel bool) {
	if p.FailFast == "" {
		return false, false
	}
	for _, b := range main {
		if anyFailed(b) {
			return p.FailFast == "stop", p.FailFast == "cancel"
		}
	}
	return false, false
}

func anyFailed(b *ci.Block) bool {
	for _, j := range b.Jobs {
		if j.State == ci.StateDone && j.Result == ci.ResultFailed {
			return true
		}
	}
	return false
}

// blockResult folds a block's job results (ci.FoldBlock).
func blockResult(jobs []*ci.Job) (ci.Result, ci.Reason) {
	out := make([]ci.Outcome, len(jobs))
	for i, j := range jobs {
		out[i] = ci.Outcome{Result: j.Result, Reason: j.Reason, Ran: !j.StartedAt.IsZero()}
	}
	return ci.FoldBlock(out)
}

// pipelineResult folds the results of the regular blocks (ci.FoldPipeline);
// a pipeline being stopped counts as a stop request.
func pipelineResult(main []*ci.Block, p *ci.Pipeline) (ci.Result, ci.Reason) {
	out := make([]ci.Outcome, len(main))
	for i, b := range main {
		out[i] = ci.Outcome{Result: b.Result, Reason: b.Reason, Ran: !b.StartedAt.IsZero()}
	}
	stop := ci.ReasonNone
	if p.State == ci.StateStopping {
		stop = orReason(p.Reason, ci.ReasonUser)
	}
	return ci.FoldPipeline(out, stop)
}

func orReason(r, def ci.Reason) ci.Reason {
	if r == ci.ReasonNone {
		return def
	}
	return r
}
