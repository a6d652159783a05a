-- test_report_digests keeps, for each job's test report, what the Tests
-- tab shows of it (its failures with clipped messages and outputs, the
-- slowest tests, the suites' counts) as a small JSON document written with
-- the report, so that the tab never reads the whole report.
CREATE TABLE test_report_digests (
	job_id TEXT PRIMARY KEY REFERENCES test_reports (job_id) ON DELETE CASCADE,
	digest TEXT NOT NULL
);

-- A test's class name, for finding it by the name the Tests tab shows.
ALTER TABLE test_outcomes ADD COLUMN classname TEXT NOT NULL DEFAULT '';
