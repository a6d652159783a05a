package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/ids"
)

const pipelineCols = `id, workflow_id, project_id, name, file, state, result, reason, queue,
	queue_scope, parallel, auto_cancel, fail_fast, time_limit_ms, graph, diagnostics,
	promotion_of, promoted_by, partial_rerun, created_at, started_at, done_at, promotion,
	deployment_target, problems`

// pipelineColsNoGraph reads a pipeline's row with a NULL Graph.
var pipelineColsNoGraph = strings.Replace(pipelineCols, " graph,", " NULL,", 1)

func scanPipeline(s scanner) (*ci.Pipeline, error) {
	p, part := pipelinePart()
	return p, scanParts(s, part)
}

// pipelinePart is a pipeline's share of a row: the columns of
// pipelineCols.
func pipelinePart() (*ci.Pipeline, rowPart) {
	p := &ci.Pipeline{}
	var problems string
	return p, rowPart{
		dest: []any{&p.ID, &p.WorkflowID, &p.ProjectID, &p.Name, &p.File, &p.State, &p.Result,
			&p.Reason, &p.Queue, &p.QueueScope, &p.Parallel, &p.AutoCancel, &p.FailFast,
			durCol{&p.TimeLimit}, jsonCol{&p.Graph}, &p.Diagnostics, &p.PromotionOf, &p.PromotedBy,
			&p.PartialRerun, timeCol{&p.CreatedAt}, timeCol{&p.StartedAt}, timeCol{&p.DoneAt},
			&p.Promotion, &p.DeploymentTarget, &problems},
		done: func() error {
			if problems == "" {
				return nil
			}
			if err := json.Unmarshal([]byte(problems), &p.Problems); err != nil {
				return fmt.Errorf("scan pipeline %s: problems: %w", p.ID, err)
			}
			return nil
		},
	}
}

// problemsArg is the stored form of a pipeline's problems: a JSON array,
// or ” for none.
func problemsArg(ds []ci.Diagnostic) string {
	if len(ds) == 0 {
		return ""
	}
	b, _ := json.Marshal(ds) // a list of plain structs always marshals
	return string(b)
}

func normPipeline(p *ci.Pipeline) {
	normDur(&p.TimeLimit)
	normTime(&p.CreatedAt)
	normTime(&p.StartedAt)
	normTime(&p.DoneAt)
}

