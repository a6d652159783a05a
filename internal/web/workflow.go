package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
)

// pipelineView is a pipeline laid out as a graph: its blocks in columns by
// dependency depth, the after_pipeline block apart.
type pipelineView struct {
	*apiv1.Pipeline
	Columns [][]*apiv1.Block
	After   []*apiv1.Block
	// Errors make the pipeline file invalid; Warnings are what Baton
	// accepted from a valid file that Semaphore reads differently.
	Errors, Warnings []apiv1.Diagnostic
	// Promotions are nil when the promotions API is not available.
	Promotions []apiv1.PromotionView
	// PromotedFrom is the name of the pipeline this one was promoted
	// from; Depth how many promotions it is from the workflow's first.
	PromotedFrom string
	Depth        int
	// PromoteError is the API's refusal of the last promotion.
	PromoteError string
	// Coverage is the pipeline's code coverage; nil without any.
	Coverage *coverageSummary
}

// Done reports whether the pipeline ended; Passed whether it ended and
// passed: only a pipeline that passed is promoted without override.
func (v pipelineView) Done() bool   { return v.State == apiv1.StateDone }
func (v pipelineView) Passed() bool { return v.Done() && v.Result == apiv1.ResultPassed }

// columns groups blocks by dependency depth: a block without
// dependencies is in column 0, any other one column after its deepest
// dependency. Unknown dependencies are ignored and cycles cut.
func columns(blocks []*apiv1.Block) (cols [][]*apiv1.Block, after []*apiv1.Block) {
	byName := map[string]*apiv1.Block{}
	for _, b := range blocks {
		if !b.AfterPipeline {
			byName[b.Name] = b
		}
	}
	depth := map[string]int{}
	var visit func(b *apiv1.Block, seen map[string]bool) int
	visit = func(b *apiv1.Block, seen map[string]bool) int {
		if d, ok := depth[b.Name]; ok {
			return d
		}
		if seen[b.Name] {
			return 0
		}
		seen[b.Name] = true
		d := 0
		for _, dep := range b.Dependencies {
			if db := byName[dep]; db != nil {
				d = max(d, visit(db, seen)+1)
			}
		}
		depth[b.Name] = d
		return d
	}
	for _, b := range blocks {
		if b.AfterPipeline {
			after = append(after, b)
			continue
		}
		d := visit(b, map[string]bool{})
		for len(cols) <= d {
			cols = append(cols, nil)
		}
		cols[d] = append(cols[d], b)
	}
	return cols, after
}

// workflowPage is the data of workflow.html.
type workflowPage struct {
	Workflow  apiv1.WorkflowView
	Access    apiv1.AccessView
	Pipelines []*pipelineView
	// Live is set while the workflow runs: the page follows it.
	Live bool
	Done string
	// Artifacts are the workflow's (artifact push workflow).
	Artifacts artifactList
}

// PageTitle is the workflow's title.
func (p workflowPage) PageTitle() string {
	return p.Workflow.Project + " #" + strconv.Itoa(p.Workflow.Number)
}

// loadWorkflow reads a workflow with its pipelines, the caller's access
// and each pipeline's promotions.
func (w *Web) loadWorkflow(r *http.Request, id string) (*workflowPage, error) {
	page := &workflowPage{}
	if _, err := w.apiGet(r, "/api/v1/workflows/"+url.PathEscape(id), &page.Workflow); err != nil {
		return nil, err
	}
	if _, err := w.apiGet(r, "/api/v1/projects/"+url.PathEscape(page.Workflow.Project)+"/access", &page.Access); err != nil {
		return nil, err
	}
	page.Live = page.Workflow.State != apiv1.StateDone
	page.Artifacts = w.artifacts(r, "/api/v1/workflows/"+url.PathEscape(page.Workflow.ID)+"/artifacts")
	byID := map[string]*pipelineView{}
	for _, pl := range page.Workflow.Pipelines {
		v := &pipelineView{Pipeline: pl}
		for _, d := range pl.Problems {
			if d.Severity == apiv1.SeverityWarning {
				v.Warnings = append(v.Warnings, d)
			} else {
				v.Errors = append(v.Errors, d)
			}
		}
		v.Columns, v.After = columns(pl.Blocks)
		// A deployment shown without its details shows no promotions
		// and no coverage.
		if !pl.DetailsHidden {
			v.Coverage = w.pipelineCoverage(r, pl.ID)
			var proms []apiv1.PromotionView
			status, err := w.apiGet(r, "/api/v1/pipelines/"+url.PathEscape(pl.ID)+"/promotions", &proms)
			switch {
			case err == nil && proms == nil:
				v.Promotions = []apiv1.PromotionView{}
			case err == nil:
				v.Promotions = proms
			case status != http.StatusNotFound:
				return nil, err
			}
		}
		byID[pl.ID] = v
	}
	// Each pipeline is followed by the ones promoted from it.
	var place func(v *pipelineView, depth int)
	placed := map[string]bool{}
	place = func(v *pipelineView, depth int) {
		if placed[v.ID] {
			return
		}
		placed[v.ID] = true
		v.Depth = depth
		page.Pipelines = append(page.Pipelines, v)
		for _, pl := range page.Workflow.Pipelines {
			if pl.PromotionOf == v.ID {
				byID[pl.ID].PromotedFrom = v.Name
				place(byID[pl.ID], depth+1)
			}
		}
	}
	for _, pl := range page.Workflow.Pipelines {
		if byID[pl.PromotionOf] == nil {
			place(byID[pl.ID], 0)
		}
	}
	for _, pl := range page.Workflow.Pipelines {
		place(byID[pl.ID], 0)
	}
	return page, nil
}

