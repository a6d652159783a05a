package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
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

// targetChange turns a request into the vault's change.
func targetChange(req *apiv1.TargetRequest) (vault.TargetChange, error) {
	ch := vault.TargetChange{Description: req.Description, Users: req.Users, Roles: req.Roles, Branches: req.Branches,
		Tags: req.Tags, AllowPRs: req.AllowPRs, RemoveEnv: req.RemoveEnv, RemoveFiles: req.RemoveFiles}
	var err error
	ch.Env, ch.Files, err = secretValues(req.EnvVars, req.Files)
	return ch, err
}

// targetView hides the secret's names from non-admins.
func targetView(c *caller, p *ci.Project, m *vault.TargetMeta) *apiv1.Target {
	v := targetMetaView(m)
	if !c.role(p).Allows(auth.Admin) {
		v.EnvVars, v.Files = nil, nil
	}
	return v
}

func (a *API) auditTarget(r *http.Request, action audit.Action, what string) vault.TargetHook {
	return func(tx *store.Tx, m *vault.TargetMeta) error {
		detail := fmt.Sprintf("%s; users=%s; roles=%s; branches=%s; tags=%s; allow_prs=%t; env=%s; files=%s", what,
			strings.Join(m.Users, ","), strings.Join(m.Roles, ","), strings.Join(m.Branches, ","), strings.Join(m.Tags, ","),
			m.AllowPRs, strings.Join(m.EnvVars, ","), strings.Join(m.Files, ","))
		return audit.Record(r.Context(), tx, audit.Event{Action: action, Target: m.Name, ProjectID: m.ProjectID, Detail: detail, At: a.cfg.Now()})
	}
}

func (a *API) listTargets(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.targetProject(r, c)
	if err != nil {
		return err
	}
	ms, err := a.cfg.Secrets.ListTargets(r.Context(), p.ID)
	if err != nil {
		return err
	}
	out := []*apiv1.Target{}
	for _, m := range ms {
		out = append(out, targetView(c, p, m))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) getTarget(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.targetProject(r, c)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	m, err := a.cfg.Secrets.GetTarget(r.Context(), p.ID, name)
	if err != nil {
		return targetError(err, name, p)
	}
	return writeJSON(w, http.StatusOK, targetView(c, p, m))
}

func (a *API) createTarget(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.targetProject(r, c)
	if err != nil {
		return err
	}
	var req apiv1.TargetRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	ch, err := targetChange(&req)
	if err != nil {
		return err
	}
	m, err := a.cfg.Secrets.CreateTarget(r.Context(), p.ID, req.Name, ch, c.user.Login, a.auditTarget(r, audit.TargetChanged, "created"))
	if err != nil {
		return targetError(err, req.Name, p)
	}
	return writeJSON(w, http.StatusCreated, targetMetaView(m))
}

func (a *API) updateTarget(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.targetProject(r, c)
	if err != nil {
		return err
	}
	var req apiv1.TargetRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	name := r.PathValue("name")
	if req.Name != "" && req.Name != name {
		return fmt.Errorf("%w: deployment targets cannot be renamed", errBadRequest)
	}
	ch, err := targetChange(&req)
	if err != nil {
		return err
	}
	m, err := a.cfg.Secrets.UpdateTarget(r.Context(), p.ID, name, ch, c.user.Login, a.auditTarget(r, audit.TargetChanged, "updated"))
	if err != nil {
		return targetError(err, name, p)
	}
	return writeJSON(w, http.StatusOK, targetMetaView(m))
}

func (a *API) deleteTarget(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.targetProject(r, c)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := a.cfg.Secrets.DeleteTarget(r.Context(), p.ID, name, a.auditTarget(r, audit.TargetDeleted, "deleted")); err != nil {
		return targetError(err, name, p)
	}
	return writeJSON(w, http.StatusOK, apiv1.MessageView{Message: "deleted"})
}

func (a *API) targetHistory(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.targetProject(r, c)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	limit := 0
	if s := r.URL.Query().Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 1000 {
			return fmt.Errorf("%w: limit must be a number from 1 to 1000", errBadRequest)
		}
	}
	if _, err := a.cfg.Store.GetTarget(r.Context(), p.ID, name); err != nil {
		// A deleted target's history is still readable if it has one.
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	runs, err := a.cfg.Store.TargetHistory(r.Context(), p.ID, name, limit)
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		if _, err := a.cfg.Store.GetTarget(r.Context(), p.ID, name); err != nil {
			return targetError(err, name, p)
		}
	}
	out := []*apiv1.DeploymentView{}
	wfs := map[string]*ci.Workflow{}
	for _, run := range runs {
		v := &apiv1.DeploymentView{Promotion: run.Name, PipelineID: run.PromotedPipeline, FromPipelineID: run.PipelineID,
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
				v.State, v.Result = apiv1.State(pl.State), apiv1.Result(pl.Result)
			}
		}
		out = append(out, v)
	}
	return writeJSON(w, http.StatusOK, out)
}
