package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/containerjob"
	"github.com/batonci/baton/internal/jobenv"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/logstore"
	"github.com/batonci/baton/internal/plan"
	"github.com/batonci/baton/internal/store"
)

// PrepareError is returned by Assignment for a job that cannot start (a
// secret it names does not exist, its spec is unreadable). Assignment has
// already failed the job, with the reason as its log, so the caller only
// moves on.
type PrepareError struct {
	JobID string
	Err   error
}

func (e *PrepareError) Error() string { return "prepare job " + e.JobID + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *PrepareError) Unwrap() error { return e.Err }

// Assignment returns the runnable form of a job claimed by an agent: its
// stored spec plus the values of the secrets it names (resolved now, never
// stored; precedence system < secrets < YAML variables, docs/semaphore.md §4.2), the
// values to mask in its output, and the commit to check out.
//
// If the job cannot start, Assignment fails it (result failed, reason
// malformed, the cause in its log, as localrun does) and returns a
// *PrepareError.
func (e *Engine) Assignment(ctx context.Context, job *ci.Job) (agentapi.Assignment, error) {
	h, err := e.handout(ctx, job)
	if err != nil {
		return agentapi.Assignment{JobID: job.ID}, fmt.Errorf("assignment: %w", err)
	}
	return e.assignment(ctx, job, h)
}

// HandOut hands a job just claimed by an agent to it: it is JobStarted
// then Assignment, with what both need read once, in one statement
// (store.DB.GetHandout). A failure to record the start is logged, and
// the job handed out all the same (its agent reports on it, or it is
// lost with its agent); Assignment's errors are returned.
func (e *Engine) HandOut(ctx context.Context, job *ci.Job) (agentapi.Assignment, error) {
	return e.HandOutRead(ctx, job, nil)
}

// HandOutRead is HandOut with what ReadHandouts read for the job (nil:
// read it now).
func (e *Engine) HandOutRead(ctx context.Context, job *ci.Job, h *Handout) (agentapi.Assignment, error) {
	if h == nil {
		var err error
		if h, err = e.handout(ctx, job); err != nil {
			return agentapi.Assignment{JobID: job.ID}, fmt.Errorf("hand out: %w", err)
		}
	}
	if err := e.jobStarted(ctx, job.ID, &h.Start); err != nil {
		e.log.Error("job started", "job", job.ID, "err", err)
	}
	return e.assignment(ctx, job, h)
}

// Handout is what Assignment reads of a job besides the job itself:
// the store's Handout and the decoded graph of the job's pipeline (or
// why it could not be decoded).
type Handout struct {
	*store.Handout
	graph    *plan.Graph
	graphErr error
}

// ReadHandouts reads what handing each of jobs out needs (HandOutRead),
// as for the jobs one claim took for several agents: one statement for
// all, and one more per pipeline whose graph is not cached. A job not
// found is left out.
func (e *Engine) ReadHandouts(ctx context.Context, jobs []*ci.Job) (map[string]*Handout, error) {
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	hs, err := e.db.GetHandouts(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("hand out: %w", err)
	}
	type decoded struct {
		graph *plan.Graph
		err   error
	}
	graphs := map[string]decoded{}
	out := make(map[string]*Handout, len(hs))
	for id, h := range hs {
		pid := h.Pipeline.ID
		g, ok := graphs[pid]
		if !ok {
			var cached bool
			if g.graph, cached = e.graphs.cached(pid); !cached {
				p, err := e.db.GetPipeline(ctx, pid)
				if err != nil {
					return nil, fmt.Errorf("hand out: %w", err)
				}
				g.graph, g.err = e.graphs.get(pid, p.Graph)
			}
			graphs[pid] = g
		}
		out[id] = &Handout{Handout: h, graph: g.graph, graphErr: g.err}
	}
	return out, nil
}

