-- Forges. A project names its git host (github, gitlab, gitea;
-- '' for plain git), the host's API URL, the repository there, and an API
-- token sealed like a secret's values (internal/secret, bound to the
-- project), for commit statuses.
ALTER TABLE projects ADD COLUMN forge TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN forge_url TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN forge_repo TEXT NOT NULL DEFAULT '';
ALTER TABLE projects ADD COLUMN forge_token TEXT NOT NULL DEFAULT '';

-- A pull request's head commit (the workflow's sha is the merge commit),
-- title and head repository.
ALTER TABLE workflows ADD COLUMN pr_sha TEXT NOT NULL DEFAULT '';
ALTER TABLE workflows ADD COLUMN pr_name TEXT NOT NULL DEFAULT '';
ALTER TABLE workflows ADD COLUMN pr_slug TEXT NOT NULL DEFAULT '';
-- Where a fork's head commit can be fetched ('' for the base repository),
-- so agents can make the same merge commit.
ALTER TABLE workflows ADD COLUMN pr_head_url TEXT NOT NULL DEFAULT '';

-- A delivery keeps the request headers it needs to be redelivered (a JSON
-- object), and names the delivery it repeats.
ALTER TABLE deliveries ADD COLUMN headers TEXT NOT NULL DEFAULT '{}';
ALTER TABLE deliveries ADD COLUMN redelivery_of TEXT NOT NULL DEFAULT '';
