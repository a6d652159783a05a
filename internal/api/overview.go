package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/batonci/baton/internal/auth"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/store"
)

// The overview endpoints: what a project page shows at a glance (its
// refs with their latest workflow, the workflow history with durations)
// and what the caller may do in the project.

// WorkflowSummary is a workflow with when it ran: from its first
// pipeline's start to its last one's end (DoneAt zero while it runs).
type WorkflowSummary struct {
	*ci.Workflow
	StartedAt time.Time `json:"started_at,omitzero"`
	DoneAt    time.Time `json:"done_at,omitzero"`
	// Duration is DoneAt - StartedAt in milliseconds, 0 until done.
	Duration int64 `json:"duration_ms"`
}

// RefView is a branch, tag or pull request with its latest workflow.
type RefView struct {
	// Name is the branch, the tag, or the pull request's number.
	Name     string          `json:"name"`
	Workflow WorkflowSummary `json:"workflow"`
}

// RefsView lists a project's refs, each with its latest workflow, newest
// first.
type RefsView struct {
	Branches     []RefView `json:"branches"`
	Tags         []RefView `json:"tags"`
	PullRequests []RefView `json:"pull_requests"`
}

// HistoryView is a page of a project's workflows, newest first. Next is
// the "before" of the following page, "" on the last page.
type HistoryView struct {
	Workflows []WorkflowSummary `json:"workflows"`
	Next      string            `json:"next,omitempty"`
}

// AccessView is what the caller may do in a project: Role is "read",
// "write" or "admin".
type AccessView struct {
	Role  string `json:"role"`
	Write bool   `json:"write"`
	Admin bool   `json:"admin"`
}

// summaries adds the spans of the workflows.
func (a *API) summaries(r *http.Request, wfs []*ci.Workflow) ([]WorkflowSummary, error) {
	ids := make([]string, len(wfs))
	for i, w := range wfs {
		ids[i] = w.ID
	}
	spans, err := a.cfg.Store.WorkflowSpans(r.Context(), ids)
	if err != nil {
		return nil, err
	}
	out := make([]WorkflowSummary, len(wfs))
	for i, w := range wfs {
		s := spans[w.ID]
		out[i] = WorkflowSummary{Workflow: w, StartedAt: s.Started, DoneAt: s.Done}
		if !s.Started.IsZero() && !s.Done.IsZero() {
			out[i].Duration = s.Done.Sub(s.Started).Milliseconds()
		}
	}
	return out, nil
}

func (a *API) projectRefs(w http.ResponseWriter, r *http.Request, c *caller) {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		writeError(w, err)
		return
	}
	latest, err := a.cfg.Store.LatestWorkflows(r.Context(), p.ID)
	if err != nil {
		writeError(w, err)
		return
	}
	sums, err := a.summaries(r, latest)
	if err != nil {
		writeError(w, err)
		return
	}
	out := RefsView{Branches: []RefView{}, Tags: []RefView{}, PullRequests: []RefView{}}
	for _, s := range sums {
		switch s.RefType {
		case "tag":
			out.Tags = append(out.Tags, RefView{Name: s.Tag, Workflow: s})
		case "pull-request":
			out.PullRequests = append(out.PullRequests, RefView{Name: s.PR, Workflow: s})
		default:
			out.Branches = append(out.Branches, RefView{Name: s.Branch, Workflow: s})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) projectHistory(w http.ResponseWriter, r *http.Request, c *caller) {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	f := store.WorkflowFilter{Branch: q.Get("branch"), Limit: 25}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 200 {
			writeError(w, fmt.Errorf("%w: limit must be 1..200", errBadRequest))
			return
		}
		f.Limit = n
	}
	if s := q.Get("before"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			writeError(w, fmt.Errorf("%w: before must be an RFC 3339 time", errBadRequest))
			return
		}
		f.Before = t
	}
	// One more than the page tells whether there is a next page.
	f.Limit++
	wfs, err := a.cfg.Store.ListWorkflows(r.Context(), p.ID, f)
	if err != nil {
		writeError(w, err)
		return
	}
	out := HistoryView{}
	if len(wfs) == f.Limit {
		wfs = wfs[:f.Limit-1]
		out.Next = wfs[len(wfs)-1].CreatedAt.UTC().Format(time.RFC3339Nano)
	}
	if out.Workflows, err = a.summaries(r, wfs); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) projectAccess(w http.ResponseWriter, r *http.Request, c *caller) {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		writeError(w, err)
		return
	}
	role := c.role(p)
	writeJSON(w, http.StatusOK, AccessView{Role: role.String(), Write: role.Allows(auth.Write), Admin: role.Allows(auth.Admin)})
}
