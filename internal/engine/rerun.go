package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/pipeline"
	"github.com/batonci/baton/internal/plan"
	"github.com/batonci/baton/internal/store"
)

// Rebuild creates a new workflow on the same commit, ref and initial
// pipeline file as workflowID, with the same parameters; its jobs see
// SEMAPHORE_WORKFLOW_RERUN=true (docs/semaphore.md §1.14). by is the login of whoever
// asked.
func (e *Engine) Rebuild(ctx context.Context, workflowID, by string) (*ci.Workflow, error) {
	return e.RebuildKeeping(ctx, workflowID, by, 0)
}

// RebuildKeeping is Rebuild whose failed jobs are kept alive for keep
// (TriggerRequest.KeepOnFailure).
func (e *Engine) RebuildKeeping(ctx context.Context, workflowID, by string, keep time.Duration) (*ci.Workflow, error) {
	if keep > MaxDebugDuration {
		return nil, &DebugLimitError{Asked: keep, Max: MaxDebugDuration}
	}
	wf, err := e.db.GetWorkflow(ctx, workflowID)
	if err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	proj, err := e.db.GetProject(ctx, wf.ProjectID)
	if err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	ps, err := e.db.ListPipelines(ctx, wf.ID)
	if err != nil {
		return nil, fmt.Errorf("rebuild: %w", err)
	}
	req := TriggerRequest{
		Project:     proj,
		Trigger:     ci.TriggerRebuild,
		RefType:     wf.RefType,
		Branch:      wf.Branch,
		Tag:         wf.Tag,
		PR:          wf.PR,
		PRBranch:    wf.PRBranch,
		SHA:         wf.SHA,
		PRSHA:       wf.PRSHA,
		PRName:      wf.PRName,
		PRAuthor:    prAuthor(wf),
		PRSlug:      wf.PRSlug,
		PRHeadURL:   wf.PRHeadURL,
		CommitRange: wf.CommitRange,
		TriggeredBy: by,
		RerunOf:     wf.ID,
		PRFromFork:  wf.PRFork,

		KeepOnFailure: keep,
		Params:        wf.Parameters,
	}
	for _, p := range ps {
		if p.PromotionOf != "" || p.PartialRerun != "" {
			continue
		}
		req.PipelineFile = p.File
		if g, err := decodeGraph(p.Graph); err == nil && len(g.Params) > 0 {
			req.Params = g.Params
		}
		break
	}
	return e.Trigger(ctx, req)
}

// RerunError says why a pipeline cannot be rerun in its current state. It
// wraps store.ErrConflict.
type RerunError struct{ Why string }

func (e *RerunError) Error() string { return "rerun failed: " + e.Why }
func (e *RerunError) Unwrap() error { return store.ErrConflict }

