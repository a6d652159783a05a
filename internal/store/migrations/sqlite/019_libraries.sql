-- Organisation script libraries: git repositories whose files pipelines
-- use as command lists (commands_file: "@NAME/path") and jobs check out
-- (lib checkout). token is a ciphertext (internal/secret, bound to the
-- library's ID and repository URL), '' when the repository needs none.
CREATE TABLE libraries (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	repo_url   TEXT NOT NULL,
	branch     TEXT NOT NULL,
	token      TEXT NOT NULL,
	created_at TEXT NOT NULL,
	created_by TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	updated_by TEXT NOT NULL
);

-- The commit of every library fixed when a workflow was created (the
-- head of its branch then); its pipelines, promotions, reruns and
-- rebuilds read the library there. error says why the head could not be
-- resolved (sha is '' then).
CREATE TABLE workflow_libraries (
	workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
	name        TEXT NOT NULL,
	library_id  TEXT NOT NULL,
	sha         TEXT NOT NULL,
	error       TEXT NOT NULL,
	PRIMARY KEY (workflow_id, name)
);

-- The library files each pipeline used, for the Library page.
CREATE TABLE library_uses (
	pipeline_id TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
	library_id  TEXT NOT NULL,
	path        TEXT NOT NULL,
	sha         TEXT NOT NULL,
	created_at  TEXT NOT NULL,
	PRIMARY KEY (pipeline_id, library_id, path)
);
CREATE INDEX library_uses_recent ON library_uses (library_id, created_at);
