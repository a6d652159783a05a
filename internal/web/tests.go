package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
)

// testsPage is the data of tests.html: what GET /api/v1/workflows/{id}/tests
// answers of a workflow's test reports, failures first. It shows what a
// reader acts on, not every test: a report of 20,000 tests makes a page of
// a few hundred KiB, read without reading the report.
type testsPage struct {
	apiv1.WorkflowTests
}

// PageTitle is the page's title.
func (p testsPage) PageTitle() string {
	return "Tests of " + p.Project + " #" + strconv.Itoa(p.Number)
}

// tests shows the test reports the workflow's jobs published.
func (w *Web) tests(rw http.ResponseWriter, r *http.Request) {
	var page testsPage
	path := "/api/v1/workflows/" + url.PathEscape(r.PathValue("id")) + "/tests"
	if q := strings.TrimSpace(r.URL.Query().Get("q")); q != "" {
		path += "?q=" + url.QueryEscape(q)
	}
	if _, err := w.apiGet(r, path, &page.WorkflowTests); err != nil {
		w.fail(rw, r, err)
		return
	}
	w.render(rw, r, http.StatusOK, "tests.html", page)
}

// historyStrip is a test's history as the page draws it: oldest first.
func historyStrip(runs []apiv1.TestRun) []apiv1.TestRun {
	out := slices.Clone(runs)
	slices.Reverse(out)
	return out
}
