package store

import (
	"context"

	"github.com/batonci/baton/internal/ci"
)

// This file holds the store methods the engine needs beyond the shared
// contract.

// UpdateJobIf is UpdateJob that writes only while the stored job is still
// in state from, and returns ErrConflict when it is not. The engine reads
// a job under its pipeline's lock, but ClaimJob moves queued jobs to
// running without that lock; this compare-and-set keeps the engine from
// overwriting a claim (on PostgreSQL, an UPDATE that waited for a
// concurrent claim re-checks the condition on the claimed row).
func (tx *Tx) UpdateJobIf(j *ci.Job, from ci.State) error {
	return tx.updateJob(j, from)
}

// ActivePipelines returns the pipelines that are not done, without
// blocks, oldest first.
func (tx *Tx) ActivePipelines() ([]*ci.Pipeline, error) {
	ps, err := collect(tx, scanPipeline, `SELECT `+pipelineCols+` FROM pipelines
		WHERE state <> 'done' ORDER BY created_at, id`)
	return ps, wrap("active pipelines", err)
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
