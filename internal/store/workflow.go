package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/ids"
)

// WorkflowFilter narrows ListWorkflows. Zero fields do not filter.
type WorkflowFilter struct {
	// Branch keeps the workflows of that branch (for pull requests, the
	// base branch).
	Branch string
	// Limit caps how many workflows are returned; 0 returns all.
	Limit int
	// Before keeps the workflows created strictly before it, to page
	// through older workflows.
	Before time.Time
}

// A workflow's State and Result are not stored: they are derived from its
// pipelines whenever it is read, by this rule:
//
//   - no pipeline: pending, no result;
//   - any pipeline not done: running, no result;
//   - all done: done, and the result is the first of failed, stopped,
//     canceled that some pipeline has, else passed.
//
// Debug pipelines (baton debug) do not count: debugging a job never
// changes its workflow's state, result or duration.
//
// The SQL below computes the rank of the "worst" pipeline; workflowSummary
// turns it into a state and result.
const workflowCols = workflowRowCols + `,
	(SELECT MIN(CASE
		WHEN p.state <> 'done' OR p.promotions_due THEN 0
		WHEN p.result = 'failed' THEN 1
		WHEN p.result = 'stopped' THEN 2
		WHEN p.result = 'canceled' THEN 3
		ELSE 4 END)
	 FROM pipelines p WHERE p.workflow_id = w.id AND ` + notDebugPipeline + `)`

// workflowRowCols are a workflow's stored columns, without the rank of
// workflowCols.
const workflowRowCols = `w.id, w.project_id, w.number, w.trigger, w.ref_type, w.branch, w.tag,
	w.pr, w.pr_branch, w.sha, w.commit_range, w.message, w.author, w.triggered_by,
	w.rerun_of, w.created_at, w.pr_fork, w.pr_sha, w.pr_name, w.pr_slug, w.pr_head_url,
	w.ref_verified, w.schedule, w.parameters`

// notDebugPipeline is an SQL condition on pipelines p: p is not the
// pipeline of a debug job.
const notDebugPipeline = `NOT EXISTS (SELECT 1 FROM jobs dj JOIN debug_jobs d ON d.job_id = dj.id WHERE dj.pipeline_id = p.id)`

// workflowSummary maps the rank computed by workflowCols to the
// workflow's state and result. A pipeline whose auto-promotions are still
// to be decided counts as running, so that a workflow is never done
// before the pipelines it promotes exist.
func workflowSummary(rank sql.NullInt64) (ci.State, ci.Result) {
	if !rank.Valid {
		return ci.StatePending, ci.ResultNone
	}
	switch rank.Int64 {
	case 0:
		return ci.StateRunning, ci.ResultNone
	case 1:
		return ci.StateDone, ci.ResultFailed
	case 2:
		return ci.StateDone, ci.ResultStopped
	case 3:
		return ci.StateDone, ci.ResultCanceled
	default:
		return ci.StateDone, ci.ResultPassed
	}
}

func scanWorkflow(s scanner) (*ci.Workflow, error) {
	w, part := workflowPart()
	var rank sql.NullInt64
	if err := scanParts(s, part, rowPart{dest: []any{&rank}}); err != nil {
		return nil, err
	}
	w.State, w.Result = workflowSummary(rank)
	return w, nil
}

// workflowPart is a workflow's share of a row: the columns of
// workflowRowCols. Its State and Result are left zero.
func workflowPart() (*ci.Workflow, rowPart) {
	w := &ci.Workflow{}
	var params string
	return w, rowPart{
		dest: []any{&w.ID, &w.ProjectID, &w.Number, &w.Trigger, &w.RefType, &w.Branch, &w.Tag,
			&w.PR, &w.PRBranch, &w.SHA, &w.CommitRange, &w.Message, &w.Author, &w.TriggeredBy,
			&w.RerunOf, timeCol{&w.CreatedAt}, &w.PRFork, &w.PRSHA, &w.PRName, &w.PRSlug, &w.PRHeadURL, &w.RefVerified, &w.Schedule, &params},
		done: func() error {
			if params == "" || params == "{}" {
				return nil
			}
			if err := json.Unmarshal([]byte(params), &w.Parameters); err != nil {
				return fmt.Errorf("scan workflow parameters: %w", err)
			}
			return nil
		},
	}
}

