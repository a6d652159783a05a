-- Code coverage: a job's published coverage (coverage_reports) keeps its
-- per-file blocks as an object in the blob store, blob_key; a pipeline's
-- coverage is its jobs' reports merged by file when it ends, with the
-- branch, commit and time of the pipeline for the project's trend and
-- badge.
ALTER TABLE coverage_reports ADD COLUMN blob_key TEXT NOT NULL DEFAULT '';
ALTER TABLE coverage_reports ADD COLUMN files INTEGER NOT NULL DEFAULT 0;

CREATE TABLE pipeline_coverage (
	pipeline_id TEXT PRIMARY KEY REFERENCES pipelines (id) ON DELETE CASCADE,
	project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	workflow_id TEXT NOT NULL,
	branch      TEXT NOT NULL,
	sha         TEXT NOT NULL,
	format      TEXT NOT NULL,
	files       INTEGER NOT NULL,
	lines       INTEGER NOT NULL,
	covered     INTEGER NOT NULL,
	created_at  TEXT NOT NULL,
	updated_at  TEXT NOT NULL
);
CREATE INDEX pipeline_coverage_branch ON pipeline_coverage (project_id, branch, created_at);
