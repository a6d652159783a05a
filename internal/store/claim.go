package store

import (
	"fmt"
	"strings"
	"time"

	"github.com/batonci/baton/internal/ci"
)

// ClaimJobs is ClaimJobFor for a batch of polls: it assigns the queued
// jobs c allows, in the same order, one to each entry of agents (an agent
// with several free slots is listed once per slot), and returns them
// (fewer than agents when fewer wait; each job's AgentID says whose it
// is). Two statements whatever the batch's size: the jobs are picked (on
// PostgreSQL with FOR UPDATE SKIP LOCKED, so that servers claiming at
// once take different jobs and never wait on each other), then assigned
// in one UPDATE.
func (tx *Tx) ClaimJobs(agents []string, c Claim, now time.Time) ([]*ci.Job, error) {
	if len(agents) == 0 {
		return nil, nil
	}
	lock := ""
	if tx.db.dialect == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	args := []any{c.MachineType, c.Docker}
	skip := ""
	if len(c.Skip) > 0 {
		skip = " AND id NOT IN (" + inList(&args, c.Skip) + ")"
	}
	args = append(args, len(agents))
	ids, err := collect(tx, func(s scanner) (id string, err error) {
		err = s.Scan(&id)
		return id, err
	}, `SELECT id FROM jobs WHERE state = 'queued' AND machine_type = $1
		AND (needs_docker = FALSE OR $2 = TRUE)`+skip+`
		ORDER BY `+claimOrder+fmt.Sprintf(` LIMIT $%d`, len(args))+lock, args...)
	if err != nil {
		return nil, wrap("claim jobs", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	uargs := []any{tx.ts(now)}
	var cases strings.Builder
	for i, id := range ids {
		uargs = append(uargs, id, agents[i])
		fmt.Fprintf(&cases, " WHEN $%d THEN CAST($%d AS TEXT)", len(uargs)-1, len(uargs))
	}
	in := inList(&uargs, ids)
	jobs, err := collect(tx, scanJob, `UPDATE jobs SET state = 'running',
		agent_id = CASE id`+cases.String()+` END, started_at = $1, wait_reason = ''
		WHERE id IN (`+in+`) AND state = 'queued'
		RETURNING `+jobCols, uargs...)
	if err != nil {
		return nil, wrap("claim jobs", err)
	}
	return jobs, nil
}

// ReleaseJob puts back in the queue a job claimed for an agent that
// never received it (its poll went away before the claim reached it): the
// job is queued again if it is still running on that agent, and the
// result says whether it was. Only for a job whose start was not
// recorded (engine.JobStarted): the agent never saw it.
func (tx *Tx) ReleaseJob(id, agentID string) (bool, error) {
	res, err := tx.exec(`UPDATE jobs SET state = 'queued', agent_id = '', started_at = NULL
		WHERE id = $1 AND agent_id = $2 AND state = 'running'`, id, agentID)
	if err != nil {
		return false, wrap("release job "+id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrap("release job "+id, err)
	}
	return n == 1, nil
}
