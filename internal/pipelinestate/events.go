package pipelinestate

import (
	"time"

	"github.com/batonci/baton/internal/ci"
)

// Kind names what happened to a pipeline.
type Kind string

const (
	// Check is no news: Advance re-examines the pipeline (a new pipeline,
	// one whose queue moved, a safety-net re-check).
	Check Kind = "check"
	// JobStarted: an executor took Job (on Agent, if any).
	JobStarted Kind = "job_started"
	// JobFinished: Job ended with Result and Reason as its executor
	// reported them.
	JobFinished Kind = "job_finished"
	// AgentLost: the agent running Job stopped answering; the job fails
	// with reason agent_lost.
	AgentLost Kind = "agent_lost"
	// Stop stops the pipeline (Reason, default user): jobs that have not
	// started are canceled, running ones are asked to stop. A pipeline
	// that never started ends canceled. Its after_pipeline jobs still
	// run; if they already run, they are stopped.
	Stop Kind = "stop"
	// StopJob stops one job (reason user): canceled if it has not
	// started, otherwise its executor is asked to stop it.
	StopJob Kind = "stop_job"
	// Supersede applies a newer pipeline's auto_cancel Strategy: "cancel"
	// cancels the pipeline if it has not started, "stop" also stops it
	// when it runs (reason strategy).
	Supersede Kind = "supersede"
	// Interrupt stops everything, after_pipeline jobs included (Reason,
	// default user): `baton run` interrupted.
	Interrupt Kind = "interrupt"
	// Tick applies the time limits that have passed.
	Tick Kind = "tick"
)

// Event is one thing that happened to a pipeline.
type Event struct {
	Kind Kind
	// Job is the ID of the job of a job event.
	Job string
	// Agent is the agent that took the job (JobStarted).
	Agent string
	// Result and Reason are a finished job's (JobFinished).
	Result ci.Result
	// Reason is the finished job's reason, or the stop's.
	Reason ci.Reason
	// Strategy is the superseding pipeline's auto_cancel (Supersede).
	Strategy string
}

// Facts are what Advance needs to know besides the tree.
type Facts struct {
	Now time.Time
	// Admitted is true when the pipeline may leave its queue
	// (docs/semaphore.md §1.9); the caller decides it.
	Admitted bool
	// QueueWait is the wait reason of a pipeline that is not admitted.
	QueueWait string
}

// Decisions are what the caller must act on after an event.
type Decisions struct {
	// Queue lists the jobs newly queued: start them (the engine hands
	// them to agents; `baton run` runs them).
	Queue []*ci.Job
	// Stop lists the running jobs to stop; each one's StopReason says
	// why.
	Stop []*ci.Job
	// AfterPipeline lists the after_pipeline jobs among Queue. They see
	// the result of the regular blocks: Result and Reason.
	AfterPipeline []*ci.Job
	// Result and Reason fold the regular blocks once they are all done.
	Result ci.Result
	Reason ci.Reason
	// Started is set when the pipeline left its queue.
	Started bool
	// Done is set when the pipeline ended.
	Done bool
}

// Apply receives ev and advances the pipeline: Receive then Advance.
func Apply(p *ci.Pipeline, ev Event, f Facts) *Decisions {
	d := Receive(p, ev, f.Now)
	Advance(p, f, d)
	return d
}

// Receive applies one event to the tree, without advancing it. Events
// about a job the tree does not have, or one already done, change
// nothing. It returns the decisions so far; pass them to Advance.
func Receive(p *ci.Pipeline, ev Event, now time.Time) *Decisions {
	d := &Decisions{}
	switch ev.Kind {
	case JobStarted:
		b, j := findJob(p, ev.Job)
		if j == nil {
			break
		}
		if j.State == ci.StateQueued {
			setState(&j.State, ci.StateRunning)
			j.StartedAt = now
			if ev.Agent != "" {
				j.AgentID = ev.Agent
			}
		}
		if j.State != ci.StateRunning && j.State != ci.StateStopping {
			break
		}
		j.WaitReason = ""
		if b.StartedAt.IsZero() {
			b.StartedAt = now
		}
		if p.StartedAt.IsZero() {
			p.StartedAt = now
		}
	case JobFinished, AgentLost:
		_, j := findJob(p, ev.Job)
		if j == nil || j.State == ci.StateDone {
			break
		}
		result, reason := ev.Result, ev.Reason
		if ev.Kind == AgentLost {
			result, reason = ci.ResultFailed, ci.ReasonAgentLost
		}
		finishJob(j, result, reason, now)
	case Stop:
		stop(p, orReason(ev.Reason, ci.ReasonUser), now)
	case Interrupt:
		reason := orReason(ev.Reason, ci.ReasonUser)
		stop(p, reason, now)
		if _, ap := splitBlocks(p); ap != nil && ap.State == ci.StatePending {
			cancelBlock(ap, reason, now)
		}
	case StopJob:
		_, j := findJob(p, ev.Job)
		if j != nil && !cancelJob(j, ci.ReasonUser, now) {
			requestStop(j, ci.ReasonUser, d)
		}
	case Supersede:
		switch p.State {
		case ci.StatePending, ci.StateQueued:
			cancelPipeline(p, ci.ReasonStrategy, now)
		case ci.StateRunning:
			if ev.Strategy == "stop" {
				stopPipeline(p, ci.ReasonStrategy)
			}
		}
	case Tick:
		expire(p, now, d)
	}
	return d
}

