package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/bytesize"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/store"
)

// The project settings page, /projects/{project}/settings, for the
// project's admins: what `baton project update`, `baton project delete`
// and `baton member` do. It reads and writes through the API as the
// caller, whose rules (project-admin) it shares.

// projectSettingsPage is the data of project_settings.html.
type projectSettingsPage struct {
	Project *ci.Project
	Members []*store.Member
	// Form holds the general form's values after a refusal.
	Form         projectSettingsForm
	Error        string
	MemberError  string
	DeleteError  string
	Done         string
	PollInterval string
}

// projectSettingsForm is the general settings form.
type projectSettingsForm struct {
	DefaultBranch, PipelineFile, PollInterval string
	// CacheSize is write-only, like the webhook secret: the API does not
	// show the budget, so an empty field keeps it.
	CacheSize string
	Public    bool
}

// PageTitle names the page.
func (p projectSettingsPage) PageTitle() string { return "Settings · " + p.Project.Name }

func (w *Web) renderProjectSettings(rw http.ResponseWriter, r *http.Request, code int, page projectSettingsPage) {
	base := "/api/v1/projects/" + url.PathEscape(r.PathValue("project"))
	page.Project = &ci.Project{}
	if _, err := w.apiGet(r, base, page.Project); err != nil {
		w.fail(rw, r, err)
		return
	}
	// Members are for project admins: the API refuses the others.
	if _, err := w.apiGet(r, base+"/members", &page.Members); err != nil {
		w.fail(rw, r, err)
		return
	}
	page.PollInterval = "0"
	if page.Project.PollInterval > 0 {
		page.PollInterval = page.Project.PollInterval.String()
	}
	if page.Form == (projectSettingsForm{}) {
		page.Form = projectSettingsForm{DefaultBranch: page.Project.DefaultBranch, PipelineFile: page.Project.PipelineFile,
			PollInterval: page.PollInterval, Public: page.Project.Public}
	}
	w.render(rw, r, code, "project_settings.html", page)
}

// projectSettings shows a project's settings to its admins.
func (w *Web) projectSettings(rw http.ResponseWriter, r *http.Request) {
	w.renderProjectSettings(rw, r, http.StatusOK, projectSettingsPage{Done: r.URL.Query().Get("done")})
}

// requireAdmin checks that the caller administers a project, answering as
// the API would (404 for a project the caller cannot see, 401 for a
// visitor, 403 otherwise), so that every admin form is refused alike
// whatever it calls.
func (w *Web) requireAdmin(rw http.ResponseWriter, r *http.Request, project string) bool {
	var acc apiv1.AccessView
	if _, err := w.apiGet(r, "/api/v1/projects/"+url.PathEscape(project)+"/access", &acc); err != nil {
		w.fail(rw, r, err)
		return false
	}
	if acc.Admin {
		return true
	}
	if me, _ := w.me(r); me == nil {
		w.fail(rw, r, &apiv1.Error{Status: http.StatusUnauthorized})
		return false
	}
	w.fail(rw, r, &apiv1.Error{Status: http.StatusForbidden, Message: "You need the admin role in this project."})
	return false
}

// refused reports whether err is an API refusal of the request's content
// (400, 409, 422), which the page shows next to its form.
func refused(status int, err error) (string, bool) {
	ae, ok := err.(*apiv1.Error)
	if !ok {
		return "", false
	}
	switch status {
	case http.StatusBadRequest, http.StatusConflict, http.StatusUnprocessableEntity:
		return ae.Message, true
	}
	return "", false
}

