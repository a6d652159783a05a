package store

import (
	"context"
	"time"
)

// CoverageReport is the coverage a job published (`coverage publish`):
// its per-file blocks are the blob BlobKey, its totals are here.
type CoverageReport struct {
	JobID      string
	JobName    string // read only: the job's name
	PipelineID string
	ProjectID  string
	Format     string
	BlobKey    string
	Files      int
	Lines      int64 // lines measured (statements for Go profiles)
	Covered    int64
	UpdatedAt  time.Time
}

// PipelineCoverage is a pipeline's coverage: its jobs' reports merged,
// with what the project's trend needs of the pipeline (Branch is empty
// for a workflow of a tag or a pull request).
type PipelineCoverage struct {
	PipelineID string
	ProjectID  string
	WorkflowID string
	Branch     string
	SHA        string
	Format     string
	Files      int
	Lines      int64
	Covered    int64
	CreatedAt  time.Time // the pipeline's
	UpdatedAt  time.Time
}

// PutJobCoverage records a job's coverage, replacing what it had, and
// returns the blob key of the report it replaced, for the caller to
// delete, or "". ErrNotFound when the job does not exist.
func (db *DB) PutJobCoverage(ctx context.Context, r CoverageReport) (old string, err error) {
	err = db.Tx(ctx, func(tx *Tx) error {
		old = ""
		err := tx.queryRow(`SELECT blob_key FROM coverage_reports WHERE job_id = $1`+tx.forUpdate(), r.JobID).Scan(&old)
		if err = wrap("put coverage", err); err != nil && !isNotFound(err) {
			return err
		}
		_, err = tx.exec(`INSERT INTO coverage_reports (job_id, pipeline_id, project_id, format, blob_key, files, lines, covered, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (job_id) DO UPDATE SET format = excluded.format, blob_key = excluded.blob_key, files = excluded.files,
				lines = excluded.lines, covered = excluded.covered, updated_at = excluded.updated_at`,
			r.JobID, r.PipelineID, r.ProjectID, r.Format, r.BlobKey, r.Files, r.Lines, r.Covered, tx.ts(r.UpdatedAt))
		return wrap("put coverage", err)
	})
	return old, err
}

const coverageReportCols = `c.job_id, j.name, c.pipeline_id, c.project_id, c.format, c.blob_key, c.files, c.lines, c.covered, c.updated_at`

func scanCoverageReport(s scanner) (CoverageReport, error) {
	var r CoverageReport
	err := s.Scan(&r.JobID, &r.JobName, &r.PipelineID, &r.ProjectID, &r.Format, &r.BlobKey, &r.Files, &r.Lines, &r.Covered, timeCol{&r.UpdatedAt})
	return r, err
}

// JobCoverage returns a job's coverage, or ErrNotFound.
func (db *DB) JobCoverage(ctx context.Context, jobID string) (CoverageReport, error) {
	r, err := scanCoverageReport(db.reader(ctx).queryRow(`SELECT `+coverageReportCols+`
		FROM coverage_reports c JOIN jobs j ON j.id = c.job_id WHERE c.job_id = $1`, jobID))
	return r, wrap("get coverage", err)
}

// PipelineJobCoverage returns the coverage of a pipeline's jobs, by job
// name.
func (db *DB) PipelineJobCoverage(ctx context.Context, pipelineID string) ([]CoverageReport, error) {
	rs, err := collect(db.reader(ctx), scanCoverageReport, `SELECT `+coverageReportCols+`
		FROM coverage_reports c JOIN jobs j ON j.id = c.job_id WHERE c.pipeline_id = $1 ORDER BY j.name, c.job_id`, pipelineID)
	return rs, wrap("list coverage", err)
}

// PutPipelineCoverage records a pipeline's coverage, replacing what it
// had.
func (db *DB) PutPipelineCoverage(ctx context.Context, c PipelineCoverage) error {
	return db.Tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(`INSERT INTO pipeline_coverage (pipeline_id, project_id, workflow_id, branch, sha, format, files, lines, covered, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (pipeline_id) DO UPDATE SET format = excluded.format, files = excluded.files, lines = excluded.lines,
				covered = excluded.covered, updated_at = excluded.updated_at`,
			c.PipelineID, c.ProjectID, c.WorkflowID, c.Branch, c.SHA, c.Format, c.Files, c.Lines, c.Covered, tx.ts(c.CreatedAt), tx.ts(c.UpdatedAt))
		return wrap("put pipeline coverage", err)
	})
}

const pipelineCoverageCols = `pipeline_id, project_id, workflow_id, branch, sha, format, files, lines, covered, created_at, updated_at`

func scanPipelineCoverage(s scanner) (PipelineCoverage, error) {
	var c PipelineCoverage
	err := s.Scan(&c.PipelineID, &c.ProjectID, &c.WorkflowID, &c.Branch, &c.SHA, &c.Format, &c.Files, &c.Lines, &c.Covered,
		timeCol{&c.CreatedAt}, timeCol{&c.UpdatedAt})
	return c, err
}

// PipelineCoverage returns a pipeline's coverage, or ErrNotFound.
func (db *DB) PipelineCoverage(ctx context.Context, pipelineID string) (PipelineCoverage, error) {
	c, err := scanPipelineCoverage(db.reader(ctx).queryRow(`SELECT `+pipelineCoverageCols+` FROM pipeline_coverage WHERE pipeline_id = $1`, pipelineID))
	return c, wrap("get pipeline coverage", err)
}

// CoverageTrend returns the coverage of a project's last limit pipelines
// on branch, newest first; with before set, of those created before it.
func (db *DB) CoverageTrend(ctx context.Context, projectID, branch string, before time.Time, limit int) ([]PipelineCoverage, error) {
	tx := db.reader(ctx)
	q := `SELECT ` + pipelineCoverageCols + ` FROM pipeline_coverage WHERE project_id = $1 AND branch = $2`
	args := []any{projectID, branch}
	if !before.IsZero() {
		q += ` AND created_at < $4`
		args = append(args, limit, tx.ts(before))
	} else {
		args = append(args, limit)
	}
	q += ` ORDER BY created_at DESC, pipeline_id DESC LIMIT $3`
	cs, err := collect(tx, scanPipelineCoverage, q, args...)
	return cs, wrap("coverage trend", err)
}
