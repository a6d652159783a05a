package web

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"

	"github.com/batonci/baton/internal/api"
	"github.com/batonci/baton/internal/apiv1"
)

// Page is what every page template is executed with: the layout reads Me,
// CSRF and Path; the page's own templates read Data (the handler's data).
type Page struct {
	// Title is the page's title when the handler sets one; templates
	// usually define "title" from Data instead.
	Title string
	// Me is the signed-in user, nil for an anonymous visitor.
	Me *apiv1.MeView
	// CSRF is the session's CSRF token, for the hidden "csrf" field of
	// every form ({{template "csrf" .}}); "" when not signed in by cookie.
	CSRF string
	// Path is the request's path and query, for "sign in" links.
	Path string
	// Data is the page's own data.
	Data any
}

// render executes the page template (a file name under templates/, e.g.
// "job.html") with data wrapped in a Page, and writes it with status code.
// The page is rendered into a buffer first, so a template error is a clean
// 500, never half a page.
func (w *Web) render(rw http.ResponseWriter, r *http.Request, code int, page string, data any) {
	t := w.page(page)
	if t == nil {
		w.cfg.Logger.Error("web: no such page template", "page", page)
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	me, err := w.me(r)
	if err != nil {
		w.cfg.Logger.Error("web: who is calling", "err", err)
	}
	p := Page{Me: me, Path: r.URL.RequestURI(), Data: data}
	if me != nil {
		p.CSRF = me.CSRFToken
	}
	if t, ok := data.(interface{ PageTitle() string }); ok {
		p.Title = t.PageTitle()
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		w.cfg.Logger.Error("web: render", "page", page, "err", err)
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	h := rw.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	out, done := api.Compress(rw, r)
	rw.WriteHeader(code)
	out.Write(buf.Bytes())
	done()
}

// errorPage is the data of error.html.
type errorPage struct {
	Status  int
	Heading string
	Message string
}

// fail answers a page whose API call failed: 404 for what the caller may
// not see (or does not exist), 401 with the sign-in form, 403 with the
// API's reason, and 500 otherwise.
func (w *Web) fail(rw http.ResponseWriter, r *http.Request, err error) {
	var ae *apiv1.Error
	if !errors.As(err, &ae) {
		w.cfg.Logger.Error("web", "path", r.URL.Path, "err", err)
		w.render(rw, r, http.StatusInternalServerError, "error.html", errorPage{Status: 500, Heading: "Something went wrong", Message: "The page could not be shown; try again later."})
		return
	}
	switch ae.Status {
	case http.StatusUnauthorized:
		// The page itself answers 401 (not a redirect), with the
		// sign-in form that comes back here.
		w.renderLogin(rw, r, http.StatusUnauthorized, loginPage{Next: localPath(r.URL.RequestURI()), Notice: "Sign in to see this page."})
	case http.StatusNotFound:
		w.notFound(rw, r)
	case http.StatusForbidden:
		w.render(rw, r, http.StatusForbidden, "error.html", errorPage{Status: 403, Heading: "Not allowed", Message: ae.Message})
	case http.StatusBadRequest, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusTooManyRequests:
		w.render(rw, r, ae.Status, "error.html", errorPage{Status: ae.Status, Heading: "That did not work", Message: ae.Message})
	default:
		w.render(rw, r, http.StatusBadGateway, "error.html", errorPage{Status: ae.Status, Heading: "Something went wrong", Message: "The page could not be shown; try again later."})
	}
}

// notFound is the page's 404.
func (w *Web) notFound(rw http.ResponseWriter, r *http.Request) {
	w.render(rw, r, http.StatusNotFound, "error.html", errorPage{Status: 404, Heading: "Not found", Message: "There is nothing here, or you may not see it."})
}

// checkForm parses a posted form and, when the request is signed in by the
// session cookie, checks its "csrf" field against the session's token: a
// form posted from elsewhere is refused with 403. It answers the request
// and returns false when the form is refused.
func (w *Web) checkForm(rw http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(rw, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		w.render(rw, r, http.StatusBadRequest, "error.html", errorPage{Status: 400, Heading: "That did not work", Message: "The form could not be read."})
		return false
	}
	if !hasSession(r) {
		// No ambient credentials: the API authenticates the
		// Authorization header, or refuses an anonymous caller.
		return true
	}
	me, err := w.me(r)
	if err != nil {
		w.fail(rw, r, err)
		return false
	}
	if me == nil {
		w.fail(rw, r, &apiv1.Error{Status: http.StatusUnauthorized})
		return false
	}
	got := r.PostForm.Get("csrf")
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(me.CSRFToken)) != 1 {
		w.render(rw, r, http.StatusForbidden, "error.html", errorPage{Status: 403, Heading: "Form expired", Message: "The form was not sent from this page; reload it and try again."})
		return false
	}
	return true
}

// seeOther redirects to a local path after a form post, with an optional
// flash message in the query ("?done=...").
func seeOther(rw http.ResponseWriter, r *http.Request, path, done string) {
	if done != "" {
		u, err := url.Parse(path)
		if err == nil {
			q := u.Query()
			q.Set("done", done)
			u.RawQuery = q.Encode()
			path = u.String()
		}
	}
	http.Redirect(rw, r, localPath(path), http.StatusSeeOther)
}

// renderFragment executes one named template of a page (no layout), for
// scripts that refresh part of a page.
func (w *Web) renderFragment(rw http.ResponseWriter, r *http.Request, page, name string, data any) {
	t := w.page(page)
	me, _ := w.me(r)
	p := Page{Me: me, Path: r.URL.RequestURI(), Data: data}
	if me != nil {
		p.CSRF = me.CSRFToken
	}
	var buf bytes.Buffer
	if t == nil || t.ExecuteTemplate(&buf, name, p) != nil {
		http.Error(rw, "internal error", http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.Header().Set("Cache-Control", "no-store")
	rw.Write(buf.Bytes())
}

// flash is the message of a done code that a form's redirect carries
// ("?done=stop"): fixed texts, so that a link cannot make the page say
// anything else.
func flash(code string) string {
	switch code {
	case "created":
		return "Project created."
	case "stop":
		return "Stopping."
	case "rebuild":
		return "Rebuilding: this is the new workflow."
	case "rerun-failed":
		return "Rerunning the failed jobs."
	case "promoted":
		return "Promotion started."
	case "token-revoked":
		return "Token revoked."
	case "key-added":
		return "Key added."
	case "key-removed":
		return "Key removed."
	case "settings-saved":
		return "Settings saved."
	case "member-saved":
		return "Role saved."
	case "member-removed":
		return "Member removed."
	case "project-deleted":
		return "Project deleted."
	case "secret-saved":
		return "Secret saved."
	case "secret-removed":
		return "Secret removed."
	case "target-saved":
		return "Deployment target saved."
	case "target-deleted":
		return "Deployment target deleted."
	case "user-saved":
		return "User saved."
	case "user-removed":
		return "User removed."
	case "agent-token-revoked":
		return "Agent token revoked."
	case "notification-tested":
		return "Test message queued: its outcome shows in the deliveries below."
	case "notification-deleted":
		return "Notification deleted."
	}
	return ""
}
