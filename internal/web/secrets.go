package web

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/ci"
)

// The secrets pages: a project's (/projects/{project}/secrets: writers
// see the names, admins change them) and the organisation's
// (/settings/secrets, organisation admins). Values are write-only: the
// forms send them to the API, which never answers them, and the pages
// show only names, variable names and file paths.

// secretsPage is the data of secrets.html.
type secretsPage struct {
	// Project is nil on the organisation's page.
	Project *ci.Project
	Secrets []apiv1.SecretView
	// Admin is set when the caller may change the secrets.
	Admin bool
	Error string
	// Name is the form's secret name after a refusal (never its values).
	Name string
	Done string
	// Warnings are the API's warnings on the last save.
	Warnings []string
}

// PageTitle names the page.
func (p secretsPage) PageTitle() string {
	if p.Project != nil {
		return "Secrets · " + p.Project.Name
	}
	return "Organisation secrets"
}

// Base is the page's path.
func (p secretsPage) Base() string {
	if p.Project != nil {
		return "/projects/" + url.PathEscape(p.Project.Name) + "/secrets"
	}
	return "/settings/secrets"
}

// secretsAPI is the API collection of the request's secrets.
func secretsAPI(r *http.Request) string {
	if p := r.PathValue("project"); p != "" {
		return "/api/v1/projects/" + url.PathEscape(p) + "/secrets"
	}
	return "/api/v1/secrets"
}

func (w *Web) renderSecrets(rw http.ResponseWriter, r *http.Request, code int, page secretsPage) {
	if name := r.PathValue("project"); name != "" {
		page.Project = &ci.Project{}
		if _, err := w.apiGet(r, "/api/v1/projects/"+url.PathEscape(name), page.Project); err != nil {
			w.fail(rw, r, err)
			return
		}
		var acc apiv1.AccessView
		if _, err := w.apiGet(r, "/api/v1/projects/"+url.PathEscape(name)+"/access", &acc); err != nil {
			w.fail(rw, r, err)
			return
		}
		page.Admin = acc.Admin
	} else {
		page.Admin = true // the API lists them to organisation admins only
	}
	if _, err := w.apiGet(r, secretsAPI(r), &page.Secrets); err != nil {
		w.fail(rw, r, err)
		return
	}
	w.render(rw, r, code, "secrets.html", page)
}

// secrets lists the secrets of a project or of the organisation.
func (w *Web) secrets(rw http.ResponseWriter, r *http.Request) {
	w.renderSecrets(rw, r, http.StatusOK, secretsPage{Done: r.URL.Query().Get("done")})
}

// canChangeSecrets checks the caller may change the request's secrets:
// a project's admin, or an organisation admin for the organisation's.
func (w *Web) canChangeSecrets(rw http.ResponseWriter, r *http.Request) bool {
	if p := r.PathValue("project"); p != "" {
		return w.requireAdmin(rw, r, p)
	}
	me, err := w.me(r)
	switch {
	case err != nil:
		w.fail(rw, r, err)
		return false
	case me == nil:
		w.fail(rw, r, &apiv1.Error{Status: http.StatusUnauthorized})
		return false
	case me.User == nil || !me.User.Admin:
		w.fail(rw, r, &apiv1.Error{Status: http.StatusForbidden, Message: "Only organisation admins may change the organisation's secrets."})
		return false
	}
	return true
}

