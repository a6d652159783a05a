package web

import (
	"net/http"
	"net/url"
	"strings"
)

// The deployment target forms of the Deployments page, for project
// admins: what `baton target create|update|delete` do. A target's rules
// (who may deploy, from which branches and tags, pull requests) and its
// secret's variables and files are set in one form; the values are
// write-only like a secret's, and the page shows only their names.

// targetsAPI is the API collection of the request's project's targets.
func targetsAPI(r *http.Request) string {
	return "/api/v1/projects/" + url.PathEscape(r.PathValue("project")) + "/targets"
}

// deploymentsPath is the Deployments page of the request's project.
func deploymentsPath(r *http.Request) string {
	return "/projects/" + url.PathEscape(r.PathValue("project")) + "/deployments"
}

// lines splits a textarea into its non-empty trimmed lines.
func lines(s string) []string {
	out := []string{}
	for _, l := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// logins splits a list of logins separated by commas, spaces or lines.
func logins(s string) []string {
	out := []string{}
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }) {
		out = append(out, l)
	}
	return out
}

// targetBody turns the target form into an API request body. The rules
// are always sent, so that emptying a field clears the rule; the secret's
// variables and file are added or replaced as on the secrets page.
func targetBody(f url.Values) (map[string]any, string) {
	body, msg := secretBody(f)
	if msg != "" {
		return nil, msg
	}
	delete(body, "allow_forks")
	body["description"] = strings.TrimSpace(f.Get("description"))
	body["users"] = logins(f.Get("users"))
	roles := []string{}
	for _, r := range f["roles"] {
		if r = strings.TrimSpace(r); r != "" {
			roles = append(roles, r)
		}
	}
	body["roles"] = roles
	body["branches"] = lines(f.Get("branches"))
	body["tags"] = lines(f.Get("tags"))
	body["allow_pull_requests"] = f.Get("allow_pull_requests") == "yes"
	return body, ""
}

// createTarget creates a deployment target.
func (w *Web) createTarget(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) || !w.requireAdmin(rw, r, r.PathValue("project")) {
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	body, msg := targetBody(r.PostForm)
	if msg == "" && name == "" {
		msg = "Name the deployment target."
	}
	if msg != "" {
		w.renderDeployments(rw, r, http.StatusBadRequest, deploymentsPage{Error: msg, NewName: name})
		return
	}
	body["name"] = name
	status, err := w.apiDo(r, http.MethodPost, targetsAPI(r), body, nil)
	if msg, ok := refused(status, err); ok {
		w.renderDeployments(rw, r, status, deploymentsPage{Error: msg, NewName: name})
		return
	}
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	seeOther(rw, r, deploymentsPath(r), "target-saved")
}

// updateTarget changes a deployment target's rules and secret.
func (w *Web) updateTarget(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) || !w.requireAdmin(rw, r, r.PathValue("project")) {
		return
	}
	name := r.PathValue("name")
	body, msg := targetBody(r.PostForm)
	if msg != "" {
		w.renderDeployments(rw, r, http.StatusBadRequest, deploymentsPage{Error: msg, ErrorTarget: name})
		return
	}
	status, err := w.apiDo(r, http.MethodPatch, targetsAPI(r)+"/"+url.PathEscape(name), body, nil)
	if msg, ok := refused(status, err); ok {
		w.renderDeployments(rw, r, status, deploymentsPage{Error: msg, ErrorTarget: name})
		return
	}
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	seeOther(rw, r, deploymentsPath(r), "target-saved")
}

// deleteTarget deletes a deployment target; its history stays.
func (w *Web) deleteTarget(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) || !w.requireAdmin(rw, r, r.PathValue("project")) {
		return
	}
	if _, err := w.apiDo(r, http.MethodDelete, targetsAPI(r)+"/"+url.PathEscape(r.PathValue("name")), nil, nil); err != nil {
		w.fail(rw, r, err)
		return
	}
	seeOther(rw, r, deploymentsPath(r), "target-deleted")
}
