package runner

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/jobspec"
)

// The directives of the pseudo-commands of held jobs.
const (
	DirectiveDebugWait = "Waiting for the debug session"
	DirectiveKeep      = "Keeping the failed job for debugging"
)

// CommandsFile is where a debug job's commands are written, relative to
// $HOME.
const CommandsFile = "commands.sh"

// HoldKind says why a job is held.
type HoldKind string

// The hold kinds.
const (
	// HoldDebug holds a debug job until its debug session ends.
	HoldDebug HoldKind = "debug"
	// HoldFailure keeps a failed job (Job.KeepOnFailure) for attaching.
	HoldFailure HoldKind = "keep_on_failure"
)

// Hold is a job held with its session alive.
type Hold struct {
	Kind HoldKind
	// Until is when the hold ends at the latest.
	Until time.Time
}

// CommandsScript is the content of a debug job's ~/commands.sh: the
// prologue and commands, then the epilogues, one per line, so that they
// can be run one by one or sourced.
func CommandsScript(job jobspec.Job) string {
	var b strings.Builder
	b.WriteString("# The job's commands (prologue and commands), one per line.\n")
	b.WriteString("# Run them one by one, or all with: source ~/" + CommandsFile + "\n")
	for _, c := range job.Commands {
		b.WriteString(c + "\n")
	}
	for _, l := range []struct {
		name string
		cmds []string
	}{{"always", job.EpilogueAlways}, {"on_pass", job.EpilogueOnPass}, {"on_fail", job.EpilogueOnFail}} {
		if len(l.cmds) == 0 {
			continue
		}
		fmt.Fprintf(&b, "# epilogue (%s):\n", l.name)
		for _, c := range l.cmds {
			b.WriteString(c + "\n")
		}
	}
	return b.String()
}

// ShellInit is bash source that gives an interactive shell the job's
// environment: the session's init (toolbox functions) and the job's
// variables, secrets included. It is what a debug session sources.
func ShellInit(job jobspec.Job) string {
	_, exports := exportScript(job.Env)
	return job.Init + "\n" + exports
}

// jobID is the job's SEMAPHORE_JOB_ID, for the notices.
func (j *jobRun) jobID() string {
	id := j.job.ID
	for _, v := range j.job.Env {
		if v.Name == "SEMAPHORE_JOB_ID" {
			id = v.Value
		}
	}
	return id
}

// hold keeps the job's session alive while Runner.Hold waits, with a
// pseudo-command that says how to connect. It returns outStopped if ctx
// ended the hold.
func (j *jobRun) hold(ctx context.Context, h Hold) outcome {
	directive, msg := DirectiveKeep, fmt.Sprintf("The job failed; it is kept for debugging until %s. Attach with: baton attach %s\n",
		h.Until.UTC().Format("15:04 MST"), j.jobID())
	if h.Kind == HoldDebug {
		directive = DirectiveDebugWait
		msg = fmt.Sprintf("The job's commands are in ~/%s. This debug job waits for you until %s: baton attach %s\n",
			CommandsFile, h.Until.UTC().Format("15:04 MST"), j.jobID())
	}
	startedAt := ci.Timestamp(j.now())
	j.emit(ci.Event{Kind: ci.EventCmdStarted, Timestamp: startedAt, Directive: directive})
	j.event(ci.Event{Kind: ci.EventCmdOutput, Output: msg})
	hctx, cancel := ctx, context.CancelFunc(func() {})
	if d, ok := ctx.Deadline(); !ok || h.Until.Before(d) {
		hctx, cancel = context.WithDeadline(ctx, h.Until)
	}
	if j.wait != nil {
		j.wait(hctx, h)
	} else {
		<-hctx.Done()
	}
	cancel()
	code, o := 0, outPassed
	if ctx.Err() != nil {
		code, o = 1, outStopped
	}
	finishedAt := ci.Timestamp(j.now())
	j.emit(ci.Event{Kind: ci.EventCmdFinished, Timestamp: finishedAt, Directive: directive,
		ExitCode: &code, StartedAt: &startedAt, FinishedAt: &finishedAt})
	return o
}