// workflow shows a workflow: each pipeline as a graph of blocks and jobs,
// live while it runs. With ?fragment=graph it answers only the pipelines'
// markup, which the page's script swaps in when the API says something
// changed.
func (w *Web) workflow(rw http.ResponseWriter, r *http.Request) {
	page, err := w.loadWorkflow(r, r.PathValue("id"))
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	page.Done = r.URL.Query().Get("done")
	if r.URL.Query().Get("fragment") == "graph" {
		w.renderFragment(rw, r, "workflow.html", "pipelines", *page)
		return
	}
	w.render(rw, r, http.StatusOK, "workflow.html", *page)
}

// workflowAction forwards a stop or rebuild of a workflow, or a stop or
// rerun-failed of a pipeline, to the API and goes back to the workflow
// (the new one for a rebuild).
func (w *Web) workflowAction(kind, action string) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		if !w.checkForm(rw, r) {
			return
		}
		id := r.PathValue("id")
		workflowID := id
		project := ""
		if kind == "pipelines" {
			var pl apiv1.Pipeline
			if _, err := w.apiGet(r, "/api/v1/pipelines/"+url.PathEscape(id), &pl); err != nil {
				w.fail(rw, r, err)
				return
			}
			workflowID, project = pl.WorkflowID, pl.ProjectID
		} else {
			var wf apiv1.Workflow
			if _, err := w.apiGet(r, "/api/v1/workflows/"+url.PathEscape(id), &wf); err != nil {
				w.fail(rw, r, err)
				return
			}
			project = wf.ProjectID
		}
		if !w.requireWrite(rw, r, project) {
			return
		}
		// A rebuild answers a workflow, a rerun a pipeline: both have the
		// fields read here.
		var created apiv1.Pipeline
		if _, err := w.apiDo(r, http.MethodPost, "/api/v1/"+kind+"/"+url.PathEscape(id)+"/"+action, nil, &created); err != nil {
			w.fail(rw, r, err)
			return
		}
		switch {
		case action == "rebuild" && created.ID != "":
			workflowID = created.ID
		case created.WorkflowID != "":
			workflowID = created.WorkflowID
		}
		seeOther(rw, r, "/workflows/"+url.PathEscape(workflowID), action)
	}
}

// promote runs a promotion of a pipeline with the form's parameters
// (fields "param.NAME"); a refusal shows the workflow again with the API's
// reason beside the pipeline.
func (w *Web) promote(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) {
		return
	}
	id := r.PathValue("id")
	var pl apiv1.Pipeline
	if _, err := w.apiGet(r, "/api/v1/pipelines/"+url.PathEscape(id), &pl); err != nil {
		w.fail(rw, r, err)
		return
	}
	if !w.requireWrite(rw, r, pl.ProjectID) {
		return
	}
	req := apiv1.PromoteRequest{Name: r.PostForm.Get("name"), Parameters: map[string]string{}, Override: r.PostForm.Get("override") == "1"}
	for k, v := range r.PostForm {
		if name, ok := strings.CutPrefix(k, "param."); ok && len(v) > 0 && v[0] != "" {
			req.Parameters[name] = v[0]
		}
	}
	status, err := w.apiDo(r, http.MethodPost, "/api/v1/pipelines/"+url.PathEscape(id)+"/promote", req, nil)
	if err == nil {
		seeOther(rw, r, "/workflows/"+url.PathEscape(pl.WorkflowID), "promoted")
		return
	}
	ae, ok := err.(*apiv1.Error)
	if !ok || (status != http.StatusBadRequest && status != http.StatusForbidden && status != http.StatusNotFound && status != http.StatusConflict) {
		w.fail(rw, r, err)
		return
	}
	if status == http.StatusNotFound {
		// The pipeline exists: what is missing is the promotion.
		status, ae = http.StatusBadRequest, &apiv1.Error{Status: http.StatusBadRequest, Message: "There is no promotion " + strconv.Quote(req.Name) + " to run."}
	}
	page, err := w.loadWorkflow(r, pl.WorkflowID)
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	for _, v := range page.Pipelines {
		if v.ID == id {
			v.PromoteError = ae.Message
		}
	}
	w.render(rw, r, status, "workflow.html", *page)
}
