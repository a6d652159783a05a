package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/batonci/baton/internal/auth"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/store"
)

// Promotions (docs/semaphore.md §3): a pipeline lists its promotions with their runs,
// and project writers promote, within the deployment target's rules.

// PromotionView is a promotion a pipeline declares, with its runs.
type PromotionView struct {
	Name         string `json:"name"`
	PipelineFile string `json:"pipeline_file"`
	// DeploymentTarget is shown only to callers with write access.
	DeploymentTarget string `json:"deployment_target"`
	// Auto is true when the promotion has an auto_promote condition.
	Auto       bool                 `json:"auto"`
	Parameters []PromotionParamView `json:"parameters"`
	Runs       []*PromotionRunView  `json:"runs"`
}

// PromotionParamView is a declared parameter.
type PromotionParamView struct {
	Name         string   `json:"name"`
	Description  string   `json:"description"`
	Required     bool     `json:"required"`
	DefaultValue string   `json:"default_value"`
	Options      []string `json:"options"`
}

// PromotionRunView is one run of a promotion.
type PromotionRunView struct {
	// PipelineID is the promoted pipeline; "" when the run was refused.
	PipelineID string `json:"pipeline_id"`
	// PromotedBy is a login, or "auto-promotion" (as the promoted
	// pipeline's promoted_by and SEMAPHORE_PIPELINE_PROMOTED_BY; Trigger
	// tells the two kinds apart).
	PromotedBy string `json:"promoted_by"`
	// Trigger is "auto" or "manual".
	Trigger    string            `json:"trigger"`
	CreatedAt  time.Time         `json:"created_at"`
	State      ci.State          `json:"state,omitempty"`
	Result     ci.Result         `json:"result,omitempty"`
	Parameters map[string]string `json:"parameters,omitempty"`
	// Refused says why the promotion did not run: the deployment
	// target's rules refused it (by hand or automatically).
	Refused string `json:"refused,omitempty"`
}

// PromoteRequest is the body of POST /api/v1/pipelines/{id}/promote.
type PromoteRequest struct {
	Name       string            `json:"name"`
	Parameters map[string]string `json:"parameters"`
	// Override promotes a pipeline that is still running or did not
	// pass (otherwise 409).
	Override bool `json:"override"`
}

// refusal is a promotion that a deployment target's rules forbid: 403
// with the reason as the message.
type refusal struct{ reason string }

func (r refusal) Error() string        { return r.reason }
func (r refusal) Is(target error) bool { return target == errForbidden }

// promoteError turns engine errors into API errors.
func promoteError(err error) error {
	var ref *engine.RefusedError
	switch {
	case errors.As(err, &ref):
		return refusal{ref.Reason}
	case errors.Is(err, engine.ErrNotPassed):
		return fmt.Errorf("%w: %s", errConflict, strings.TrimPrefix(err.Error(), engine.ErrNotPassed.Error()+": "))
	case errors.Is(err, engine.ErrBadPromotion):
		return fmt.Errorf("%w: %s", errBadRequest, strings.TrimPrefix(err.Error(), engine.ErrBadPromotion.Error()+": "))
	}
	return err
}

// runView is the view of a promotion run, with its pipeline's outcome.
func (a *API) runView(r *http.Request, run *store.PromotionRun, writer bool) *PromotionRunView {
	v := &PromotionRunView{PipelineID: run.PromotedPipeline, PromotedBy: run.TriggeredBy, Trigger: "manual",
		CreatedAt: run.CreatedAt, Parameters: run.Parameters, Refused: run.Refused}
	if run.Auto {
		v.Trigger, v.PromotedBy = "auto", engine.AutoPromoter
	}
	if run.PromotedPipeline != "" {
		if p, err := a.cfg.Store.GetPipeline(r.Context(), run.PromotedPipeline); err == nil {
			v.State, v.Result = p.State, p.Result
		}
	}
	if !writer {
		// Readers do not see deployment targets, nor so the reasons that
		// name them.
		if v.Refused != "" {
			v.Refused = "refused by the deployment target's rules"
		}
		v.Parameters = nil
	}
	return v
}

