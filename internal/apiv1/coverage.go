package apiv1

import "time"

// Code coverage: what jobs published with `coverage publish` (Cobertura
// XML, LCOV, Go cover profiles). Lines are the lines measured, or the
// statements for Go profiles (as `go tool cover -func` counts); Percent
// is Covered of Lines, rounded to two decimals.

// CoverageView is a pipeline's coverage (GET /api/v1/pipelines/{id}/coverage):
// its jobs' reports merged by file, so that a file two jobs measured
// counts once and a line either covered is covered.
type CoverageView struct {
	PipelineID string  `json:"pipeline_id"`
	Format     string  `json:"format"` // cobertura, lcov, go, or mixed
	Files      int     `json:"files"`
	Lines      int64   `json:"lines"`
	Covered    int64   `json:"covered"`
	Percent    float64 `json:"percent"`
	// Final is whether the pipeline ended and this is its merge; while
	// it runs, the jobs' reports so far.
	Final bool `json:"final"`
	// Base is the default branch's last pipeline with coverage before
	// this one, and Change is Percent minus its (percentage points); both
	// absent when there is none.
	Base   *CoveragePoint    `json:"base,omitempty"`
	Change *float64          `json:"change,omitempty"`
	Jobs   []JobCoverageView `json:"jobs"`
}

// JobCoverageView is a job's coverage.
type JobCoverageView struct {
	JobID   string  `json:"job_id"`
	Name    string  `json:"name"`
	Format  string  `json:"format"`
	Files   int     `json:"files"`
	Lines   int64   `json:"lines"`
	Covered int64   `json:"covered"`
	Percent float64 `json:"percent"`
}

// CoveragePoint is one pipeline's coverage in a project's trend.
type CoveragePoint struct {
	PipelineID string    `json:"pipeline_id"`
	WorkflowID string    `json:"workflow_id"`
	Branch     string    `json:"branch"`
	SHA        string    `json:"sha"`
	Lines      int64     `json:"lines"`
	Covered    int64     `json:"covered"`
	Percent    float64   `json:"percent"`
	At         time.Time `json:"at"` // when the pipeline was created
}

// CoverageTrendView is a branch's coverage over its last pipelines with
// coverage, newest first (GET /api/v1/projects/{project}/coverage).
type CoverageTrendView struct {
	Project   string          `json:"project"`
	Branch    string          `json:"branch"`
	Pipelines []CoveragePoint `json:"pipelines"`
}
