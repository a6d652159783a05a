package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/httpedge"
)

// projectCard is a project on the projects page: its latest workflow per
// branch (the default branch first) and its badge.
type projectCard struct {
	Project  *apiv1.Project
	Branches []apiv1.RefView
	// More counts the branches not shown.
	More  int
	Badge string
}

// projectForm is the "New project" form's values.
type projectForm struct {
	Name, RepoURL, PipelineFile, PollInterval string
	Public                                    bool
}

// homePage is the data of home.html.
type homePage struct {
	Projects []projectCard
	Form     projectForm
	Error    string
}

// cardBranches is how many branches a project card shows.
const cardBranches = 4

// home lists the projects the caller may see (a visitor sees the public
// ones) and, for organisation admins and users allowed to create
// projects, the "New project" form.
func (w *Web) home(rw http.ResponseWriter, r *http.Request) {
	w.renderHome(rw, r, http.StatusOK, homePage{Form: projectForm{PipelineFile: ".semaphore/semaphore.yml", PollInterval: "1m"}})
}

func (w *Web) renderHome(rw http.ResponseWriter, r *http.Request, code int, page homePage) {
	var projects []*apiv1.Project
	if _, err := w.apiGet(r, "/api/v1/projects", &projects); err != nil {
		w.fail(rw, r, err)
		return
	}
	for _, p := range projects {
		card := projectCard{Project: p, Badge: "/badges/" + url.PathEscape(p.Name) + ".svg"}
		var refs apiv1.RefsView
		if _, err := w.apiGet(r, "/api/v1/projects/"+url.PathEscape(p.Name)+"/refs", &refs); err == nil {
			// The default branch first, then the most recent ones.
			bs := refs.Branches
			slices.SortStableFunc(bs, func(a, b apiv1.RefView) int {
				switch {
				case a.Name == p.DefaultBranch && b.Name != p.DefaultBranch:
					return -1
				case b.Name == p.DefaultBranch && a.Name != p.DefaultBranch:
					return 1
				}
				return 0
			})
			if len(bs) > cardBranches {
				card.More = len(bs) - cardBranches
				bs = bs[:cardBranches]
			}
			card.Branches = bs
		}
		page.Projects = append(page.Projects, card)
	}
	w.render(rw, r, code, "home.html", page)
}

// createProject creates a project from the "New project" form and opens
// its page; a refusal shows the form again with the API's reason.
func (w *Web) createProject(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) {
		return
	}
	f := projectForm{
		Name:         strings.TrimSpace(r.PostForm.Get("name")),
		RepoURL:      strings.TrimSpace(r.PostForm.Get("repo_url")),
		PipelineFile: strings.TrimSpace(r.PostForm.Get("pipeline_file")),
		PollInterval: strings.TrimSpace(r.PostForm.Get("poll_interval")),
		Public:       r.PostForm.Get("visibility") == "public",
	}
	req := apiv1.ProjectRequest{Name: &f.Name, RepoURL: &f.RepoURL, Public: &f.Public}
	if f.PipelineFile != "" {
		req.PipelineFile = &f.PipelineFile
	}
	if f.PollInterval != "" {
		req.PollInterval = &f.PollInterval
	}
	var p apiv1.Project
	status, err := w.apiDo(r, http.MethodPost, "/api/v1/projects", req, &p)
	switch {
	case err == nil:
		seeOther(rw, r, "/projects/"+url.PathEscape(p.Name), "created")
	case status == http.StatusBadRequest || status == http.StatusConflict:
		w.renderHome(rw, r, status, homePage{Form: f, Error: err.(*apiv1.Error).Message})
	default:
		w.fail(rw, r, err)
	}
}

// projectPage is the data of project.html.
type projectPage struct {
	Project *apiv1.Project
	Access  apiv1.AccessView
	Refs    apiv1.RefsView
	History apiv1.HistoryView
	// Before is the page of history shown ("" for the newest).
	Before string
	// Branches are the run form's choices, the default branch first.
	Branches []string
	// BadgeURL is the badge's absolute URL, Markdown its snippet.
	BadgeURL, Markdown string
	Done               string
	// Artifacts are the project's (artifact push project).
	Artifacts artifactList
	// Coverage is the default branch's coverage trend; nil without any.
	Coverage *coverageTrend
}

