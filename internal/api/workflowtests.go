package api

import (
	"cmp"
	"net/http"
	"slices"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testreport"
)

// workflowTests answers what the Tests tab shows of a workflow's test
// reports (apiv1.WorkflowTests). It reads the counts and the digest kept
// with each job's report, the tests' outcomes for a search and the
// histories of the tests it shows, never a whole report: its cost does
// not grow with the reports' size. Deployment pipelines c may not see the
// details of (seesDeployment) are left out, as their jobs' reports answer
// 401 or 403 to c.
func (a *API) workflowTests(w http.ResponseWriter, r *http.Request, c *caller) error {
	wf, p, err := a.workflow(r, c)
	if err != nil {
		return err
	}
	ctx := r.Context()
	view := apiv1.WorkflowTests{Workflow: wf.ID, Project: p.Name, Number: wf.Number, HistoryBranch: p.DefaultBranch,
		Failures: []apiv1.TestRow{}, Slowest: []apiv1.TestRow{}, Suites: []apiv1.TestSuiteRow{}, Matches: []apiv1.TestRow{},
		Query: strings.TrimSpace(r.URL.Query().Get("q"))}
	pls, err := a.cfg.Store.ListPipelines(ctx, wf.ID)
	if err != nil {
		return err
	}
	jobNames := map[string]string{} // job ID → "Block / Job"
	var recs []store.TestReport
	for _, pl := range pls {
		if !c.seesDeployment(p, pl) {
			continue
		}
		rs, err := a.cfg.Store.PipelineJobTestReports(ctx, pl.ID)
		if err != nil {
			return err
		}
		if len(rs) == 0 {
			continue
		}
		recs = append(recs, rs...)
		blocks, err := a.cfg.Store.ListBlocks(ctx, pl.ID)
		if err != nil {
			return err
		}
		names := map[string]string{}
		for _, b := range blocks {
			names[b.ID] = b.Name
		}
		jobs, err := a.cfg.Store.ListJobs(ctx, pl.ID)
		if err != nil {
			return err
		}
		for _, j := range jobs {
			jobNames[j.ID] = names[j.BlockID] + " / " + j.Name
		}
	}
	if len(recs) == 0 {
		return writeJSON(w, http.StatusOK, view)
	}
	t, err := a.tests()
	if err != nil {
		return err
	}
	digests, err := t.Digests(ctx, recs)
	if err != nil {
		return err
	}
	var failures []apiv1.TestRow
	jobIDs := make([]string, 0, len(recs))
	for _, rec := range recs {
		jobIDs = append(jobIDs, rec.JobID)
		view.Reports++
		s := &view.Summary
		rc := rec.Counts
		s.Total += rc.Total
		s.Passed += rc.Passed
		s.Failed += rc.Failed
		s.Error += rc.Error
		s.Skipped += rc.Skipped
		s.Disabled += rc.Disabled
		s.Duration += rc.Duration
		d := digests[rec.JobID]
		job := jobNames[rec.JobID]
		for _, f := range d.Failures {
			failures = append(failures, testRow(rec.JobID, job, f))
		}
		view.MoreFailures += d.MoreFailures
		for _, t := range d.Slowest {
			view.Slowest = append(view.Slowest, testRow(rec.JobID, job, t))
		}
		for _, su := range d.Suites {
			view.Suites = append(view.Suites, apiv1.TestSuiteRow{JobID: rec.JobID, Job: job, Report: su.Report, Name: su.Name, Summary: apiv1.TestSummary(su.Summary)})
		}
		view.MoreSuites += d.MoreSuites
	}
	slices.SortStableFunc(failures, func(a, b apiv1.TestRow) int {
		return cmp.Or(cmp.Compare(a.Suite, b.Suite), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Job, b.Job))
	})
	if n := len(failures); n > apiv1.MaxTestFailures {
		view.MoreFailures += n - apiv1.MaxTestFailures
		failures = failures[:apiv1.MaxTestFailures]
	}
	view.Failures = append(view.Failures, failures...)
	slices.SortStableFunc(view.Slowest, func(a, b apiv1.TestRow) int { return cmp.Compare(b.Duration, a.Duration) })
	view.Slowest = view.Slowest[:min(len(view.Slowest), apiv1.MaxSlowestTests)]
	slices.SortStableFunc(view.Suites, func(a, b apiv1.TestSuiteRow) int {
		fa, fb := a.Summary.Failed+a.Summary.Error > 0, b.Summary.Failed+b.Summary.Error > 0
		if fa != fb {
			if fa {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.Summary.Duration, a.Summary.Duration)
	})
	if n := len(view.Suites); n > apiv1.MaxTestSuites {
		view.MoreSuites += n - apiv1.MaxTestSuites
		view.Suites = view.Suites[:apiv1.MaxTestSuites]
	}
	if view.Query != "" {
		// A search must find the tests just published: wait for their
		// outcomes. The histories do not wait (the newest outcome may be
		// a moment late), so that the tab opens at once after a publish.
		if err := a.flushOutcomes(r); err != nil {
			return err
		}
		found, err := a.cfg.Store.FindTestOutcomes(ctx, jobIDs, view.Query, apiv1.MaxTestMatches+1)
		if err != nil {
			return err
		}
		if len(found) > apiv1.MaxTestMatches {
			view.MoreMatches = true
			found = found[:apiv1.MaxTestMatches]
		}
		for _, o := range found {
			view.Matches = append(view.Matches, apiv1.TestRow{ID: o.TestID, JobID: o.JobID, Job: jobNames[o.JobID], Report: o.Report,
				Suite: o.Suite, Name: testreport.Title(o.Classname, o.Name, o.Suite), State: o.State, Duration: o.Duration})
		}
	}
	if err := a.addHistories(r, c, p, &view); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, view)
}

func testRow(jobID, job string, t testreport.DigestTest) apiv1.TestRow {
	return apiv1.TestRow{ID: t.ID, JobID: jobID, Job: job, Report: t.Report, Suite: t.Suite, Name: t.Name, State: string(t.State),
		Duration: t.Duration, Message: t.Message, Body: t.Body, Output: t.Output}
}

// addHistories sets the history on the default branch of every test the
// view shows, in one query, leaving out the outcomes of deployments c may
// not see the details of.
func (a *API) addHistories(r *http.Request, c *caller, p *ci.Project, view *apiv1.WorkflowTests) error {
	rows := [][]apiv1.TestRow{view.Failures, view.Slowest, view.Matches}
	var ids []string
	seen := map[string]bool{}
	for _, rs := range rows {
		for _, row := range rs {
			if !seen[row.ID] {
				seen[row.ID] = true
				ids = append(ids, row.ID)
			}
		}
	}
	hs, err := a.cfg.Store.TestHistories(r.Context(), p.ID, p.DefaultBranch, ids, apiv1.MaxTestHistory)
	if err != nil {
		return err
	}
	runs := make(map[string][]apiv1.TestRun, len(hs))
	for id, os := range hs {
		out := make([]apiv1.TestRun, 0, len(os))
		for _, o := range os {
			if !c.seesDeployment(p, &ci.Pipeline{ID: o.PipelineID, DeploymentTarget: o.DeploymentTarget}) {
				continue
			}
			out = append(out, apiv1.TestRun{State: o.State, Duration: o.Duration, Workflow: o.WorkflowID, Job: o.JobID, SHA: o.SHA, At: o.At})
		}
		runs[id] = out
	}
	for _, rs := range rows {
		for i := range rs {
			rs[i].History = runs[rs[i].ID]
			if rs[i].History == nil {
				rs[i].History = []apiv1.TestRun{}
			}
		}
	}
	return nil
}
