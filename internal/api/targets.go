package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/batonci/baton/internal/audit"
	"github.com/batonci/baton/internal/auth"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/vault"
)

// Deployment targets (docs/semaphore.md §3.3) under /api/v1/projects/{project}/targets:
// project writers read them (without the names of their secret's
// variables and files, which admins see), project admins change them.
// The secret's values are write-only.

// TargetRequest creates (POST) or changes (PATCH) a deployment target. On
// PATCH every field is optional; a list given replaces the list.
type TargetRequest struct {
	Name        string    `json:"name"`
	Description *string   `json:"description"`
	Users       *[]string `json:"users"`
	Roles       *[]string `json:"roles"`
	Branches    *[]string `json:"branches"`
	Tags        *[]string `json:"tags"`
	AllowPRs    *bool     `json:"allow_pull_requests"`
	// EnvVars and Files add or replace the secret's variables and files
	// (contents in base64); RemoveEnv and RemoveFiles remove them.
	EnvVars     []SecretEnvVar `json:"env_vars"`
	Files       []SecretFile   `json:"files"`
	RemoveEnv   []string       `json:"remove_env"`
	RemoveFiles []string       `json:"remove_files"`
}

// DeploymentView is one entry of a target's history.
type DeploymentView struct {
	Promotion      string            `json:"promotion"`
	PipelineID     string            `json:"pipeline_id"`
	FromPipelineID string            `json:"from_pipeline_id"`
	WorkflowID     string            `json:"workflow_id"`
	WorkflowNumber int               `json:"workflow_number"`
	SHA            string            `json:"sha"`
	RefType        string            `json:"ref_type"`
	Branch         string            `json:"branch,omitempty"`
	Tag            string            `json:"tag,omitempty"`
	PR             string            `json:"pull_request,omitempty"`
	PromotedBy     string            `json:"promoted_by"`
	Trigger        string            `json:"trigger"`
	Parameters     map[string]string `json:"parameters,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`
	State          ci.State          `json:"state,omitempty"`
	Result         ci.Result         `json:"result,omitempty"`
	Refused        string            `json:"refused,omitempty"`
}

func (a *API) targetProject(r *http.Request, c *caller) (*ci.Project, error) {
	if a.cfg.Secrets == nil {
		return nil, fmt.Errorf("%w: deployment targets are not enabled on this server", errNotFound)
	}
	return a.project(r, c, r.PathValue("project"))
}

// targetError turns vault and store errors into API errors.
func targetError(err error, name string, p *ci.Project) error {
	switch {
	case errors.Is(err, vault.ErrInvalid):
		return fmt.Errorf("%w: %s", errBadRequest, strings.TrimPrefix(err.Error(), vault.ErrInvalid.Error()+": "))
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("%w: project %s already has a deployment target named %q", errConflict, p.Name, name)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: project %s has no deployment target named %q", errNotFound, p.Name, name)
	}
	return err
}

func (req *TargetRequest) change() (vault.TargetChange, error) {
	ch := vault.TargetChange{Description: req.Description, Users: req.Users, Roles: req.Roles, Branches: req.Branches,
		Tags: req.Tags, AllowPRs: req.AllowPRs, RemoveEnv: req.RemoveEnv, RemoveFiles: req.RemoveFiles}
	var err error
	ch.Env, ch.Files, err = secretValues(req.EnvVars, req.Files)
	return ch, err
}

// targetView hides the secret's names from non-admins.
func targetView(c *caller, p *ci.Project, m *vault.TargetMeta) *vault.TargetMeta {
	if !c.role(p).Allows(auth.Admin) {
		cp := *m
		cp.EnvVars, cp.Files = nil, nil
		return &cp
	}
	return m
}

func (a *API) auditTarget(r *http.Request, action audit.Action, what string) vault.TargetHook {
	return func(tx *store.Tx, m *vault.TargetMeta) error {
		detail := fmt.Sprintf("%s; users=%s; roles=%s; branches=%s; tags=%s; allow_prs=%t; env=%s; files=%s", what,
			strings.Join(m.Users, ","), strings.Join(m.Roles, ","), strings.Join(m.Branches, ","), strings.Join(m.Tags, ","),
			m.AllowPRs, strings.Join(m.EnvVars, ","), strings.Join(m.Files, ","))
		return audit.Record(r.Context(), tx, audit.Event{Action: action, Target: m.Name, ProjectID: m.ProjectID, Detail: detail, At: a.cfg.Now()})
	}
}

