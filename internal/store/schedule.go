package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/ids"
)

const scheduleCols = `id, project_id, name, cron, timezone, branch, pipeline_file, parameters,
	paused, next_run, last_run, last_workflow, last_error, created_at, created_by, updated_at, updated_by`

func scanSchedule(s scanner) (*ci.Schedule, error) {
	sc := &ci.Schedule{}
	var params string
	err := s.Scan(&sc.ID, &sc.ProjectID, &sc.Name, &sc.Cron, &sc.Timezone, &sc.Branch, &sc.PipelineFile,
		&params, &sc.Paused, timeCol{&sc.NextRun}, timeCol{&sc.LastRun}, &sc.LastWorkflow, &sc.LastError,
		timeCol{&sc.CreatedAt}, &sc.CreatedBy, timeCol{&sc.UpdatedAt}, &sc.UpdatedBy)
	if err != nil {
		return nil, err
	}
	if err := unmarshalParams(params, sc); err != nil {
		return nil, err
	}
	return sc, nil
}

// unmarshalParams sets sc's declared parameters from their stored JSON.
func unmarshalParams(params string, sc *ci.Schedule) error {
	if err := json.Unmarshal([]byte(params), &sc.Parameters); err != nil {
		return fmt.Errorf("scan schedule parameters: %w", err)
	}
	if len(sc.Parameters) == 0 {
		sc.Parameters = nil
	}
	return nil
}

func normSchedule(s *ci.Schedule) {
	normTime(&s.NextRun)
	normTime(&s.LastRun)
	normTime(&s.CreatedAt)
	normTime(&s.UpdatedAt)
	if len(s.Parameters) == 0 {
		s.Parameters = nil
	}
}

func scheduleParamsArg(ps []ci.Parameter) (string, error) {
	if len(ps) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(ps)
	if err != nil {
		return "", fmt.Errorf("encode schedule parameters: %w", err)
	}
	return string(b), nil
}

// CreateSchedule stores a new schedule, giving it an ID if it has none and
// CreatedAt (and UpdatedAt) if zero. A name its project already has is
// ErrConflict; a project that does not exist is ErrNotFound.
func (tx *Tx) CreateSchedule(s *ci.Schedule) error {
	if s.ID == "" {
		s.ID = ids.New()
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = time.Now()
	}
	if s.UpdatedAt.IsZero() {
		s.UpdatedAt, s.UpdatedBy = s.CreatedAt, s.CreatedBy
	}
	normSchedule(s)
	params, err := scheduleParamsArg(s.Parameters)
	if err != nil {
		return err
	}
	_, err = tx.exec(`INSERT INTO schedules (`+scheduleCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		s.ID, s.ProjectID, s.Name, s.Cron, s.Timezone, s.Branch, s.PipelineFile, params, s.Paused,
		tx.ts(s.NextRun), tx.ts(s.LastRun), s.LastWorkflow, s.LastError,
		tx.ts(s.CreatedAt), s.CreatedBy, tx.ts(s.UpdatedAt), s.UpdatedBy)
	return wrap(fmt.Sprintf("create schedule %q", s.Name), err)
}

// GetSchedule returns the schedule of a project with that name or ID.
func (tx *Tx) GetSchedule(projectID, nameOrID string) (*ci.Schedule, error) {
	s, err := scanSchedule(tx.queryRow(`SELECT `+scheduleCols+` FROM schedules
		WHERE project_id = $1 AND (name = $2 OR id = $2)
		ORDER BY CASE WHEN name = $2 THEN 0 ELSE 1 END LIMIT 1`, projectID, nameOrID))
	return s, wrap(fmt.Sprintf("get schedule %q", nameOrID), err)
}

// GetSchedule returns the schedule of a project with that name or ID.
func (db *DB) GetSchedule(ctx context.Context, projectID, nameOrID string) (*ci.Schedule, error) {
	return db.reader(ctx).GetSchedule(projectID, nameOrID)
}

// ListSchedules returns a project's schedules by name.
func (db *DB) ListSchedules(ctx context.Context, projectID string) ([]*ci.Schedule, error) {
	ss, err := collect(db.reader(ctx), scanSchedule, `SELECT `+scheduleCols+` FROM schedules
		WHERE project_id = $1 ORDER BY name`, projectID)
	return ss, wrap("list schedules", err)
}