// handout reads a job's Handout. The pipeline's graph (the bulk of
// its row) is read once for all its jobs: while the cache holds it, the
// row is read without it.
func (e *Engine) handout(ctx context.Context, job *ci.Job) (*Handout, error) {
	graph, cached := e.graphs.cached(job.PipelineID)
	h, err := e.db.GetHandout(ctx, job.ID, !cached)
	if err != nil {
		return nil, err
	}
	jh := &Handout{Handout: h, graph: graph}
	if !cached {
		jh.graph, jh.graphErr = e.graphs.get(h.Pipeline.ID, h.Pipeline.Graph)
	}
	return jh, nil
}

// assignment is Assignment for a job whose Handout the caller has just
// read.
func (e *Engine) assignment(ctx context.Context, job *ci.Job, h *Handout) (agentapi.Assignment, error) {
	a := agentapi.Assignment{JobID: job.ID}
	p, wf, proj := h.Pipeline, h.Workflow, h.Project
	var pj *plan.Job
	if h.graphErr == nil {
		pj = planJob(h.graph, h.Block.Index, job.Index, h.Block.AfterPipeline)
	}
	var rj jobspec.Job
	if err := json.Unmarshal(job.Spec, &rj); err != nil {
		return a, e.failBeforeStart(ctx, job, fmt.Errorf("the job's stored definition is unreadable: %v", err))
	}
	var names []string
	if pj != nil {
		names = pj.Secrets
	}
	if wf.PRFork && len(names) > 0 {
		kept, notices, err := e.forkSecrets(ctx, proj.ID, names)
		if err != nil {
			return a, e.failBeforeStart(ctx, job, err)
		}
		names = kept
		rj.Notices = append(rj.Notices, notices...)
	}
	if len(names) > 0 {
		env, files, err := e.resolveSecrets(ctx, proj.ID, names)
		if err != nil {
			return a, e.failBeforeStart(ctx, job, err)
		}
		jobenv.AddSecrets(&rj, pj, jobenv.Secrets{Env: env, Files: files})
	}
	if p.DeploymentTarget != "" {
		if err := e.targetSecrets(ctx, &rj, p, wf, pj); err != nil {
			return a, e.failBeforeStart(ctx, job, err)
		}
	}
	if pj != nil && containerjob.Needs(pj.Agent) {
		if err := e.containers(ctx, &rj, pj.Agent, proj.ID, wf.PRFork); err != nil {
			return a, e.failBeforeStart(ctx, job, err)
		}
	}
	b := &builder{project: proj, wf: wf}
	g := b.git()
	a.Job = rj
	a.Project, a.Workflow, a.Fork = proj.ID, wf.ID, wf.PRFork
	a.Tools = h.Tools
	a.Checkout = &agentapi.Checkout{Project: proj.ID, URL: proj.RepoURL, SHA: wf.SHA, Ref: g.Ref(), RepoName: g.RepoName}
	if wf.RefType == "pull-request" && wf.PRSHA != "" && wf.PRSHA != wf.SHA {
		// The merge commit exists only in the server's mirror: tell the
		// agent how to make it (its first parent is the base).
		info, err := e.cfg.Repos.Project(proj.ID).Commit(ctx, proj.RepoURL, wf.SHA)
		if err != nil || len(info.Parents) != 2 {
			return a, e.failBeforeStart(ctx, job, fmt.Errorf("pull request merge commit %s: %v", wf.SHA, err))
		}
		a.Checkout.Merge = &agentapi.Merge{BaseSHA: info.Parents[0], HeadURL: wf.PRHeadURL, HeadSHA: wf.PRSHA}
	}
	return a, nil
}

