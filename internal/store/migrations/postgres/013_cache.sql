-- Each project's cache, shared by every agent: the archives are objects
-- in the blob store (blob_key, one object per store, so that two agents
-- racing to store one key never overwrite each other's object); the
-- database knows the keys, their sizes and when each was last restored,
-- for the project's size budget, which evicts the least recently used.
CREATE TABLE cache_keys (
	project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	key         TEXT NOT NULL,
	blob_key    TEXT NOT NULL,
	size        BIGINT NOT NULL,
	stored_at   TIMESTAMPTZ NOT NULL,
	accessed_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (project_id, key)
);

-- cache_budgets holds a project's cache size budget in bytes when it is
-- not the default.
CREATE TABLE cache_budgets (
	project_id TEXT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
	max_size   BIGINT NOT NULL
);
