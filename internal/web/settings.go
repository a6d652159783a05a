package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
)

// tokensPage is the data of tokens.html.
type tokensPage struct {
	Tokens []apiv1.TokenView
	// New is the token just created, shown once.
	New  *apiv1.TokenView
	Done string
}

// signedIn answers 401 with the sign-in form unless the caller is signed
// in.
func (w *Web) signedIn(rw http.ResponseWriter, r *http.Request) bool {
	me, err := w.me(r)
	if err != nil {
		w.fail(rw, r, err)
		return false
	}
	if me == nil {
		w.fail(rw, r, &apiv1.Error{Status: http.StatusUnauthorized})
		return false
	}
	return true
}

func (w *Web) renderTokens(rw http.ResponseWriter, r *http.Request, code int, page tokensPage) {
	if _, err := w.apiGet(r, "/api/v1/tokens", &page.Tokens); err != nil {
		w.fail(rw, r, err)
		return
	}
	w.render(rw, r, code, "tokens.html", page)
}

// tokens lists the caller's API tokens.
func (w *Web) tokens(rw http.ResponseWriter, r *http.Request) {
	w.renderTokens(rw, r, http.StatusOK, tokensPage{Done: r.URL.Query().Get("done")})
}

// createToken creates an API token and shows its secret once: the answer
// is the page itself (no redirect), so the secret is in no URL or history.
func (w *Web) createToken(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) {
		return
	}
	var tok apiv1.TokenView
	if _, err := w.apiDo(r, http.MethodPost, "/api/v1/tokens", apiv1.TokenRequest{Name: strings.TrimSpace(r.PostForm.Get("name"))}, &tok); err != nil {
		w.fail(rw, r, err)
		return
	}
	w.renderTokens(rw, r, http.StatusCreated, tokensPage{New: &tok})
}

// revokeToken revokes one of the caller's tokens.
func (w *Web) revokeToken(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) {
		return
	}
	if _, err := w.apiDo(r, http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(r.PathValue("id")), nil, nil); err != nil {
		w.fail(rw, r, err)
		return
	}
	seeOther(rw, r, "/settings/tokens", "token-revoked")
}

// keysPage is the data of keys.html.
type keysPage struct {
	// Unavailable is set when the server has no SSH keys API.
	Unavailable bool
	Keys        []apiv1.SSHKeyView
	Name, Key   string
	Error       string
	Done        string
}

func (w *Web) renderKeys(rw http.ResponseWriter, r *http.Request, code int, page keysPage) {
	status, err := w.apiGet(r, "/api/v1/keys", &page.Keys)
	switch {
	case status == http.StatusNotFound:
		page.Unavailable = true
	case err != nil:
		w.fail(rw, r, err)
		return
	}
	w.render(rw, r, code, "keys.html", page)
}

// keys lists the caller's SSH public keys (for debug sessions), with a
// form to add one.
func (w *Web) keys(rw http.ResponseWriter, r *http.Request) {
	if !w.signedIn(rw, r) {
		return
	}
	w.renderKeys(rw, r, http.StatusOK, keysPage{Done: r.URL.Query().Get("done")})
}

// addKey adds an SSH public key; a refusal shows the form again with the
// API's reason.
func (w *Web) addKey(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) || !w.signedIn(rw, r) {
		return
	}
	page := keysPage{Name: strings.TrimSpace(r.PostForm.Get("name")), Key: strings.TrimSpace(r.PostForm.Get("public_key"))}
	status, err := w.apiDo(r, http.MethodPost, "/api/v1/keys", map[string]string{"name": page.Name, "public_key": page.Key}, nil)
	switch {
	case err == nil:
		seeOther(rw, r, "/settings/keys", "key-added")
	case status == http.StatusBadRequest || status == http.StatusConflict:
		page.Error = err.(*apiv1.Error).Message
		w.renderKeys(rw, r, status, page)
	case status == http.StatusNotFound:
		w.renderKeys(rw, r, http.StatusNotFound, page)
	default:
		w.fail(rw, r, err)
	}
}

// removeKey removes one of the caller's SSH keys.
func (w *Web) removeKey(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) || !w.signedIn(rw, r) {
		return
	}
	if _, err := w.apiDo(r, http.MethodDelete, "/api/v1/keys/"+url.PathEscape(r.PathValue("id")), nil, nil); err != nil {
		w.fail(rw, r, err)
		return
	}
	seeOther(rw, r, "/settings/keys", "key-removed")
}
