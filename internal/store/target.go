package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/batonci/baton/internal/ids"
)

// DeploymentTarget is a project's deployment target (docs/semaphore.md §3.3): who may
// promote to it, from which refs, and its secret, whose values are
// ciphertexts sealed by internal/vault.
type DeploymentTarget struct {
	ID          string
	ProjectID   string
	Name        string
	Description string
	// Users are the logins and Roles the project roles ("admin", "write")
	// allowed to promote; both empty means anyone with write access.
	Users []string
	Roles []string
	// Branches and Tags allowed, each exact or a /regex/; an empty list
	// allows every branch (or tag).
	Branches []string
	Tags     []string
	// AllowPRs lets pipelines of pull requests deploy.
	AllowPRs  bool
	Env       []SealedEnv
	Files     []SealedFile
	CreatedAt time.Time
	CreatedBy string
	UpdatedAt time.Time
	UpdatedBy string
}

const targetCols = `id, project_id, name, description, users, roles, branches, tags, allow_prs,
	env, files, created_at, created_by, updated_at, updated_by`

func scanTarget(s scanner) (*DeploymentTarget, error) {
	t := &DeploymentTarget{}
	var env, files json.RawMessage
	err := s.Scan(&t.ID, &t.ProjectID, &t.Name, &t.Description, listCol{&t.Users}, listCol{&t.Roles},
		listCol{&t.Branches}, listCol{&t.Tags}, &t.AllowPRs, jsonCol{&env}, jsonCol{&files},
		timeCol{&t.CreatedAt}, &t.CreatedBy, timeCol{&t.UpdatedAt}, &t.UpdatedBy)
	if err != nil {
		return nil, err
	}
	if t.Env, t.Files, err = sealedValues(env, files); err != nil {
		return nil, fmt.Errorf("scan target: %w", err)
	}
	return t, nil
}

func targetArgs(t *DeploymentTarget) (env, files string) {
	return secretArgs(&Secret{Env: t.Env, Files: t.Files})
}

// CreateTarget stores a new deployment target, giving it an ID if it has
// none and CreatedAt/UpdatedAt if they are zero. A name already taken in
// the project is ErrConflict; an unknown project is ErrNotFound.
func (tx *Tx) CreateTarget(t *DeploymentTarget) error {
	if t.ID == "" {
		t.ID = ids.New()
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = time.Now()
	}
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = t.CreatedAt
	}
	normTime(&t.CreatedAt)
	normTime(&t.UpdatedAt)
	env, files := targetArgs(t)
	_, err := tx.exec(`INSERT INTO deployment_targets (`+targetCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		t.ID, t.ProjectID, t.Name, t.Description, listArg(t.Users), listArg(t.Roles),
		listArg(t.Branches), listArg(t.Tags), t.AllowPRs, env, files,
		tx.ts(t.CreatedAt), t.CreatedBy, tx.ts(t.UpdatedAt), t.UpdatedBy)
	return wrap(fmt.Sprintf("create deployment target %q", t.Name), err)
}

// GetTarget returns a project's deployment target by name; ErrNotFound if
// there is none.
func (tx *Tx) GetTarget(projectID, name string) (*DeploymentTarget, error) {
	t, err := scanTarget(tx.queryRow(`SELECT `+targetCols+` FROM deployment_targets
		WHERE project_id = $1 AND name = $2`, projectID, name))
	if err != nil {
		return nil, wrap(fmt.Sprintf("get deployment target %q", name), err)
	}
	return t, nil
}

// GetTarget returns a project's deployment target by name.
func (db *DB) GetTarget(ctx context.Context, projectID, name string) (*DeploymentTarget, error) {
	return db.reader(ctx).GetTarget(projectID, name)
}

// ListTargets returns a project's deployment targets by name.
func (tx *Tx) ListTargets(projectID string) ([]*DeploymentTarget, error) {
	ts, err := collect(tx, scanTarget, `SELECT `+targetCols+` FROM deployment_targets
		WHERE project_id = $1 ORDER BY name`, projectID)
	return ts, wrap("list deployment targets", err)
}

// ListTargets returns a project's deployment targets by name.
func (db *DB) ListTargets(ctx context.Context, projectID string) ([]*DeploymentTarget, error) {
	return db.reader(ctx).ListTargets(projectID)
}

// AllTargets returns every deployment target, locked for update on
// PostgreSQL (key rotation re-seals their secrets).
func (tx *Tx) AllTargets() ([]*DeploymentTarget, error) {
	ts, err := collect(tx, scanTarget, `SELECT `+targetCols+` FROM deployment_targets ORDER BY id`+tx.forUpdate())
	return ts, wrap("list all deployment targets", err)
}

// UpdateTarget stores every field of t but its ID, ProjectID, Name and
// creation, by ID.
func (tx *Tx) UpdateTarget(t *DeploymentTarget) error {
	normTime(&t.UpdatedAt)
	env, files := targetArgs(t)
	return tx.execOne(fmt.Sprintf("update deployment target %q", t.Name), `UPDATE deployment_targets
		SET description = $2, users = $3, roles = $4, branches = $5, tags = $6, allow_prs = $7,
		env = $8, files = $9, updated_at = $10, updated_by = $11
		WHERE id = $1`,
		t.ID, t.Description, listArg(t.Users), listArg(t.Roles), listArg(t.Branches),
		listArg(t.Tags), t.AllowPRs, env, files, tx.ts(t.UpdatedAt), t.UpdatedBy)
}

// DeleteTarget deletes a project's deployment target by name; ErrNotFound
// if there is none. Its deployment history (promotions naming it) stays.
func (tx *Tx) DeleteTarget(projectID, name string) error {
	return tx.execOne(fmt.Sprintf("delete deployment target %q", name),
		`DELETE FROM deployment_targets WHERE project_id = $1 AND name = $2`, projectID, name)
}
