package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/auth"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/store"
)

// Promotions (docs/semaphore.md §3): a pipeline lists its promotions with their runs,
// and project writers promote, within the deployment target's rules.

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
func (a *API) runView(r *http.Request, run *store.PromotionRun, writer bool) *apiv1.PromotionRunView {
	v := &apiv1.PromotionRunView{PipelineID: run.PromotedPipeline, PromotedBy: run.TriggeredBy, Trigger: "manual",
		CreatedAt: run.CreatedAt, Parameters: run.Parameters, Refused: run.Refused}
	if run.Auto {
		v.Trigger, v.PromotedBy = "auto", engine.AutoPromoter
	}
	if run.PromotedPipeline != "" {
		if p, err := a.cfg.Store.GetPipeline(r.Context(), run.PromotedPipeline); err == nil {
			v.State, v.Result = apiv1.State(p.State), apiv1.Result(p.Result)
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

func (a *API) listPromotions(w http.ResponseWriter, r *http.Request, c *caller) error {
	pl, err := a.pipeline(r, c)
	if err != nil {
		return err
	}
	proj, err := a.cfg.Store.GetProject(r.Context(), pl.ProjectID)
	if err != nil {
		return err
	}
	writer := c.role(proj).Allows(auth.Write)
	prs, err := engine.Promotions(pl)
	if err != nil {
		return err
	}
	runs, err := a.cfg.Store.ListPromotions(r.Context(), pl.ID)
	if err != nil {
		return err
	}
	out := []*apiv1.PromotionView{}
	for _, pr := range prs {
		v := &apiv1.PromotionView{Name: pr.Name, PipelineFile: pr.PipelineFile, Auto: pr.Condition != "" || len(pr.Legacy) > 0,
			Parameters: []apiv1.PromotionParamView{}, Runs: []*apiv1.PromotionRunView{}}
		if writer {
			v.DeploymentTarget = pr.DeploymentTarget
		}
		for _, pa := range pr.Parameters {
			opts := pa.Options
			if opts == nil {
				opts = []string{}
			}
			v.Parameters = append(v.Parameters, apiv1.PromotionParamView{Name: pa.Name, Description: pa.Description,
				Required: pa.Required, DefaultValue: pa.DefaultValue, Options: opts})
		}
		for _, run := range runs {
			if run.Name == pr.Name {
				v.Runs = append(v.Runs, a.runView(r, run, writer))
			}
		}
		out = append(out, v)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) promote(w http.ResponseWriter, r *http.Request, c *caller) error {
	pl, err := a.pipeline(r, c)
	if err != nil {
		return err
	}
	var req apiv1.PromoteRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Name == "" {
		return fmt.Errorf("%w: name the promotion to run", errBadRequest)
	}
	proj, err := a.cfg.Store.GetProject(r.Context(), pl.ProjectID)
	if err != nil {
		return err
	}
	np, err := a.cfg.Engine.Promote(r.Context(), engine.PromoteRequest{
		PipelineID: pl.ID, Name: req.Name, Params: req.Parameters, By: c.user.Login, Role: c.role(proj).String(),
		Override: req.Override,
	})
	if err != nil {
		return promoteError(err)
	}
	return writeJSON(w, http.StatusCreated, pipelineView(np))
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
