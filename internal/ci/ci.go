// Package ci is Baton's vocabulary: the results and states of workflows,
// pipelines, blocks and jobs, the legal state transitions, and the job log
// events of the Semaphore log format. It is pure: no I/O, standard library
// only, so every other package can depend on it.
package ci

import "fmt"

// Result is how a pipeline, block or job ended.
type Result string

// The results, as Semaphore names them.
const (
	ResultNone     Result = ""         // not finished yet
	ResultPassed   Result = "passed"   // every command exited 0
	ResultFailed   Result = "failed"   // a command exited non-zero
	ResultStopped  Result = "stopped"  // terminated while running
	ResultCanceled Result = "canceled" // terminated before it ran
)

// Passed reports whether r counts as a pass for dependents.
func (r Result) Passed() bool { return r == ResultPassed }

// Reason explains a result that is not self-explanatory.
type Reason string

// The result reasons of Semaphore (docs/semaphore.md §2.2, §7.4) plus Baton's own.
const (
	ReasonNone        Reason = ""
	ReasonTest        Reason = "test"         // a command failed
	ReasonMalformed   Reason = "malformed"    // the pipeline definition is invalid
	ReasonStuck       Reason = "stuck"        // nothing could make progress
	ReasonInternal    Reason = "internal"     // Baton itself failed
	ReasonUser        Reason = "user"         // a user stopped it
	ReasonStrategy    Reason = "strategy"     // auto_cancel stopped or canceled it
	ReasonFastFailing Reason = "fast_failing" // fail_fast stopped or canceled it
	ReasonDeleted     Reason = "deleted"
	ReasonTimeout     Reason = "timeout"    // execution_time_limit reached
	ReasonSkipped     Reason = "skipped"    // a skip/run condition skipped it
	ReasonDependency  Reason = "dependency" // a block it depends on did not pass
	ReasonAgentLost   Reason = "agent_lost" // the agent running it stopped answering
)

// State is where a pipeline, block or job is in its lifecycle.
type State string

// The states every unit goes through, in order.
const (
	StatePending  State = "pending"  // created, waiting for its dependencies
	StateQueued   State = "queued"   // ready, waiting for a free slot or agent
	StateRunning  State = "running"  // executing
	StateStopping State = "stopping" // a stop was requested and is in progress
	StateDone     State = "done"     // finished; see the Result
)

var transitions = map[State][]State{
	StatePending:  {StateQueued, StateRunning, StateStopping, StateDone},
	StateQueued:   {StateRunning, StateStopping, StateDone},
	StateRunning:  {StateStopping, StateDone},
	StateStopping: {StateDone},
	StateDone:     nil,
}

// CanTransition reports whether a unit may move from one state to another.
func CanTransition(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Transition returns to if the move from "from" is legal, and an error
// naming both states otherwise.
func Transition(from, to State) (State, error) {
	if !CanTransition(from, to) {
		return from, fmt.Errorf("illegal state transition %s -> %s", from, to)
	}
	return to, nil
}

// StopCause is the cause given to a context.CancelCauseFunc when a running
// unit is stopped on purpose; Reason says why (user, timeout, strategy,
// fast_failing, agent_lost...).
type StopCause struct {
	Reason Reason
}

func (c StopCause) Error() string { return "stopped: " + string(c.Reason) }