// RerunFailed creates a partial rerun of a finished pipeline that did not
// pass (docs/semaphore.md §1.14): a new pipeline of the same workflow and definition in
// which the blocks that did not pass, and the blocks that depend on them,
// run again. With partial_rerun "jobs" (the default) the jobs that passed
// inside those blocks are reused (done, passed, reason ReasonReused);
// with "block" the whole block runs again. Re-executed jobs see
// SEMAPHORE_JOB_RERUN=true and SEMAPHORE_JOB_ORIGINAL_ID, and every job
// SEMAPHORE_PIPELINE_RERUN=true. A pipeline that is not done, passed or
// was malformed gives a *RerunError (which wraps store.ErrConflict).
func (e *Engine) RerunFailed(ctx context.Context, pipelineID, by string) (*ci.Pipeline, error) {
	orig, err := e.db.GetPipelineTree(ctx, pipelineID)
	if err != nil {
		return nil, fmt.Errorf("rerun failed: %w", err)
	}
	switch {
	case orig.State != ci.StateDone:
		return nil, &RerunError{Why: "the pipeline is not done"}
	case orig.Result == ci.ResultPassed:
		return nil, &RerunError{Why: "the pipeline passed, nothing to rerun"}
	case len(orig.Graph) == 0:
		return nil, &RerunError{Why: "the pipeline definition is invalid; rebuild the workflow instead"}
	}
	g, err := decodeGraph(orig.Graph)
	if err != nil {
		return nil, fmt.Errorf("rerun failed: %w", err)
	}
	wf, err := e.db.GetWorkflow(ctx, orig.WorkflowID)
	if err != nil {
		return nil, fmt.Errorf("rerun failed: %w", err)
	}
	proj, err := e.db.GetProject(ctx, orig.ProjectID)
	if err != nil {
		return nil, fmt.Errorf("rerun failed: %w", err)
	}
	modes := e.partialRerunModes(ctx, proj, wf, orig.File)
	rp := &rerunPlan{
		orig:  orig,
		rerun: rerunBlocks(orig, g),
		partialJobs: func(block string) bool {
			m := modes[block]
			if m == "" {
				m = modes[""]
			}
			return m != "block"
		},
	}
	committer := wf.Author
	if info, err := e.cfg.Repos.Project(proj.ID).Commit(ctx, proj.RepoURL, wf.SHA); err == nil {
		committer = info.CommitterName
	}
	envTrigger := jobenvTrigger(wf.Trigger)
	if wf.RerunOf != "" {
		if o, err := e.db.GetWorkflow(ctx, wf.RerunOf); err == nil && o.Trigger != ci.TriggerRebuild {
			envTrigger = jobenvTrigger(o.Trigger)
		}
	}
	b := &builder{project: proj, wf: wf, committer: committer, trigger: envTrigger, baseURL: e.cfg.BaseURL, now: e.now()}
	c := &compiled{file: orig.File, name: orig.Name, graph: g}
	var p *ci.Pipeline
	err = e.db.Tx(ctx, func(tx *store.Tx) error {
		var err error
		p, err = e.create(tx, b, c, orig.PromotedBy, rp)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("rerun failed: %w", err)
	}
	// A pipeline records no author of its own: the log keeps who asked.
	e.log.Info("partial rerun", "pipeline", p.ID, "of", orig.ID, "by", by)
	e.afterCreate(context.WithoutCancel(ctx), p, false)
	if got, err := e.db.GetPipeline(ctx, p.ID); err == nil {
		p = got
	}
	return p, nil
}

// rerunBlocks returns the names of the regular blocks that did not pass,
// and of every block that depends on one of them, directly or not.
func rerunBlocks(orig *ci.Pipeline, g *plan.Graph) map[string]bool {
	rerun := map[string]bool{}
	for _, b := range orig.Blocks {
		if !b.AfterPipeline && b.Result != ci.ResultPassed {
			rerun[b.Name] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for _, b := range g.Blocks {
			if rerun[b.Name] {
				continue
			}
			for _, d := range b.Dependencies {
				if rerun[d] {
					rerun[b.Name] = true
					changed = true
					break
				}
			}
		}
	}
	return rerun
}

// partialRerunModes reads the partial_rerun settings of a pipeline file at
// the workflow's commit (the compiled graph does not keep them). When the
// file cannot be read, every block reruns per job, the default.
func (e *Engine) partialRerunModes(ctx context.Context, proj *ci.Project, wf *ci.Workflow, file string) map[string]string {
	fsys := commitFS(ctx, e.cfg.Repos.Project(proj.ID), proj.RepoURL, wf.SHA)
	pl, diags := pipeline.LoadWith(fsys, file, e.loadOptions(ctx, e.workflowPins(ctx, wf)))
	if len(diags) > 0 || pl == nil {
		return map[string]string{}
	}
	return partialRerunModes(pl)
}

// prAuthor is the author a rebuild of a pull request's workflow keeps:
// the original's, which for a pull request is whoever opened it.
func prAuthor(wf *ci.Workflow) string {
	if wf.RefType != "pull-request" {
		return ""
	}
	return wf.Author
}