func (a *API) listPromotions(w http.ResponseWriter, r *http.Request, c *caller) {
	pl, err := a.pipeline(r, c)
	if err != nil {
		writeError(w, err)
		return
	}
	proj, err := a.cfg.Store.GetProject(r.Context(), pl.ProjectID)
	if err != nil {
		writeError(w, err)
		return
	}
	writer := c.role(proj).Allows(auth.Write)
	prs, err := engine.Promotions(pl)
	if err != nil {
		writeError(w, err)
		return
	}
	runs, err := a.cfg.Store.ListPromotions(r.Context(), pl.ID)
	if err != nil {
		writeError(w, err)
		return
	}
	out := []*PromotionView{}
	for _, pr := range prs {
		v := &PromotionView{Name: pr.Name, PipelineFile: pr.PipelineFile, Auto: pr.Condition != "" || len(pr.Legacy) > 0,
			Parameters: []PromotionParamView{}, Runs: []*PromotionRunView{}}
		if writer {
			v.DeploymentTarget = pr.DeploymentTarget
		}
		for _, pa := range pr.Parameters {
			opts := pa.Options
			if opts == nil {
				opts = []string{}
			}
			v.Parameters = append(v.Parameters, PromotionParamView{Name: pa.Name, Description: pa.Description,
				Required: pa.Required, DefaultValue: pa.DefaultValue, Options: opts})
		}
		for _, run := range runs {
			if run.Name == pr.Name {
				v.Runs = append(v.Runs, a.runView(r, run, writer))
			}
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) promote(w http.ResponseWriter, r *http.Request, c *caller) {
	pl, err := a.pipeline(r, c)
	if err != nil {
		writeError(w, err)
		return
	}
	var req PromoteRequest
	if err := decode(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Name == "" {
		writeError(w, fmt.Errorf("%w: name the promotion to run", errBadRequest))
		return
	}
	proj, err := a.cfg.Store.GetProject(r.Context(), pl.ProjectID)
	if err != nil {
		writeError(w, err)
		return
	}
	np, err := a.cfg.Engine.Promote(r.Context(), engine.PromoteRequest{
		PipelineID: pl.ID, Name: req.Name, Params: req.Parameters, By: c.user.Login, Role: c.role(proj).String(),
		Override: req.Override,
	})
	if err != nil {
		writeError(w, promoteError(err))
		return
	}
	writeJSON(w, http.StatusCreated, np)
}

// hideTargets removes deployment target names from pipelines shown to a
// caller without write access to their project.
func hideTargets(c *caller, p *ci.Project, pls ...*ci.Pipeline) {
	if c.role(p).Allows(auth.Write) {
		return
	}
	for _, pl := range pls {
		if pl.DeploymentTarget == "" {
			continue
		}
		for _, b := range pl.Blocks {
			for _, j := range b.Jobs {
				j.WaitReason = hideQueue(j.WaitReason, pl.Queue)
			}
		}
		pl.DeploymentTarget, pl.Queue = "", ""
	}
}

// hideQueue replaces a wait reason that names a deployment target's queue.
func hideQueue(reason, queue string) string {
	if queue != "" && strings.Contains(reason, queue) {
		return "waiting for an earlier deployment"
	}
	return reason
}

// checkRedeploy applies a deployment target's rules to a rerun of a
// pipeline promoted to it: the rerun deploys again, with the target's
// secret, so the caller must be allowed to deploy.
func (a *API) checkRedeploy(r *http.Request, c *caller, pl *ci.Pipeline) error {
	if pl.DeploymentTarget == "" {
		return nil
	}
	proj, err := a.cfg.Store.GetProject(r.Context(), pl.ProjectID)
	if err != nil {
		return err
	}
	return promoteError(a.cfg.Engine.CheckRedeploy(r.Context(), pl, c.user.Login, c.role(proj).String()))
}