// containers gives a job its containers with their secrets' variables
// (env only, as on Semaphore) and its registry logins from
// image_pull_secrets, resolved now like the job's own secrets; their
// values are masked in its output. For a pull request from a fork, a
// secret that does not allow forks is withheld, with a notice.
func (e *Engine) containers(ctx context.Context, rj *jobspec.Job, a plan.Agent, projectID string, fork bool) error {
	names := containerjob.SecretNames(a)
	withheld := map[string]bool{}
	if fork && len(names) > 0 {
		kept, notices, err := e.forkSecrets(ctx, projectID, names)
		if err != nil {
			return err
		}
		for _, n := range names {
			withheld[n] = !slices.Contains(kept, n)
		}
		rj.Notices = append(rj.Notices, notices...)
		a.ImagePullSecrets = slices.DeleteFunc(slices.Clone(a.ImagePullSecrets), func(n string) bool { return withheld[n] })
	}
	resolved := map[string][]jobspec.Var{}
	lookup := func(name string) ([]jobspec.Var, bool, error) {
		if withheld[name] {
			return nil, true, nil
		}
		if env, ok := resolved[name]; ok {
			return env, true, nil
		}
		env, _, err := e.resolveSecrets(ctx, projectID, []string{name})
		if err != nil {
			return nil, false, err
		}
		vs := make([]jobspec.Var, len(env))
		for i, v := range env {
			vs[i] = jobspec.Var{Name: v.Name, Value: v.Value}
			if v.Value != "" {
				rj.Secrets = append(rj.Secrets, v.Value)
			}
		}
		resolved[name] = vs
		return vs, true, nil
	}
	cs, creds, err := containerjob.Build(a, lookup)
	if err != nil {
		return err
	}
	rj.Containers, rj.PullCredentials = cs, creds
	return nil
}

// resolveSecrets asks the secret source for the named secrets.
func (e *Engine) resolveSecrets(ctx context.Context, projectID string, names []string) ([]jobspec.Var, []jobspec.File, error) {
	if e.cfg.Secrets == nil {
		return nil, nil, fmt.Errorf("secret %q not found", names[0])
	}
	return e.cfg.Secrets.Resolve(ctx, projectID, names)
}

// forkSecrets splits the secrets a job of a pull request from a fork names
// into those it receives (they allow forks) and a notice for each of the
// others, which are withheld (docs/semaphore.md §4.4; Semaphore drops them silently,
// Baton says so in the job's log).
func (e *Engine) forkSecrets(ctx context.Context, projectID string, names []string) (kept, notices []string, err error) {
	allowed := map[string]bool{}
	if fp, ok := e.cfg.Secrets.(ForkPolicy); ok {
		if allowed, err = fp.ForkAllowed(ctx, projectID, names); err != nil {
			return nil, nil, err
		}
	}
	for _, n := range names {
		if allowed[n] {
			kept = append(kept, n)
		} else {
			notices = append(notices, jobspec.WithheldNotice(n))
		}
	}
	return kept, notices, nil
}

// failBeforeStart fails a claimed job that cannot start: its log is one
// "Preparing the job" command whose output is the cause, as localrun
// writes it.
func (e *Engine) failBeforeStart(ctx context.Context, job *ci.Job, cause error) error {
	if e.cfg.Logs != nil {
		events := ci.PrepareFailed(ci.Timestamp(e.now()), cause.Error(), ci.ResultFailed, "")
		err := e.cfg.Logs.Append(ctx, job.ID, logstore.Chunk{Seq: 0, Events: events})
		var gap *logstore.GapError
		if err != nil && !errors.As(err, &gap) {
			e.log.Error("write the log of a job that cannot start", "job", job.ID, "err", err)
		}
		if err := e.cfg.Logs.Seal(job.ID); err != nil {
			e.log.Error("seal the log of a job that cannot start", "job", job.ID, "err", err)
		}
	}
	if err := e.JobFinished(ctx, job.ID, ci.ResultFailed, ci.ReasonMalformed); err != nil {
		return fmt.Errorf("fail job %s: %w (it cannot start: %v)", job.ID, err, cause)
	}
	return &PrepareError{JobID: job.ID, Err: cause}
}
