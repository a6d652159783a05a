-- Test reports: what jobs published with `test-results publish` (the
-- report JSON is an object in the blob store, blob_key; the database keeps
-- its counts), and each pipeline's merged report, made when it ends.
CREATE TABLE test_reports (
	job_id      TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
	pipeline_id TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
	project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	blob_key    TEXT NOT NULL,
	size        BIGINT NOT NULL,
	total       INTEGER NOT NULL,
	passed      INTEGER NOT NULL,
	failed      INTEGER NOT NULL,
	errored     INTEGER NOT NULL,
	skipped     INTEGER NOT NULL,
	disabled    INTEGER NOT NULL,
	duration_ns BIGINT NOT NULL,
	updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX test_reports_pipeline ON test_reports (pipeline_id);

CREATE TABLE pipeline_test_reports (
	pipeline_id TEXT PRIMARY KEY REFERENCES pipelines (id) ON DELETE CASCADE,
	project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	blob_key    TEXT NOT NULL,
	size        BIGINT NOT NULL,
	total       INTEGER NOT NULL,
	passed      INTEGER NOT NULL,
	failed      INTEGER NOT NULL,
	errored     INTEGER NOT NULL,
	skipped     INTEGER NOT NULL,
	disabled    INTEGER NOT NULL,
	duration_ns BIGINT NOT NULL,
	updated_at  TIMESTAMPTZ NOT NULL
);

-- test_outcomes has one row per test per published job report: the
-- history of each test (test_id is the report's stable test id) and, by
-- commit, the tests that both failed and passed on it (flaky).
CREATE TABLE test_outcomes (
	project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	test_id     TEXT NOT NULL,
	job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	pipeline_id TEXT NOT NULL,
	workflow_id TEXT NOT NULL,
	sha         TEXT NOT NULL,
	branch      TEXT NOT NULL,
	report      TEXT NOT NULL,
	suite       TEXT NOT NULL,
	name        TEXT NOT NULL,
	state       TEXT NOT NULL,
	duration_ns BIGINT NOT NULL,
	at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX test_outcomes_test ON test_outcomes (project_id, test_id, at);
CREATE INDEX test_outcomes_sha ON test_outcomes (project_id, sha, test_id);
CREATE INDEX test_outcomes_job ON test_outcomes (job_id);

-- flaky_resolved hides a flaky test until it flips again after resolved_at.
CREATE TABLE flaky_resolved (
	project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	test_id     TEXT NOT NULL,
	resolved_by TEXT NOT NULL,
	resolved_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (project_id, test_id)
);

-- coverage_reports is what jobs published with `coverage publish`: lines
-- covered of lines measured.
CREATE TABLE coverage_reports (
	job_id      TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
	pipeline_id TEXT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
	project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	format      TEXT NOT NULL,
	lines       BIGINT NOT NULL,
	covered     BIGINT NOT NULL,
	updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX coverage_reports_pipeline ON coverage_reports (pipeline_id);
