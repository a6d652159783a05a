// Package runner runs one job (a jobspec.Job) the way Semaphore's agent does (docs/semaphore.md §7.2): in
// one persistent shell session, it exports the job's environment, writes its
// files, runs its commands until the first failure, then its epilogues, and
// reports everything as a stream of job log events (docs/semaphore.md §7.3), with secret
// values masked before they leave the package.
package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/redact"
)

// JobResultVar is the variable that holds the job's result in epilogues,
// and that a command may set before `return 130` to stop the job with that
// result.
const JobResultVar = "SEMAPHORE_JOB_RESULT"

// Runner runs jobs on an executor.
type Runner struct {
	// Executor starts the job's shell sessions.
	Executor executor.Executor
	// Now returns the current time for event timestamps; nil means
	// time.Now.
	Now func() time.Time
	// Log receives application logs (not build output); nil discards.
	Log *slog.Logger
	// Hold, when not nil, waits while a job is held with its session
	// alive (a debug job, Job.Debug; a failed job, Job.KeepOnFailure),
	// until ctx is done (the hold's deadline, or the job stopped) or the
	// caller ends the hold (the last debug session exited). Nil holds
	// until the deadline.
	Hold func(ctx context.Context, h Hold)
	// LendOutput lets the Output of cmd_output events share the buffer
	// the job's output was read into, instead of a copy of it: it is
	// valid only until emit returns, and emit copies what it keeps. For
	// a caller that writes the output out at once (baton run's live
	// view), a flood of output is then neither copied once more nor
	// collected as garbage.
	LendOutput bool
}

// Run runs job, calling emit for each event in order (from one goroutine at
// a time), and returns the result.
//
// The job ends early when ctx is done: its result is then stopped, with the
// reason of a ci.StopCause given as ctx's cause, ReasonTimeout if the job's
// own TimeLimit expired, and ReasonUser otherwise. Epilogues do not run for
// a stopped job.
//
// Events carry no Block or Job name: a caller that mixes several jobs into
// one stream sets them in emit.
func (r *Runner) Run(ctx context.Context, job jobspec.Job, emit func(ci.Event)) (ci.Result, ci.Reason) {
	outer := ctx // a failed job is kept beyond its time limit
	if job.TimeLimit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, job.TimeLimit, ci.StopCause{Reason: ci.ReasonTimeout})
		defer cancel()
	}
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := r.Now
	if now == nil {
		now = time.Now
	}
	j := &jobRun{
		exec: r.Executor,
		lend: r.LendOutput,
		job:  job,
		emit: emit,
		now:  now,
		log:  log.With("job", job.Name),
		red:  redact.New(job.Secrets),
		wait: r.Hold,
	}
	if n := len(j.red.ShortSecrets()); n > 0 {
		j.log.Warn("secret values too short to be masked in the log", "count", n, "min_length", redact.MinLength)
	}
	j.event(ci.Event{Kind: ci.EventJobStarted})
	result, reason := j.run(ctx)
	if result == ci.ResultFailed && job.KeepOnFailure > 0 && !job.Debug && outer.Err() == nil {
		j.keep(outer)
	}
	j.closeSession()
	j.event(ci.Event{Kind: ci.EventJobFinished, Result: result, Reason: reason})
	return result, reason
}

// outcome is how one command ended, as far as the job is concerned.
type outcome int

const (
	outPassed   outcome = iota // exit status 0
	outFailed                  // another status
	outSelfStop                // status 130: the command stopped the job
	outEnded                   // the command ended the shell
	outStopped                 // ctx is done
	outError                   // the executor failed
)

// jobRun is the state of one Runner.Run.
type jobRun struct {
	exec executor.Executor
	lend bool // Runner.LendOutput
	job  jobspec.Job
	emit func(ci.Event)
	now  func() time.Time
	log  *slog.Logger
	red  *redact.Redactor
	sess executor.Session // nil when there is no live session
	wait func(ctx context.Context, h Hold)
}

func (j *jobRun) event(e ci.Event) {
	e.Timestamp = ci.Timestamp(j.now())
	j.emit(e)
}

// Write emits one cmd_output event per chunk, its Output a copy of p
// unless the output is lent (Runner.LendOutput).
func (j *jobRun) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	out := ""
	if j.lend {
		out = unsafe.String(&p[0], len(p)) // valid until emit returns, which Runner.LendOutput asks of it
	} else {
		out = string(p)
	}
	j.event(ci.Event{Kind: ci.EventCmdOutput, Output: out})
	return len(p), nil
}

