// Package web serves Baton's web pages: server-rendered html/template from
// an embedded file system, with a little vanilla JavaScript and one
// stylesheet under /static/.
//
// The pages read and write only through the REST API, in-process (apiGet,
// apiDo): a page is the same API data the CLI sees, authorised by the same
// table, so there is no second source of truth. A 404 from the API is the
// page's 404 (private projects do not leak), a 401 shows the sign-in form.
//
// Templates: templates/layout.html defines "layout" (the document, header,
// navigation and <main id="main">); every other template file is a page
// that defines "title" and "content" (and may define "head"). Each page is
// parsed with the layout into its own set, so pages may reuse block names.
// Handlers call render with the page's file name and its data, which the
// templates see as Page.Data.
//
// Forms work without JavaScript: each carries the session's CSRF token in
// a hidden "csrf" field (checkForm), and the handler forwards the action to
// the API with the X-CSRF-Token header.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/batonci/baton/internal/api"
)

//go:embed templates/*.html
var templates embed.FS

//go:embed static
var static embed.FS

// Config wires the pages to the API.
type Config struct {
	// API serves /api/v1; the pages call it in-process.
	API http.Handler
	// Sessions signs browsers in and out (POST /login, POST /logout).
	Sessions Sessions
	// Logger records what fails while serving a page; nil discards.
	Logger *slog.Logger
}

// Web serves the pages.
type Web struct {
	cfg Config
	// pages maps a page's file name ("project.html") to its template set
	// (the layout and the page), parsed when the page is first wanted: a
	// server that only agents talk to never holds them.
	pages map[string]func() *template.Template
	// version is a hash of the static files, the ?v= of their URLs.
	version string
	mux     *http.ServeMux
	// patterns are the routes registered on mux.
	patterns []string
}

// New returns the handler; each page's templates are parsed when it is
// first rendered (ParseAll parses them all, as tests do).
func New(cfg Config) *Web {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Web{cfg: cfg, pages: map[string]func() *template.Template{}, mux: http.NewServeMux()}
	w.version = staticVersion()
	funcs := w.funcs()
	names, err := fs.Glob(templates, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, name := range names {
		base := path.Base(name)
		if base == "layout.html" || base == "partials.html" {
			continue
		}
		w.pages[base] = sync.OnceValue(func() *template.Template {
			return template.Must(template.New(base).Funcs(funcs).ParseFS(templates, "templates/layout.html", "templates/partials.html", name))
		})
	}
	w.routes()
	return w
}

// page returns a page's template set, nil for no such page.
func (w *Web) page(name string) *template.Template {
	if parse := w.pages[name]; parse != nil {
		return parse()
	}
	return nil
}

// ParseAll parses every page's templates now (a broken one panics).
func (w *Web) ParseAll() {
	for _, parse := range w.pages {
		parse()
	}
}

func (w *Web) handle(pattern string, h http.HandlerFunc) {
	w.patterns = append(w.patterns, pattern)
	w.mux.HandleFunc(pattern, h)
}

// Patterns lists the routes of the pages, for the authorisation table's
// test.
func (w *Web) Patterns() []string { return slices.Clone(w.patterns) }

// ServeHTTP serves a page.
func (w *Web) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	h := rw.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	withMe(w.mux).ServeHTTP(rw, r)
}

// ContentSecurityPolicy is sent with every page: scripts and styles come
// only from the site's own files (no inline script, style attribute or
// event handler runs), nothing is framed or posted elsewhere. Log colours
// are classes, timing bars classes too, for that reason.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// staticVersion hashes every static file, so that their URLs change when
// they do and can be cached for long.
func staticVersion() string {
	h := sha256.New()
	fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", p, len(data))
		h.Write(data)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// staticURL is the URL of a static file, with the version query.
func (w *Web) staticURL(name string) string {
	return "/static/" + strings.TrimPrefix(name, "/") + "?v=" + w.version
}

// serveStatic serves the embedded assets: cached for a year when asked
// for by their current version (staticURL), else revalidated.
func (w *Web) serveStatic(rw http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	data, err := static.ReadFile("static/" + name)
	if err != nil || name == "" || strings.Contains(name, "..") {
		http.NotFound(rw, r)
		return
	}
	if r.URL.Query().Get("v") == w.version {
		rw.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		rw.Header().Set("Cache-Control", "no-cache")
	}
	rw.Header().Set("ETag", `"`+w.version+`"`)
	if ctype := contentType(path.Ext(name)); ctype != "" {
		rw.Header().Set("Content-Type", ctype)
	}
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	if match := r.Header.Get("If-None-Match"); match == `"`+w.version+`"` {
		rw.WriteHeader(http.StatusNotModified)
		return
	}
	out, done := api.Compress(rw, r)
	out.Write(data)
	done()
}

// contentType is the media type of a static file by its extension.
func contentType(ext string) string {
	switch ext {
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".txt":
		return "text/plain; charset=utf-8"
	}
	return ""
}
