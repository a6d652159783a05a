package web

import (
	"net/http"
	"net/url"

	"github.com/batonci/baton/internal/apiv1"
)

// The Library pages (signed-in users): the organisation's script
// libraries, each one's files at the branch head and the pipelines that
// used them in the last 30 days, and a file's content and history. They
// read the API, which says who may.

type librariesPage struct {
	Libraries []apiv1.Library
}

type libraryPage struct {
	Library apiv1.LibraryDetail
}

type libraryFilePage struct {
	File apiv1.LibraryFileView
}

func (w *Web) libraries(rw http.ResponseWriter, r *http.Request) {
	var page librariesPage
	if _, err := w.apiGet(r, "/api/v1/libraries", &page.Libraries); err != nil {
		w.fail(rw, r, err)
		return
	}
	w.render(rw, r, http.StatusOK, "libraries.html", page)
}

func (w *Web) library(rw http.ResponseWriter, r *http.Request) {
	var page libraryPage
	if _, err := w.apiGet(r, "/api/v1/libraries/"+url.PathEscape(r.PathValue("name")), &page.Library); err != nil {
		w.fail(rw, r, err)
		return
	}
	w.render(rw, r, http.StatusOK, "library.html", page)
}

func (w *Web) libraryFile(rw http.ResponseWriter, r *http.Request) {
	var page libraryFilePage
	path := "/api/v1/libraries/" + url.PathEscape(r.PathValue("name")) + "/files/" + (&url.URL{Path: r.PathValue("path")}).EscapedPath()
	if _, err := w.apiGet(r, path, &page.File); err != nil {
		w.fail(rw, r, err)
		return
	}
	w.render(rw, r, http.StatusOK, "library_file.html", page)
}
