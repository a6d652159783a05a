-- A project's artifact retention policy, as Semaphore's: rules of a
-- scope (job, workflow or project), a glob of artifact paths and an age
-- in seconds; for each artifact file the first rule of its scope whose
-- glob matches decides how long it is kept, and a file no rule matches
-- is kept.
CREATE TABLE artifact_retention (
	project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	position    INTEGER NOT NULL,
	scope       TEXT NOT NULL,
	glob        TEXT NOT NULL,
	max_age_s   INTEGER NOT NULL,
	PRIMARY KEY (project_id, position)
);

-- sweeps records when each periodic task of the servers (the artifact
-- sweeper) may run next; a server claims a run with a conditional update
-- of next_at, so one server runs it per period.
CREATE TABLE sweeps (
	name    TEXT PRIMARY KEY,
	next_at TEXT NOT NULL
);
