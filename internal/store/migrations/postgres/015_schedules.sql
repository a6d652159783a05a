-- Schedules (Semaphore's tasks): a project's pipeline run on a branch at
-- the times of a cron expression read in a time zone. parameters is a
-- JSON array of the declared parameters (name, description, required,
-- options, default_value). A server claims a due tick with a conditional
-- update of next_run, so that of several servers one runs it; after
-- downtime next_run moves past now, so a schedule catches up once.
CREATE TABLE schedules (
	id            TEXT PRIMARY KEY,
	project_id    TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	name          TEXT NOT NULL,
	cron          TEXT NOT NULL,
	timezone      TEXT NOT NULL,
	branch        TEXT NOT NULL,
	pipeline_file TEXT NOT NULL,
	parameters    TEXT NOT NULL,
	paused        BOOLEAN NOT NULL,
	next_run      TIMESTAMPTZ,
	last_run      TIMESTAMPTZ,
	last_workflow TEXT NOT NULL,
	last_error    TEXT NOT NULL,
	created_at    TIMESTAMPTZ NOT NULL,
	created_by    TEXT NOT NULL,
	updated_at    TIMESTAMPTZ NOT NULL,
	updated_by    TEXT NOT NULL
);
CREATE UNIQUE INDEX schedules_name ON schedules (project_id, name);
CREATE INDEX schedules_due ON schedules (next_run) WHERE NOT paused;

-- A workflow a schedule started names it; parameters is the JSON object
-- of the parameter values a workflow ran with (schedules, manual runs).
ALTER TABLE workflows ADD COLUMN schedule TEXT NOT NULL DEFAULT '';
ALTER TABLE workflows ADD COLUMN parameters TEXT NOT NULL DEFAULT '{}';
CREATE INDEX workflows_schedule ON workflows (project_id, schedule, created_at) WHERE schedule <> '';
