package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/pipelinestate"
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
	return e.mutate(ctx, id, func(*store.Tx, *ci.Pipeline) (pipelinestate.Event, error) {
		return pipelinestate.Event{Kind: pipelinestate.Stop, Reason: reason}, nil
	})
}

// StopJob stops one job as a user asked: canceled if it has not started,
// otherwise its agent is asked to stop it.
func (e *Engine) StopJob(ctx context.Context, id string) error {
	j, err := e.db.GetJob(ctx, id)
	if err != nil {
		return fmt.Errorf("stop job: %w", err)
	}
	err = e.mutate(ctx, j.PipelineID, jobEvent(id, pipelinestate.Event{Kind: pipelinestate.StopJob}))
	if err != nil {
		return fmt.Errorf("stop job: %w", err)
	}
	return nil
}