// saveSecret creates a secret or, when one of that name exists, replaces
// the variables and files the form gives (others are kept; the remove
// boxes remove them).
func (w *Web) saveSecret(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) || !w.canChangeSecrets(rw, r) {
		return
	}
	f := r.PostForm
	name := strings.TrimSpace(f.Get("name"))
	page := secretsPage{Name: name}
	body, msg := secretBody(f)
	if name == "" {
		msg = "Name the secret."
	}
	if msg == "" && projectOf(r) == nil {
		msg = projectPolicy(f, body)
	}
	if msg != "" {
		page.Error = msg
		w.renderSecrets(rw, r, http.StatusBadRequest, page)
		return
	}
	var existing []apiv1.SecretView
	if _, err := w.apiGet(r, secretsAPI(r), &existing); err != nil {
		w.fail(rw, r, err)
		return
	}
	exists := slices.ContainsFunc(existing, func(s apiv1.SecretView) bool { return s.SecretMeta != nil && s.Name == name })
	method, path := http.MethodPost, secretsAPI(r)
	if exists {
		method, path = http.MethodPut, path+"/"+url.PathEscape(name)
	} else {
		body["name"] = name
	}
	var saved apiv1.SecretView
	status, err := w.apiDo(r, method, path, body, &saved)
	if msg, ok := refused(status, err); ok {
		page.Error = msg
		w.renderSecrets(rw, r, status, page)
		return
	}
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	if len(saved.Warnings) > 0 {
		w.renderSecrets(rw, r, http.StatusOK, secretsPage{Done: "secret-saved", Warnings: saved.Warnings})
		return
	}
	seeOther(rw, r, secretsPage{Project: projectOf(r)}.Base(), "secret-saved")
}

// projectOf is a stand-in project named by the request's path, for paths.
func projectOf(r *http.Request) *ci.Project {
	if p := r.PathValue("project"); p != "" {
		return &ci.Project{Name: p}
	}
	return nil
}

// secretBody turns the secret form into an API request body: variables
// as NAME=VALUE lines, one file (path and text content, sent base64),
// the variables and files to remove, the description and allow_forks.
// Values go as plain strings (secret.Value would encode as [REDACTED]).
// It returns a message for a malformed form.
func secretBody(f url.Values) (map[string]any, string) {
	body := map[string]any{}
	var env []map[string]string
	for i, line := range strings.Split(strings.ReplaceAll(f.Get("env"), "\r\n", "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, "Variables: line " + strconv.Itoa(i+1) + " is not NAME=VALUE."
		}
		env = append(env, map[string]string{"name": k, "value": v})
	}
	if env != nil {
		body["env_vars"] = env
	}
	if p := strings.TrimSpace(f.Get("file_path")); p != "" {
		body["files"] = []map[string]string{{"path": p, "content": base64.StdEncoding.EncodeToString([]byte(f.Get("file_content")))}}
	} else if f.Get("file_content") != "" {
		return nil, "Give the file's path."
	}
	if rm := f["remove_env"]; len(rm) > 0 {
		body["remove_env"] = rm
	}
	if rm := f["remove_files"]; len(rm) > 0 {
		body["remove_files"] = rm
	}
	if d := strings.TrimSpace(f.Get("description")); d != "" {
		body["description"] = d
	}
	switch f.Get("allow_forks") {
	case "yes":
		body["allow_forks"] = true
	case "no":
		body["allow_forks"] = false
	}
	return body, ""
}

// projectPolicy adds an organisation secret's project policy to body, as
// `baton secret create --projects` sets it: all projects, none, or the
// projects named (separated by commas); an empty choice keeps it (new
// secrets: all). It returns a message for a malformed form.
func projectPolicy(f url.Values, body map[string]any) string {
	names := logins(f.Get("projects"))
	switch access := f.Get("project_access"); access {
	case "all", "none":
		if len(names) > 0 {
			return "Projects: leave the names empty, or choose “only the projects named”."
		}
		body["project_access"] = access
	case "allowed", "":
		if access == "allowed" && len(names) == 0 {
			return "Projects: name the projects that may use the secret, separated by commas."
		}
		if len(names) > 0 {
			body["project_access"], body["projects"] = "allowed", names
		}
	default:
		return "Projects: choose all, none or the projects named."
	}
	return ""
}

// removeSecret deletes a secret.
func (w *Web) removeSecret(rw http.ResponseWriter, r *http.Request) {
	if !w.checkForm(rw, r) || !w.canChangeSecrets(rw, r) {
		return
	}
	if _, err := w.apiDo(r, http.MethodDelete, secretsAPI(r)+"/"+url.PathEscape(r.PathValue("name")), nil, nil); err != nil {
		w.fail(rw, r, err)
		return
	}
	seeOther(rw, r, secretsPage{Project: projectOf(r)}.Base(), "secret-removed")
}
