-- Agent credentials and verified refs.
--
-- An agent token only registers agents: registration gives the agent a
-- credential bound to its ID (only its SHA-256 is stored, in
-- credential_hash) and records the token it registered with (token_id),
-- so that revoking the token disconnects its agents.
ALTER TABLE agents ADD COLUMN credential_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN token_id TEXT NOT NULL DEFAULT '';
CREATE INDEX agents_credential ON agents (credential_hash);
CREATE INDEX agents_token ON agents (token_id);

-- ref_verified is the ref (refs/heads/B, refs/tags/T) whose head was the
-- workflow's commit when the workflow was created, as the server checked
-- in the repository; "" when nothing was checked (a manual run naming a
-- commit that is not the branch's head). Deployment targets' branch and
-- tag rules look at it, not at the label the run was given.
ALTER TABLE workflows ADD COLUMN ref_verified TEXT NOT NULL DEFAULT '';
