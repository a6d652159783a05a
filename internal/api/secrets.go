package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/audit"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/secret"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/vault"
)

// Secrets are write-only: requests carry values in, responses carry only
// metadata (names, description, variable names, file paths, who changed
// them and when). Organisation secrets live under /api/v1/secrets,
// project secrets under /api/v1/projects/{project}/secrets; a project
// secret overrides an organisation secret of the same name in that
// project's jobs.

// secretScope returns the project of a project-secret route (nil for the
// organisation's routes).
func (a *API) secretScope(r *http.Request, c *caller) (*ci.Project, error) {
	if a.cfg.Secrets == nil {
		return nil, fmt.Errorf("%w: secrets are not enabled on this server", errNotFound)
	}
	name := r.PathValue("project")
	if name == "" {
		return nil, nil
	}
	return a.project(r, c, name)
}

func scopeOf(p *ci.Project) (id, label string) {
	if p == nil {
		return "", "organisation"
	}
	return p.ID, "project " + p.Name
}

func (a *API) view(ctx context.Context, m *vault.Meta, p *ci.Project) *apiv1.SecretView {
	v := &apiv1.SecretView{SecretMeta: secretMetaView(m), Scope: "organization"}
	if p != nil {
		v.Scope, v.Project = "project", p.Name
	}
	for _, id := range m.ProjectIDs {
		if q, err := a.cfg.Store.GetProject(ctx, id); err == nil {
			v.Projects = append(v.Projects, q.Name)
		}
	}
	slices.Sort(v.Projects)
	return v
}

// secretError turns vault and store errors into API errors.
func secretError(err error, name string, p *ci.Project) error {
	_, label := scopeOf(p)
	switch {
	case errors.Is(err, vault.ErrInvalid):
		return fmt.Errorf("%w: %s", errBadRequest, strings.TrimPrefix(err.Error(), vault.ErrInvalid.Error()+": "))
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("%w: the %s already has a secret named %q", errConflict, label, name)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: the %s has no secret named %q", errNotFound, label, name)
	}
	return err
}

// change turns a request into a vault change, decoding file contents and
// finding the projects of a project policy.
func (a *API) change(ctx context.Context, req *apiv1.SecretRequest) (vault.Change, error) {
	ch := vault.Change{Description: req.Description, AllowForks: req.AllowForks, RemoveEnv: req.RemoveEnv, RemoveFiles: req.RemoveFiles,
		ProjectAccess: req.ProjectAccess}
	for _, name := range req.Projects {
		p, err := a.cfg.Store.GetProject(ctx, name)
		if err != nil {
			return ch, fmt.Errorf("%w: projects: there is no project %q", errBadRequest, name)
		}
		ch.ProjectIDs = append(ch.ProjectIDs, p.ID)
	}
	var err error
	ch.Env, ch.Files, err = secretValues(req.EnvVars, req.Files)
	return ch, err
}

// secretValues turns a request's variables and files (contents in
// base64) into the vault's, for secrets and deployment targets alike.
func secretValues(envVars []apiv1.SecretEnvVar, files []apiv1.SecretFile) ([]vault.EnvVar, []vault.File, error) {
	var env []vault.EnvVar
	for _, e := range envVars {
		env = append(env, vault.EnvVar{Name: e.Name, Value: secret.NewValue(e.Value)})
	}
	var out []vault.File
	for _, f := range files {
		b, err := base64.StdEncoding.DecodeString(f.Content)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: the content of file %s is not base64", errBadRequest, f.Path)
		}
		out = append(out, vault.File{Path: f.Path, Content: secret.NewValue(string(b))})
	}
	return env, out, nil
}

// auditSecret records a secret's change in the audit log, in the change's
// transaction; the detail lists names, never values.
func (a *API) auditSecret(r *http.Request, action audit.Action, what string) vault.Hook {
	return func(tx *store.Tx, m *vault.Meta) error {
		detail := fmt.Sprintf("%s; env=%s; files=%s; allow_forks=%t", what, strings.Join(m.EnvVars, ","), strings.Join(m.Files, ","), m.AllowForks)
		if m.ProjectID == "" {
			detail += fmt.Sprintf("; project_access=%s", m.ProjectAccess)
			if len(m.ProjectIDs) > 0 {
				detail += "; project_ids=" + strings.Join(m.ProjectIDs, ",")
			}
		}
		return audit.Record(r.Context(), tx, audit.Event{Action: action, Target: m.Name, ProjectID: m.ProjectID, Detail: detail, At: a.cfg.Now()})
	}
}

func (a *API) listSecrets(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.secretScope(r, c)
	if err != nil {
		return err
	}
	id, _ := scopeOf(p)
	ms, err := a.cfg.Secrets.List(r.Context(), id)
	if err != nil {
		return err
	}
	out := []*apiv1.SecretView{}
	for _, m := range ms {
		out = append(out, a.view(r.Context(), m, p))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) getSecret(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.secretScope(r, c)
	if err != nil {
		return err
	}
	id, _ := scopeOf(p)
	name := r.PathValue("name")
	m, err := a.cfg.Secrets.Get(r.Context(), id, name)
	if err != nil {
		return secretError(err, name, p)
	}
	return writeJSON(w, http.StatusOK, a.view(r.Context(), m, p))
}

func (a *API) createSecret(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.secretScope(r, c)
	if err != nil {
		return err
	}
	var req apiv1.SecretRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	ch, err := a.change(r.Context(), &req)
	if err != nil {
		return err
	}
	id, _ := scopeOf(p)
	m, err := a.cfg.Secrets.Create(r.Context(), id, req.Name, ch, c.user.Login, a.auditSecret(r, audit.SecretChanged, "created"))
	if err != nil {
		return secretError(err, req.Name, p)
	}
	v := a.view(r.Context(), m, p)
	v.Warnings = vault.ShortValues(ch)
	return writeJSON(w, http.StatusCreated, v)
}

func (a *API) updateSecret(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.secretScope(r, c)
	if err != nil {
		return err
	}
	var req apiv1.SecretRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	name := r.PathValue("name")
	if req.Name != "" && req.Name != name {
		return fmt.Errorf("%w: secrets cannot be renamed; create a new one and delete this one", errBadRequest)
	}
	ch, err := a.change(r.Context(), &req)
	if err != nil {
		return err
	}
	id, _ := scopeOf(p)
	m, err := a.cfg.Secrets.Update(r.Context(), id, name, ch, c.user.Login, a.auditSecret(r, audit.SecretChanged, "updated"))
	if err != nil {
		return secretError(err, name, p)
	}
	v := a.view(r.Context(), m, p)
	v.Warnings = vault.ShortValues(ch)
	return writeJSON(w, http.StatusOK, v)
}

func (a *API) deleteSecret(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.secretScope(r, c)
	if err != nil {
		return err
	}
	id, _ := scopeOf(p)
	name := r.PathValue("name")
	if err := a.cfg.Secrets.Delete(r.Context(), id, name, a.auditSecret(r, audit.SecretDeleted, "deleted")); err != nil {
		return secretError(err, name, p)
	}
	return writeJSON(w, http.StatusOK, apiv1.MessageView{Message: "deleted"})
}
