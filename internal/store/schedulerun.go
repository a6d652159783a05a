package store

import (
	"context"
	"fmt"
	"time"

	"github.com/batonci/baton/internal/ci"
)

// ErrScheduleRunTaken is TakeScheduleRun's answer when the tick's run is
// no longer pending: another creation took it, or its failure was
// recorded, or its schedule was deleted.
var ErrScheduleRunTaken = fmt.Errorf("%w: the schedule's run of this tick is already created or recorded", ErrConflict)

// addPendingRun records the claimed tick of s (s.NextRun) pending until
// leaseUntil, with what s is now.
func (tx *Tx) addPendingRun(s *ci.Schedule, leaseUntil time.Time) error {
	params, err := scheduleParamsArg(s.Parameters)
	if err != nil {
		return err
	}
	_, err = tx.exec(`INSERT INTO schedule_runs_pending (schedule_id, tick, project_id, name, branch, pipeline_file, parameters, lease_until)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
		s.ID, tx.ts(s.NextRun), s.ProjectID, s.Name, s.Branch, s.PipelineFile, params, tx.ts(leaseUntil))
	return wrap("record pending run of schedule "+s.Name, err)
}

// TakeScheduleRun takes the pending run of a schedule's tick, in the
// transaction that creates its workflow: the row is deleted, so that of
// several creations of one tick (a server that was thought dead and one
// that took its run over) one commits; the others get
// ErrScheduleRunTaken and must create nothing.
func (tx *Tx) TakeScheduleRun(scheduleID string, tick time.Time) error {
	res, err := tx.exec(`DELETE FROM schedule_runs_pending WHERE schedule_id = $1 AND tick = $2`, scheduleID, tx.ts(tick))
	if err != nil {
		return wrap("take schedule run", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap("take schedule run", err)
	} else if n == 0 {
		return ErrScheduleRunTaken
	}
	return nil
}

const pendingRunCols = `schedule_id, tick, project_id, name, branch, pipeline_file, parameters`

// scanPendingRun reads a pending run as the schedule it was claimed from:
// its ID, project, name, branch, pipeline file and declared parameters,
// and the tick as NextRun.
func scanPendingRun(s scanner) (*ci.Schedule, error) {
	sc := &ci.Schedule{}
	var params string
	if err := s.Scan(&sc.ID, timeCol{&sc.NextRun}, &sc.ProjectID, &sc.Name, &sc.Branch, &sc.PipelineFile, &params); err != nil {
		return nil, err
	}
	if err := unmarshalParams(params, sc); err != nil {
		return nil, err
	}
	return sc, nil
}

// TakeOverScheduleRuns takes up to limit pending runs whose lease ended
// before now (the server that claimed them died before it created their
// workflows), moves their lease on to leaseUntil, and returns them as
// their schedules were when claimed, the tick as NextRun. A conditional
// update (and SKIP LOCKED on PostgreSQL) gives each to one caller.
func (db *DB) TakeOverScheduleRuns(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*ci.Schedule, error) {
	if limit <= 0 {
		limit = 100
	}
	if db.dialect == Postgres {
		tx := db.autocommit(ctx)
		runs, err := collect(tx, scanPendingRun, `UPDATE schedule_runs_pending p SET lease_until = $2
			FROM (SELECT schedule_id, tick FROM schedule_runs_pending WHERE lease_until < $1
				ORDER BY lease_until LIMIT $3 FOR UPDATE SKIP LOCKED) d
			WHERE p.schedule_id = d.schedule_id AND p.tick = d.tick AND p.lease_until < $1
			RETURNING p.schedule_id, p.tick, p.project_id, p.name, p.branch, p.pipeline_file, p.parameters`,
			tx.ts(now), tx.ts(leaseUntil), limit)
		return runs, wrap("take over schedule runs", err)
	}
	var taken []*ci.Schedule
	err := db.Tx(ctx, func(tx *Tx) error {
		taken = nil
		expired, err := collect(tx, scanPendingRun, `SELECT `+pendingRunCols+` FROM schedule_runs_pending
			WHERE lease_until < $1 ORDER BY lease_until LIMIT $2`, tx.ts(now), limit)
		if err != nil {
			return wrap("expired schedule runs", err)
		}
		for _, s := range expired {
			res, err := tx.exec(`UPDATE schedule_runs_pending SET lease_until = $1
				WHERE schedule_id = $2 AND tick = $3 AND lease_until < $4`, tx.ts(leaseUntil), s.ID, tx.ts(s.NextRun), tx.ts(now))
			if err != nil {
				return wrap("take over run of schedule "+s.Name, err)
			}
			if k, err := res.RowsAffected(); err != nil {
				return wrap("take over run of schedule "+s.Name, err)
			} else if k == 1 {
				taken = append(taken, s)
			}
		}
		return nil
	})
	return taken, err
}