func (a *API) listTargets(w http.ResponseWriter, r *http.Request, c *caller) {
	p, err := a.targetProject(r, c)
	if err != nil {
		writeError(w, err)
		return
	}
	ms, err := a.cfg.Secrets.ListTargets(r.Context(), p.ID)
	if err != nil {
		writeError(w, err)
		return
	}
	out := []*vault.TargetMeta{}
	for _, m := range ms {
		out = append(out, targetView(c, p, m))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) getTarget(w http.ResponseWriter, r *http.Request, c *caller) {
	p, err := a.targetProject(r, c)
	if err != nil {
		writeError(w, err)
		return
	}
	name := r.PathValue("name")
	m, err := a.cfg.Secrets.GetTarget(r.Context(), p.ID, name)
	if err != nil {
		writeError(w, targetError(err, name, p))
		return
	}
	writeJSON(w, http.StatusOK, targetView(c, p, m))
}

func (a *API) createTarget(w http.ResponseWriter, r *http.Request, c *caller) {
	p, err := a.targetProject(r, c)
	if err != nil {
		writeError(w, err)
		return
	}
	var req TargetRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	ch, err := req.change()
	if err != nil {
		writeError(w, err)
		return
	}
	m, err := a.cfg.Secrets.CreateTarget(r.Context(), p.ID, req.Name, ch, c.user.Login, a.auditTarget(r, audit.TargetChanged, "created"))
	if err != nil {
		writeError(w, targetError(err, req.Name, p))
		return
	}
	writeJSON(w, http.StatusCreated, m)
}

func (a *API) updateTarget(w http.ResponseWriter, r *http.Request, c *caller) {
	p, err := a.targetProject(r, c)
	if err != nil {
		writeError(w, err)
		return
	}
	var req TargetRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	name := r.PathValue("name")
	if req.Name != "" && req.Name != name {
		writeError(w, fmt.Errorf("%w: deployment targets cannot be renamed", errBadRequest))
		return
	}
	ch, err := req.change()
	if err != nil {
		writeError(w, err)
		return
	}
	m, err := a.cfg.Secrets.UpdateTarget(r.Context(), p.ID, name, ch, c.user.Login, a.auditTarget(r, audit.TargetChanged, "updated"))
	if err != nil {
		writeError(w, targetError(err, name, p))
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (a *API) deleteTarget(w http.ResponseWriter, r *http.Request, c *caller) {
	p, err := a.targetProject(r, c)
	if err != nil {
		writeError(w, err)
		return
	}
	name := r.PathValue("name")
	if err := a.cfg.Secrets.DeleteTarget(r.Context(), p.ID, name, a.auditTarget(r, audit.TargetDeleted, "deleted")); err != nil {
		writeError(w, targetError(err, name, p))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "deleted"})
}

func (a *API) targetHistory(w http.ResponseWriter, r *http.Request, c *caller) {
	p, err := a.targetProject(r, c)
	if err != nil {
		writeError(w, err)
		return
	}
	name := r.PathValue("name")
	limit := 0
	if s := r.URL.Query().Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 1000 {
			writeError(w, fmt.Errorf("%w: limit must be a number from 1 to 1000", errBadRequest))
			return
		}
	}
	if _, err := a.cfg.Store.GetTarget(r.Context(), p.ID, name); err != nil {
		// A deleted target's history is still readable if it has one.
		if !errors.Is(err, store.ErrNotFound) {
			writeError(w, err)
			return
		}
	}
	runs, err := a.cfg.Store.TargetHistory(r.Context(), p.ID, name, limit)
	if err != nil {
		writeError(w, err)
		return
	}
	if len(runs) == 0 {
		if _, err := a.cfg.Store.GetTarget(r.Context(), p.ID, name); err != nil {
			writeError(w, targetError(err, name, p))
			return
		}
	}
	out := []*DeploymentView{}
	wfs := map[string]*ci.Workflow{}
	for _, run := range runs {
		v := &DeploymentView{Promotion: run.Name, PipelineID: run.PromotedPipeline, FromPipelineID: run.PipelineID,
			PromotedBy: run.TriggeredBy, Trigger: "manual", Parameters: run.Parameters, CreatedAt: run.CreatedAt, Refused: run.Refused}
		if run.Auto {
			v.Trigger, v.PromotedBy = "auto", engine.AutoPromoter
		}
		if from, err := a.cfg.Store.GetPipeline(r.Context(), run.PipelineID); err == nil {
			wf, ok := wfs[from.WorkflowID]
			if !ok {
				if wf, err = a.cfg.Store.GetWorkflow(r.Context(), from.WorkflowID); err != nil {
					wf = nil
				}
				wfs[from.WorkflowID] = wf
			}
			if wf != nil {
				v.WorkflowID, v.WorkflowNumber, v.SHA, v.RefType = wf.ID, wf.Number, wf.SHA, wf.RefType
				v.Branch, v.Tag, v.PR = wf.Branch, wf.Tag, wf.PR
			}
		}
		if run.PromotedPipeline != "" {
			if pl, err := a.cfg.Store.GetPipeline(r.Context(), run.PromotedPipeline); err == nil {
				v.State, v.Result = pl.State, pl.Result
			}
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
}
