package store

import (
	"context"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/ids"
)

const projectCols = `id, name, repo_url, default_branch, pipeline_file, public,
	poll_interval_ms, webhook_secret, created_at, forge, forge_url, forge_repo, forge_token,
	deployment_details_public`

func scanProject(s scanner) (*ci.Project, error) {
	p, part := projectPart()
	return p, scanParts(s, part)
}

// projectPart is a project's share of a row: the columns of projectCols.
func projectPart() (*ci.Project, rowPart) {
	p := &ci.Project{}
	return p, rowPart{dest: []any{&p.ID, &p.Name, &p.RepoURL, &p.DefaultBranch, &p.PipelineFile, &p.Public,
		durCol{&p.PollInterval}, &p.WebhookSecret, timeCol{&p.CreatedAt},
		&p.Forge, &p.ForgeURL, &p.ForgeRepo, &p.ForgeToken, &p.DeploymentDetailsPublic}}
}

func normProject(p *ci.Project) {
	normDur(&p.PollInterval)
	normTime(&p.CreatedAt)
}

// CreateProject stores a new project, giving it an ID if it has none and a
// CreatedAt if it is zero. A name already taken is ErrConflict.
func (tx *Tx) CreateProject(p *ci.Project) error {
	if p.ID == "" {
		p.ID = ids.New()
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Now()
	}
	normProject(p)
	_, err := tx.exec(`INSERT INTO projects (`+projectCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		p.ID, p.Name, p.RepoURL, p.DefaultBranch, p.PipelineFile, p.Public,
		ms(p.PollInterval), p.WebhookSecret, tx.ts(p.CreatedAt),
		p.Forge, p.ForgeURL, p.ForgeRepo, p.ForgeToken, p.DeploymentDetailsPublic)
	if err != nil {
		return wrap("create project", err)
	}
	if tx.db.dialect == Postgres {
		return tx.ensureWorkflowNumbers(p.ID) // see ReserveWorkflowNumber
	}
	return nil
}

// GetProject returns the project with that ID or, failing that, that name.
func (tx *Tx) GetProject(idOrName string) (*ci.Project, error) {
	p, err := scanProject(tx.queryRow(`SELECT `+projectCols+` FROM projects
		WHERE id = $1 OR name = $1
		ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END LIMIT 1`, idOrName))
	if err != nil {
		return nil, wrap("get project "+idOrName, err)
	}
	return p, nil
}

// GetProject returns the project with that ID or, failing that, that name.
func (db *DB) GetProject(ctx context.Context, idOrName string) (*ci.Project, error) {
	return db.reader(ctx).GetProject(idOrName)
}

// ListProjects returns every project, by name.
func (tx *Tx) ListProjects() ([]*ci.Project, error) {
	ps, err := collect(tx, scanProject, `SELECT `+projectCols+` FROM projects ORDER BY name`)
	return ps, wrap("list projects", err)
}

// ListProjects returns every project, by name.
func (db *DB) ListProjects(ctx context.Context) ([]*ci.Project, error) {
	return db.reader(ctx).ListProjects()
}

// UpdateProject stores every field of p but its ID and CreatedAt. A forge
// token belongs to the forge it was given for: when p changes the forge
// kind or URL but keeps the stored token, the token is cleared.
func (tx *Tx) UpdateProject(p *ci.Project) error {
	normProject(p)
	return tx.execOne("update project "+p.ID, `UPDATE projects SET name = $2, repo_url = $3,
		default_branch = $4, pipeline_file = $5, public = $6, poll_interval_ms = $7,
		webhook_secret = $8, forge = $9, forge_url = $10, forge_repo = $11,
		forge_token = CASE WHEN (forge <> $9 OR forge_url <> $10) AND forge_token = $12 THEN '' ELSE $12 END,
		deployment_details_public = $13
		WHERE id = $1`,
		p.ID, p.Name, p.RepoURL, p.DefaultBranch, p.PipelineFile, p.Public,
		ms(p.PollInterval), p.WebhookSecret, p.Forge, p.ForgeURL, p.ForgeRepo, p.ForgeToken, p.DeploymentDetailsPublic)
}

// DeleteProject deletes a project with its workflows, pipelines, blocks,
// jobs, poll state and webhook deliveries.
func (tx *Tx) DeleteProject(id string) error {
	if err := tx.execOne("delete project "+id, `DELETE FROM projects WHERE id = $1`, id); err != nil {
		return err
	}
	if tx.db.dialect == Postgres {
		_, err := tx.exec(`DROP SEQUENCE IF EXISTS ` + workflowNumbers(id))
		return wrap("delete project "+id, err)
	}
	return nil
}

// ProjectJobIDs returns the IDs of every job of a project, for what the
// database does not hold of them (their logs) when the project goes.
func (tx *Tx) ProjectJobIDs(projectID string) ([]string, error) {
	ids, err := collect(tx, func(s scanner) (id string, err error) {
		err = s.Scan(&id)
		return id, err
	}, `SELECT id FROM jobs WHERE project_id = $1 ORDER BY id`, projectID)
	return ids, wrap("project jobs", err)
}

// UnfinishedPipelines counts a project's pipelines that are not done.
func (tx *Tx) UnfinishedPipelines(projectID string) (int, error) {
	var n int
	err := tx.queryRow(`SELECT COUNT(*) FROM pipelines WHERE project_id = $1 AND state <> $2`, projectID, ci.StateDone).Scan(&n)
	return n, wrap("unfinished pipelines", err)
}
