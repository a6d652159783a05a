-- The organisation's global tools (baton tools set): every job's agent
-- installs them in its tool cache and puts them on the job's PATH. kind
-- is npm or go; version is what was asked for (a prefix such as "3", an
-- exact version, or latest); position keeps the order they were given in.
CREATE TABLE global_tools (
    position INTEGER NOT NULL PRIMARY KEY,
    kind     TEXT NOT NULL,
    name     TEXT NOT NULL UNIQUE,
    version  TEXT NOT NULL
);
