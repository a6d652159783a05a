package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"github.com/batonci/baton/internal/auth"
)

// Sessions signs browsers in and out; the API implements it.
type Sessions interface {
	// SignIn checks a login and password and returns the session cookie
	// to set; it fails with auth.ErrBadCredentials or *auth.RetryError.
	SignIn(r *http.Request, login, password string) (*http.Cookie, error)
	// SignOut ends the request's session and returns the cookie that
	// clears it.
	SignOut(r *http.Request) (*http.Cookie, error)
}

// loginPage is what the sign-in template shows.
type loginPage struct {
	// Notice explains why the form is shown (a page needs a sign-in).
	Notice string
	Error  string
	Login  string
	Next   string
}

// localPath returns next if it is a path on this site, else "/": the
// page never redirects elsewhere after signing in. Browsers drop tabs and
// newlines from URLs and read a backslash as a slash, so "/\t/evil" and
// "/\\evil" would leave the site as "//evil" does: any control character,
// space or backslash is refused.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	if strings.ContainsFunc(next, func(r rune) bool {
		return r <= ' ' || r == 0x7f || r == '\\' || unicode.IsControl(r) || unicode.IsSpace(r)
	}) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return next
}

func (w *Web) renderLogin(rw http.ResponseWriter, r *http.Request, code int, page loginPage) {
	w.render(rw, r, code, "login.html", page)
}

// loginForm shows the sign-in page.
func (w *Web) loginForm(rw http.ResponseWriter, r *http.Request) {
	w.renderLogin(rw, r, http.StatusOK, loginPage{Next: localPath(r.URL.Query().Get("next"))})
}

// login signs in with the form's login and password; on success it sets
// the session cookie and redirects to the form's next page.
func (w *Web) login(rw http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(rw, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		w.renderLogin(rw, r, http.StatusBadRequest, loginPage{Error: "The form could not be read.", Next: "/"})
		return
	}
	page := loginPage{Login: r.PostForm.Get("login"), Next: localPath(r.PostForm.Get("next"))}
	password := r.PostForm.Get("password")
	if page.Login == "" || password == "" {
		page.Error = "Enter your login and password."
		w.renderLogin(rw, r, http.StatusBadRequest, page)
		return
	}
	if w.cfg.Sessions == nil {
		http.Error(rw, "sign-in is not available", http.StatusNotFound)
		return
	}
	cookie, err := w.cfg.Sessions.SignIn(r, page.Login, password)
	var retry *auth.RetryError
	switch {
	case err == nil:
		http.SetCookie(rw, cookie)
		http.Redirect(rw, r, page.Next, http.StatusSeeOther)
	case errors.As(err, &retry):
		rw.Header().Set("Retry-After", strconv.Itoa(retry.Seconds()))
		page.Error = "Too many failed sign-ins. Try again in " + strconv.Itoa(retry.Seconds()) + " seconds."
		w.renderLogin(rw, r, http.StatusTooManyRequests, page)
	case errors.Is(err, auth.ErrBadCredentials):
		page.Error = "Wrong login or password."
		w.renderLogin(rw, r, http.StatusUnauthorized, page)
	default:
		page.Error = "Signing in failed; try again later."
		w.renderLogin(rw, r, http.StatusInternalServerError, page)
	}
}

// logout ends the session and goes back to the landing page.
func (w *Web) logout(rw http.ResponseWriter, r *http.Request) {
	if w.cfg.Sessions != nil {
		cookie, err := w.cfg.Sessions.SignOut(r)
		if err != nil {
			http.Error(rw, "signing out failed; try again", http.StatusInternalServerError)
			return
		}
		http.SetCookie(rw, cookie)
	}
	http.Redirect(rw, r, "/", http.StatusSeeOther)
}
