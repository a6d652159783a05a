package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
)

// schedulesPage is the data of schedules.html.
type schedulesPage struct {
	Project   *apiv1.Project
	Access    apiv1.AccessView
	Schedules []apiv1.ScheduleView
	Done      string
}

// PageTitle names the page.
func (p schedulesPage) PageTitle() string { return "Schedules · " + p.Project.Name }

// schedules shows a project's schedules: timing, branch, next run, last
// runs, and for writers a Run form with the declared parameters.
func (w *Web) schedules(rw http.ResponseWriter, r *http.Request) {
	base := "/api/v1/projects/" + url.PathEscape(r.PathValue("project"))
	page := schedulesPage{Project: &apiv1.Project{}, Done: r.URL.Query().Get("done")}
	if _, err := w.apiGet(r, base, page.Project); err != nil {
		w.fail(rw, r, err)
		return
	}
	if _, err := w.apiGet(r, base+"/access", &page.Access); err != nil {
		w.fail(rw, r, err)
		return
	}
	var list []apiv1.ScheduleView
	if _, err := w.apiGet(r, base+"/schedules", &list); err != nil {
		w.fail(rw, r, err)
		return
	}
	for _, s := range list {
		var full apiv1.ScheduleView
		if _, err := w.apiGet(r, base+"/schedules/"+url.PathEscape(s.Name), &full); err != nil {
			w.fail(rw, r, err)
			return
		}
		page.Schedules = append(page.Schedules, full)
	}
	w.render(rw, r, http.StatusOK, "schedules.html", page)
}

// runSchedule runs a schedule now with the form's parameter values and
// opens the workflow.
func (w *Web) runSchedule(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) {
		return
	}
	project := r.PathValue("project")
	if !w.requireWrite(rw, r, project) {
		return
	}
	req := apiv1.ScheduleRunRequest{Parameters: map[string]string{}}
	for k, v := range r.PostForm {
		if name, ok := strings.CutPrefix(k, "param."); ok && len(v) > 0 && v[0] != "" {
			req.Parameters[name] = v[0]
		}
	}
	var wf apiv1.Workflow
	path := "/api/v1/projects/" + url.PathEscape(project) + "/schedules/" + url.PathEscape(r.PathValue("name")) + "/run"
	if _, err := w.apiDo(r, http.MethodPost, path, req, &wf); err != nil {
		w.fail(rw, r, err)
		return
	}
	seeOther(rw, r, "/workflows/"+url.PathEscape(wf.ID), "")
}

// formParams reads "NAME=VALUE" lines of a form field as parameters.
func formParams(text string) (map[string]string, string) {
	out := map[string]string{}
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, "Parameters are NAME=VALUE, one per line; got " + line
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, ""
}
