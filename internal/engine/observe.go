package engine

import (
	"context"

	"github.com/batonci/baton/internal/ci"
)

// Observer hears of pipelines' state changes once they are committed:
// a pipeline queued, started, or done with a result. The forge status
// reporter is one. PipelineChanged is called synchronously on the
// engine's path and must return quickly (queue slow work); it may be
// called more than once for one state (by several servers, or when a
// change is re-examined), so what it does must be idempotent.
type Observer interface {
	PipelineChanged(ctx context.Context, p *ci.Pipeline, wf *ci.Workflow, proj *ci.Project)
}

// observe tells the observer, if any, of p's new state.
func (e *Engine) observe(ctx context.Context, p *ci.Pipeline) {
	if e.cfg.Observer == nil {
		return
	}
	wf, err := e.db.GetWorkflow(ctx, p.WorkflowID)
	if err != nil {
		e.log.Warn("observe pipeline: read workflow", "pipeline", p.ID, "err", err)
		return
	}
	proj, err := e.db.GetProject(ctx, p.ProjectID)
	if err != nil {
		e.log.Warn("observe pipeline: read project", "pipeline", p.ID, "err", err)
		return
	}
	e.cfg.Observer.PipelineChanged(ctx, p, wf, proj)
}

// gitProvider is SEMAPHORE_GIT_PROVIDER for a project's forge: github,
// gitlab, or git for the others (docs/semaphore.md §5).
func gitProvider(forge string) string {
	switch forge {
	case "github", "gitlab":
		return forge
	}
	return "git"
}
