-- Baton's initial schema (SQLite). Times are fixed-width UTC text
-- (2006-01-02T15:04:05.000000Z), NULL when unset; durations are integer
-- milliseconds (*_ms); lists are JSON arrays in TEXT.

CREATE TABLE projects (
	id               TEXT PRIMARY KEY,
	name             TEXT NOT NULL UNIQUE,
	repo_url         TEXT NOT NULL,
	default_branch   TEXT NOT NULL,
	pipeline_file    TEXT NOT NULL,
	public           BOOLEAN NOT NULL,
	poll_interval_ms INTEGER NOT NULL,
	webhook_secret   TEXT NOT NULL,
	-- workflow_seq is the number of the project's last workflow.
	workflow_seq     INTEGER NOT NULL DEFAULT 0,
	created_at       TEXT NOT NULL
);

CREATE TABLE workflows (
	id           TEXT PRIMARY KEY,
	project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	number       INTEGER NOT NULL,
	trigger      TEXT NOT NULL,
	ref_type     TEXT NOT NULL,
	branch       TEXT NOT NULL,
	tag          TEXT NOT NULL,
	pr           TEXT NOT NULL,
	pr_branch    TEXT NOT NULL,
	sha          TEXT NOT NULL,
	commit_range TEXT NOT NULL,
	message      TEXT NOT NULL,
	author       TEXT NOT NULL,
	triggered_by TEXT NOT NULL,
	rerun_of     TEXT NOT NULL,
	created_at   TEXT NOT NULL,
	UNIQUE (project_id, number)
);
CREATE INDEX workflows_project_created ON workflows (project_id, created_at);
CREATE INDEX workflows_project_branch ON workflows (project_id, branch, created_at);
CREATE INDEX workflows_created ON workflows (created_at);

CREATE TABLE pipelines (
	id             TEXT PRIMARY KEY,
	workflow_id    TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
	project_id     TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	name           TEXT NOT NULL,
	file           TEXT NOT NULL,
	state          TEXT NOT NULL,
	result         TEXT NOT NULL,
	reason         TEXT NOT NULL,
	queue          TEXT NOT NULL,
	queue_scope    TEXT NOT NULL,
	parallel       BOOLEAN NOT NULL,
	auto_cancel    TEXT NOT NULL,
	fail_fast      TEXT NOT NULL,
	time_limit_ms  INTEGER NOT NULL,
	graph          TEXT CHECK (graph IS NULL OR json_valid(graph)),
	diagnostics    TEXT NOT NULL,
	promotion_of   TEXT NOT NULL,
	promoted_by    TEXT NOT NULL,
	partial_rerun  TEXT NOT NULL,
	created_at     TEXT NOT NULL,
	started_at     TEXT,
	done_at        TEXT
);
CREATE INDEX pipelines_workflow ON pipelines (workflow_id, created_at);
CREATE INDEX pipelines_project ON pipelines (project_id);
CREATE INDEX pipelines_queue ON pipelines (queue, queue_scope, created_at) WHERE state <> 'done';

CREATE TABLE blocks (
	id             TEXT PRIMARY KEY,
	pipeline_id    TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
	idx            INTEGER NOT NULL,
	name           TEXT NOT NULL,
	dependencies   TEXT NOT NULL,
	state          TEXT NOT NULL,
	result         TEXT NOT NULL,
	reason         TEXT NOT NULL,
	skipped        BOOLEAN NOT NULL,
	time_limit_ms  INTEGER NOT NULL,
	fail_fast      TEXT NOT NULL,
	started_at     TEXT,
	done_at        TEXT,
	after_pipeline BOOLEAN NOT NULL
);
CREATE INDEX blocks_pipeline ON blocks (pipeline_id, idx);

CREATE TABLE jobs (
	id             TEXT PRIMARY KEY,
	pipeline_id    TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
	block_id       TEXT NOT NULL REFERENCES blocks (id) ON DELETE CASCADE,
	project_id     TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	idx            INTEGER NOT NULL,
	name           TEXT NOT NULL,
	state          TEXT NOT NULL,
	result         TEXT NOT NULL,
	reason         TEXT NOT NULL,
	machine_type   TEXT NOT NULL,
	priority       INTEGER NOT NULL,
	spec           TEXT CHECK (spec IS NULL OR json_valid(spec)),
	-- agent_id is not a foreign key: a job keeps the agent that ran it.
	agent_id       TEXT NOT NULL,
	wait_reason    TEXT NOT NULL,
	stop_requested BOOLEAN NOT NULL,
	stop_reason    TEXT NOT NULL,
	time_limit_ms  INTEGER NOT NULL,
	created_at     TEXT NOT NULL,
	queued_at      TEXT,
	started_at     TEXT,
	done_at        TEXT
);
CREATE INDEX jobs_pipeline ON jobs (pipeline_id);
CREATE INDEX jobs_block ON jobs (block_id, idx);
CREATE INDEX jobs_project ON jobs (project_id);
CREATE INDEX jobs_state ON jobs (state);
-- The claim order (see ClaimJob): a queued job without queued_at comes first.
CREATE INDEX jobs_claim ON jobs (machine_type, priority DESC, queued_at, created_at, id) WHERE state = 'queued';
CREATE INDEX jobs_queued ON jobs (priority DESC, queued_at, created_at, id) WHERE state = 'queued';
CREATE INDEX jobs_agent ON jobs (agent_id) WHERE state IN ('running', 'stopping');

CREATE TABLE agents (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	type       TEXT NOT NULL,
	slots      INTEGER NOT NULL,
	version    TEXT NOT NULL,
	hostname   TEXT NOT NULL,
	state      TEXT NOT NULL,
	executors  TEXT NOT NULL,
	last_seen  TEXT,
	created_at TEXT NOT NULL
);

CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	login         TEXT NOT NULL UNIQUE,
	admin         BOOLEAN NOT NULL,
	password_hash TEXT NOT NULL,
	created_at    TEXT NOT NULL
);

CREATE TABLE tokens (
	id         TEXT PRIMARY KEY,
	user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
	name       TEXT NOT NULL,
	hash       TEXT NOT NULL UNIQUE,
	kind       TEXT NOT NULL,
	agent_type TEXT NOT NULL,
	created_at TEXT NOT NULL,
	last_used  TEXT,
	revoked    BOOLEAN NOT NULL
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

CREATE TABLE refs (
	project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	ref        TEXT NOT NULL,
	sha        TEXT NOT NULL,
	PRIMARY KEY (project_id, ref)
);

CREATE TABLE deliveries (
	id          TEXT PRIMARY KEY,
	-- project_id is NULL for a delivery no project matched.
	project_id  TEXT REFERENCES projects (id) ON DELETE CASCADE,
	event       TEXT NOT NULL,
	status      TEXT NOT NULL,
	http_status INTEGER NOT NULL,
	message     TEXT NOT NULL,
	payload     BLOB,
	created_at  TEXT NOT NULL
);
CREATE INDEX deliveries_project_created ON deliveries (project_id, created_at);
CREATE INDEX deliveries_created ON deliveries (created_at);
