-- Secrets. An organisation secret has no project_id; a project
-- secret of the same name overrides it for that project. env and files are
-- JSON arrays of {"name"|"path", "value"|"content"} whose values are
-- ciphertexts (internal/secret: AES-256-GCM, each bound to its secret, its
-- variable or file, and carrying the ID of the key that sealed it); names
-- and paths are plaintext metadata.
CREATE TABLE secrets (
	id          TEXT PRIMARY KEY,
	project_id  TEXT REFERENCES projects (id) ON DELETE CASCADE,
	name        TEXT NOT NULL,
	description TEXT NOT NULL,
	allow_forks BOOLEAN NOT NULL,
	env         json NOT NULL,
	files       json NOT NULL,
	created_at  TIMESTAMPTZ NOT NULL,
	created_by  TEXT NOT NULL,
	updated_at  TIMESTAMPTZ NOT NULL,
	updated_by  TEXT NOT NULL
);
CREATE UNIQUE INDEX secrets_org_name ON secrets (name) WHERE project_id IS NULL;
CREATE UNIQUE INDEX secrets_project_name ON secrets (project_id, name) WHERE project_id IS NOT NULL;

-- A workflow of a pull request from a fork gets no secrets unless a secret
-- allows forks, and no cache writes.
ALTER TABLE workflows ADD COLUMN pr_fork BOOLEAN NOT NULL DEFAULT FALSE;
