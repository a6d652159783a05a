// Package status reports pipelines to forges as commit statuses: pending
// when a pipeline is queued, running when it starts (pending on forges
// without that state), then success, failure or error. It is the
// engine's Observer (engine.Observer); reports are queued and sent by
// Run, retried with exponential backoff, and never block a build. A
// state already reported for a commit and context is not sent again
// (GitLab refuses a repeated state). Failures are logged and kept
// (Failures) so that they are visible.
package status

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/forge"
)

// Config configures a Reporter.
type Config struct {
	// Open returns the adapter of a project's forge, with its API token.
	Open func(ctx context.Context, p *ci.Project) (forge.Forge, error)
	// BaseURL is the server's URL, for the statuses' links.
	BaseURL string
	Logger  *slog.Logger
	// Attempts is how many times a report is tried (default 5); Backoff
	// the wait after the first failure, doubled after each (default 1s).
	Attempts int
	Backoff  time.Duration
	// QueueSize bounds the reports waiting to be sent (default 1000); a
	// report that finds the queue full is dropped and logged.
	QueueSize int
}

// Failure is a report that could not be delivered.
type Failure struct {
	Project, SHA, Context string
	State                 forge.State
	Attempts              int
	Err                   string
	At                    time.Time
}

// Reporter sends commit statuses; build it with New.
type Reporter struct {
	cfg   Config
	queue chan report

	sent, failed atomic.Int64

	mu       sync.Mutex
	failures []Failure // the most recent, oldest first

	// last is the state last delivered per commit and context, read
	// and written by Run only.
	last map[statusKey]forge.State
}

// statusKey names a commit status: a project's commit and context.
type statusKey struct{ project, sha, context string }

// maxRemembered bounds last; past it the memory starts again (at worst
// one repeated state, which GitLab's adapter takes as delivered).
const maxRemembered = 10000

// maxFailures is how many failures Failures keeps.
const maxFailures = 100

type report struct {
	proj   *ci.Project
	sha    string
	status forge.Status
}

// New returns a Reporter; Run sends what it queues.
func New(cfg Config) *Reporter {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 5
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 1000
	}
	return &Reporter{cfg: cfg, queue: make(chan report, cfg.QueueSize), last: map[statusKey]forge.State{}}
}

// StatusOf is the commit status of a pipeline, reported on the commit the
// forge knows: a pull request's head (its merge commit exists only in
// Baton's mirror), else the workflow's commit.
func StatusOf(p *ci.Pipeline, wf *ci.Workflow, baseURL string) (sha string, st forge.Status) {
	sha = wf.SHA
	if wf.RefType == "pull-request" && wf.PRSHA != "" {
		sha = wf.PRSHA
	}
	name := p.Name
	if name == "" {
		name = p.File
	}
	st = forge.Status{Context: "baton/" + name, TargetURL: baseURL + "/api/v1/workflows/" + wf.ID}
	switch wf.RefType {
	case "pull-request":
		st.PullRequest = wf.PR
	case "tag":
		st.Ref = wf.Tag
	default:
		st.Ref = wf.Branch
	}
	switch {
	case p.State == ci.StateRunning:
		st.State, st.Description = forge.Running, "The pipeline is running"
	case p.State != ci.StateDone:
		st.State, st.Description = forge.Pending, "The pipeline is "+string(p.State)
	case p.Result == ci.ResultPassed:
		st.State, st.Description = forge.Success, "The pipeline passed"
	case p.Result == ci.ResultFailed:
		st.State, st.Description = forge.Failure, "The pipeline failed"
	default:
		st.State, st.Description = forge.Error, "The pipeline was "+string(p.Result)
	}
	return sha, st
}

// PipelineChanged queues the pipeline's status, if its project is on a
// forge with a repository set. It never blocks.
func (r *Reporter) PipelineChanged(_ context.Context, p *ci.Pipeline, wf *ci.Workflow, proj *ci.Project) {
	if proj.Forge == "" || proj.ForgeRepo == "" {
		return
	}
	if p.State == ci.StateStopping {
		return // reported when done
	}
	sha, st := StatusOf(p, wf, r.cfg.BaseURL)
	select {
	case r.queue <- report{proj: proj, sha: sha, status: st}:
	default:
		r.fail(report{proj: proj, sha: sha, status: st}, 0, errors.New("status queue full: report dropped"))
	}
}

// Run sends the queued reports, in order, until ctx ends.
func (r *Reporter) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case rep := <-r.queue:
			r.send(ctx, rep)
		}
	}
}

// send tries one report up to Attempts times, unless its state is the
// one last delivered for its commit and context.
func (r *Reporter) send(ctx context.Context, rep report) {
	key := statusKey{rep.proj.ID, rep.sha, rep.status.Context}
	if last, ok := r.last[key]; ok && last == rep.status.State {
		r.cfg.Logger.Debug("commit status unchanged; not sent again", "project", rep.proj.Name, "sha", rep.sha, "state", rep.status.State)
		return
	}
	if !r.deliver(ctx, rep) {
		return
	}
	if len(r.last) >= maxRemembered {
		clear(r.last)
	}
	r.last[key] = rep.status.State
}

// deliver tries one report up to Attempts times and reports whether it
// was delivered.
func (r *Reporter) deliver(ctx context.Context, rep report) bool {
	f, err := r.cfg.Open(ctx, rep.proj)
	if err != nil {
		r.fail(rep, 0, err)
		return false
	}
	wait := r.cfg.Backoff
	for attempt := 1; ; attempt++ {
		err = f.SetStatus(ctx, rep.proj.ForgeRepo, rep.sha, rep.status)
		if err == nil {
			r.sent.Add(1)
			r.cfg.Logger.Debug("commit status reported", "project", rep.proj.Name, "sha", rep.sha, "state", rep.status.State)
			return true
		}
		var se *forge.StatusError
		permanent := errors.As(err, &se) && !se.Temporary()
		if permanent || attempt >= r.cfg.Attempts || ctx.Err() != nil {
			r.fail(rep, attempt, err)
			return false
		}
		r.cfg.Logger.Info("commit status failed; retrying", "project", rep.proj.Name, "sha", rep.sha, "attempt", attempt, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			r.fail(rep, attempt, context.Cause(ctx))
			return false
		case <-t.C:
		}
		wait *= 2
	}
}

func (r *Reporter) fail(rep report, attempts int, err error) {
	r.failed.Add(1)
	r.cfg.Logger.Warn("commit status not reported", "project", rep.proj.Name, "sha", rep.sha,
		"state", rep.status.State, "attempts", attempts, "err", err)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, Failure{Project: rep.proj.Name, SHA: rep.sha, Context: rep.status.Context,
		State: rep.status.State, Attempts: attempts, Err: fmt.Sprint(err), At: time.Now()})
	if n := len(r.failures); n > maxFailures {
		r.failures = append([]Failure(nil), r.failures[n-maxFailures:]...)
	}
}

// Counts returns how many reports were delivered and how many were given
// up, since the Reporter was made (for metrics).
func (r *Reporter) Counts() (sent, failed int64) { return r.sent.Load(), r.failed.Load() }

// Failures returns the most recent reports that could not be delivered,
// oldest first.
func (r *Reporter) Failures() []Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Failure(nil), r.failures...)
}
