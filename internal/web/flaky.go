package web

import (
	"net/http"
	"net/url"

	"github.com/batonci/baton/internal/apiv1"
)

// flakyPage is the data of flaky.html: a project's flaky tests.
type flakyPage struct {
	Project string
	Access  apiv1.AccessView
	Tests   []apiv1.FlakyView
}

// PageTitle is the page's title.
func (p flakyPage) PageTitle() string { return "Flaky tests of " + p.Project }

// flaky lists the tests of a project that both failed and passed on one
// commit; writers mark them resolved.
func (w *Web) flaky(rw http.ResponseWriter, r *http.Request) {
	page := flakyPage{Project: r.PathValue("project")}
	base := "/api/v1/projects/" + url.PathEscape(page.Project)
	if _, err := w.apiGet(r, base+"/flaky", &page.Tests); err != nil {
		w.fail(rw, r, err)
		return
	}
	if _, err := w.apiGet(r, base+"/access", &page.Access); err != nil {
		w.fail(rw, r, err)
		return
	}
	w.render(rw, r, http.StatusOK, "flaky.html", page)
}

// resolveFlaky marks a flaky test resolved and shows the list again.
func (w *Web) resolveFlaky(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) {
		return
	}
	project := r.PathValue("project")
	if !w.requireWrite(rw, r, project) {
		return
	}
	if _, err := w.apiDo(r, http.MethodPost, "/api/v1/projects/"+url.PathEscape(project)+"/flaky/"+url.PathEscape(r.PathValue("test"))+"/resolve", nil, nil); err != nil {
		w.fail(rw, r, err)
		return
	}
	http.Redirect(rw, r, "/projects/"+url.PathEscape(project)+"/flaky", http.StatusSeeOther)
}
