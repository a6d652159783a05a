-- In a public project, pipelines promoted to a deployment target are shown
-- only to people with a role in the project unless this is true.
ALTER TABLE projects ADD COLUMN deployment_details_public BOOLEAN NOT NULL DEFAULT false;