// ReserveWorkflowNumber takes the next workflow number of a project
// (1, 2, ...; numbers are never reused) for a workflow that
// CreateWorkflow stores afterwards. A reserved number that is never used
// is a gap.
//
// On PostgreSQL the numbers come from a sequence per project
// (workflowNumbers): taking one locks nothing and waits for nobody, so
// concurrent creations, on one server or several, do not queue behind
// each other on a counter row held until their transactions commit. The
// sequence is made on first use, after the project's last number in
// projects.workflow_seq (the counter of the workflows made before).
//
// On SQLite, whose write transactions are serialised anyway, it returns 0
// and CreateWorkflow takes the number from projects.workflow_seq.
func (db *DB) ReserveWorkflowNumber(ctx context.Context, projectID string) (int, error) {
	if db.dialect != Postgres {
		return 0, nil
	}
	op := "reserve workflow number: project " + projectID
	for attempt := 0; ; attempt++ {
		var n int
		err := db.write.QueryRowContext(ctx, `SELECT nextval($1::regclass)`, workflowNumbers(projectID)).Scan(&n)
		if err == nil {
			return n, nil
		}
		var perr *pgconn.PgError
		if attempt > 0 || !errors.As(err, &perr) || perr.Code != "42P01" { // undefined_table
			return 0, wrap(op, err)
		}
		if err := db.Tx(ctx, func(tx *Tx) error { return tx.ensureWorkflowNumbers(projectID) }); err != nil {
			return 0, err
		}
	}
}

// workflowNumbers names the PostgreSQL sequence of a project's workflow
// numbers.
func workflowNumbers(projectID string) string {
	sum := sha256.Sum256([]byte(projectID))
	return "baton_workflow_numbers_" + hex.EncodeToString(sum[:12])
}

// ensureWorkflowNumbers makes the project's sequence of workflow numbers
// (PostgreSQL), if it has none yet, continuing projects.workflow_seq.
func (tx *Tx) ensureWorkflowNumbers(projectID string) error {
	op := "workflow numbers: project " + projectID
	var exists bool
	if err := tx.queryRow(`SELECT to_regclass($1) IS NOT NULL`, workflowNumbers(projectID)).Scan(&exists); err != nil {
		return wrap(op, err)
	}
	if exists {
		return nil
	}
	var last int64
	if err := tx.queryRow(`SELECT workflow_seq FROM projects WHERE id = $1`, projectID).Scan(&last); err != nil {
		return wrap(op, err)
	}
	// Another transaction may make it at the same moment (IF NOT EXISTS
	// does not wait for it): that is a conflict to ignore, under a
	// savepoint so that this transaction goes on.
	if _, err := tx.exec(`SAVEPOINT workflow_numbers`); err != nil {
		return wrap(op, err)
	}
	_, err := tx.exec(fmt.Sprintf(`CREATE SEQUENCE IF NOT EXISTS %s START WITH %d`, workflowNumbers(projectID), last+1))
	if err = wrap(op, err); errors.Is(err, ErrConflict) {
		_, err = tx.exec(`ROLLBACK TO SAVEPOINT workflow_numbers`)
		return wrap(op, err)
	}
	return err
}