// CreatePipeline stores a new pipeline (not its Blocks), giving it an ID
// if it has none and a CreatedAt if it is zero. A workflow or project that
// does not exist is ErrNotFound.
func (tx *Tx) CreatePipeline(p *ci.Pipeline) error {
	if p.ID == "" {
		p.ID = ids.New()
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Now()
	}
	normPipeline(p)
	_, err := tx.exec(`INSERT INTO pipelines (`+pipelineCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
			$18, $19, $20, $21, $22, $23, $24, $25)`,
		p.ID, p.WorkflowID, p.ProjectID, p.Name, p.File, p.State, p.Result, p.Reason, p.Queue,
		p.QueueScope, p.Parallel, p.AutoCancel, p.FailFast, ms(p.TimeLimit), jsonArg(p.Graph),
		p.Diagnostics, p.PromotionOf, p.PromotedBy, p.PartialRerun, tx.ts(p.CreatedAt),
		tx.ts(p.StartedAt), tx.ts(p.DoneAt), p.Promotion, p.DeploymentTarget, problemsArg(p.Problems))
	return wrap("create pipeline", err)
}

// GetPipeline returns a pipeline without its blocks.
func (tx *Tx) GetPipeline(id string) (*ci.Pipeline, error) {
	return tx.getPipeline(id, "")
}

// GetPipeline returns a pipeline without its blocks.
func (db *DB) GetPipeline(ctx context.Context, id string) (*ci.Pipeline, error) {
	return db.reader(ctx).GetPipeline(id)
}

// LockPipeline returns a pipeline, without its blocks, locking its row
// until the transaction ends, so that one server at a time advances it.
// (On SQLite the write transaction already excludes every other writer.)
func (tx *Tx) LockPipeline(id string) (*ci.Pipeline, error) {
	return tx.getPipeline(id, tx.forUpdate())
}

func (tx *Tx) getPipeline(id, lock string) (*ci.Pipeline, error) {
	p, err := scanPipeline(tx.queryRow(`SELECT `+pipelineCols+` FROM pipelines WHERE id = $1`+lock, id))
	if err != nil {
		return nil, wrap("get pipeline "+id, err)
	}
	return p, nil
}

// GetPipelineTree returns a pipeline with its Blocks, ordered by Index,
// each with its Jobs, ordered by Index.
func (tx *Tx) GetPipelineTree(id string) (*ci.Pipeline, error) {
	p, err := tx.GetPipeline(id)
	if err != nil {
		return nil, err
	}
	if p.Blocks, err = tx.ListBlocks(id); err != nil {
		return nil, err
	}
	jobs, err := tx.ListJobs(id)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*ci.Block, len(p.Blocks))
	for _, b := range p.Blocks {
		byID[b.ID] = b
	}
	for _, j := range jobs {
		if b := byID[j.BlockID]; b != nil {
			b.Jobs = append(b.Jobs, j)
		}
	}
	return p, nil
}

// GetPipelineTree returns a pipeline with its Blocks, ordered by Index,
// each with its Jobs, ordered by Index, as of one moment.
// GetPipelineTreeLite is GetPipelineTree without the jobs' specs (see
// Tx.GetPipelineTreeLite), for readers of states and times.
func (db *DB) GetPipelineTreeLite(ctx context.Context, id string) (p *ci.Pipeline, err error) {
	err = db.view(ctx, func(tx *Tx) error {
		p, err = tx.GetPipelineTreeLite(id)
		return err
	})
	return p, err
}

func (db *DB) GetPipelineTree(ctx context.Context, id string) (p *ci.Pipeline, err error) {
	err = db.view(ctx, func(tx *Tx) error {
		p, err = tx.GetPipelineTree(id)
		return err
	})
	return p, err
}

// UpdatePipeline stores every field of p but its IDs (own, workflow,
// project), CreatedAt and Blocks. A nil Graph (a pipeline read without
// it, see Tx.GetPipelineTreeNoGraph) leaves the stored graph alone.
func (tx *Tx) UpdatePipeline(p *ci.Pipeline) error {
	normPipeline(p)
	return tx.execOne("update pipeline "+p.ID, `UPDATE pipelines SET name = $2, file = $3,
		state = $4, result = $5, reason = $6, queue = $7, queue_scope = $8, parallel = $9,
		auto_cancel = $10, fail_fast = $11, time_limit_ms = $12, graph = COALESCE($13, graph), diagnostics = $14,
		promotion_of = $15, promoted_by = $16, partial_rerun = $17, started_at = $18, done_at = $19,
		promotion = $20, deployment_target = $21, problems = $22
		WHERE id = $1`,
		p.ID, p.Name, p.File, p.State, p.Result, p.Reason, p.Queue, p.QueueScope, p.Parallel,
		p.AutoCancel, p.FailFast, ms(p.TimeLimit), jsonArg(p.Graph), p.Diagnostics,
		p.PromotionOf, p.PromotedBy, p.PartialRerun, tx.ts(p.StartedAt), tx.ts(p.DoneAt),
		p.Promotion, p.DeploymentTarget, problemsArg(p.Problems))
}

// ListPipelines returns a workflow's pipelines, without blocks, oldest
// first.
func (tx *Tx) ListPipelines(workflowID string) ([]*ci.Pipeline, error) {
	ps, err := collect(tx, scanPipeline, `SELECT `+pipelineCols+` FROM pipelines
		WHERE workflow_id = $1 ORDER BY created_at, id`, workflowID)
	return ps, wrap("list pipelines", err)
}

// ListPipelines returns a workflow's pipelines, without blocks, oldest
// first.
func (db *DB) ListPipelines(ctx context.Context, workflowID string) ([]*ci.Pipeline, error) {
	return db.reader(ctx).ListPipelines(workflowID)
}

// QueuePipelines returns the pipelines of a queue that are not done,
// without blocks, oldest first. A queue is named by its name and scope:
// with scope "organization" it spans every project and projectID is
// ignored; with any other scope it is the project's own.
func (tx *Tx) QueuePipelines(projectID, queue, scope string) ([]*ci.Pipeline, error) {
	ps, err := collect(tx, scanPipeline, `SELECT `+pipelineCols+` FROM pipelines
		WHERE queue = $2 AND queue_scope = $3 AND state <> 'done'
		AND ($3 = 'organization' OR project_id = $1)
		ORDER BY created_at, id`, projectID, queue, scope)
	return ps, wrap("queue pipelines", err)
}

// Blocker is the pipeline another one waits for in its queue.
type Blocker struct {
	PipelineID string
	// WorkflowNumber is the number of the blocker's workflow.
	WorkflowNumber int
}

// QueueBlocker returns the pipeline that p waits for in its queue: the
// nearest older unfinished pipeline that is not parallel, else one of the
// queue's serialized pipelines that runs (or stops); nil if none. It is
// the decision [Tx.QueuePipelines] allows, reading at most two rows (of
// a few columns), so that admitting a pipeline costs the same behind one
// pipeline or a thousand.
func (tx *Tx) QueueBlocker(p *ci.Pipeline) (*Blocker, error) {
	const cols = `SELECT id, COALESCE((SELECT w.number FROM workflows w WHERE w.id = pipelines.workflow_id), 0)`
	const where = ` FROM pipelines
		WHERE queue = $2 AND queue_scope = $3 AND state <> 'done'
		AND ($3 = 'organization' OR project_id = $1)
		AND NOT parallel AND id <> $4`
	for _, query := range []string{
		cols + where + `
		AND (created_at, id) < (SELECT created_at, id FROM pipelines WHERE id = $4)
		ORDER BY created_at DESC, id DESC LIMIT 1`,
		cols + where + `
		AND state IN ('running', 'stopping')
		ORDER BY created_at, id LIMIT 1`,
	} {
		var b Blocker
		err := tx.queryRow(query, p.ProjectID, p.Queue, p.QueueScope, p.ID).Scan(&b.PipelineID, &b.WorkflowNumber)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, wrap("queue blocker", err)
		}
		return &b, nil
	}
	return nil, nil
}

// QueueBlocker returns the pipeline that p waits for; see
// [Tx.QueueBlocker].
func (db *DB) QueueBlocker(ctx context.Context, p *ci.Pipeline) (*Blocker, error) {
	return db.reader(ctx).QueueBlocker(p)
}

// QueuePipelines returns the pipelines of a queue that are not done,
// without blocks, oldest first; see [Tx.QueuePipelines].
func (db *DB) QueuePipelines(ctx context.Context, projectID, queue, scope string) ([]*ci.Pipeline, error) {
	return db.reader(ctx).QueuePipelines(projectID, queue, scope)
}
