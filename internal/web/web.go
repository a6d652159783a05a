// Package web serves Baton's web pages: server-rendered html/template from
// an embedded file system. For now a landing page listing the projects a
// visitor may see and the sign-in page (POST /login starts a session,
// POST /logout ends it); the full UI builds on the same API data.
package web

import (
	"embed"
	"html/template"
	"net/http"
	"slices"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/store"
)

//go:embed templates/*.html
var templates embed.FS

// Config wires the pages to the store.
type Config struct {
	Store *store.DB
	// Sessions signs browsers in and out (POST /login, POST /logout).
	Sessions Sessions
}

// Web serves the pages.
type Web struct {
	cfg  Config
	tmpl *template.Template
	mux  *http.ServeMux
	// patterns are the routes registered on mux.
	patterns []string
}

// New parses the templates and returns the handler.
func New(cfg Config) *Web {
	w := &Web{cfg: cfg, tmpl: template.Must(template.ParseFS(templates, "templates/*.html")), mux: http.NewServeMux()}
	w.handle("GET /{$}", w.home)
	w.handle("GET /login", w.loginForm)
	w.handle("POST /login", w.login)
	w.handle("POST /logout", w.logout)
	return w
}

func (w *Web) handle(pattern string, h http.HandlerFunc) {
	w.patterns = append(w.patterns, pattern)
	w.mux.HandleFunc(pattern, h)
}

// Patterns lists the routes of the pages, for the authorisation table's
// test.
func (w *Web) Patterns() []string { return slices.Clone(w.patterns) }

// ServeHTTP serves a page.
func (w *Web) ServeHTTP(rw http.ResponseWriter, r *http.Request) { w.mux.ServeHTTP(rw, r) }

// home lists the public projects (the landing page is anonymous).
func (w *Web) home(rw http.ResponseWriter, r *http.Request) {
	all, err := w.cfg.Store.ListProjects(r.Context())
	if err != nil {
		http.Error(rw, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	var public []*ci.Project
	for _, p := range all {
		if p.Public {
			public = append(public, p)
		}
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.tmpl.ExecuteTemplate(rw, "home.html", map[string]any{"Projects": public})
}