// stop stops a pipeline (see Stop).
func stop(p *ci.Pipeline, reason ci.Reason, now time.Time) {
	switch p.State {
	case ci.StatePending, ci.StateQueued:
		cancelPipeline(p, reason, now)
	case ci.StateRunning, ci.StateStopping:
		if !stopPipeline(p, reason) {
			_, ap := splitBlocks(p)
			if ap != nil && ap.State == ci.StateRunning {
				setState(&ap.State, ci.StateStopping)
				ap.Reason = reason
			}
		}
	}
}

// findJob finds a job and its block in a tree.
func findJob(p *ci.Pipeline, jobID string) (*ci.Block, *ci.Job) {
	for _, b := range p.Blocks {
		for _, j := range b.Jobs {
			if j.ID == jobID {
				return b, j
			}
		}
	}
	return nil, nil
}

// finishJob ends a job with a reported result, normalising the reason.
func finishJob(j *ci.Job, result ci.Result, reason ci.Reason, now time.Time) {
	switch result {
	case ci.ResultPassed:
		reason = ci.ReasonNone
	case ci.ResultFailed:
		reason = orReason(reason, ci.ReasonTest)
	case ci.ResultStopped:
		if j.StopReason != ci.ReasonNone {
			reason = j.StopReason
		}
		reason = orReason(reason, ci.ReasonUser)
	case ci.ResultCanceled:
		reason = orReason(reason, ci.ReasonUser)
	default:
		result, reason = ci.ResultFailed, orReason(reason, ci.ReasonInternal)
	}
	setState(&j.State, ci.StateDone)
	j.Result, j.Reason, j.DoneAt, j.WaitReason = result, reason, now, ""
}

// cancelPipeline ends a pipeline that never started: every block and job
// is canceled with reason.
func cancelPipeline(p *ci.Pipeline, reason ci.Reason, now time.Time) {
	for _, b := range p.Blocks {
		if b.State != ci.StateDone {
			cancelBlock(b, reason, now)
		}
	}
	setState(&p.State, ci.StateDone)
	p.Result, p.Reason, p.DoneAt = ci.ResultCanceled, reason, now
}

// stopPipeline asks a running pipeline's regular blocks to stop; Advance
// then cancels what has not started and stops what runs. It reports false
// when the regular blocks are all done already (only after_pipeline jobs
// may run).
func stopPipeline(p *ci.Pipeline, reason ci.Reason) bool {
	main, _ := splitBlocks(p)
	if allDone(main) {
		return false
	}
	if p.State == ci.StateStopping {
		return true // the first reason stays
	}
	setState(&p.State, ci.StateStopping)
	p.Reason = reason
	return true
}

// Deadlines lists the time limits of the units of p that still run.
func Deadlines(p *ci.Pipeline) []time.Time {
	var out []time.Time
	main, _ := splitBlocks(p)
	if p.State == ci.StateRunning && p.TimeLimit > 0 && !p.StartedAt.IsZero() && !allDone(main) {
		out = append(out, p.StartedAt.Add(p.TimeLimit))
	}
	for _, b := range p.Blocks {
		if b.State == ci.StateRunning && b.TimeLimit > 0 && !b.StartedAt.IsZero() {
			out = append(out, b.StartedAt.Add(b.TimeLimit))
		}
		for _, j := range b.Jobs {
			if j.State == ci.StateRunning && j.TimeLimit > 0 && !j.StartedAt.IsZero() {
				out = append(out, j.StartedAt.Add(j.TimeLimit))
			}
		}
	}
	return out
}

// NextDeadline is the earliest of Deadlines, zero if none.
func NextDeadline(p *ci.Pipeline) time.Time {
	var next time.Time
	for _, d := range Deadlines(p) {
		if next.IsZero() || d.Before(next) {
			next = d
		}
	}
	return next
}

func allDone(bs []*ci.Block) bool {
	for _, b := range bs {
		if b.State != ci.StateDone {
			return false
		}
	}
	return true
}

// expire applies the time limits that have passed at now.
func expire(p *ci.Pipeline, now time.Time, d *Decisions) {
	main, _ := splitBlocks(p)
	if p.State == ci.StateRunning && p.TimeLimit > 0 && !p.StartedAt.IsZero() &&
		!now.Before(p.StartedAt.Add(p.TimeLimit)) && !allDone(main) {
		stopPipeline(p, ci.ReasonTimeout)
	}
	for _, b := range p.Blocks {
		if b.State == ci.StateRunning && b.TimeLimit > 0 && !b.StartedAt.IsZero() &&
			!now.Before(b.StartedAt.Add(b.TimeLimit)) {
			setState(&b.State, ci.StateStopping)
			b.Reason = ci.ReasonTimeout
		}
		for _, j := range b.Jobs {
			if j.State == ci.StateRunning && j.TimeLimit > 0 && !j.StartedAt.IsZero() &&
				!now.Before(j.StartedAt.Add(j.TimeLimit)) {
				requestStop(j, ci.ReasonTimeout, d)
			}
		}
	}
}
