package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/batonci/baton/internal/ids"
)

// PromotionRun records one run of a promotion of a pipeline: who or what
// triggered it, when, with which parameters, and the pipeline it created,
// or why it was refused.
type PromotionRun struct {
	ID string
	// PipelineID is the pipeline promoted from.
	PipelineID string
	ProjectID  string
	// Name is the promotion's name.
	Name string
	// Run is 0 for the automatic run (there is at most one), 1, 2... for
	// manual runs.
	Run  int
	Auto bool
	// TriggeredBy is a login, or "auto" for the automatic run.
	TriggeredBy      string
	Parameters       map[string]string
	DeploymentTarget string
	// PromotedPipeline is the pipeline created; "" when refused.
	PromotedPipeline string
	// Refused says why the run did not happen; "" when it did.
	Refused   string
	CreatedAt time.Time
}

const promotionCols = `id, pipeline_id, project_id, name, run, auto, triggered_by, parameters,
	deployment_target, promoted_pipeline, refused, created_at`

func scanPromotion(s scanner) (*PromotionRun, error) {
	p := &PromotionRun{}
	var params string
	err := s.Scan(&p.ID, &p.PipelineID, &p.ProjectID, &p.Name, &p.Run, &p.Auto, &p.TriggeredBy,
		&params, &p.DeploymentTarget, &p.PromotedPipeline, &p.Refused, timeCol{&p.CreatedAt})
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(params), &p.Parameters); err != nil {
		return nil, fmt.Errorf("scan promotion parameters: %w", err)
	}
	if len(p.Parameters) == 0 {
		p.Parameters = nil
	}
	return p, nil
}

// CreatePromotion records a promotion run, giving it an ID and CreatedAt if
// they are zero. A manual run (Run 0 and Auto false) gets the next run
// number of its pipeline and name; callers lock the promoted-from
// pipeline first (Tx.LockPipeline), so that two servers never pick the
// same. The automatic run is run 0: recording it twice is ErrConflict, so
// it fires once.
func (tx *Tx) CreatePromotion(p *PromotionRun) error {
	if p.ID == "" {
		p.ID = ids.New()
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Now()
	}
	normTime(&p.CreatedAt)
	if !p.Auto {
		var n int
		err := tx.queryRow(`SELECT COALESCE(MAX(run), 0) FROM promotions
			WHERE pipeline_id = $1 AND name = $2`, p.PipelineID, p.Name).Scan(&n)
		if err != nil {
			return wrap("next promotion run", err)
		}
		p.Run = n + 1
	} else {
		p.Run = 0
	}
	params := "{}"
	if len(p.Parameters) > 0 {
		b, err := json.Marshal(p.Parameters)
		if err != nil {
			return fmt.Errorf("encode promotion parameters: %w", err)
		}
		params = string(b)
	}
	_, err := tx.exec(`INSERT INTO promotions (`+promotionCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		p.ID, p.PipelineID, p.ProjectID, p.Name, p.Run, p.Auto, p.TriggeredBy, params,
		p.DeploymentTarget, p.PromotedPipeline, p.Refused, tx.ts(p.CreatedAt))
	return wrap(fmt.Sprintf("record promotion %q", p.Name), err)
}

// ListPromotions returns the promotion runs of a pipeline, oldest first.
func (tx *Tx) ListPromotions(pipelineID string) ([]*PromotionRun, error) {
	ps, err := collect(tx, scanPromotion, `SELECT `+promotionCols+` FROM promotions
		WHERE pipeline_id = $1 ORDER BY created_at, run`, pipelineID)
	return ps, wrap("list promotions", err)
}

// ListPromotions returns the promotion runs of a pipeline, oldest first.
func (db *DB) ListPromotions(ctx context.Context, pipelineID string) ([]*PromotionRun, error) {
	return db.reader(ctx).ListPromotions(pipelineID)
}

// TargetHistory returns the promotion runs to a project's deployment
// target, newest first, at most limit (0 = 100).
func (db *DB) TargetHistory(ctx context.Context, projectID, target string, limit int) ([]*PromotionRun, error) {
	if limit <= 0 {
		limit = 100
	}
	ps, err := collect(db.reader(ctx), scanPromotion, `SELECT `+promotionCols+` FROM promotions
		WHERE project_id = $1 AND deployment_target = $2
		ORDER BY created_at DESC, id DESC LIMIT $3`, projectID, target, limit)
	return ps, wrap("deployment target history", err)
}
