package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/auth"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/store"
)

// The overview endpoints: what a project page shows at a glance (its
// refs with their latest workflow, the workflow history with durations)
// and what the caller may do in the project.

// summaries adds the spans of the workflows.
func (a *API) summaries(r *http.Request, wfs []*ci.Workflow) ([]apiv1.WorkflowSummary, error) {
	ids := make([]string, len(wfs))
	for i, w := range wfs {
		ids[i] = w.ID
	}
	spans, err := a.cfg.Store.WorkflowSpans(r.Context(), ids)
	if err != nil {
		return nil, err
	}
	out := make([]apiv1.WorkflowSummary, len(wfs))
	for i, w := range wfs {
		s := spans[w.ID]
		out[i] = apiv1.WorkflowSummary{Workflow: workflowView(w), StartedAt: s.Started, DoneAt: s.Done}
		if !s.Started.IsZero() && !s.Done.IsZero() {
			out[i].Duration = s.Done.Sub(s.Started).Milliseconds()
		}
	}
	return out, nil
}

func (a *API) projectRefs(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return err
	}
	latest, err := a.cfg.Store.LatestWorkflows(r.Context(), p.ID)
	if err != nil {
		return err
	}
	sums, err := a.summaries(r, latest)
	if err != nil {
		return err
	}
	out := apiv1.RefsView{Branches: []apiv1.RefView{}, Tags: []apiv1.RefView{}, PullRequests: []apiv1.RefView{}}
	for _, s := range sums {
		switch s.RefType {
		case "tag":
			out.Tags = append(out.Tags, apiv1.RefView{Name: s.Tag, Workflow: s})
		case "pull-request":
			out.PullRequests = append(out.PullRequests, apiv1.RefView{Name: s.PR, Workflow: s})
		default:
			out.Branches = append(out.Branches, apiv1.RefView{Name: s.Branch, Workflow: s})
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) projectHistory(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.WorkflowFilter{Branch: q.Get("branch"), Limit: 25}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 200 {
			return fmt.Errorf("%w: limit must be 1..200", errBadRequest)
		}
		f.Limit = n
	}
	if s := q.Get("before"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("%w: before must be an RFC 3339 time", errBadRequest)
		}
		f.Before = t
	}
	// One more than the page tells whether there is a next page.
	f.Limit++
	wfs, err := a.cfg.Store.ListWorkflows(r.Context(), p.ID, f)
	if err != nil {
		return err
	}
	out := apiv1.HistoryView{}
	if len(wfs) == f.Limit {
		wfs = wfs[:f.Limit-1]
		out.Next = wfs[len(wfs)-1].CreatedAt.UTC().Format(time.RFC3339Nano)
	}
	if out.Workflows, err = a.summaries(r, wfs); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) projectAccess(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return err
	}
	role := c.role(p)
	return writeJSON(w, http.StatusOK, apiv1.AccessView{Role: role.String(), Write: role.Allows(auth.Write), Admin: role.Allows(auth.Admin)})
}
