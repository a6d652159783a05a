package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/ids"
)

const jobCols = `id, pipeline_id, block_id, project_id, idx, name, state, result, reason,
	machine_type, priority, spec, agent_id, wait_reason, stop_requested, stop_reason,
	time_limit_ms, created_at, queued_at, started_at, done_at, needs_docker`

// claimOrder is the order in which queued jobs are dispatched: highest
// priority first, then the longest queued (a job queued without QueuedAt
// first), then the oldest. The jobs_claim and jobs_queued indexes follow
// it, so that a claim reads one index entry.
const claimOrder = `priority DESC, queued_at NULLS FIRST, created_at, id`

func scanJob(s scanner) (*ci.Job, error) {
	j := &ci.Job{}
	err := s.Scan(&j.ID, &j.PipelineID, &j.BlockID, &j.ProjectID, &j.Index, &j.Name, &j.State,
		&j.Result, &j.Reason, &j.MachineType, &j.Priority, jsonCol{&j.Spec}, &j.AgentID,
		&j.WaitReason, &j.StopRequested, &j.StopReason, durCol{&j.TimeLimit},
		timeCol{&j.CreatedAt}, timeCol{&j.QueuedAt}, timeCol{&j.StartedAt}, timeCol{&j.DoneAt}, &j.NeedsDocker)
	return j, err
}

func normJob(j *ci.Job) {
	normDur(&j.TimeLimit)
	normTime(&j.CreatedAt)
	normTime(&j.QueuedAt)
	normTime(&j.StartedAt)
	normTime(&j.DoneAt)
}

// CreateJob stores a new job, giving it an ID if it has none and a
// CreatedAt if it is zero. A pipeline, block or project that does not
// exist is ErrNotFound.
func (tx *Tx) CreateJob(j *ci.Job) error {
	if j.ID == "" {
		j.ID = ids.New()
	}
	if j.CreatedAt.IsZero() {
		j.CreatedAt = time.Now()
	}
	return tx.CreateJobs([]*ci.Job{j})
}

// CreateJobs is CreateJob for many jobs, stored in as few statements as
// the database's limit on a statement's parameters allows.
func (tx *Tx) CreateJobs(js []*ci.Job) error {
	rows := make([][]any, len(js))
	for i, j := range js {
		if j.ID == "" {
			j.ID = ids.New()
		}
		if j.CreatedAt.IsZero() {
			j.CreatedAt = time.Now()
		}
		normJob(j)
		rows[i] = []any{j.ID, j.PipelineID, j.BlockID, j.ProjectID, j.Index, j.Name, j.State, j.Result, j.Reason,
			j.MachineType, j.Priority, jsonArg(j.Spec), j.AgentID, j.WaitReason, j.StopRequested,
			j.StopReason, ms(j.TimeLimit), tx.ts(j.CreatedAt), tx.ts(j.QueuedAt),
			tx.ts(j.StartedAt), tx.ts(j.DoneAt), j.NeedsDocker}
	}
	return wrap("create job", tx.insertRows("jobs", jobCols, rows))
}

// GetJob returns a job.
func (tx *Tx) GetJob(id string) (*ci.Job, error) {
	j, err := scanJob(tx.queryRow(`SELECT `+jobCols+` FROM jobs WHERE id = $1`, id))
	if err != nil {
		return nil, wrap("get job "+id, err)
	}
	return j, nil
}

// GetJob returns a job.
func (db *DB) GetJob(ctx context.Context, id string) (*ci.Job, error) {
	return db.reader(ctx).GetJob(id)
}

// GetJobLite returns a job without its Spec (nil), the bulk of its row:
// for the checks made on every log chunk and result.
func (db *DB) GetJobLite(ctx context.Context, id string) (*ci.Job, error) {
	cols := strings.Replace(jobCols, " spec,", " NULL,", 1)
	j, err := scanJob(db.reader(ctx).queryRow(`SELECT `+cols+` FROM jobs WHERE id = $1`, id))
	if err != nil {
		return nil, wrap("get job "+id, err)
	}
	return j, nil
}

// JobStart is what the engine needs to know of a job just claimed: its
// state and stop request, and whether its block and pipeline already
// run (started, not stopping nor done).
type JobStart struct {
	PipelineID    string
	State         ci.State
	StopRequested bool
	// Running is true when the job's block and pipeline both started and
	// are running.
	Running bool
}

// jobStartCols are a JobStart's columns, read from jobs j joined with its
// blocks b and pipelines p.
const jobStartCols = `j.pipeline_id, j.state, j.stop_requested,
	b.state = 'running' AND b.started_at IS NOT NULL AND p.state = 'running' AND p.started_at IS NOT NULL`

