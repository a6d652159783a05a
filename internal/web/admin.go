package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/ci"
)

// The organisation admins' pages: users (/settings/users) and agent
// tokens (/settings/agent-tokens), what `baton user` and `baton agent
// token` do. The API refuses everyone else (org-admin), and the pages
// answer its refusal.

// usersPage is the data of users.html.
type usersPage struct {
	Users []*ci.User
	// New is a user just created with the password generated for them,
	// shown once.
	New   *apiv1.UserCreated
	Error string
	Login string
	Done  string
	// Me is the caller's login: they may not remove themselves.
	Me string
}

// PageTitle names the page.
func (usersPage) PageTitle() string { return "Users" }

func (w *Web) renderUsers(rw http.ResponseWriter, r *http.Request, code int, page usersPage) {
	if _, err := w.apiGet(r, "/api/v1/users", &page.Users); err != nil {
		w.fail(rw, r, err)
		return
	}
	if me, _ := w.me(r); me != nil && me.User != nil {
		page.Me = me.User.Login
	}
	w.render(rw, r, code, "users.html", page)
}

// users lists the organisation's users, with forms to add, change and
// remove them.
func (w *Web) users(rw http.ResponseWriter, r *http.Request) {
	w.renderUsers(rw, r, http.StatusOK, usersPage{Done: r.URL.Query().Get("done")})
}

// addUser creates a user. A password left empty is generated and shown
// once, in the answer itself (no redirect), so it is in no URL.
func (w *Web) addUser(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) {
		return
	}
	f := r.PostForm
	req := apiv1.UserRequest{Login: strings.TrimSpace(f.Get("login")), Password: f.Get("password"),
		Admin: f.Get("admin") == "yes", CanCreateProjects: f.Get("can_create_projects") == "yes"}
	var out apiv1.UserCreated
	status, err := w.apiDo(r, http.MethodPost, "/api/v1/users", req, &out)
	if msg, ok := refused(status, err); ok {
		w.renderUsers(rw, r, status, usersPage{Error: msg, Login: req.Login})
		return
	}
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	w.renderUsers(rw, r, http.StatusCreated, usersPage{New: &out})
}

// updateUser sets whether a user may create projects.
func (w *Web) updateUser(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) {
		return
	}
	req := apiv1.UserUpdate{}
	if v := r.PostForm.Get("can_create_projects"); v == "yes" || v == "no" {
		b := v == "yes"
		req.CanCreateProjects = &b
	}
	status, err := w.apiDo(r, http.MethodPatch, "/api/v1/users/"+url.PathEscape(r.PathValue("login")), req, nil)
	if msg, ok := refused(status, err); ok {
		w.renderUsers(rw, r, status, usersPage{Error: msg})
		return
	}
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	seeOther(rw, r, "/settings/users", "user-saved")
}

// removeUser removes a user once their login is typed again.
func (w *Web) removeUser(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) {
		return
	}
	login := r.PathValue("login")
	if strings.TrimSpace(r.PostForm.Get("confirm")) != login {
		// Ask the API who may see the list first, so that a refusal is
		// the API's (401, 403) rather than this form's.
		if _, err := w.apiGet(r, "/api/v1/users", nil); err != nil {
			w.fail(rw, r, err)
			return
		}
		w.renderUsers(rw, r, http.StatusBadRequest, usersPage{Error: "Type " + login + " again to remove the user."})
		return
	}
	status, err := w.apiDo(r, http.MethodDelete, "/api/v1/users/"+url.PathEscape(login), nil, nil)
	if msg, ok := refused(status, err); ok {
		w.renderUsers(rw, r, status, usersPage{Error: msg})
		return
	}
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	seeOther(rw, r, "/settings/users", "user-removed")
}

// agentTokensPage is the data of agent_tokens.html.
type agentTokensPage struct {
	Tokens []apiv1.AgentTokenView
	// New is the token just created, shown once.
	New   map[string]string
	Error string
	Done  string
}

// PageTitle names the page.
func (agentTokensPage) PageTitle() string { return "Agent tokens" }

func (w *Web) renderAgentTokens(rw http.ResponseWriter, r *http.Request, code int, page agentTokensPage) {
	if _, err := w.apiGet(r, "/api/v1/agent-tokens", &page.Tokens); err != nil {
		w.fail(rw, r, err)
		return
	}
	w.render(rw, r, code, "agent_tokens.html", page)
}

// agentTokens lists the tokens agents register with.
func (w *Web) agentTokens(rw http.ResponseWriter, r *http.Request) {
	w.renderAgentTokens(rw, r, http.StatusOK, agentTokensPage{Done: r.URL.Query().Get("done")})
}

// createAgentToken makes an agent token and shows it once, in the answer.
func (w *Web) createAgentToken(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) {
		return
	}
	req := apiv1.AgentTokenRequest{Name: strings.TrimSpace(r.PostForm.Get("name")), Type: strings.TrimSpace(r.PostForm.Get("type"))}
	var out map[string]string
	status, err := w.apiDo(r, http.MethodPost, "/api/v1/agent-tokens", req, &out)
	if msg, ok := refused(status, err); ok {
		w.renderAgentTokens(rw, r, status, agentTokensPage{Error: msg})
		return
	}
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	out["name"] = req.Name
	w.renderAgentTokens(rw, r, http.StatusCreated, agentTokensPage{New: out})
}

// revokeAgentToken revokes an agent token.
func (w *Web) revokeAgentToken(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) {
		return
	}
	if _, err := w.apiDo(r, http.MethodDelete, "/api/v1/agent-tokens/"+url.PathEscape(r.PathValue("id")), nil, nil); err != nil {
		w.fail(rw, r, err)
		return
	}
	seeOther(rw, r, "/settings/agent-tokens", "agent-token-revoked")
}