func (j *jobRun) run(ctx context.Context) (ci.Result, ci.Reason) {
	if err := j.startSession(ctx); err != nil {
		if ctx.Err() != nil {
			return ci.ResultStopped, stopReason(ctx)
		}
		j.log.Error("cannot start the job's shell", "err", err)
		return ci.ResultFailed, ci.ReasonInternal
	}
	o := j.exportEnv(ctx, j.job.Env, j.job.Notices...)
	files := j.job.Files
	if j.job.Debug {
		files = append(slices.Clone(files), jobspec.File{Path: CommandsFile, Content: []byte(CommandsScript(j.job)), Mode: 0o755})
	}
	if o == outPassed && len(files) > 0 {
		o = j.command(ctx, jobspec.DirectiveInjectFiles, "", injectScript(files))
	}
	if j.job.Debug {
		return j.debug(ctx, o)
	}
	for _, c := range j.job.Commands {
		if o != outPassed {
			break
		}
		o = j.command(ctx, c, "", c)
	}

	result, reason := ci.ResultPassed, ci.ReasonNone
	switch o {
	case outPassed:
	case outStopped:
		return ci.ResultStopped, stopReason(ctx)
	case outSelfStop:
		result = j.shellJobResult(ctx)
		if ctx.Err() != nil {
			return ci.ResultStopped, stopReason(ctx)
		}
		if result == ci.ResultStopped {
			return ci.ResultStopped, ci.ReasonUser
		}
		if result == ci.ResultFailed {
			reason = ci.ReasonTest
		}
	case outError:
		result, reason = ci.ResultFailed, ci.ReasonInternal
	default: // outFailed, outEnded
		result, reason = ci.ResultFailed, ci.ReasonTest
	}

	if j.epilogues(ctx, result) {
		return ci.ResultStopped, stopReason(ctx)
	}
	return result, reason
}

// epilogues exports the job result and runs the epilogue lists; each list
// stops at its first failure. It reports whether the job was stopped.
func (j *jobRun) epilogues(ctx context.Context, result ci.Result) (stopped bool) {
	resultVar := jobspec.Var{Name: JobResultVar, Value: string(result)}
	if j.sess == nil {
		// The shell ended during the commands; the epilogues get a new
		// one with the job's environment.
		if err := j.startSession(ctx); err != nil {
			if ctx.Err() != nil {
				return true
			}
			j.log.Error("cannot start a shell for the epilogue", "err", err)
			return false
		}
		if j.exportEnv(ctx, append(slices.Clone(j.job.Env), resultVar)) == outStopped {
			return true
		}
	} else if j.exportEnv(ctx, []jobspec.Var{resultVar}) == outStopped {
		return true
	}
	second := j.job.EpilogueOnFail
	if result == ci.ResultPassed {
		second = j.job.EpilogueOnPass
	}
	for _, list := range [][]string{j.job.EpilogueAlways, second} {
		for _, c := range list {
			if j.sess == nil {
				if err := j.startSession(ctx); err != nil {
					if ctx.Err() != nil {
						return true
					}
					j.log.Error("cannot start a shell for the epilogue", "err", err)
					return false
				}
				if j.exportEnv(ctx, append(slices.Clone(j.job.Env), resultVar)) == outStopped {
					return true
				}
			}
			o := j.command(ctx, c, "", c)
			if o == outStopped {
				return true
			}
			if o != outPassed {
				break
			}
		}
	}
	return ctx.Err() != nil
}

// exportEnv runs the "Exporting environment variables" pseudo-command;
// notices are shown first, one per line.
func (j *jobRun) exportEnv(ctx context.Context, vars []jobspec.Var, notices ...string) outcome {
	lines, script := exportScript(vars)
	if len(notices) > 0 {
		lines = strings.Join(notices, "\n") + "\n" + lines
	}
	return j.command(ctx, jobspec.DirectiveExportEnv, lines, script)
}

// command runs one command, or pseudo-command, with its cmd_started,
// cmd_output and cmd_finished events. preamble is output shown before the
// shell's.
func (j *jobRun) command(ctx context.Context, directive, preamble, source string) outcome {
	if ctx.Err() != nil {
		return outStopped
	}
	startedAt := ci.Timestamp(j.now())
	directive = j.red.String(directive)
	j.emit(ci.Event{Kind: ci.EventCmdStarted, Timestamp: startedAt, Directive: directive})
	w := j.red.Writer(j)
	_, _ = w.Write([]byte(preamble))

	code, o := 0, outPassed
	if source != "" {
		var err error
		code, err = j.sess.Run(ctx, source, w)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			// Stopped: the executor reports ctx's error, or that the
			// session ended if it saw the shell die first.
			o = outStopped
			j.closeSession()
		case errors.Is(err, executor.ErrSessionEnded):
			o = outEnded
			j.closeSession()
		default:
			j.log.Error("running a command failed", "err", err)
			_, _ = fmt.Fprintf(w, "\nBaton could not run the command: %v\n", err)
			o = outError
		}
	}
	_ = w.Flush()
	if o != outPassed && code <= 0 {
		code = 1
	}
	if o == outPassed {
		switch code {
		case 0:
		case 130:
			o = outSelfStop
		default:
			o = outFailed
		}
	}
	finishedAt := ci.Timestamp(j.now())
	j.emit(ci.Event{
		Kind:       ci.EventCmdFinished,
		Timestamp:  finishedAt,
		Directive:  directive,
		ExitCode:   &code,
		StartedAt:  &startedAt,
		FinishedAt: &finishedAt,
	})
	return o
}

