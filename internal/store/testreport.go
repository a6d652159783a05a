package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// TestReport is a job's published test report, or a pipeline's merged
// one (JobID empty): the report JSON is the blob BlobKey.
type TestReport struct {
	JobID      string
	PipelineID string
	ProjectID  string
	BlobKey    string
	Size       int64
	Counts     TestCounts
	UpdatedAt  time.Time
	// Digest is what the Tests tab shows of a job's report (JSON, see
	// testreport.Digest): PutJobTestReport stores it with the report when
	// set; JobTestDigests reads it.
	Digest []byte
	// OutcomesPending, given to PutJobTestReport, records with the report
	// that the outcomes of the tests just published are still to be
	// written (AddTestOutcomes), so that a server stopping in between
	// does not lose them (PendingTestOutcomes, ReplaceTestOutcomes).
	OutcomesPending bool
}

// TestCounts are a report's summary.
type TestCounts struct {
	Total, Passed, Failed, Error, Skipped, Disabled int
	Duration                                        time.Duration
}

// TestOutcome is one test's outcome in one job's report.
type TestOutcome struct {
	ProjectID  string
	TestID     string
	JobID      string
	PipelineID string
	WorkflowID string
	SHA        string
	Branch     string
	Report     string // the report's name
	Suite      string
	Classname  string
	Name       string
	State      string
	Duration   time.Duration
	At         time.Time
}

const testReportCols = `pipeline_id, project_id, blob_key, size, total, passed, failed, errored, skipped, disabled, duration_ns, updated_at`

func scanTestReport(s scanner, jobID *string) (TestReport, error) {
	var r TestReport
	var dur int64
	dest := []any{&r.PipelineID, &r.ProjectID, &r.BlobKey, &r.Size, &r.Counts.Total, &r.Counts.Passed, &r.Counts.Failed,
		&r.Counts.Error, &r.Counts.Skipped, &r.Counts.Disabled, &dur, timeCol{&r.UpdatedAt}}
	if jobID != nil {
		dest = append([]any{jobID}, dest...)
	}
	err := s.Scan(dest...)
	r.Counts.Duration = time.Duration(dur)
	if jobID != nil {
		r.JobID = *jobID
	}
	return r, err
}

func (tx *Tx) reportArgs(r TestReport) []any {
	c := r.Counts
	return []any{r.PipelineID, r.ProjectID, r.BlobKey, r.Size, c.Total, c.Passed, c.Failed, c.Error, c.Skipped, c.Disabled, int64(c.Duration), tx.ts(r.UpdatedAt)}
}