// UpdateSchedule stores every field of s that a user sets (name, cron,
// time zone, branch, pipeline file, parameters, paused, next run, and
// who updated it when); the record of the last run stays.
func (tx *Tx) UpdateSchedule(s *ci.Schedule) error {
	if s.UpdatedAt.IsZero() {
		s.UpdatedAt = time.Now()
	}
	normSchedule(s)
	params, err := scheduleParamsArg(s.Parameters)
	if err != nil {
		return err
	}
	return tx.execOne(fmt.Sprintf("update schedule %q", s.Name), `UPDATE schedules SET name = $2,
		cron = $3, timezone = $4, branch = $5, pipeline_file = $6, parameters = $7, paused = $8,
		next_run = $9, updated_at = $10, updated_by = $11 WHERE id = $1`,
		s.ID, s.Name, s.Cron, s.Timezone, s.Branch, s.PipelineFile, params, s.Paused,
		tx.ts(s.NextRun), tx.ts(s.UpdatedAt), s.UpdatedBy)
}

// DeleteSchedule deletes a schedule; the workflows it started stay.
func (tx *Tx) DeleteSchedule(id string) error {
	return tx.execOne("delete schedule "+id, `DELETE FROM schedules WHERE id = $1`, id)
}

// ClaimDueSchedules claims up to limit schedules that are not paused and
// whose next run is at or before now, oldest tick first, and returns them
// as they were (NextRun is the tick claimed). Each claimed schedule's next
// run becomes next(schedule), which must be after now, so that a tick is
// claimed by exactly one caller however many servers share the database,
// and a schedule that missed several ticks (the servers were down) runs
// once. On PostgreSQL the rows are locked with SKIP LOCKED, so that
// servers claiming at once take different schedules, and all of them move
// on in one statement; the update is also conditional on the tick read,
// so a tick is never claimed twice.
//
// In the same transaction each claimed tick is recorded pending (see
// TakeScheduleRun) until leaseUntil: if its workflow is neither created
// nor its failure recorded by then (the server died), TakeOverScheduleRuns
// gives it to another tick.
func (db *DB) ClaimDueSchedules(ctx context.Context, now, leaseUntil time.Time, limit int, next func(*ci.Schedule) time.Time) ([]*ci.Schedule, error) {
	if limit <= 0 {
		limit = 100
	}
	var claimed []*ci.Schedule
	err := db.Tx(ctx, func(tx *Tx) error {
		claimed = nil
		lock := ""
		if db.dialect == Postgres {
			lock = " FOR UPDATE SKIP LOCKED"
		}
		due, err := collect(tx, scanSchedule, `SELECT `+scheduleCols+` FROM schedules
			WHERE NOT paused AND next_run <= $1 ORDER BY next_run, id LIMIT $2`+lock, tx.ts(now), limit)
		if err != nil {
			return wrap("due schedules", err)
		}
		if len(due) == 0 {
			return nil
		}
		nexts := make([]time.Time, len(due))
		for i, s := range due {
			nexts[i] = next(s)
			normTime(&nexts[i])
		}
		if db.dialect == Postgres {
			claimed, err = tx.moveSchedules(due, nexts, leaseUntil)
			return err
		}
		for i, s := range due {
			res, err := tx.exec(`UPDATE schedules SET next_run = $1, last_run = $2
				WHERE id = $3 AND next_run = $2 AND NOT paused`, tx.ts(nexts[i]), tx.ts(s.NextRun), s.ID)
			if err != nil {
				return wrap("claim schedule "+s.Name, err)
			}
			if k, err := res.RowsAffected(); err != nil {
				return wrap("claim schedule "+s.Name, err)
			} else if k == 1 {
				if err := tx.addPendingRun(s, leaseUntil); err != nil {
					return err
				}
				claimed = append(claimed, s)
			}
		}
		return nil
	})
	return claimed, err
}

// moveSchedules sets the next run of each of due to the time of nexts at
// its index (zero: NULL, never) and its last run to the tick read, in one
// PostgreSQL statement, where the tick is still the one read, and records
// each tick moved pending until leaseUntil; it returns the schedules moved.
func (tx *Tx) moveSchedules(due []*ci.Schedule, nexts []time.Time, leaseUntil time.Time) ([]*ci.Schedule, error) {
	keys, ticks, next := make([]string, len(due)), make([]string, len(due)), make([]string, len(due))
	for i, s := range due {
		keys[i], ticks[i] = s.ID, s.NextRun.Format(time.RFC3339Nano)
		if !nexts[i].IsZero() {
			next[i] = nexts[i].Format(time.RFC3339Nano)
		}
	}
	rows, err := tx.query(`WITH moved AS (
			UPDATE schedules s SET next_run = NULLIF(v.next, '')::timestamptz, last_run = s.next_run
			FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, tick, next)
			WHERE s.id = v.id AND s.next_run = v.tick::timestamptz AND NOT s.paused
			RETURNING s.id, s.last_run, s.project_id, s.name, s.branch, s.pipeline_file, s.parameters
		), pending AS (
			INSERT INTO schedule_runs_pending (schedule_id, tick, project_id, name, branch, pipeline_file, parameters, lease_until)
			SELECT id, last_run, project_id, name, branch, pipeline_file, parameters, $4 FROM moved
			ON CONFLICT DO NOTHING
		)
		SELECT id FROM moved`, keys, ticks, next, tx.ts(leaseUntil))
	if err != nil {
		return nil, wrap("claim schedules", err)
	}
	defer rows.Close()
	moved := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, wrap("claim schedules", err)
		}
		moved[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("claim schedules", err)
	}
	var claimed []*ci.Schedule
	for _, s := range due {
		if moved[s.ID] {
			claimed = append(claimed, s)
		}
	}
	return claimed, nil
}

