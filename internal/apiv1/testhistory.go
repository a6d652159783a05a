package apiv1

import "time"

// The views of a project's test history. The test report itself (GET
// /api/v1/pipelines/{id}/tests, GET /api/v1/jobs/{id}/tests) is the
// Semaphore-compatible document internal/testreport defines, served as
// the toolbox wrote it; these are what the server computes from many
// reports.

// FlakyView is a flaky test: it failed and passed on one commit.
type FlakyView struct {
	ID         string     `json:"id"`
	Report     string     `json:"report"`
	Suite      string     `json:"suite"`
	Name       string     `json:"name"`
	Failed     int        `json:"failed"`
	Passed     int        `json:"passed"`
	FirstSeen  time.Time  `json:"first_seen"`
	LastSeen   time.Time  `json:"last_seen"`
	Workflows  []string   `json:"workflows"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
}

// OutcomeView is one outcome of a test.
type OutcomeView struct {
	State      string    `json:"state"`
	DurationNS int64     `json:"duration"`
	Job        string    `json:"job"`
	Workflow   string    `json:"workflow"`
	SHA        string    `json:"sha"`
	At         time.Time `json:"at"`
}