// shellJobResult reads the result a self-stopping command chose from the
// shell: passed, failed, or (unset or anything else) stopped.
func (j *jobRun) shellJobResult(ctx context.Context) ci.Result {
	var b bytes.Buffer
	// The value follows the last newline, after any `set -x` trace.
	code, err := j.sess.Run(ctx, `builtin printf '\n%s' "${`+JobResultVar+`-}"`, &b)
	if err != nil || code != 0 {
		if errors.Is(err, executor.ErrSessionEnded) {
			j.closeSession()
		}
		return ci.ResultStopped
	}
	out := b.String()
	switch ci.Result(strings.TrimSpace(out[strings.LastIndexByte(out, '\n')+1:])) {
	case ci.ResultPassed:
		return ci.ResultPassed
	case ci.ResultFailed:
		return ci.ResultFailed
	}
	return ci.ResultStopped
}

// DirectiveContainers is the pseudo-command that shows a container job's
// image pulls and service starts.
const DirectiveContainers = "Pulling images and starting containers"

func (j *jobRun) startSession(ctx context.Context) error {
	cfg := executor.SessionConfig{
		Dir: j.job.Dir, Env: j.job.BaseEnv, Init: j.job.Init,
		Containers: j.job.Containers, Mounts: j.job.Mounts, PullPolicy: j.job.PullPolicy,
		Credentials: j.job.PullCredentials, JobID: j.job.ID,
	}
	if len(cfg.Containers) == 0 {
		s, err := j.exec.Start(ctx, cfg)
		if err != nil {
			return err
		}
		j.sess = s
		return nil
	}
	// Container jobs show their set-up as a pseudo-command, so that pulls
	// and failures (a missing image, a service that exited) are in the log.
	startedAt := ci.Timestamp(j.now())
	j.emit(ci.Event{Kind: ci.EventCmdStarted, Timestamp: startedAt, Directive: DirectiveContainers})
	w := j.red.Writer(j)
	cfg.Log = w
	s, err := j.exec.Start(ctx, cfg)
	code := 0
	if err != nil {
		code = 1
		if ctx.Err() == nil {
			_, _ = fmt.Fprintf(w, "%v\n", err)
		}
	}
	_ = w.Flush()
	finishedAt := ci.Timestamp(j.now())
	j.emit(ci.Event{Kind: ci.EventCmdFinished, Timestamp: finishedAt, Directive: DirectiveContainers,
		ExitCode: &code, StartedAt: &startedAt, FinishedAt: &finishedAt})
	if err != nil {
		return err
	}
	j.sess = s
	return nil
}

func (j *jobRun) closeSession() {
	if j.sess == nil {
		return
	}
	if err := j.sess.Close(); err != nil {
		j.log.Warn("closing the job's shell", "err", err)
	}
	j.sess = nil
}

// stopReason says why ctx is done.
func stopReason(ctx context.Context) ci.Reason {
	cause := context.Cause(ctx)
	var sc ci.StopCause
	if errors.As(cause, &sc) && sc.Reason != ci.ReasonNone {
		return sc.Reason
	}
	var psc *ci.StopCause
	if errors.As(cause, &psc) && psc != nil && psc.Reason != ci.ReasonNone {
		return psc.Reason
	}
	return ci.ReasonUser
}

// debug holds a debug job once it is set up: passed when its session
// ended, stopped when it was stopped or reached its time limit.
func (j *jobRun) debug(ctx context.Context, setup outcome) (ci.Result, ci.Reason) {
	switch setup {
	case outPassed:
	case outStopped:
		return ci.ResultStopped, stopReason(ctx)
	default:
		return ci.ResultFailed, ci.ReasonTest
	}
	until := j.now().Add(24 * time.Hour)
	if d, ok := ctx.Deadline(); ok {
		until = d
	}
	if j.hold(ctx, Hold{Kind: HoldDebug, Until: until}) == outStopped {
		return ci.ResultStopped, stopReason(ctx)
	}
	return ci.ResultPassed, ci.ReasonNone
}

// keep holds a failed job's session (Job.KeepOnFailure), starting a new
// one with the job's variables if its shell ended.
func (j *jobRun) keep(ctx context.Context) {
	if j.sess == nil {
		if err := j.startSession(ctx); err != nil {
			j.log.Warn("cannot keep the failed job's shell", "err", err)
			return
		}
		if j.exportEnv(ctx, j.job.Env) != outPassed {
			return
		}
	}
	j.hold(ctx, Hold{Kind: HoldFailure, Until: j.now().Add(j.job.KeepOnFailure)})
}
