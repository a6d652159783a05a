package store

import (
	"context"
	"time"
)

// RetentionRule is one rule of a project's artifact retention policy:
// artifact files of Scope (job, workflow or project) whose path matches
// Glob are deleted once older than MaxAge.
type RetentionRule struct {
	Scope  string        `json:"scope"`
	Glob   string        `json:"glob"`
	MaxAge time.Duration `json:"-"`
}

// ArtifactRetention returns a project's retention rules in order (none:
// artifacts are kept).
func (db *DB) ArtifactRetention(ctx context.Context, projectID string) ([]RetentionRule, error) {
	rs, err := collect(db.reader(ctx), scanRetentionRule, `SELECT scope, glob, max_age_s FROM artifact_retention
		WHERE project_id = $1 ORDER BY position`, projectID)
	return rs, wrap("artifact retention", err)
}

func scanRetentionRule(s scanner) (RetentionRule, error) {
	var r RetentionRule
	var secs int64
	err := s.Scan(&r.Scope, &r.Glob, &secs)
	r.MaxAge = time.Duration(secs) * time.Second
	return r, err
}

// SetArtifactRetention replaces a project's retention rules.
func (db *DB) SetArtifactRetention(ctx context.Context, projectID string, rules []RetentionRule) error {
	return db.Tx(ctx, func(tx *Tx) error { return tx.SetArtifactRetention(projectID, rules) })
}

// SetArtifactRetention replaces a project's retention rules.
func (tx *Tx) SetArtifactRetention(projectID string, rules []RetentionRule) error {
	if _, err := tx.exec(`DELETE FROM artifact_retention WHERE project_id = $1`, projectID); err != nil {
		return wrap("set artifact retention", err)
	}
	for i, r := range rules {
		if _, err := tx.exec(`INSERT INTO artifact_retention (project_id, position, scope, glob, max_age_s) VALUES ($1, $2, $3, $4, $5)`,
			projectID, i, r.Scope, r.Glob, int64(r.MaxAge/time.Second)); err != nil {
			return wrap("set artifact retention", err)
		}
	}
	return nil
}

// ProjectsWithRetention returns the IDs of the projects that have
// retention rules.
func (db *DB) ProjectsWithRetention(ctx context.Context) ([]string, error) {
	ids, err := collect(db.reader(ctx), func(s scanner) (string, error) {
		var id string
		return id, s.Scan(&id)
	}, `SELECT DISTINCT project_id FROM artifact_retention ORDER BY project_id`)
	return ids, wrap("projects with retention", err)
}

// ClaimSweep claims the run of periodic task name at now: true for the
// one caller (among every server) that finds the task due, which moves
// its next run to now+every. A task that never ran is due.
func (db *DB) ClaimSweep(ctx context.Context, name string, now time.Time, every time.Duration) (bool, error) {
	claimed := false
	err := db.Tx(ctx, func(tx *Tx) error {
		claimed = false
		if _, err := tx.exec(`INSERT INTO sweeps (name, next_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, tx.ts(now)); err != nil {
			return wrap("claim sweep", err)
		}
		res, err := tx.exec(`UPDATE sweeps SET next_at = $1 WHERE name = $2 AND next_at <= $3`, tx.ts(now.Add(every)), name, tx.ts(now))
		if err != nil {
			return wrap("claim sweep", err)
		}
		n, err := res.RowsAffected()
		claimed = n == 1
		return wrap("claim sweep", err)
	})
	return claimed, err
}
