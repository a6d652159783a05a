-- Who may create projects, and which projects may use an organisation
-- secret.

-- can_create_projects lets a user who is not an organisation admin create
-- projects.
ALTER TABLE users ADD COLUMN can_create_projects BOOLEAN NOT NULL DEFAULT FALSE;

-- project_access is an organisation secret's project policy, as on
-- Semaphore: all (every project), allowed (the projects in project_ids,
-- a JSON array of project IDs) or none. Project secrets keep 'all'.
ALTER TABLE secrets ADD COLUMN project_access TEXT NOT NULL DEFAULT 'all'
	CHECK (project_access IN ('all', 'allowed', 'none'));
ALTER TABLE secrets ADD COLUMN project_ids TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(project_ids));