// project shows a project: its refs with their latest workflow, the
// workflow history, the badge, and the Run form for writers.
func (w *Web) project(rw http.ResponseWriter, r *http.Request) {
	name := r.PathValue("project")
	base := "/api/v1/projects/" + url.PathEscape(name)
	page := projectPage{Project: &apiv1.Project{}, Before: r.URL.Query().Get("before"), Done: r.URL.Query().Get("done")}
	if _, err := w.apiGet(r, base, page.Project); err != nil {
		w.fail(rw, r, err)
		return
	}
	history := base + "/history?limit=20"
	if page.Before != "" {
		history += "&before=" + url.QueryEscape(page.Before)
	}
	for path, out := range map[string]any{base + "/access": &page.Access, base + "/refs": &page.Refs, history: &page.History} {
		if _, err := w.apiGet(r, path, out); err != nil {
			w.fail(rw, r, err)
			return
		}
	}
	page.Artifacts = w.artifacts(r, "/api/v1/projects/"+url.PathEscape(page.Project.Name)+"/artifacts")
	page.Coverage = w.coverageTrend(r, page.Project.Name, page.Project.DefaultBranch)
	page.Branches = []string{page.Project.DefaultBranch}
	for _, b := range page.Refs.Branches {
		if !slices.Contains(page.Branches, b.Name) {
			page.Branches = append(page.Branches, b.Name)
		}
	}
	page.BadgeURL = origin(r) + "/badges/" + url.PathEscape(page.Project.Name) + ".svg"
	page.Markdown = "[![" + page.Project.Name + "](" + page.BadgeURL + ")](" + origin(r) + "/projects/" + url.PathEscape(page.Project.Name) + ")"
	w.render(rw, r, http.StatusOK, "project.html", page)
}

// runWorkflow starts a workflow on the chosen branch and opens it.
func (w *Web) runWorkflow(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) {
		return
	}
	name := r.PathValue("project")
	var p apiv1.Project
	if _, err := w.apiGet(r, "/api/v1/projects/"+url.PathEscape(name), &p); err != nil {
		w.fail(rw, r, err)
		return
	}
	if !w.requireWrite(rw, r, p.Name) {
		return
	}
	var wf apiv1.Workflow
	params, bad := formParams(r.PostForm.Get("parameters"))
	if bad != "" {
		w.fail(rw, r, &apiv1.Error{Status: http.StatusBadRequest, Message: bad})
		return
	}
	req := apiv1.RunRequest{Branch: strings.TrimSpace(r.PostForm.Get("branch")),
		PipelineFile: strings.TrimSpace(r.PostForm.Get("pipeline_file")), Params: params}
	if _, err := w.apiDo(r, http.MethodPost, "/api/v1/projects/"+url.PathEscape(p.Name)+"/workflows", req, &wf); err != nil {
		w.fail(rw, r, err)
		return
	}
	seeOther(rw, r, "/workflows/"+url.PathEscape(wf.ID), "")
}

// requireWrite checks that the caller has the write role in a project
// (by name or ID), answering 401 for a visitor and 403 for a signed-in
// user without it, so that a form is refused the same way whichever API
// call it leads to.
func (w *Web) requireWrite(rw http.ResponseWriter, r *http.Request, project string) bool {
	var acc apiv1.AccessView
	if _, err := w.apiGet(r, "/api/v1/projects/"+url.PathEscape(project)+"/access", &acc); err != nil {
		w.fail(rw, r, err)
		return false
	}
	if acc.Write {
		return true
	}
	if me, _ := w.me(r); me == nil {
		w.fail(rw, r, &apiv1.Error{Status: http.StatusUnauthorized})
		return false
	}
	w.fail(rw, r, &apiv1.Error{Status: http.StatusForbidden, Message: "You need the write role in this project."})
	return false
}

// origin is the site's scheme and host, for absolute URLs.
func origin(r *http.Request) string {
	scheme := "http"
	if httpedge.Secure(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
