-- Debug sessions: users' SSH public keys, the agents' SSH host
-- keys, the sessions opened into jobs (who, which job, when, how long),
-- and the debug jobs made from other jobs.
CREATE TABLE ssh_keys (
	id          TEXT PRIMARY KEY,
	user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name        TEXT NOT NULL,
	-- public_key is one authorized_keys line, without options.
	public_key  TEXT NOT NULL,
	-- fingerprint is "SHA256:..."; a key belongs to one user only.
	fingerprint TEXT NOT NULL UNIQUE,
	created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX ssh_keys_user ON ssh_keys (user_id);

ALTER TABLE agents ADD COLUMN ssh_host_key TEXT NOT NULL DEFAULT '';

CREATE TABLE debug_sessions (
	id         TEXT PRIMARY KEY,
	-- job_id and project_id are not foreign keys: the record outlives them.
	job_id     TEXT NOT NULL,
	project_id TEXT NOT NULL,
	agent_id   TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	login      TEXT NOT NULL,
	-- kind is attach or debug.
	kind       TEXT NOT NULL,
	-- server_url is the server holding the user's end, which the agent
	-- dials (several servers may share the database).
	server_url TEXT NOT NULL DEFAULT '',
	-- state is pending (asked of the agent), open, or closed.
	state      TEXT NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	opened_at  TIMESTAMPTZ,
	closed_at  TIMESTAMPTZ
);
CREATE INDEX debug_sessions_agent ON debug_sessions (agent_id, state);
CREATE INDEX debug_sessions_job ON debug_sessions (job_id);

CREATE TABLE debug_jobs (
	-- job_id is the debug job, of_job_id the job it reproduces.
	job_id     TEXT PRIMARY KEY,
	of_job_id  TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	created_at TIMESTAMPTZ NOT NULL
);
