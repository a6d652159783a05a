package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/batonci/baton/internal/ci"
)

// The overview queries of the web pages: the latest workflow of each ref
// of a project, and when workflows ran.

// LatestWorkflows returns the latest workflow (highest number) of each ref
// of a project: one per branch, per tag and per pull request, newest
// first.
func (tx *Tx) LatestWorkflows(projectID string) ([]*ci.Workflow, error) {
	ws, err := collect(tx, scanWorkflow, `SELECT `+workflowCols+` FROM workflows w
		WHERE w.project_id = $1 AND NOT EXISTS (SELECT 1 FROM workflows n
			WHERE n.project_id = w.project_id AND n.ref_type = w.ref_type AND n.branch = w.branch
			AND n.tag = w.tag AND n.pr = w.pr AND n.number > w.number)
		ORDER BY w.created_at DESC, w.number DESC`, projectID)
	return ws, wrap("latest workflows", err)
}

// LatestWorkflows returns the latest workflow of each ref of a project.
func (db *DB) LatestWorkflows(ctx context.Context, projectID string) ([]*ci.Workflow, error) {
	return db.reader(ctx).LatestWorkflows(projectID)
}

// Span is when a workflow ran: from its first pipeline's start to its last
// pipeline's end. Started is zero until a pipeline starts; Done is zero
// while a pipeline is not done.
type Span struct {
	Started, Done time.Time
}

// WorkflowSpans returns the spans of the workflows with the given IDs,
// by ID; a workflow without pipelines is absent.
func (tx *Tx) WorkflowSpans(ids []string) (map[string]Span, error) {
	out := map[string]Span{}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	marks := make([]string, len(ids))
	for i, id := range ids {
		args[i] = id
		marks[i] = fmt.Sprintf("$%d", i+1)
	}
	rows, err := tx.query(`SELECT workflow_id, MIN(started_at), MAX(done_at),
		SUM(CASE WHEN state <> 'done' THEN 1 ELSE 0 END)
		FROM pipelines p WHERE workflow_id IN (`+strings.Join(marks, ", ")+`) AND `+notDebugPipeline+`
		GROUP BY workflow_id`, args...)
	if err != nil {
		return nil, wrap("workflow spans", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var s Span
		var open int64
		if err := rows.Scan(&id, timeCol{&s.Started}, timeCol{&s.Done}, &open); err != nil {
			return nil, wrap("workflow spans", err)
		}
		if open > 0 {
			s.Done = time.Time{}
		}
		out[id] = s
	}
	return out, wrap("workflow spans", rows.Err())
}

// WorkflowSpans returns the spans of the workflows with the given IDs.
func (db *DB) WorkflowSpans(ctx context.Context, ids []string) (map[string]Span, error) {
	return db.reader(ctx).WorkflowSpans(ids)
}