// CreateWorkflow stores a new workflow, giving it an ID if it has none, a
// CreatedAt if it is zero, and, when its Number is 0, the project's next
// Number (1, 2, ...; numbers are never reused); a Number other than 0 must
// come from ReserveWorkflowNumber. Its State and Result are set as derived
// (a new workflow has no pipeline: pending).
func (tx *Tx) CreateWorkflow(w *ci.Workflow) error {
	if w.ID == "" {
		w.ID = ids.New()
	}
	if w.CreatedAt.IsZero() {
		w.CreatedAt = time.Now()
	}
	normTime(&w.CreatedAt)
	if len(w.Parameters) == 0 {
		w.Parameters = nil
	}
	// The counter's row lock serialises concurrent creations on PostgreSQL;
	// on SQLite the write transaction already does.
	n := w.Number
	switch {
	case n != 0:
	case tx.db.dialect == Postgres: // see ReserveWorkflowNumber
		if err := tx.ensureWorkflowNumbers(w.ProjectID); err != nil {
			return err
		}
		if err := tx.queryRow(`SELECT nextval($1::regclass)`, workflowNumbers(w.ProjectID)).Scan(&n); err != nil {
			return wrap("create workflow: project "+w.ProjectID, err)
		}
	default:
		err := tx.queryRow(`UPDATE projects SET workflow_seq = workflow_seq + 1 WHERE id = $1
			RETURNING workflow_seq`, w.ProjectID).Scan(&n)
		if err != nil {
			return wrap("create workflow: project "+w.ProjectID, err)
		}
	}
	_, err := tx.exec(`INSERT INTO workflows (id, project_id, number, trigger, ref_type, branch,
		tag, pr, pr_branch, sha, commit_range, message, author, triggered_by, rerun_of, created_at,
		pr_fork, pr_sha, pr_name, pr_slug, pr_head_url, ref_verified, schedule, parameters)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)`,
		w.ID, w.ProjectID, n, w.Trigger, w.RefType, w.Branch, w.Tag, w.PR, w.PRBranch, w.SHA,
		w.CommitRange, w.Message, w.Author, w.TriggeredBy, w.RerunOf, tx.ts(w.CreatedAt),
		w.PRFork, w.PRSHA, w.PRName, w.PRSlug, w.PRHeadURL, w.RefVerified, w.Schedule, paramsArg(w.Parameters))
	if err != nil {
		return wrap("create workflow", err)
	}
	w.Number = n
	w.State, w.Result = ci.StatePending, ci.ResultNone
	return nil
}

// GetWorkflow returns a workflow, with its derived State and Result.
func (tx *Tx) GetWorkflow(id string) (*ci.Workflow, error) {
	w, err := scanWorkflow(tx.queryRow(`SELECT `+workflowCols+` FROM workflows w WHERE w.id = $1`, id))
	if err != nil {
		return nil, wrap("get workflow "+id, err)
	}
	return w, nil
}

// GetWorkflow returns a workflow, with its derived State and Result.
func (db *DB) GetWorkflow(ctx context.Context, id string) (*ci.Workflow, error) {
	return db.reader(ctx).GetWorkflow(id)
}

// ListWorkflows returns a project's workflows (every project's when
// projectID is ""), newest first.
func (tx *Tx) ListWorkflows(projectID string, f WorkflowFilter) ([]*ci.Workflow, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if projectID != "" {
		where = append(where, "w.project_id = "+arg(projectID))
	}
	if f.Branch != "" {
		where = append(where, "w.branch = "+arg(f.Branch))
	}
	if !f.Before.IsZero() {
		where = append(where, "w.created_at < "+arg(tx.ts(f.Before)))
	}
	q := `SELECT ` + workflowCols + ` FROM workflows w`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY w.created_at DESC, w.number DESC, w.id"
	if f.Limit > 0 {
		q += " LIMIT " + arg(f.Limit)
	}
	ws, err := collect(tx, scanWorkflow, q, args...)
	return ws, wrap("list workflows", err)
}

// ListWorkflows returns a project's workflows (every project's when
// projectID is ""), newest first.
func (db *DB) ListWorkflows(ctx context.Context, projectID string, f WorkflowFilter) ([]*ci.Workflow, error) {
	return db.reader(ctx).ListWorkflows(projectID, f)
}

// paramsArg is the query argument for parameter values: a JSON object.
func paramsArg(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // map[string]string always marshals
	}
	return string(b)
}