// jobStartPart is a JobStart's share of a row: the columns of
// jobStartCols.
func jobStartPart(js *JobStart) rowPart {
	return rowPart{dest: []any{&js.PipelineID, &js.State, &js.StopRequested, &js.Running}}
}

// GetJobStart reads a job's JobStart in one query.
func (db *DB) GetJobStart(ctx context.Context, id string) (*JobStart, error) {
	js := &JobStart{}
	err := scanParts(db.reader(ctx).queryRow(`SELECT `+jobStartCols+`
		FROM jobs j JOIN blocks b ON b.id = j.block_id JOIN pipelines p ON p.id = j.pipeline_id
		WHERE j.id = $1`, id), jobStartPart(js))
	if err != nil {
		return nil, wrap("job start "+id, err)
	}
	return js, nil
}

// UpdateJob stores every field of j but its IDs (own, pipeline, block,
// project) and CreatedAt.
func (tx *Tx) UpdateJob(j *ci.Job) error { return tx.updateJob(j, "") }

// updateJob is UpdateJob and, when from is not "", UpdateJobIf: it then
// writes only while the stored job is in state from, and returns
// ErrConflict when it is not.
func (tx *Tx) updateJob(j *ci.Job, from ci.State) error {
	normJob(j)
	op := "update job " + j.ID
	res, err := tx.exec(`UPDATE jobs SET idx = $2, name = $3, state = $4,
		result = $5, reason = $6, machine_type = $7, priority = $8, spec = $9, agent_id = $10,
		wait_reason = $11, stop_requested = $12, stop_reason = $13, time_limit_ms = $14,
		queued_at = $15, started_at = $16, done_at = $17, needs_docker = $19
		WHERE id = $1 AND ($18 = '' OR state = $18)`,
		j.ID, j.Index, j.Name, j.State, j.Result, j.Reason, j.MachineType, j.Priority,
		jsonArg(j.Spec), j.AgentID, j.WaitReason, j.StopRequested, j.StopReason,
		ms(j.TimeLimit), tx.ts(j.QueuedAt), tx.ts(j.StartedAt), tx.ts(j.DoneAt), from, j.NeedsDocker)
	if err != nil {
		return wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(op, err)
	}
	switch {
	case n > 0:
		return nil
	case from != "":
		return fmt.Errorf("%s: state is no longer %s: %w", op, from, ErrConflict)
	default:
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
}

// ListJobs returns a pipeline's jobs, ordered by their block's Index, then
// their own.
func (tx *Tx) ListJobs(pipelineID string) ([]*ci.Job, error) {
	js, err := collect(tx, scanJob, `SELECT `+jobCols+` FROM jobs WHERE pipeline_id = $1
		ORDER BY (SELECT b.idx FROM blocks b WHERE b.id = jobs.block_id), idx, id`, pipelineID)
	return js, wrap("list jobs", err)
}

// ListJobs returns a pipeline's jobs, ordered by their block's Index, then
// their own.
func (db *DB) ListJobs(ctx context.Context, pipelineID string) ([]*ci.Job, error) {
	return db.reader(ctx).ListJobs(pipelineID)
}

// ListBlockJobs returns a block's jobs by Index.
func (tx *Tx) ListBlockJobs(blockID string) ([]*ci.Job, error) {
	js, err := collect(tx, scanJob, `SELECT `+jobCols+` FROM jobs WHERE block_id = $1
		ORDER BY idx, id`, blockID)
	return js, wrap("list block jobs", err)
}

// ListBlockJobs returns a block's jobs by Index.
func (db *DB) ListBlockJobs(ctx context.Context, blockID string) ([]*ci.Job, error) {
	return db.reader(ctx).ListBlockJobs(blockID)
}

// ClaimJob assigns agentID the next queued job of machineType, whether
// it needs Docker or not: ClaimJobFor with Docker set.
func (tx *Tx) ClaimJob(agentID string, machineType string, now time.Time) (*ci.Job, error) {
	return tx.ClaimJobFor(agentID, Claim{MachineType: machineType, Docker: true}, now)
}

// Claim says which queued jobs an agent may take.
type Claim struct {
	// MachineType is the agent's type.
	MachineType string
	// Docker is set when the agent runs jobs in containers; without it,
	// jobs that need Docker (Job.NeedsDocker) are left to other agents.
	Docker bool
	// Skip lists queued jobs the agent leaves for others (the scheduler
	// keeps them for an agent that holds their images).
	Skip []string
}

// ClaimJobFor assigns agentID the next queued job c allows: the one
// with the highest Priority, then the oldest QueuedAt. The job becomes
// running, with AgentID, StartedAt = now and no WaitReason. It returns
// ErrNotFound when no job waits.
//
// Claims never collide: on PostgreSQL the job's row is taken with FOR
// UPDATE SKIP LOCKED, so concurrent claims from any number of servers skip
// each other's jobs instead of waiting or taking them twice; on SQLite the
// write transaction excludes every other writer. The filter is part of
// the same statement, so a job that needs Docker is never claimed by an
// agent without it.
func (tx *Tx) ClaimJobFor(agentID string, c Claim, now time.Time) (*ci.Job, error) {
	lock := ""
	if tx.db.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	args := []any{agentID, c.MachineType, tx.ts(now), c.Docker}
	skip := ""
	if len(c.Skip) > 0 {
		skip = " AND id NOT IN ("
		for i, id := range c.Skip {
			if i > 0 {
				skip += ", "
			}
			args = append(args, id)
			skip += fmt.Sprintf("$%d", len(args))
		}
		skip += ")"
	}
	j, err := scanJob(tx.queryRow(`UPDATE jobs SET state = 'running', agent_id = $1,
		started_at = $3, wait_reason = ''
		WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND machine_type = $2
			AND (needs_docker = FALSE OR $4 = TRUE)`+skip+`
			ORDER BY `+claimOrder+` LIMIT 1`+lock+`)
		AND state = 'queued'
		RETURNING `+jobCols, args...))
	if err != nil {
		return nil, wrap("claim job", err)
	}
	return j, nil
}

// QueuedJobs returns the queued jobs in the order ClaimJob takes them, at
// most limit of them (all when limit is 0).
func (tx *Tx) QueuedJobs(limit int) ([]*ci.Job, error) {
	q := `SELECT ` + jobCols + ` FROM jobs WHERE state = 'queued' ORDER BY ` + claimOrder
	var args []any
	if limit > 0 {
		q += ` LIMIT $1`
		args = append(args, limit)
	}
	js, err := collect(tx, scanJob, q, args...)
	return js, wrap("queued jobs", err)
}

// QueuedJobs returns the queued jobs in the order ClaimJob takes them, at
// most limit of them (all when limit is 0).
func (db *DB) QueuedJobs(ctx context.Context, limit int) ([]*ci.Job, error) {
	return db.reader(ctx).QueuedJobs(limit)
}

// CountJobs returns how many jobs are in that state.
func (tx *Tx) CountJobs(state ci.State) (int, error) {
	var n int
	err := tx.queryRow(`SELECT COUNT(*) FROM jobs WHERE state = $1`, state).Scan(&n)
	return n, wrap("count jobs", err)
}

// CountJobs returns how many jobs are in that state.
func (db *DB) CountJobs(ctx context.Context, state ci.State) (int, error) {
	return db.reader(ctx).CountJobs(state)
}

// AgentJobs returns the running and stopping jobs of an agent, oldest
// start first.
func (tx *Tx) AgentJobs(agentID string) ([]*ci.Job, error) {
	js, err := collect(tx, scanJob, `SELECT `+jobCols+` FROM jobs
		WHERE state IN ('running', 'stopping') AND agent_id = $1
		ORDER BY started_at, id`, agentID)
	return js, wrap("agent jobs", err)
}

// AgentJobs returns the running and stopping jobs of an agent, oldest
// start first.
func (db *DB) AgentJobs(ctx context.Context, agentID string) ([]*ci.Job, error) {
	return db.reader(ctx).AgentJobs(agentID)
}

// RunningJobs returns every running or stopping job, oldest start first.
func (tx *Tx) RunningJobs() ([]*ci.Job, error) {
	js, err := collect(tx, scanJob, `SELECT `+jobCols+` FROM jobs
		WHERE state IN ('running', 'stopping') ORDER BY started_at, id`)
	return js, wrap("running jobs", err)
}

// RunningJobs returns every running or stopping job, oldest start first.
func (db *DB) RunningJobs(ctx context.Context) ([]*ci.Job, error) {
	return db.reader(ctx).RunningJobs()
}

// CountJobResults counts finished jobs by result.
func (tx *Tx) CountJobResults() (map[ci.Result]int, error) {
	type row struct {
		r ci.Result
		n int
	}
	rs, err := collect(tx, func(s scanner) (r row, err error) {
		err = s.Scan(&r.r, &r.n)
		return r, err
	}, `SELECT result, COUNT(*) FROM jobs WHERE state = 'done' GROUP BY result`)
	if err != nil {
		return nil, wrap("count job results", err)
	}
	m := map[ci.Result]int{}
	for _, r := range rs {
		m[r.r] = r.n
	}
	return m, nil
}

// CountJobResults counts finished jobs by result.
func (db *DB) CountJobResults(ctx context.Context) (map[ci.Result]int, error) {
	return db.reader(ctx).CountJobResults()
}
