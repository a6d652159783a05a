package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/vault"
)

// deploymentsPage is the data of deployments.html.
type deploymentsPage struct {
	Project *apiv1.Project
	Targets []deploymentTarget
	// Admin is set when the caller may change the targets.
	Admin bool
	// Error is a refused form's reason: ErrorTarget's edit form's, or the
	// create form's when ErrorTarget is empty (NewName is its name).
	Error, ErrorTarget, NewName string
	Done                        string
}

// deploymentTarget is a deployment target with its latest deployments.
type deploymentTarget struct {
	*vault.TargetMeta
	History []apiv1.DeploymentView
}

// deploymentsShown is how many deployments of each target the page lists.
const deploymentsShown = 10

// deployments shows a project's deployment targets, their rules and their
// latest deployments. Targets are visible to writers only (the API's
// rule), so readers get the API's answer.
func (w *Web) deployments(rw http.ResponseWriter, r *http.Request) {
	w.renderDeployments(rw, r, http.StatusOK, deploymentsPage{Done: r.URL.Query().Get("done")})
}

func (w *Web) renderDeployments(rw http.ResponseWriter, r *http.Request, code int, page deploymentsPage) {
	base := "/api/v1/projects/" + url.PathEscape(r.PathValue("project"))
	page.Project = &apiv1.Project{}
	if _, err := w.apiGet(r, base, page.Project); err != nil {
		w.fail(rw, r, err)
		return
	}
	var acc apiv1.AccessView
	if _, err := w.apiGet(r, base+"/access", &acc); err != nil {
		w.fail(rw, r, err)
		return
	}
	page.Admin = acc.Admin
	var targets []*vault.TargetMeta
	if _, err := w.apiGet(r, base+"/targets", &targets); err != nil {
		w.fail(rw, r, err)
		return
	}
	for _, t := range targets {
		dt := deploymentTarget{TargetMeta: t}
		if _, err := w.apiGet(r, base+"/targets/"+url.PathEscape(t.Name)+"/history?limit="+strconv.Itoa(deploymentsShown), &dt.History); err != nil {
			w.fail(rw, r, err)
			return
		}
		page.Targets = append(page.Targets, dt)
	}
	w.render(rw, r, code, "deployments.html", page)
}

// PageTitle names the page.
func (p deploymentsPage) PageTitle() string { return "Deployments · " + p.Project.Name }

// NewTarget is the blank create form's data for the target-fields
// template.
func (p deploymentsPage) NewTarget() map[string]any {
	return map[string]any{"ID": "", "Description": "", "Users": []string(nil), "Roles": []string(nil),
		"Branches": []string(nil), "Tags": []string(nil), "AllowPRs": false}
}
