package dispatch

import (
	"net/http"
	"strings"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/jobsvc"
)

// Artifacts: an agent's job service forwards the job's artifact requests
// here (agentapi.Client's artifact methods), under
//
//	GET|PUT|DELETE /agent/v1/jobs/{id}/artifacts/{scope}/{path...}
//
// with the job service's own query (id, force, stat) and tree streams.
// The request must come from the agent the job is assigned to, while the
// job runs; what it may reach is decided from the database (the job's
// project, workflow and whether it is a pull request from a fork), then
// served by jobsvc.ArtifactHandler over Config.Artifacts.

func (d *Dispatcher) routeArtifacts(mux *http.ServeMux) {
	pattern := agentapi.Prefix + "/jobs/{id}/artifacts/{scope}/{path...}"
	for _, m := range []string{"GET ", "PUT ", "DELETE "} {
		mux.HandleFunc(m+pattern, d.handleArtifact)
	}
}

func (d *Dispatcher) handleArtifact(w http.ResponseWriter, r *http.Request) {
	scope, err := d.artifactScope(r)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	if d.cfg.Artifacts == nil {
		writeError(w, http.StatusServiceUnavailable, "this server has no artifact store", nil)
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/v1/artifacts/" + r.PathValue("scope") + "/" + r.PathValue("path")
	r2.URL.RawPath = ""
	jobsvc.ArtifactHandler(scope, d.cfg.Artifacts).ServeHTTP(w, r2)
}

// artifactScope authenticates the agent and returns what the job it asks
// for may reach.
func (d *Dispatcher) artifactScope(r *http.Request) (jobsvc.Scope, error) {
	ac, err := d.authenticateAgent(r)
	if err != nil {
		return jobsvc.Scope{}, err
	}
	j, err := d.jobFor(r, ac)
	if err != nil {
		return jobsvc.Scope{}, err
	}
	if j.State != ci.StateRunning && j.State != ci.StateStopping {
		return jobsvc.Scope{}, errorf(http.StatusConflict, "job %s is %s: only a running job reaches artifacts", j.ID, j.State)
	}
	p, err := d.db.GetPipeline(r.Context(), j.PipelineID)
	if err != nil {
		return jobsvc.Scope{}, err
	}
	wf, err := d.db.GetWorkflow(r.Context(), p.WorkflowID)
	if err != nil {
		return jobsvc.Scope{}, err
	}
	if strings.TrimSpace(j.ProjectID) == "" {
		return jobsvc.Scope{}, errorf(http.StatusConflict, "job %s has no project", j.ID)
	}
	return jobsvc.Scope{Project: j.ProjectID, Workflow: wf.ID, Job: j.ID, Fork: wf.PRFork}, nil
}
