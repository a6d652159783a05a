-- People and permissions (PostgreSQL): project roles, browser sessions and the
-- audit log.

CREATE TABLE project_members (
	project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	-- role is read, write or admin.
	role       TEXT NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_user ON project_members (user_id);

CREATE TABLE sessions (
	-- hash is the SHA-256 of the session id in the cookie; the id itself is
	-- never stored.
	hash       TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	csrf_token TEXT NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE audit_events (
	-- seq numbers the events in the order they were recorded.
	seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at         TIMESTAMPTZ NOT NULL,
	action     TEXT NOT NULL,
	-- actor is the login of who did it ("" for anonymous or the system).
	actor      TEXT NOT NULL,
	target     TEXT NOT NULL,
	-- project_id is not a foreign key: the log outlives projects.
	project_id TEXT NOT NULL,
	ip         TEXT NOT NULL,
	detail     TEXT NOT NULL
);
