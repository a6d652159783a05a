package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/coverage"
)

// Code coverage: the agent endpoint of agentapi/coverage.go. As for test
// reports, the request must come from the agent the job is assigned to,
// while the job runs, and the coverage is always that job's: a job, a
// pull request from a fork included, cannot write another job's.

// Coverage keeps the jobs' code coverage (internal/coveragereports).
type Coverage interface {
	PutJob(ctx context.Context, job *ci.Job, report coverage.Report) (coverage.Totals, error)
}

// maxCoverageBody bounds a coverage report's JSON (a million measured
// lines are about 20 MiB).
const maxCoverageBody = 256 << 20

func (d *Dispatcher) routeCoverage(mux *http.ServeMux) {
	mux.HandleFunc("PUT "+agentapi.Prefix+"/jobs/{id}/coverage", d.handleCoverage)
}

func (d *Dispatcher) handleCoverage(w http.ResponseWriter, r *http.Request) {
	ac, err := d.authenticateAgent(r)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	j, err := d.jobFor(r, ac)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	if j.State != ci.StateRunning && j.State != ci.StateStopping {
		d.fail(w, r, errorf(http.StatusConflict, "job %s is %s: only a running job publishes coverage", j.ID, j.State))
		return
	}
	if d.cfg.Coverage == nil {
		d.fail(w, r, errorf(http.StatusServiceUnavailable, "this server keeps no coverage"))
		return
	}
	var report coverage.Report
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCoverageBody))
	if err := dec.Decode(&report); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			d.fail(w, r, errorf(http.StatusRequestEntityTooLarge, "the coverage report is larger than %d MiB", maxCoverageBody>>20))
			return
		}
		d.fail(w, r, errorf(http.StatusBadRequest, "bad coverage report: %v", err))
		return
	}
	if err := validReport(report); err != nil {
		d.fail(w, r, errorf(http.StatusBadRequest, "bad coverage report: %v", err))
		return
	}
	tot, err := d.cfg.Coverage.PutJob(r.Context(), j, report)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(tot)
}

// validReport refuses a report that no parser makes: an unknown format,
// a file without a path.
func validReport(r coverage.Report) error {
	switch r.Format {
	case coverage.Cobertura, coverage.LCOV, coverage.Go, coverage.Mixed:
	default:
		return errors.New("unknown format " + string(r.Format))
	}
	for _, f := range r.Files {
		if f.Path == "" {
			return errors.New("a file has no path")
		}
	}
	return nil
}
