package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/batonci/baton/internal/ci"
)

// This file holds the store methods the engine needs beyond the shared
// contract.

// UpdateJobIf is UpdateJob that writes only while the stored job is still
// in state from, and returns ErrConflict when it is not. The engine reads
// a job under its pipeline's lock, but ClaimJob moves queued jobs to
// running without that lock; this compare-and-set keeps the engine from
// overwriting a claim (on PostgreSQL, an UPDATE that waited for a
// concurrent claim re-checks the condition on the claimed row). A nil
// Spec leaves the stored spec alone (see GetPipelineTreeLite).
func (tx *Tx) UpdateJobIf(j *ci.Job, from ci.State) error {
	normJob(j)
	args := append(append([]any{j.ID}, tx.jobWriteArgs(j)...), from)
	spec := ""
	if j.Spec != nil {
		args = append(args, jsonArg(j.Spec))
		spec = fmt.Sprintf(", spec = $%d", len(args))
	}
	res, err := tx.exec(`UPDATE jobs SET `+jobWriteSet+spec+jobWriteWhere, args...)
	if err != nil {
		return wrap("update job "+j.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap("update job "+j.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("update job %s: state is no longer %s: %w", j.ID, from, ErrConflict)
	}
	return nil
}

// jobWriteCol is a column UpdateJobIf and UpdateJobsIf write, with its
// PostgreSQL type.
type jobWriteCol struct{ name, pgType string }

// jobWriteCols are the columns of a job the engine writes (all but its
// IDs, its creation and its Spec), in jobWriteArgs' order.
var jobWriteCols = []jobWriteCol{
	{"idx", "INTEGER"}, {"name", "TEXT"}, {"state", "TEXT"}, {"result", "TEXT"}, {"reason", "TEXT"},
	{"machine_type", "TEXT"}, {"priority", "INTEGER"}, {"agent_id", "TEXT"}, {"wait_reason", "TEXT"},
	{"stop_requested", "BOOLEAN"}, {"stop_reason", "TEXT"}, {"time_limit_ms", "BIGINT"},
	{"queued_at", "TIMESTAMPTZ"}, {"started_at", "TIMESTAMPTZ"}, {"done_at", "TIMESTAMPTZ"},
}

// jobWriteSet and jobWriteWhere are UpdateJobIf's SET and WHERE clauses:
// $1 is the job's ID, jobWriteCols follow, then the state it must be in.
var jobWriteSet, jobWriteWhere = func() (string, string) {
	var sets []string
	for i, c := range jobWriteCols {
		sets = append(sets, fmt.Sprintf("%s = $%d", c.name, i+2))
	}
	return strings.Join(sets, ", "), fmt.Sprintf(" WHERE id = $1 AND state = $%d", len(jobWriteCols)+2)
}()

// jobWriteArgs are j's values of jobWriteCols.
func (tx *Tx) jobWriteArgs(j *ci.Job) []any {
	return []any{j.Index, j.Name, j.State, j.Result, j.Reason, j.MachineType, j.Priority,
		j.AgentID, j.WaitReason, j.StopRequested, j.StopReason, ms(j.TimeLimit),
		tx.ts(j.QueuedAt), tx.ts(j.StartedAt), tx.ts(j.DoneAt)}
}

// UpdateJobsIf is UpdateJobIf for several jobs at once, each written
// only while its stored state is still from[i], in as few statements as
// maxParams allows (one for a block of fifty jobs queued together, where
// UpdateJobIf took fifty). If any of them is no longer in its state it
// returns ErrConflict, and the caller's transaction must not commit. The
// jobs' Spec must be nil (left alone).
func (tx *Tx) UpdateJobsIf(jobs []*ci.Job, from []ci.State) error {
	if len(jobs) != len(from) {
		return fmt.Errorf("update jobs: %d jobs, %d states", len(jobs), len(from))
	}
	// A VALUES list's parameters have no type on PostgreSQL: each is cast
	// to its column's. SQLite needs none (and would make a time a number).
	cols := append([]jobWriteCol{{"id", "TEXT"}, {"from_state", "TEXT"}}, jobWriteCols...)
	var names, sets []string
	for _, c := range cols {
		names = append(names, c.name)
	}
	for _, c := range jobWriteCols {
		sets = append(sets, c.name+" = v."+c.name)
	}
	per := max(1, maxParams/len(cols))
	for len(jobs) > 0 {
		n := min(per, len(jobs))
		chunk, states := jobs[:n], from[:n]
		jobs, from = jobs[n:], from[n:]
		var q strings.Builder
		args := make([]any, 0, n*len(cols))
		q.WriteString("WITH v (" + strings.Join(names, ", ") + ") AS (VALUES ")
		for i, j := range chunk {
			if j.Spec != nil {
				return fmt.Errorf("update job %s: UpdateJobsIf leaves the spec alone", j.ID)
			}
			normJob(j)
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteByte('(')
			for k, v := range append([]any{j.ID, states[i]}, tx.jobWriteArgs(j)...) {
				if k > 0 {
					q.WriteString(", ")
				}
				args = append(args, v)
				if tx.db.dialect == Postgres {
					fmt.Fprintf(&q, "CAST($%d AS %s)", len(args), cols[k].pgType)
				} else {
					fmt.Fprintf(&q, "$%d", len(args))
				}
			}
			q.WriteByte(')')
		}
		q.WriteString(") UPDATE jobs SET " + strings.Join(sets, ", ") + " FROM v WHERE jobs.id = v.id AND jobs.state = v.from_state")
		res, err := tx.exec(q.String(), args...)
		if err != nil {
			return wrap(fmt.Sprintf("update %d jobs", n), err)
		}
		got, err := res.RowsAffected()
		if err != nil {
			return wrap(fmt.Sprintf("update %d jobs", n), err)
		}
		if got != int64(n) {
			return fmt.Errorf("update %d jobs: %d are no longer in the state read: %w", n, int64(n)-got, ErrConflict)
		}
	}
	return nil
}

// GetPipelineTreeLite is GetPipelineTree without the jobs' Spec (nil),
// the bulk of a job row.
func (tx *Tx) GetPipelineTreeLite(id string) (*ci.Pipeline, error) {
	return tx.pipelineTreeLite(id, "")
}

// LockPipelineTreeLite is GetPipelineTreeLite with the pipeline's row
// locked as LockPipeline locks it, in the statement that reads it: what
// the engine reads on every state change.
func (tx *Tx) LockPipelineTreeLite(id string) (*ci.Pipeline, error) {
	return tx.pipelineTreeLite(id, tx.forUpdate())
}

func (tx *Tx) pipelineTreeLite(id, lock string) (*ci.Pipeline, error) {
	p, err := tx.getPipeline(id, lock)
	if err != nil {
		return nil, err
	}
	return tx.withBlocksLite(p)
}

// LockPipelineTreeNoGraph is LockPipelineTreeLite without the
// pipeline's Graph (nil), for a reader that holds the graph already;
// UpdatePipeline leaves a nil Graph alone.
func (tx *Tx) LockPipelineTreeNoGraph(id string) (*ci.Pipeline, error) {
	p, err := scanPipeline(tx.queryRow(`SELECT `+pipelineColsNoGraph+` FROM pipelines WHERE id = $1`+tx.forUpdate(), id))
	if err != nil {
		return nil, wrap("get pipeline "+id, err)
	}
	return tx.withBlocksLite(p)
}

// withBlocksLite reads p's blocks and their jobs without their specs.
func (tx *Tx) withBlocksLite(p *ci.Pipeline) (*ci.Pipeline, error) {
	id := p.ID
	var err error
	if p.Blocks, err = tx.ListBlocks(id); err != nil {
		return nil, err
	}
	cols := strings.Replace(jobCols, " spec,", " NULL,", 1)
	jobs, err := collect(tx, scanJob, `SELECT `+cols+` FROM jobs WHERE pipeline_id = $1
		ORDER BY idx, id`, id)
	if err != nil {
		return nil, wrap("list jobs", err)
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

// ActivePipelines returns the pipelines that are not done, without
// blocks, oldest first.
func (tx *Tx) ActivePipelines() ([]*ci.Pipeline, error) {
	ps, err := collect(tx, scanPipeline, `SELECT `+pipelineCols+` FROM pipelines
		WHERE state <> 'done' ORDER BY created_at, id`)
	return ps, wrap("active pipelines", err)
}

// SetPromotionsDue marks (or unmarks) a pipeline whose auto-promotions
// are still to be evaluated.
func (tx *Tx) SetPromotionsDue(id string, due bool) error {
	return tx.execOne("set promotions due of pipeline "+id, `UPDATE pipelines SET promotions_due = $1 WHERE id = $2`, due, id)
}

// PromotionsDue returns the pipelines whose auto-promotions are still to
// be evaluated, without blocks, oldest first.
func (db *DB) PromotionsDue(ctx context.Context) ([]*ci.Pipeline, error) {
	ps, err := collect(db.reader(ctx), scanPipeline, `SELECT `+pipelineCols+` FROM pipelines
		WHERE promotions_due ORDER BY created_at, id`)
	return ps, wrap("pipelines with promotions due", err)
}

// A Deadline is when something of a pipeline that runs reaches its
// execution time limit: the pipeline's regular blocks, a block or a job.
type Deadline struct {
	Pipeline string
	At       time.Time
}

// TimeLimits returns the deadlines of what runs under a time limit in the
// pipelines that run or stop, in one read: the pipeline's, while one of
// its regular blocks is unfinished; a running block's; a running job's.
// A pipeline may come several times (one row per kind of unit and time
// limit). The engine reads the whole tree only of a pipeline with a
// deadline passed; the rule is pipelinestate.Deadlines', which a test
// holds this to.
func (db *DB) TimeLimits(ctx context.Context) ([]Deadline, error) {
	// started_at sorts like the time on both dialects (values.go), so the
	// earliest start of each limit gives the earliest deadline. Each part
	// says p.state <> 'done', the condition of the pipelines' partial
	// index of unfinished ones, so that a long history is not scanned.
	const active = `p.state <> 'done' AND p.state IN ('running', 'stopping')`
	rows, err := db.reader(ctx).query(`
		SELECT p.id, p.started_at, p.time_limit_ms FROM pipelines p
			WHERE p.state <> 'done' AND p.state = 'running' AND p.time_limit_ms > 0 AND p.started_at IS NOT NULL
			AND EXISTS (SELECT 1 FROM blocks b WHERE b.pipeline_id = p.id AND NOT b.after_pipeline AND b.state <> 'done')
		UNION ALL
		SELECT b.pipeline_id, MIN(b.started_at), b.time_limit_ms FROM pipelines p JOIN blocks b ON b.pipeline_id = p.id
			WHERE ` + active + ` AND b.state = 'running' AND b.time_limit_ms > 0 AND b.started_at IS NOT NULL
			GROUP BY b.pipeline_id, b.time_limit_ms
		UNION ALL
		SELECT j.pipeline_id, MIN(j.started_at), j.time_limit_ms FROM pipelines p JOIN jobs j ON j.pipeline_id = p.id
			WHERE ` + active + ` AND j.state = 'running' AND j.time_limit_ms > 0 AND j.started_at IS NOT NULL
			GROUP BY j.pipeline_id, j.time_limit_ms`)
	if err != nil {
		return nil, wrap("time limits", err)
	}
	defer rows.Close()
	var out []Deadline
	for rows.Next() {
		var d Deadline
		var started time.Time
		var limit time.Duration
		if err := rows.Scan(&d.Pipeline, timeCol{&started}, durCol{&limit}); err != nil {
			return nil, wrap("time limits", err)
		}
		d.At = started.Add(limit)
		out = append(out, d)
	}
	return out, wrap("time limits", rows.Err())
}

// ActivePipelines returns the pipelines that are not done, without
// blocks, oldest first.
func (db *DB) ActivePipelines(ctx context.Context) ([]*ci.Pipeline, error) {
	return db.reader(ctx).ActivePipelines()
}

// LockQueue serialises, until the transaction ends, the decisions about
// which pipeline of a queue may run: on PostgreSQL it takes a
// transaction-level advisory lock on the queue's name; on SQLite the write
// transaction already excludes every other writer.
func (tx *Tx) LockQueue(projectID, queue, scope string) error {
	if tx.db.dialect != Postgres {
		return nil
	}
	if scope == "organization" {
		projectID = ""
	}
	key := scope + "\n" + projectID + "\n" + queue
	_, err := tx.exec(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, key)
	return wrap("lock queue "+queue, err)
}

// FinishRunningJob ends job id with result and reason at now if it is
// running and nothing asked it to stop, and reports whether it did. It
// is the whole of a job's end when its block goes on running: the
// engine's pipeline lock is not taken, since every change that could
// matter (a stop of the job, its block or its pipeline) first moves the
// job out of running or requests its stop, and this statement checks
// both on the job's row.
func (db *DB) FinishRunningJob(ctx context.Context, id string, result ci.Result, reason ci.Reason, now time.Time) (finished bool, err error) {
	// One statement on its own: no transaction around it.
	tx := db.autocommit(ctx)
	res, err := tx.exec(`UPDATE jobs SET state = 'done', result = $2, reason = $3, done_at = $4, wait_reason = ''
		WHERE id = $1 AND state = 'running' AND NOT stop_requested`, id, result, reason, tx.ts(now))
	if err != nil {
		return false, wrap("finish job "+id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap("finish job "+id, err)
}

// BlockUnfinished counts the jobs of a block that are not done.
func (db *DB) BlockUnfinished(ctx context.Context, blockID string) (n int, err error) {
	err = db.reader(ctx).queryRow(`SELECT count(*) FROM jobs WHERE block_id = $1 AND state <> 'done'`, blockID).Scan(&n)
	return n, wrap("count unfinished jobs of block "+blockID, err)
}
