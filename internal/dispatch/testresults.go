package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testreport"
)

// Test reports: the agent endpoints of agentapi/testresults.go. The
// request must come from the agent the job is assigned to, while the job
// runs; the report is always that job's, and the pipeline merged is the
// job's own (a job, a pull request from a fork included, can neither
// write another job's report nor read one).

// TestReports keeps the jobs' test reports (internal/testresults).
type TestReports interface {
	PutJob(ctx context.Context, job *ci.Job, report testreport.Received) (testreport.Summary, error)
	MergePipeline(ctx context.Context, pipelineID string) (testreport.Summary, error)
}

func (d *Dispatcher) routeTestResults(mux *http.ServeMux) {
	p := agentapi.Prefix + "/jobs/{id}/test-results"
	mux.HandleFunc("PUT "+p, d.handleTestReport)
	mux.HandleFunc("POST "+p+"/pipeline", d.handlePipelineTestReport)
}

// runningJob authenticates the agent and returns the running job it asks
// for.
func (d *Dispatcher) runningJob(r *http.Request) (*ci.Job, error) {
	ac, err := d.authenticateAgent(r)
	if err != nil {
		return nil, err
	}
	j, err := d.jobFor(r, ac)
	if err != nil {
		return nil, err
	}
	if j.State != ci.StateRunning && j.State != ci.StateStopping {
		return nil, errorf(http.StatusConflict, "job %s is %s: only a running job publishes test reports", j.ID, j.State)
	}
	if d.cfg.Tests == nil {
		return nil, errorf(http.StatusServiceUnavailable, "this server keeps no test reports")
	}
	return j, nil
}

func (d *Dispatcher) handleTestReport(w http.ResponseWriter, r *http.Request) {
	j, err := d.runningJob(r)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	report, err := testreport.Receive(r.Body)
	var de *testreport.DecodeError
	if errors.As(err, &de) {
		d.fail(w, r, errorf(http.StatusBadRequest, "%v", de))
		return
	}
	if err != nil {
		d.fail(w, r, err)
		return
	}
	sum, err := d.cfg.Tests.PutJob(r.Context(), j, report)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(sum)
}

func (d *Dispatcher) handlePipelineTestReport(w http.ResponseWriter, r *http.Request) {
	j, err := d.runningJob(r)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	sum, err := d.cfg.Tests.MergePipeline(r.Context(), j.PipelineID)
	if errors.Is(err, store.ErrNotFound) {
		d.fail(w, r, errorf(http.StatusNotFound, "no job of this pipeline published a test report"))
		return
	}
	if err != nil {
		d.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(sum)
}
