package store

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// What the Tests tab reads: each job report's digest, tests found by
// name, and the recent outcomes of the tests it shows, without reading
// any whole report.

// JobTestDigests returns the digests stored with the reports of jobIDs,
// by job ID; a report stored without one is missing from the map.
func (db *DB) JobTestDigests(ctx context.Context, jobIDs []string) (map[string][]byte, error) {
	out := map[string][]byte{}
	if len(jobIDs) == 0 {
		return out, nil
	}
	type row struct {
		job    string
		digest string
	}
	rs, err := collect(db.reader(ctx), func(s scanner) (row, error) {
		var r row
		return r, s.Scan(&r.job, &r.digest)
	}, `SELECT job_id, digest FROM test_report_digests WHERE job_id IN (`+placeholders(1, len(jobIDs))+`)`, anys(jobIDs)...)
	if err != nil {
		return nil, wrap("get test report digests", err)
	}
	for _, r := range rs {
		out[r.job] = []byte(r.digest)
	}
	return out, nil
}

// AddJobTestDigest stores the digest of a job's report made after the
// report was stored (a report from before digests existed), unless the
// report has one by now: a digest stored with a newer report wins. It
// returns ErrNotFound when the job has no report.
func (db *DB) AddJobTestDigest(ctx context.Context, jobID string, digest []byte) error {
	return db.Tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(`INSERT INTO test_report_digests (job_id, digest) VALUES ($1, $2) ON CONFLICT (job_id) DO NOTHING`, jobID, string(digest))
		return wrap("add test report digest", err)
	})
}

// FindTestOutcomes returns the tests of the reports of jobIDs whose suite,
// class or name contains text (ignoring ASCII case), one row per test and
// job, by suite and name, at most limit. A test a job published more than
// once comes once, failed if it ever failed, with its longest duration.
func (db *DB) FindTestOutcomes(ctx context.Context, jobIDs []string, text string, limit int) ([]TestOutcome, error) {
	if len(jobIDs) == 0 || limit <= 0 {
		return nil, nil
	}
	pattern := "%" + likeEscaper.Replace(strings.ToLower(text)) + "%"
	n := len(jobIDs)
	args := append(anys(jobIDs), pattern, limit)
	// MIN(state) prefers error, then failed, then passed, then skipped
	// (and disabled, which sorts first, is as rare as it is harmless).
	os, err := collect(db.reader(ctx), func(s scanner) (TestOutcome, error) {
		var o TestOutcome
		var dur int64
		err := s.Scan(&o.JobID, &o.TestID, &o.ProjectID, &o.PipelineID, &o.Report, &o.Suite, &o.Classname, &o.Name, &o.State, &dur)
		o.Duration = time.Duration(dur)
		return o, err
	}, `SELECT job_id, test_id, MIN(project_id), MIN(pipeline_id), MIN(report), MIN(suite), MIN(classname), MIN(name), MIN(state), MAX(duration_ns)
		FROM test_outcomes
		WHERE job_id IN (`+placeholders(1, n)+`) AND LOWER(suite || ' ' || classname || '.' || name) LIKE $`+itoa(n+1)+` ESCAPE '\'
		GROUP BY job_id, test_id
		ORDER BY MIN(suite), MIN(name), job_id
		LIMIT $`+itoa(n+2), args...)
	return os, wrap("find tests", err)
}

// TestHistories returns the last limit outcomes on branch of each test of
// testIDs in a project, newest first, by test ID, each with whether its
// pipeline was promoted to a deployment target (DeploymentTarget).
func (db *DB) TestHistories(ctx context.Context, projectID, branch string, testIDs []string, limit int) (map[string][]HistoryOutcome, error) {
	out := map[string][]HistoryOutcome{}
	if len(testIDs) == 0 || limit <= 0 {
		return out, nil
	}
	n := len(testIDs)
	args := append([]any{projectID, branch}, anys(testIDs)...)
	args = append(args, limit)
	rs, err := collect(db.reader(ctx), func(s scanner) (HistoryOutcome, error) {
		var o HistoryOutcome
		var dur int64
		err := s.Scan(&o.TestID, &o.JobID, &o.PipelineID, &o.WorkflowID, &o.SHA, &o.State, &dur, timeCol{&o.At}, &o.DeploymentTarget)
		o.Duration = time.Duration(dur)
		return o, err
	}, `SELECT h.test_id, h.job_id, h.pipeline_id, h.workflow_id, h.sha, h.state, h.duration_ns, h.at, COALESCE(p.deployment_target, '')
		FROM (SELECT test_id, job_id, pipeline_id, workflow_id, sha, state, duration_ns, at,
				ROW_NUMBER() OVER (PARTITION BY test_id ORDER BY at DESC, job_id DESC) AS n
			FROM test_outcomes
			WHERE project_id = $1 AND branch = $2 AND test_id IN (`+placeholders(3, n)+`)) h
		LEFT JOIN pipelines p ON p.id = h.pipeline_id
		WHERE h.n <= $`+itoa(n+3)+`
		ORDER BY h.test_id, h.n`, args...)
	if err != nil {
		return nil, wrap("test histories", err)
	}
	for _, o := range rs {
		out[o.TestID] = append(out[o.TestID], o)
	}
	return out, nil
}

// HistoryOutcome is one outcome in a test's history.
type HistoryOutcome struct {
	TestID, JobID, PipelineID, WorkflowID, SHA, State string
	Duration                                          time.Duration
	At                                                time.Time
	// DeploymentTarget is the target the outcome's pipeline was promoted
	// to, "" for none.
	DeploymentTarget string
}

// likeEscaper escapes LIKE's wildcards (with ESCAPE '\').
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// placeholders returns n numbered parameters from $first, comma-separated.
func placeholders(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + itoa(first+i))
	}
	return b.String()
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }
