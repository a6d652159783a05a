-- Jobs in containers: only agents with the docker executor claim
-- a job that needs Docker; agents report the images they hold, which the
-- dispatcher uses to prefer an agent that has a job's images.
ALTER TABLE jobs ADD COLUMN needs_docker BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE agents ADD COLUMN images TEXT NOT NULL DEFAULT '[]';
