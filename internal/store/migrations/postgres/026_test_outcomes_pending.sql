-- test_outcomes_pending records, in the transaction that stores a job's
-- test report, that the outcomes of the tests just published are not yet
-- in test_outcomes (they are written right after the answer). The row goes
-- in the transaction that writes them; one left behind (the server stopped
-- in between) is found by the sweeper, which derives the job's outcomes
-- from its stored report.
CREATE TABLE test_outcomes_pending (
	job_id       TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	blob_key     TEXT NOT NULL,
	published_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (job_id, blob_key)
);
CREATE INDEX test_outcomes_pending_at ON test_outcomes_pending (published_at);