// RecordScheduleRun records what the run of a schedule's tick (or a run
// now) gave: the workflow it created, or why it created none. It is one
// statement, committed on its own.
func (db *DB) RecordScheduleRun(ctx context.Context, id, workflowID, runErr string) error {
	return db.autocommit(ctx).execOne("record schedule run "+id, `UPDATE schedules SET last_workflow = $2, last_error = $3
		WHERE id = $1`, id, workflowID, runErr)
}

// ScheduleRun is what the run of a schedule gave: the workflow it
// created, or why it created none (Error). Tick is the tick it ran for
// (zero: a run now).
type ScheduleRun struct {
	ScheduleID, WorkflowID, Error string
	Tick                          time.Time
}

// RecordScheduleRuns is RecordScheduleRun for many runs, in one statement
// on PostgreSQL. A schedule deleted meanwhile is passed over. A failed
// run of a tick takes the tick's pending run (a failed run counts as
// run); when it was no longer pending (another server took the run over)
// it is not recorded.
func (db *DB) RecordScheduleRuns(ctx context.Context, runs []ScheduleRun) error {
	if len(runs) == 0 {
		return nil
	}
	if db.dialect != Postgres {
		return db.Tx(ctx, func(tx *Tx) error {
			for _, r := range runs {
				if r.Error != "" && !r.Tick.IsZero() {
					if err := tx.TakeScheduleRun(r.ScheduleID, r.Tick); errors.Is(err, ErrScheduleRunTaken) {
						continue
					} else if err != nil {
						return err
					}
				}
				if _, err := tx.exec(`UPDATE schedules SET last_workflow = $2, last_error = $3
					WHERE id = $1`, r.ScheduleID, r.WorkflowID, r.Error); err != nil {
					return wrap("record schedule run "+r.ScheduleID, err)
				}
			}
			return nil
		})
	}
	keys, wfs, errs, ticks := make([]string, len(runs)), make([]string, len(runs)), make([]string, len(runs)), make([]string, len(runs))
	for i, r := range runs {
		keys[i], wfs[i], errs[i] = r.ScheduleID, r.WorkflowID, r.Error
		if !r.Tick.IsZero() {
			ticks[i] = r.Tick.UTC().Format(time.RFC3339Nano)
		}
	}
	_, err := db.autocommit(ctx).exec(`WITH v AS (
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS v(id, wf, err, tick)
		), failed AS (
			DELETE FROM schedule_runs_pending p USING v
			WHERE v.err <> '' AND v.tick <> '' AND p.schedule_id = v.id AND p.tick = v.tick::timestamptz
			RETURNING p.schedule_id, p.tick
		)
		UPDATE schedules s SET last_workflow = v.wf, last_error = v.err FROM v
		WHERE s.id = v.id AND (v.err = '' OR v.tick = ''
			OR EXISTS (SELECT 1 FROM failed f WHERE f.schedule_id = v.id AND f.tick = v.tick::timestamptz))`, keys, wfs, errs, ticks)
	return wrap("record schedule runs", err)
}

// NextScheduleRun returns the earliest next run of the schedules that are
// not paused (the zero time when there are none).
func (db *DB) NextScheduleRun(ctx context.Context) (time.Time, error) {
	var t time.Time
	err := db.reader(ctx).queryRow(`SELECT MIN(next_run) FROM schedules WHERE NOT paused`).Scan(timeCol{&t})
	return t, wrap("next schedule run", err)
}

// ScheduleWorkflows returns the workflows a project's schedule started,
// newest first, at most limit (0 = 10).
func (db *DB) ScheduleWorkflows(ctx context.Context, projectID, name string, limit int) ([]*ci.Workflow, error) {
	if limit <= 0 {
		limit = 10
	}
	ws, err := collect(db.reader(ctx), scanWorkflow, `SELECT `+workflowCols+` FROM workflows w
		WHERE w.project_id = $1 AND w.schedule = $2 ORDER BY w.created_at DESC, w.number DESC LIMIT $3`,
		projectID, name, limit)
	return ws, wrap("schedule workflows", err)
}
