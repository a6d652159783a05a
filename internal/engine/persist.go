package engine

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/store"
)

// snap is a copy of a pipeline tree as read, to find what changed.
type snap struct {
	pipeline ci.Pipeline
	blocks   map[string]ci.Block
	jobs     map[string]ci.Job
}

func snapshot(p *ci.Pipeline) *snap {
	s := &snap{pipeline: *p, blocks: map[string]ci.Block{}, jobs: map[string]ci.Job{}}
	s.pipeline.Blocks = nil
	for _, b := range p.Blocks {
		c := *b
		c.Jobs = nil
		s.blocks[b.ID] = c
		for _, j := range b.Jobs {
			s.jobs[j.ID] = *j
		}
	}
	return s
}

// persist writes the units of p that differ from the snapshot. A job is
// written only if its stored state is still the one read; otherwise (an
// agent claimed it meanwhile) it returns errRetry.
//
// The jobs that changed without their Spec (as read by the engine) are
// written together: a block's fifty jobs queued at once are one
// statement, not fifty.
func persist(tx *store.Tx, s *snap, p *ci.Pipeline) error {
	var batch []*ci.Job
	var from []ci.State
	for _, b := range p.Blocks {
		for _, j := range b.Jobs {
			old, ok := s.jobs[j.ID]
			if !ok {
				continue
			}
			if reflect.DeepEqual(old, *j) {
				continue
			}
			if j.Spec == nil {
				batch, from = append(batch, j), append(from, old.State)
				continue
			}
			if err := tx.UpdateJobIf(j, old.State); err != nil {
				return jobWriteError(err, "update job "+j.ID)
			}
		}
	}
	if len(batch) > 0 {
		if err := tx.UpdateJobsIf(batch, from); err != nil {
			return jobWriteError(err, fmt.Sprintf("update %d jobs", len(batch)))
		}
	}
	for _, b := range p.Blocks {
		old, ok := s.blocks[b.ID]
		if !ok {
			continue
		}
		c := *b
		c.Jobs = nil
		if reflect.DeepEqual(old, c) {
			continue
		}
		if err := tx.UpdateBlock(b); err != nil {
			return fmt.Errorf("update block %s: %w", b.ID, err)
		}
	}
	c := *p
	c.Blocks = nil
	if !reflect.DeepEqual(s.pipeline, c) {
		if err := tx.UpdatePipeline(p); err != nil {
			return fmt.Errorf("update pipeline %s: %w", p.ID, err)
		}
	}
	return nil
}

// jobWriteError is errRetry when a job changed under the engine (an
// agent claimed it meanwhile), otherwise err with what was written.
func jobWriteError(err error, what string) error {
	if errors.Is(err, store.ErrConflict) {
		return errRetry
	}
	return fmt.Errorf("%s: %w", what, err)
}
