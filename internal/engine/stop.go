package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/store"
)

// StopWorkflow stops every unfinished pipeline of a workflow (docs/semaphore.md §10.2).
func (e *Engine) StopWorkflow(ctx context.Context, id string) error {
	ps, err := e.db.ListPipelines(ctx, id)
	if err != nil {
		return fmt.Errorf("stop workflow: %w", err)
	}
	if len(ps) == 0 {
		if _, err := e.db.GetWorkflow(ctx, id); err != nil {
			return fmt.Errorf("stop workflow: %w", err)
		}
	}
	var errs []error
	for _, p := range ps {
		if p.State == ci.StateDone {
			continue
		}
		if err := e.stop(ctx, p.ID, ci.ReasonUser); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop workflow: %w", err)
	}
	return nil
}

// StopPipeline stops a pipeline as a user asked: jobs that have not
// started are canceled at once, running ones are asked to stop and end as
// stopped when their agents report. A pipeline that never started ends
// canceled. Its after_pipeline jobs still run once the rest is done; if
// they already run, they are stopped. Stopping a finished pipeline does
// nothing.
func (e *Engine) StopPipeline(ctx context.Context, id string) error {
	if err := e.stop(ctx, id, ci.ReasonUser); err != nil {
		return fmt.Errorf("stop pipeline: %w", err)
	}
	return nil
}

func (e *Engine) stop(ctx context.Context, id string, reason ci.Reason) error {
	return e.mutate(ctx, id, func(tx *store.Tx, p *ci.Pipeline) error {
		switch p.State {
		case ci.StatePending, ci.StateQueued:
			cancelPipeline(p, reason, e.now())
		case ci.StateRunning, ci.StateStopping:
			if !stopPipeline(p, reason) {
				_, ap := splitBlocks(p)
				if ap != nil && ap.State == ci.StateRunning {
					setState(&ap.State, ci.StateStopping)
					ap.Reason = reason
				}
			}
		}
		return nil
	})
}

// StopJob stops one job as a user asked: canceled if it has not started,
// otherwise its agent is asked to stop it.
func (e *Engine) StopJob(ctx context.Context, id string) error {
	j, err := e.db.GetJob(ctx, id)
	if err != nil {
		return fmt.Errorf("stop job: %w", err)
	}
	err = e.mutate(ctx, j.PipelineID, func(tx *store.Tx, p *ci.Pipeline) error {
		_, j := findJob(p, id)
		if j == nil {
			return fmt.Errorf("job %s: %w", id, store.ErrNotFound)
		}
		if !cancelJob(j, ci.ReasonUser, e.now()) {
			requestStop(j, ci.ReasonUser, newOutcome())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("stop job: %w", err)
	}
	return nil
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

// stopPipeline asks a running pipeline's regular blocks to stop; advance
// then cancels what has not started and stops what runs. It reports false
// when the regular blocks are all done already (only after_pipeline jobs
// may run).
func stopPipeline(p *ci.Pipeline, reason ci.Reason) bool {
	main, _ := splitBlocks(p)
	pending := false
	for _, b := range main {
		if b.State != ci.StateDone {
			pending = true
		}
	}
	if !pending {
		return false
	}
	if p.State == ci.StateStopping {
		return true // the first reason stays
	}
	setState(&p.State, ci.StateStopping)
	p.Reason = reason
	return true
}
