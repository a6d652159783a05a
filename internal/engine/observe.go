package engine

import (
	"context"
	"fmt"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/store"
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

// Finisher hears of a pipeline's end inside the transaction that ends it
// (or creates it already done), so that what it writes (the notification
// outbox) commits with the end or not at all. It must be quick and must
// not fail but for a store error, which rolls the change back (to be
// retried). It may be called again for a pipeline whose change is
// retried, so what it writes must be idempotent.
type Finisher interface {
	PipelineDone(tx *store.Tx, p *ci.Pipeline) error
}

// finished tells the finisher, if any, that p ended in tx.
func (e *Engine) finished(tx *store.Tx, p *ci.Pipeline) error {
	if e.cfg.Finisher == nil {
		return nil
	}
	if err := e.cfg.Finisher.PipelineDone(tx, p); err != nil {
		return fmt.Errorf("pipeline %s ended: %w", p.ID, err)
	}
	return nil
}

// create creates b's pipeline c in tx and, when it is created already
// done (malformed, or with nothing left to run), tells the finisher: every
// way a pipeline comes to be (push, promotion, rerun, debug job) ends it
// the same way.
func (e *Engine) create(tx *store.Tx, b *builder, c *compiled, promotedBy string, rp *rerunPlan) (*ci.Pipeline, error) {
	p, err := b.create(tx, c, promotedBy, rp)
	if err != nil {
		return nil, err
	}
	if p.State == ci.StateDone {
		if err := e.finished(tx, p); err != nil {
			return nil, err
		}
	}
	return p, nil
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