// PutJobTestReport records a job's report (replacing the one it had) and
// adds outcomes, those of the tests just published (a job that publishes
// twice, or reruns a test, adds each outcome). It returns the blob key of
// the report it replaced, for the caller to delete, or "".
func (db *DB) PutJobTestReport(ctx context.Context, r TestReport, outcomes []TestOutcome) (old string, err error) {
	err = db.Tx(ctx, func(tx *Tx) error {
		old = ""
		err := tx.queryRow(`SELECT blob_key FROM test_reports WHERE job_id = $1`+tx.forUpdate(), r.JobID).Scan(&old)
		if err = wrap("put test report", err); err != nil && !isNotFound(err) {
			return err
		}
		args := append([]any{r.JobID}, tx.reportArgs(r)...)
		if _, err := tx.exec(`INSERT INTO test_reports (job_id, `+testReportCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT (job_id) DO UPDATE SET blob_key = excluded.blob_key, size = excluded.size,
				total = excluded.total, passed = excluded.passed, failed = excluded.failed, errored = excluded.errored,
				skipped = excluded.skipped, disabled = excluded.disabled, duration_ns = excluded.duration_ns,
				updated_at = excluded.updated_at`, args...); err != nil {
			return wrap("put test report", err)
		}
		if r.Digest != nil {
			if _, err := tx.exec(`INSERT INTO test_report_digests (job_id, digest) VALUES ($1, $2)
				ON CONFLICT (job_id) DO UPDATE SET digest = excluded.digest`, r.JobID, string(r.Digest)); err != nil {
				return wrap("put test report digest", err)
			}
		} else if _, err := tx.exec(`DELETE FROM test_report_digests WHERE job_id = $1`, r.JobID); err != nil {
			return wrap("put test report digest", err)
		}
		if r.OutcomesPending {
			if _, err := tx.exec(`INSERT INTO test_outcomes_pending (job_id, blob_key, published_at) VALUES ($1, $2, $3)
				ON CONFLICT (job_id, blob_key) DO NOTHING`, r.JobID, r.BlobKey, tx.ts(r.UpdatedAt)); err != nil {
				return wrap("put test report", err)
			}
		}
		return tx.insertOutcomes(outcomes)
	})
	return old, err
}

// AddTestOutcomes records the outcomes of the tests that the job
// published with its report blobKey, stored before with OutcomesPending,
// in one transaction that also ends their pending record. When that
// record is gone (ReplaceTestOutcomes wrote the job's outcomes from its
// stored report meanwhile), it writes nothing: ok is false.
func (db *DB) AddTestOutcomes(ctx context.Context, jobID, blobKey string, outcomes []TestOutcome) (ok bool, err error) {
	err = db.Tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(`DELETE FROM test_outcomes_pending WHERE job_id = $1 AND blob_key = $2`, jobID, blobKey)
		if err != nil {
			return wrap("put test outcomes", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return wrap("put test outcomes", err)
		}
		ok = true
		return tx.insertOutcomes(outcomes)
	})
	return ok, err
}

// PendingTestOutcomes lists the jobs (at most limit) with outcomes
// pending since before the time given: published, but not written.
func (db *DB) PendingTestOutcomes(ctx context.Context, before time.Time, limit int) ([]string, error) {
	r := db.reader(ctx)
	ids, err := collect(r, func(s scanner) (string, error) {
		var id string
		return id, s.Scan(&id)
	}, `SELECT job_id FROM test_outcomes_pending WHERE published_at < $1 GROUP BY job_id ORDER BY MIN(published_at) LIMIT $2`, r.ts(before), limit)
	return ids, wrap("list pending test outcomes", err)
}

// DropPendingTestOutcomes ends the job's pending records while its report
// is blobKey, writing nothing: for a report whose object is lost, from
// which no outcome can be derived.
func (db *DB) DropPendingTestOutcomes(ctx context.Context, jobID, blobKey string) error {
	return db.Tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(`DELETE FROM test_outcomes_pending WHERE job_id = $1
			AND EXISTS (SELECT 1 FROM test_reports WHERE job_id = $1 AND blob_key = $2)`, jobID, blobKey)
		return wrap("drop pending test outcomes", err)
	})
}

// ReplaceTestOutcomes makes outcomes, derived from the job's stored
// report blobKey (all its tests), the job's outcomes, in place of those
// it has, and ends the job's pending records, in one transaction. When
// the job's report is no longer blobKey (it published again meanwhile)
// it returns ErrConflict; when nothing is pending any more (written
// meanwhile), it writes nothing.
func (db *DB) ReplaceTestOutcomes(ctx context.Context, jobID, blobKey string, outcomes []TestOutcome) error {
	return db.Tx(ctx, func(tx *Tx) error {
		var key string
		err := tx.queryRow(`SELECT blob_key FROM test_reports WHERE job_id = $1`+tx.forUpdate(), jobID).Scan(&key)
		if err := wrap("replace test outcomes", err); err != nil {
			return err
		}
		if key != blobKey {
			return fmt.Errorf("replace test outcomes of job %s: its report changed: %w", jobID, ErrConflict)
		}
		res, err := tx.exec(`DELETE FROM test_outcomes_pending WHERE job_id = $1`, jobID)
		if err != nil {
			return wrap("replace test outcomes", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return wrap("replace test outcomes", err)
		}
		if _, err := tx.exec(`DELETE FROM test_outcomes WHERE job_id = $1`, jobID); err != nil {
			return wrap("replace test outcomes", err)
		}
		return tx.insertOutcomes(outcomes)
	})
}

// insertOutcomes inserts rows in batches of a few hundred.
func (tx *Tx) insertOutcomes(outcomes []TestOutcome) error {
	const cols = 14
	const batch = 200
	for start := 0; start < len(outcomes); start += batch {
		part := outcomes[start:min(start+batch, len(outcomes))]
		var q strings.Builder
		q.WriteString(`INSERT INTO test_outcomes (project_id, test_id, job_id, pipeline_id, workflow_id, sha, branch, report, suite, classname, name, state, duration_ns, at) VALUES `)
		args := make([]any, 0, len(part)*cols)
		for i, o := range part {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteByte('(')
			for c := range cols {
				if c > 0 {
					q.WriteString(", ")
				}
				// SQLite's driver looks numbered parameters up one by
				// one; plain ones keep a big batch linear.
				if tx.db.dialect == SQLite {
					q.WriteByte('?')
				} else {
					fmt.Fprintf(&q, "$%d", i*cols+c+1)
				}
			}
			q.WriteByte(')')
			args = append(args, o.ProjectID, o.TestID, o.JobID, o.PipelineID, o.WorkflowID, o.SHA, o.Branch, o.Report, o.Suite, o.Classname, o.Name, o.State, int64(o.Duration), tx.ts(o.At))
		}
		if _, err := tx.exec(q.String(), args...); err != nil {
			return wrap("put test outcomes", err)
		}
	}
	return nil
}

// JobTestReport returns a job's report, or ErrNotFound.
func (db *DB) JobTestReport(ctx context.Context, jobID string) (TestReport, error) {
	var id string
	r, err := scanTestReport(db.reader(ctx).queryRow(`SELECT job_id, `+testReportCols+` FROM test_reports WHERE job_id = $1`, jobID), &id)
	return r, wrap("get test report", err)
}

// PipelineJobTestReports returns the reports of a pipeline's jobs.
func (db *DB) PipelineJobTestReports(ctx context.Context, pipelineID string) ([]TestReport, error) {
	rs, err := collect(db.reader(ctx), func(s scanner) (TestReport, error) {
		var id string
		return scanTestReport(s, &id)
	}, `SELECT job_id, `+testReportCols+` FROM test_reports WHERE pipeline_id = $1 ORDER BY job_id`, pipelineID)
	return rs, wrap("list test reports", err)
}

// PutPipelineTestReport records a pipeline's merged report and returns
// the blob key of the one it replaced, or "".
func (db *DB) PutPipelineTestReport(ctx context.Context, r TestReport) (old string, err error) {
	err = db.Tx(ctx, func(tx *Tx) error {
		old = ""
		err := tx.queryRow(`SELECT blob_key FROM pipeline_test_reports WHERE pipeline_id = $1`+tx.forUpdate(), r.PipelineID).Scan(&old)
		if err = wrap("put pipeline test report", err); err != nil && !isNotFound(err) {
			return err
		}
		_, err = tx.exec(`INSERT INTO pipeline_test_reports (`+testReportCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			ON CONFLICT (pipeline_id) DO UPDATE SET blob_key = excluded.blob_key, size = excluded.size,
				total = excluded.total, passed = excluded.passed, failed = excluded.failed, errored = excluded.errored,
				skipped = excluded.skipped, disabled = excluded.disabled, duration_ns = excluded.duration_ns,
				updated_at = excluded.updated_at`, tx.reportArgs(r)...)
		return wrap("put pipeline test report", err)
	})
	return old, err
}

// PipelineTestReport returns a pipeline's merged report, or ErrNotFound.
func (db *DB) PipelineTestReport(ctx context.Context, pipelineID string) (TestReport, error) {
	r, err := scanTestReport(db.reader(ctx).queryRow(`SELECT `+testReportCols+` FROM pipeline_test_reports WHERE pipeline_id = $1`, pipelineID), nil)
	return r, wrap("get pipeline test report", err)
}

// FlakyTest is a test that both failed and passed on one commit.
type FlakyTest struct {
	TestID    string
	Report    string
	Suite     string
	Name      string
	Failed    int // failures and errors on the commits where it flipped
	Passed    int
	FirstSeen time.Time
	LastSeen  time.Time
	Workflows []string // where it flipped, oldest first
	// ResolvedAt is when it was marked resolved (zero if never); a
	// resolved test is listed again when it flips after that.
	ResolvedAt time.Time
}

// FlakyTests returns a project's flaky tests, most recently seen first,
// leaving out those marked resolved that have not flipped since.
func (db *DB) FlakyTests(ctx context.Context, projectID string) ([]FlakyTest, error) {
	type row struct {
		testID, report, suite, name, state, workflow, sha string
		at                                                time.Time
	}
	rows, err := collect(db.reader(ctx), func(s scanner) (row, error) {
		var r row
		err := s.Scan(&r.testID, &r.report, &r.suite, &r.name, &r.state, &r.workflow, &r.sha, timeCol{&r.at})
		return r, err
	}, `SELECT o.test_id, o.report, o.suite, o.name, o.state, o.workflow_id, o.sha, o.at FROM test_outcomes o
		JOIN (SELECT test_id, sha FROM test_outcomes WHERE project_id = $1 GROUP BY test_id, sha
			HAVING SUM(CASE WHEN state IN ('failed', 'error') THEN 1 ELSE 0 END) > 0
				AND SUM(CASE WHEN state = 'passed' THEN 1 ELSE 0 END) > 0) f
		ON f.test_id = o.test_id AND f.sha = o.sha
		WHERE o.project_id = $1 AND o.state IN ('passed', 'failed', 'error')
		ORDER BY o.at, o.test_id`, projectID)
	if err != nil {
		return nil, wrap("list flaky tests", err)
	}
	resolved := map[string]time.Time{}
	rs, err := collect(db.reader(ctx), func(s scanner) (row, error) {
		var r row
		err := s.Scan(&r.testID, timeCol{&r.at})
		return r, err
	}, `SELECT test_id, resolved_at FROM flaky_resolved WHERE project_id = $1`, projectID)
	if err != nil {
		return nil, wrap("list flaky tests", err)
	}
	for _, r := range rs {
		resolved[r.testID] = r.at
	}
	byID := map[string]*FlakyTest{}
	var order []*FlakyTest
	for _, r := range rows {
		f := byID[r.testID]
		if f == nil {
			f = &FlakyTest{TestID: r.testID, FirstSeen: r.at, ResolvedAt: resolved[r.testID]}
			byID[r.testID] = f
			order = append(order, f)
		}
		f.Report, f.Suite, f.Name = r.report, r.suite, r.name
		if r.state == "passed" {
			f.Passed++
		} else {
			f.Failed++
		}
		f.LastSeen = r.at
		if !slices.Contains(f.Workflows, r.workflow) {
			f.Workflows = append(f.Workflows, r.workflow)
		}
	}
	var out []FlakyTest
	for i := len(order) - 1; i >= 0; i-- {
		f := order[i]
		if !f.ResolvedAt.IsZero() && !f.LastSeen.After(f.ResolvedAt) {
			continue
		}
		out = append(out, *f)
	}
	slices.SortStableFunc(out, func(a, b FlakyTest) int { return b.LastSeen.Compare(a.LastSeen) })
	return out, nil
}

// ResolveFlaky marks a project's flaky test resolved at at, by whom.
func (db *DB) ResolveFlaky(ctx context.Context, projectID, testID, by string, at time.Time) error {
	return db.Tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(`INSERT INTO flaky_resolved (project_id, test_id, resolved_by, resolved_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (project_id, test_id) DO UPDATE SET resolved_by = excluded.resolved_by, resolved_at = excluded.resolved_at`,
			projectID, testID, by, tx.ts(at))
		return wrap("resolve flaky test", err)
	})
}

// TestHistory returns a test's last limit outcomes on a branch, newest
// first.
func (db *DB) TestHistory(ctx context.Context, projectID, testID, branch string, limit int) ([]TestOutcome, error) {
	os, err := collect(db.reader(ctx), func(s scanner) (TestOutcome, error) {
		var o TestOutcome
		var dur int64
		err := s.Scan(&o.ProjectID, &o.TestID, &o.JobID, &o.PipelineID, &o.WorkflowID, &o.SHA, &o.Branch, &o.Report, &o.Suite, &o.Name, &o.State, &dur, timeCol{&o.At})
		o.Duration = time.Duration(dur)
		return o, err
	}, `SELECT project_id, test_id, job_id, pipeline_id, workflow_id, sha, branch, report, suite, name, state, duration_ns, at
		FROM test_outcomes WHERE project_id = $1 AND test_id = $2 AND branch = $3 ORDER BY at DESC, job_id DESC LIMIT $4`,
		projectID, testID, branch, limit)
	return os, wrap("test history", err)
}
