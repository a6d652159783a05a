package apiv1

import "time"

// WorkflowTests is GET /api/v1/workflows/{id}/tests[?q=TEXT]: what the
// Tests tab shows of the test reports of a workflow's jobs, small
// whatever the reports' size. It is read from what the server kept when
// each report was published (counts, failures, slowest tests, suites)
// and, for a search, from the tests' recorded outcomes; the whole reports
// are GET /api/v1/jobs/{id}/tests and /api/v1/pipelines/{id}/tests.
// Deployment pipelines the caller may not see the details of are left
// out.
type WorkflowTests struct {
	Workflow string `json:"workflow_id"`
	Project  string `json:"project"`
	Number   int    `json:"number"`
	// Reports is how many jobs published a report.
	Reports int         `json:"reports"`
	Summary TestSummary `json:"summary"`
	// Failures are the failed and errored tests by suite and name, at
	// most MaxTestFailures; MoreFailures counts those left out.
	Failures     []TestRow `json:"failures"`
	MoreFailures int       `json:"more_failures"`
	// Slowest are the MaxSlowestTests slowest tests, slowest first.
	Slowest []TestRow `json:"slowest"`
	// Suites have failures first, then the slowest; at most MaxTestSuites.
	Suites     []TestSuiteRow `json:"suites"`
	MoreSuites int            `json:"more_suites"`
	// Query is the search (?q=), Matches the tests whose suite or name
	// contain it (ASCII case ignored), at most MaxTestMatches; MoreMatches
	// says there are more.
	Query       string    `json:"query,omitempty"`
	Matches     []TestRow `json:"matches"`
	MoreMatches bool      `json:"more_matches"`
	// HistoryBranch is the branch of the rows' histories: the project's
	// default branch.
	HistoryBranch string `json:"history_branch"`
}

// The limits of a WorkflowTests.
const (
	MaxTestFailures = 100
	MaxSlowestTests = 20
	MaxTestSuites   = 1000
	MaxTestMatches  = 200
	// MaxTestHistory is how many of a test's outcomes its history holds.
	MaxTestHistory = 50
)

// TestSummary counts tests, with the field names of a report's summary.
// Duration is in nanoseconds.
type TestSummary struct {
	Total    int           `json:"total"`
	Passed   int           `json:"passed"`
	Skipped  int           `json:"skipped"`
	Error    int           `json:"error"`
	Failed   int           `json:"failed"`
	Disabled int           `json:"disabled"`
	Duration time.Duration `json:"duration"`
}

// TestRow is a test of a job's report. Message, Body (the start of the
// stack trace) and Output (the start of its output) are set for
// failures. History is its last outcomes on HistoryBranch, newest first.
type TestRow struct {
	ID string `json:"id"`
	// Job is the job's block and name ("Block / Job").
	JobID    string        `json:"job_id"`
	Job      string        `json:"job"`
	Report   string        `json:"report"`
	Suite    string        `json:"suite"`
	Name     string        `json:"name"`
	State    string        `json:"state"`
	Duration time.Duration `json:"duration"`
	Message  string        `json:"message,omitempty"`
	Body     string        `json:"body,omitempty"`
	Output   string        `json:"output,omitempty"`
	History  []TestRun     `json:"history"`
}

// TestSuiteRow is a suite's counts in a job's report.
type TestSuiteRow struct {
	JobID   string      `json:"job_id"`
	Job     string      `json:"job"`
	Report  string      `json:"report"`
	Name    string      `json:"name"`
	Summary TestSummary `json:"summary"`
}

// TestRun is one outcome of a test in its history.
type TestRun struct {
	State    string        `json:"state"`
	Duration time.Duration `json:"duration"`
	Workflow string        `json:"workflow_id"`
	Job      string        `json:"job_id"`
	SHA      string        `json:"sha"`
	At       time.Time     `json:"at"`
}
