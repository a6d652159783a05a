package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/ci"

	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testresults"
)

// Test reports: what jobs published with `test-results publish`, as
// Semaphore's report JSON (internal/testreport), a pipeline's merged
// report, the project's flaky tests and a test's history. They are read
// like the logs: anyone who can read the project (anonymous visitors of a
// public one); private projects answer 404 to outsiders.

func (a *API) testRoutes() []route {
	return []route{
		{"GET /api/v1/jobs/{id}/tests", projectRead, a.jobTests},
		{"GET /api/v1/pipelines/{id}/tests", projectRead, a.pipelineTests},
		{"GET /api/v1/workflows/{id}/tests", projectRead, a.workflowTests},
		{"GET /api/v1/projects/{project}/flaky", projectRead, a.listFlaky},
		{"POST /api/v1/projects/{project}/flaky/{test}/resolve", projectWrite, a.resolveFlaky},
		{"GET /api/v1/projects/{project}/tests/{test}/history", projectRead, a.testHistory},
	}
}

// flushOutcomes waits until the outcomes of the reports published on
// this server are written: they are written after the report, and a
// reader of outcomes (flaky tests, histories, search) must see them.
func (a *API) flushOutcomes(r *http.Request) error {
	if a.cfg.Tests == nil {
		return nil
	}
	return a.cfg.Tests.Flush(r.Context())
}

func (a *API) tests() (*testresults.Service, error) {
	if a.cfg.Tests == nil {
		return nil, errors.New("this server keeps no test reports")
	}
	return a.cfg.Tests, nil
}

func (a *API) jobTests(w http.ResponseWriter, r *http.Request, c *caller) error {
	j, err := a.job(r, c)
	if err != nil {
		return err
	}
	t, err := a.tests()
	if err != nil {
		return fmt.Errorf("%w: %w", errNotFound, err)
	}
	rep, err := t.JobReport(r.Context(), j.ID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: job %s published no test report", errNotFound, j.ID)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

func (a *API) pipelineTests(w http.ResponseWriter, r *http.Request, c *caller) error {
	pl, err := a.cfg.Store.GetPipeline(r.Context(), r.PathValue("id"))
	var p *ci.Project
	if err == nil {
		p, err = a.readableProject(r, c, pl.ProjectID)
	}
	if err != nil {
		return fmt.Errorf("%w: pipeline %q", errNotFound, r.PathValue("id"))
	}
	// The route's guard (deploymentRoute) checks this too; a report
	// holds a deployment's details, so the handler does not rely on it.
	if !c.seesDeployment(p, pl) {
		return errDeploymentDetails(c, p)
	}
	t, err := a.tests()
	if err != nil {
		return fmt.Errorf("%w: %w", errNotFound, err)
	}
	rep, err := t.PipelineReport(r.Context(), pl.ID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: no job of pipeline %s published a test report", errNotFound, pl.ID)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

func (a *API) listFlaky(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return err
	}
	if err := a.flushOutcomes(r); err != nil {
		return err
	}
	fl, err := a.cfg.Store.FlakyTests(r.Context(), p.ID)
	if err != nil {
		return err
	}
	out := make([]apiv1.FlakyView, 0, len(fl))
	for _, f := range fl {
		v := apiv1.FlakyView{ID: f.TestID, Report: f.Report, Suite: f.Suite, Name: f.Name, Failed: f.Failed, Passed: f.Passed,
			FirstSeen: f.FirstSeen, LastSeen: f.LastSeen, Workflows: f.Workflows}
		if !f.ResolvedAt.IsZero() {
			at := f.ResolvedAt
			v.ResolvedAt = &at
		}
		out = append(out, v)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) resolveFlaky(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return err
	}
	id := r.PathValue("test")
	if err := a.flushOutcomes(r); err != nil {
		return err
	}
	fl, err := a.cfg.Store.FlakyTests(r.Context(), p.ID)
	if err != nil {
		return err
	}
	found := false
	for _, f := range fl {
		found = found || f.TestID == id
	}
	if !found {
		return fmt.Errorf("%w: no flaky test %q in project %s", errNotFound, id, p.Name)
	}
	if err := a.cfg.Store.ResolveFlaky(r.Context(), p.ID, id, c.login(), a.cfg.Now()); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"id": id, "resolved_by": c.login()})
}

// MaxHistory is how many outcomes a test's history holds.
const MaxHistory = 50

func (a *API) testHistory(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return err
	}
	branch := r.URL.Query().Get("branch")
	if branch == "" {
		branch = p.DefaultBranch
	}
	limit := MaxHistory
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxHistory {
			return fmt.Errorf("%w: limit must be 1 to %d", errBadRequest, MaxHistory)
		}
		limit = n
	}
	if err := a.flushOutcomes(r); err != nil {
		return err
	}
	hs, err := a.cfg.Store.TestHistory(r.Context(), p.ID, r.PathValue("test"), branch, limit)
	if err != nil {
		return err
	}
	out := make([]apiv1.OutcomeView, 0, len(hs))
	seen := map[string]bool{} // pipeline ID → c sees it
	for _, h := range hs {
		sees, ok := seen[h.PipelineID]
		if !ok {
			pl, err := a.cfg.Store.GetPipeline(r.Context(), h.PipelineID)
			sees = err == nil && c.seesDeployment(p, pl)
			seen[h.PipelineID] = sees
		}
		if !sees {
			continue // a deployment's test outcomes are its members'
		}
		out = append(out, apiv1.OutcomeView{State: h.State, DurationNS: int64(h.Duration), Job: h.JobID, Workflow: h.WorkflowID, SHA: h.SHA, At: h.At})
	}
	return writeJSON(w, http.StatusOK, out)
}
