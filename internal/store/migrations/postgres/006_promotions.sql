-- Promotions and deployment targets.

-- A promoted pipeline names its promotion and the deployment target it
-- deploys to ("" for neither).
ALTER TABLE pipelines ADD COLUMN promotion TEXT NOT NULL DEFAULT '';
ALTER TABLE pipelines ADD COLUMN deployment_target TEXT NOT NULL DEFAULT '';
-- promotions_due marks a pipeline that ended with auto-promotions not yet
-- evaluated: set when it ends, cleared once they ran (or were refused),
-- so that a server that crashed in between does not lose them.
ALTER TABLE pipelines ADD COLUMN promotions_due BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX pipelines_promotions_due ON pipelines (promotions_due) WHERE promotions_due;

-- Deployment targets, per project. users, roles, branches and tags are
-- JSON arrays of strings (a branch or tag is exact, or /regex/); env and
-- files are the target's secret, sealed like the secrets table's.
CREATE TABLE deployment_targets (
	id          TEXT PRIMARY KEY,
	project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	name        TEXT NOT NULL,
	description TEXT NOT NULL,
	users       TEXT NOT NULL,
	roles       TEXT NOT NULL,
	branches    TEXT NOT NULL,
	tags        TEXT NOT NULL,
	allow_prs   BOOLEAN NOT NULL,
	env         json NOT NULL,
	files       json NOT NULL,
	created_at  TIMESTAMPTZ NOT NULL,
	created_by  TEXT NOT NULL,
	updated_at  TIMESTAMPTZ NOT NULL,
	updated_by  TEXT NOT NULL
);
CREATE UNIQUE INDEX deployment_targets_name ON deployment_targets (project_id, name);

-- One row per run of a promotion of a pipeline: run 0 is the automatic
-- one (so that it fires once, whichever server sees the pipeline end),
-- manual runs count from 1. A refused run has no promoted pipeline and
-- says why. parameters is a JSON object of the values used.
CREATE TABLE promotions (
	id                TEXT PRIMARY KEY,
	pipeline_id       TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
	project_id        TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	name              TEXT NOT NULL,
	run               INTEGER NOT NULL,
	auto              BOOLEAN NOT NULL,
	triggered_by      TEXT NOT NULL,
	parameters        TEXT NOT NULL,
	deployment_target TEXT NOT NULL,
	promoted_pipeline TEXT NOT NULL,
	refused           TEXT NOT NULL,
	created_at        TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX promotions_run ON promotions (pipeline_id, name, run);
CREATE INDEX promotions_target ON promotions (project_id, deployment_target, created_at);