// updateProjectSettings saves the general settings form (PATCH).
func (w *Web) updateProjectSettings(rw http.ResponseWriter, r *http.Request) {
	project := r.PathValue("project")
	if !w.checkForm(rw, r) || !w.requireAdmin(rw, r, project) {
		return
	}
	f := r.PostForm
	req := map[string]any{}
	form := projectSettingsForm{
		DefaultBranch: strings.TrimSpace(f.Get("default_branch")),
		PipelineFile:  strings.TrimSpace(f.Get("pipeline_file")),
		PollInterval:  strings.TrimSpace(f.Get("poll_interval")),
		Public:        f.Get("visibility") == "public",
	}
	if form.DefaultBranch != "" {
		req["default_branch"] = form.DefaultBranch
	}
	if form.PipelineFile != "" {
		req["pipeline_file"] = form.PipelineFile
	}
	if form.PollInterval != "" {
		req["poll_interval"] = form.PollInterval
	}
	if form.CacheSize = strings.TrimSpace(f.Get("cache_size")); form.CacheSize != "" {
		n, err := bytesize.Parse(form.CacheSize)
		if err != nil {
			w.renderProjectSettings(rw, r, http.StatusBadRequest, projectSettingsPage{Form: form, Error: "Cache size: " + err.Error()})
			return
		}
		req["cache_size"] = n
	}
	if v := f.Get("visibility"); v == "public" || v == "private" {
		req["public"] = v == "public"
	}
	// The webhook secret is write-only: empty keeps it.
	if s := f.Get("webhook_secret"); s != "" {
		req["webhook_secret"] = s
	}
	status, err := w.apiDo(r, http.MethodPatch, "/api/v1/projects/"+url.PathEscape(project), req, nil)
	if msg, ok := refused(status, err); ok {
		w.renderProjectSettings(rw, r, status, projectSettingsPage{Form: form, Error: msg})
		return
	}
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	seeOther(rw, r, "/projects/"+url.PathEscape(project)+"/settings", "settings-saved")
}

// setMember gives a user a role in the project (adds or changes).
func (w *Web) setMember(rw http.ResponseWriter, r *http.Request) {
	project := r.PathValue("project")
	if !w.checkForm(rw, r) || !w.requireAdmin(rw, r, project) {
		return
	}
	login, role := strings.TrimSpace(r.PostForm.Get("login")), r.PostForm.Get("role")
	if login == "" {
		w.renderProjectSettings(rw, r, http.StatusBadRequest, projectSettingsPage{MemberError: "Name the user (their login)."})
		return
	}
	status, err := w.apiDo(r, http.MethodPut, "/api/v1/projects/"+url.PathEscape(project)+"/members/"+url.PathEscape(login), apiv1.MemberRequest{Role: role}, nil)
	if status == http.StatusNotFound {
		w.renderProjectSettings(rw, r, http.StatusBadRequest, projectSettingsPage{MemberError: "There is no user " + login + "."})
		return
	}
	if msg, ok := refused(status, err); ok {
		w.renderProjectSettings(rw, r, status, projectSettingsPage{MemberError: msg})
		return
	}
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	seeOther(rw, r, "/projects/"+url.PathEscape(project)+"/settings", "member-saved")
}

// removeMember takes a user's role in the project away.
func (w *Web) removeMember(rw http.ResponseWriter, r *http.Request) {
	project := r.PathValue("project")
	if !w.checkForm(rw, r) || !w.requireAdmin(rw, r, project) {
		return
	}
	if _, err := w.apiDo(r, http.MethodDelete, "/api/v1/projects/"+url.PathEscape(project)+"/members/"+url.PathEscape(r.PathValue("login")), nil, nil); err != nil {
		w.fail(rw, r, err)
		return
	}
	seeOther(rw, r, "/projects/"+url.PathEscape(project)+"/settings", "member-removed")
}

// deleteProject deletes the project once its name is typed again.
func (w *Web) deleteProject(rw http.ResponseWriter, r *http.Request) {
	project := r.PathValue("project")
	if !w.checkForm(rw, r) || !w.requireAdmin(rw, r, project) {
		return
	}
	var p ci.Project
	if _, err := w.apiGet(r, "/api/v1/projects/"+url.PathEscape(project), &p); err != nil {
		w.fail(rw, r, err)
		return
	}
	if strings.TrimSpace(r.PostForm.Get("confirm")) != p.Name {
		w.renderProjectSettings(rw, r, http.StatusBadRequest, projectSettingsPage{DeleteError: "Type the project's name, " + p.Name + ", to delete it."})
		return
	}
	status, err := w.apiDo(r, http.MethodDelete, "/api/v1/projects/"+url.PathEscape(p.Name), nil, nil)
	if msg, ok := refused(status, err); ok {
		w.renderProjectSettings(rw, r, status, projectSettingsPage{DeleteError: msg})
		return
	}
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	seeOther(rw, r, "/", "project-deleted")
}
