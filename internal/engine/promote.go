package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/batonci/baton/internal/audit"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/jobenv"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/plan"
	"github.com/batonci/baton/internal/store"
)

// Promotions (docs/semaphore.md §1.8, §3): a pipeline's promotions create new
// pipelines in its workflow, at the same commit, from other files, by hand
// (Promote) or automatically when the pipeline ends (autoPromote). Each
// run is recorded (store.PromotionRun). A promotion naming a deployment
// target passes the target's rules first; the target's pipelines share
// one serialized queue, and only their jobs receive the target's secret.

// AutoPromoter is the PromotedBy of automatically promoted pipelines
// (SEMAPHORE_PIPELINE_PROMOTED_BY).
const AutoPromoter = "auto-promotion"

// AutoTrigger is who triggered an automatic promotion run, in its record
// and in a deployment target's user list (which then allows
// auto-promotions).
const AutoTrigger = "auto"

// ErrBadPromotion wraps the errors of a promotion request that cannot be
// run as asked: an unknown promotion, bad parameters, a missing target.
var ErrBadPromotion = errors.New("invalid promotion")

// ErrNotPassed is returned by Promote for a pipeline that is still running
// or did not pass, unless the request overrides it (as Semaphore's
// override=true).
var ErrNotPassed = errors.New("the pipeline has not passed")

// RefusedError is returned when a deployment target's rules forbid a
// promotion; Reason says why.
type RefusedError struct {
	Promotion string
	Target    string
	Reason    string
}

func (e *RefusedError) Error() string { return e.Reason }

// TargetSecretSource is implemented by a SecretSource that holds
// deployment targets' secrets (internal/vault). TargetSecrets returns the
// plaintext variables and files of a project's target.
type TargetSecretSource interface {
	TargetSecrets(ctx context.Context, projectID, target string) ([]jobspec.Var, []jobspec.File, error)
}

// TargetQueue is the queue of the pipelines promoted to a deployment
// target: serialized, so one deployment at a time, in order.
func TargetQueue(target string) string { return "deployment target " + target }

// targetQueue puts a pipeline that deploys to a target in the target's
// queue.
func targetQueue(p *ci.Pipeline) {
	if p.DeploymentTarget == "" {
		return
	}
	p.Queue, p.QueueScope, p.Parallel = TargetQueue(p.DeploymentTarget), "project", false
}

// promotedInfo makes a new pipeline a promoted one.
type promotedInfo struct {
	of, name, target string
}

func (pi *promotedInfo) apply(p *ci.Pipeline) {
	if pi == nil {
		return
	}
	p.PromotionOf, p.Promotion, p.DeploymentTarget = pi.of, pi.name, pi.target
}

// PromoteRequest asks for a manual promotion.
type PromoteRequest struct {
	// PipelineID is the pipeline promoted from; Name the promotion.
	PipelineID string
	Name       string
	// Params are the values given for the promotion's parameters.
	Params map[string]string
	// By is the caller's login and Role their role in the project
	// ("admin" or "write"), which the target's rules check.
	By   string
	Role string
	// Override promotes a pipeline that is still running or did not pass.
	Override bool
}

// Promote runs a promotion of a pipeline by hand: of a pipeline that
// passed, or, with Override, any time (even while it runs); a pipeline can
// be promoted again, each time creating a new pipeline. It refuses a
// pipeline that has not passed (ErrNotPassed), validates the parameters
// (ErrBadPromotion), checks the
// deployment target's rules (*RefusedError, also audited), records the
// run (audited) and returns the new pipeline.
func (e *Engine) Promote(ctx context.Context, req PromoteRequest) (*ci.Pipeline, error) {
	src, err := e.db.GetPipeline(ctx, req.PipelineID)
	if err != nil {
		return nil, fmt.Errorf("promote: %w", err)
	}
	pr, err := findPromotion(src, req.Name)
	if err != nil {
		return nil, err
	}
	params, err := promotionParams(pr, req.Params, false)
	if err != nil {
		return nil, err
	}
	if !req.Override && (src.State != ci.StateDone || src.Result != ci.ResultPassed) {
		now := string(src.State)
		if src.State == ci.StateDone {
			now = string(src.Result)
		}
		return nil, fmt.Errorf("%w: pipeline %s is %s; promote it anyway with override", ErrNotPassed, src.ID, now)
	}
	wf, err := e.db.GetWorkflow(ctx, src.WorkflowID)
	if err != nil {
		return nil, fmt.Errorf("promote: %w", err)
	}
	proj, err := e.db.GetProject(ctx, src.ProjectID)
	if err != nil {
		return nil, fmt.Errorf("promote: %w", err)
	}
	if pr.DeploymentTarget != "" {
		t, err := e.db.GetTarget(ctx, proj.ID, pr.DeploymentTarget)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: deployment target %q of promotion %q does not exist in project %s", ErrBadPromotion, pr.DeploymentTarget, pr.Name, proj.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("promote: %w", err)
		}
		if reason := TargetRefusal(t, wf, req.By, req.Role, false); reason != "" {
			ref := &RefusedError{Promotion: pr.Name, Target: t.Name, Reason: reason}
			// The refusal is a run of the promotion, as a refused
			// auto-promotion is, so the pipeline's promotions list it.
			run := &store.PromotionRun{PipelineID: src.ID, ProjectID: proj.ID, Name: pr.Name, TriggeredBy: req.By,
				Parameters: params, DeploymentTarget: pr.DeploymentTarget, Refused: reason, CreatedAt: e.now()}
			err := e.db.Tx(ctx, func(tx *store.Tx) error {
				if err := tx.CreatePromotion(run); err != nil {
					return err
				}
				return audit.Record(ctx, tx, audit.Event{Action: audit.PromotionRefused, Target: pr.Name,
					ProjectID: proj.ID, Detail: fmt.Sprintf("pipeline %s to %s: %s", src.ID, t.Name, reason)})
			})
			if err != nil {
				e.log.Error("record a refused promotion", "pipeline", src.ID, "err", err)
			}
			return nil, ref
		}
	}
	run := &store.PromotionRun{PipelineID: src.ID, ProjectID: proj.ID, Name: pr.Name, TriggeredBy: req.By,
		Parameters: params, DeploymentTarget: pr.DeploymentTarget}
	return e.promote(ctx, proj, wf, src, pr, run, req.By)
}

// promote compiles the promotion's file and creates the promoted pipeline
// with its run record and audit entry, in one transaction.
func (e *Engine) promote(ctx context.Context, proj *ci.Project, wf *ci.Workflow, src *ci.Pipeline, pr *plan.Promotion, run *store.PromotionRun, promotedBy string) (*ci.Pipeline, error) {
	c := e.compile(ctx, proj, wf, pr.PipelineFile, run.Parameters, e.workflowPins(ctx, wf))
	committer := wf.Author
	if info, err := e.cfg.Repos.Project(proj.ID).Commit(ctx, proj.RepoURL, wf.SHA); err == nil {
		committer = info.CommitterName
	}
	b := &builder{project: proj, wf: wf, committer: committer, trigger: jobenvTrigger(wf.Trigger), baseURL: e.cfg.BaseURL,
		promo: &promotedInfo{of: src.ID, name: pr.Name, target: pr.DeploymentTarget}}
	var p *ci.Pipeline
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.LockPipeline(src.ID); err != nil {
			return err
		}
		b.now = e.now()
		var err error
		if p, err = e.create(tx, b, c, promotedBy, nil); err != nil {
			return err
		}
		if err := tx.AddLibraryUses(libraryUses(c, p)); err != nil {
			return err
		}
		run.PromotedPipeline, run.CreatedAt = p.ID, b.now
		if err := tx.CreatePromotion(run); err != nil {
			return err
		}
		ev := audit.Event{Action: audit.Promotion, Target: pr.Name, ProjectID: proj.ID,
			Detail: fmt.Sprintf("pipeline %s promoted to %s (%s)", src.ID, p.ID, pr.PipelineFile)}
		if pr.DeploymentTarget != "" {
			ev.Detail += " deploying to " + pr.DeploymentTarget
		}
		if run.Auto {
			ev.Actor = AutoPromoter
		}
		return audit.Record(ctx, tx, ev)
	})
	if err != nil {
		return nil, fmt.Errorf("promote %q: %w", pr.Name, err)
	}
	e.log.Info("pipeline promoted", "from", src.ID, "promotion", pr.Name, "pipeline", p.ID, "by", promotedBy)
	e.afterCreate(context.WithoutCancel(ctx), p, true)
	if got, err := e.db.GetPipeline(ctx, p.ID); err == nil {
		p = got
	}
	return p, nil
}

// autoPromote runs the promotions of a pipeline that just ended whose
// auto_promote condition holds (docs/semaphore.md §3.1). An auto-promotion that its
// target's rules forbid is recorded as refused, with the reason, and
// audited. Each fires at most once (run 0 of its record is unique), so
// running it again for the same pipeline is harmless: recheck does, for
// pipelines still marked promotions_due (a server stopped in between, or
// the database failed). The mark is cleared once every promotion was
// decided.
func (e *Engine) autoPromote(ctx context.Context, p *ci.Pipeline) {
	// p may have been read without its graph, which is then cached; if
	// it left the cache meanwhile, the mark left by the end has recheck
	// come back with the whole pipeline.
	g, err := e.graphs.get(p.ID, p.Graph)
	if err != nil || len(g.Promotions) == 0 {
		return
	}
	if err := e.autoPromotions(ctx, p, g); err != nil {
		e.log.Error("auto-promote; will try again", "pipeline", p.ID, "err", err)
		return
	}
	if err := e.db.Tx(ctx, func(tx *store.Tx) error { return tx.SetPromotionsDue(p.ID, false) }); err != nil {
		e.log.Error("auto-promote: clear the mark", "pipeline", p.ID, "err", err)
	}
}

// autoPromotions decides each auto-promotion of p; an error (of the
// database, or reading the repository) leaves the rest for a later try.
func (e *Engine) autoPromotions(ctx context.Context, p *ci.Pipeline, g *plan.Graph) error {
	wf, err := e.db.GetWorkflow(ctx, p.WorkflowID)
	if err != nil {
		return err
	}
	proj, err := e.db.GetProject(ctx, p.ProjectID)
	if err != nil {
		return err
	}
	fire, err := plan.AutoPromotions(g, plan.Input{
		Event: planEvent(proj, wf), PipelineFile: p.File, Params: g.Params,
		ChangedFiles: func(rng string) ([]string, error) {
			return e.cfg.Repos.Project(proj.ID).ChangedFiles(ctx, proj.RepoURL, rng)
		},
	}, p.Result, p.Reason)
	if err != nil {
		return fmt.Errorf("evaluate conditions: %w", err)
	}
	for _, pr := range fire {
		run := &store.PromotionRun{PipelineID: p.ID, ProjectID: proj.ID, Name: pr.Name, Auto: true,
			TriggeredBy: AutoTrigger, DeploymentTarget: pr.DeploymentTarget}
		refusal := ""
		params, err := promotionParams(pr, nil, true)
		if err != nil {
			refusal = strings.TrimPrefix(err.Error(), ErrBadPromotion.Error()+": ")
		}
		run.Parameters = params
		if refusal == "" && pr.DeploymentTarget != "" {
			t, err := e.db.GetTarget(ctx, proj.ID, pr.DeploymentTarget)
			switch {
			case errors.Is(err, store.ErrNotFound):
				refusal = fmt.Sprintf("deployment target %q does not exist in project %s", pr.DeploymentTarget, proj.Name)
			case err != nil:
				return err
			default:
				refusal = TargetRefusal(t, wf, AutoTrigger, "", true)
			}
		}
		if refusal != "" {
			if err := e.refuseAuto(ctx, p, pr, run, refusal); err != nil {
				return err
			}
			continue
		}
		if _, err := e.promote(ctx, proj, wf, p, pr, run, AutoPromoter); err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("promotion %q: %w", pr.Name, err) // a conflict: it was promoted already
		}
	}
	return nil
}

// refuseAuto records an auto-promotion that did not run, and why.
func (e *Engine) refuseAuto(ctx context.Context, p *ci.Pipeline, pr *plan.Promotion, run *store.PromotionRun, reason string) error {
	run.Refused, run.CreatedAt = reason, e.now()
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.CreatePromotion(run); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Action: audit.PromotionRefused, Actor: AutoPromoter, Target: pr.Name,
			ProjectID: p.ProjectID, Detail: fmt.Sprintf("pipeline %s to %s: %s", p.ID, pr.DeploymentTarget, reason)})
	})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("record refused auto-promotion %q: %w", pr.Name, err)
	}
	e.log.Info("auto-promotion refused", "pipeline", p.ID, "promotion", pr.Name, "reason", reason)
	return nil
}

// Promotions returns the promotions a pipeline declares (nil for a
// malformed pipeline).
func Promotions(p *ci.Pipeline) ([]*plan.Promotion, error) {
	if len(p.Graph) == 0 {
		return nil, nil
	}
	g, err := decodeGraph(p.Graph)
	if err != nil {
		return nil, err
	}
	return g.Promotions, nil
}

// findPromotion returns the promotion of p named name.
func findPromotion(p *ci.Pipeline, name string) (*plan.Promotion, error) {
	prs, err := Promotions(p)
	if err != nil {
		return nil, fmt.Errorf("promote: %w", err)
	}
	var names []string
	for _, pr := range prs {
		if pr.Name == name {
			return pr, nil
		}
		names = append(names, fmt.Sprintf("%q", pr.Name))
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: pipeline %s declares no promotions", ErrBadPromotion, p.ID)
	}
	return nil, fmt.Errorf("%w: pipeline %s has no promotion %q (it declares %s)", ErrBadPromotion, p.ID, name, strings.Join(names, ", "))
}

// promotionParams validates the values given for a promotion's
// parameters (docs/semaphore.md §3.2) and returns every declared parameter's value:
// the given one, else the default, else "". A required parameter needs a
// value or a default; a parameter with options takes one of them;
// undeclared names are refused. For an auto-promotion nothing is given.
func promotionParams(pr *plan.Promotion, given map[string]string, auto bool) (map[string]string, error) {
	declared := map[string]bool{}
	for _, pa := range pr.Parameters {
		declared[pa.Name] = true
	}
	for _, n := range slices.Sorted(maps.Keys(given)) {
		if !declared[n] {
			var names []string
			for _, pa := range pr.Parameters {
				names = append(names, pa.Name)
			}
			if len(names) == 0 {
				return nil, fmt.Errorf("%w: promotion %q takes no parameters, got %s", ErrBadPromotion, pr.Name, n)
			}
			return nil, fmt.Errorf("%w: promotion %q has no parameter %s (it takes %s)", ErrBadPromotion, pr.Name, n, strings.Join(names, ", "))
		}
	}
	out, err := plan.ParamValues(pr.Parameters, given)
	var pe *plan.ParamError
	switch {
	case errors.As(err, &pe) && pe.Value == "" && auto:
		return nil, fmt.Errorf("%w: required parameter %s has no default value", ErrBadPromotion, pe.Param.Name)
	case errors.As(err, &pe) && pe.Value == "":
		return nil, fmt.Errorf("%w: parameter %s of promotion %q is required", ErrBadPromotion, pe.Param.Name, pr.Name)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrBadPromotion, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// TargetRefusal checks a promotion of a workflow to target t by login
// with project role ("admin" or "write"), or an auto-promotion, against
// the target's rules; it returns why it is forbidden, or "".
//
// Who: with no users and no roles, anyone with write access, and
// auto-promotions. Otherwise the login must be listed, or the role
// (admin includes write); an auto-promotion needs the user "auto".
// What: a pull request needs AllowPRs. With no branches and no tags any
// branch and tag may deploy; otherwise a branch must match a branch
// pattern and a tag a tag pattern (exact, or /regex/), and the workflow's
// commit must have been verified as that branch's or tag's head when the
// workflow was created (Workflow.RefVerified): a label alone is not
// enough.
func TargetRefusal(t *store.DeploymentTarget, wf *ci.Workflow, login, role string, auto bool) string {
	if len(t.Users) > 0 || len(t.Roles) > 0 {
		allowed := false
		switch {
		case auto:
			allowed = slices.Contains(t.Users, AutoTrigger)
		default:
			allowed = slices.Contains(t.Users, login) ||
				slices.Contains(t.Roles, role) || (role == "admin" && slices.Contains(t.Roles, "write"))
		}
		if !allowed {
			who := "user " + login
			if auto {
				who = "an auto-promotion"
			}
			return fmt.Sprintf("%s may not deploy to %s: it allows %s", who, t.Name, describeSubjects(t))
		}
	}
	switch wf.RefType {
	case "pull-request":
		if !t.AllowPRs {
			return fmt.Sprintf("pull requests may not deploy to %s", t.Name)
		}
	case "tag":
		if (len(t.Branches) > 0 || len(t.Tags) > 0) && !matchAny(t.Tags, wf.Tag) {
			return fmt.Sprintf("tag %s may not deploy to %s: %s", wf.Tag, t.Name, describeList("tags", t.Tags))
		}
		if len(t.Tags) > 0 && wf.RefVerified != "refs/tags/"+wf.Tag {
			return unverified(wf, "tag "+wf.Tag, t.Name)
		}
	default:
		if (len(t.Branches) > 0 || len(t.Tags) > 0) && !matchAny(t.Branches, wf.Branch) {
			return fmt.Sprintf("branch %s may not deploy to %s: %s", wf.Branch, t.Name, describeList("branches", t.Branches))
		}
		if len(t.Branches) > 0 && wf.RefVerified != "refs/heads/"+wf.Branch {
			return unverified(wf, "branch "+wf.Branch, t.Name)
		}
	}
	return ""
}

// unverified is the refusal of a workflow whose ref label nothing vouches
// for (Workflow.RefVerified).
func unverified(wf *ci.Workflow, ref, target string) string {
	return fmt.Sprintf("commit %s was not verified as the head of %s when the workflow was created: it may not deploy to %s, whose rules allow branches or tags by name",
		short(wf.SHA), ref, target)
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func describeSubjects(t *store.DeploymentTarget) string {
	var parts []string
	if len(t.Users) > 0 {
		parts = append(parts, "the users "+strings.Join(t.Users, ", "))
	}
	if len(t.Roles) > 0 {
		parts = append(parts, "the roles "+strings.Join(t.Roles, ", "))
	}
	return strings.Join(parts, " and ")
}

func describeList(what string, l []string) string {
	if len(l) == 0 {
		return "it allows no " + what
	}
	return "it allows the " + what + " " + strings.Join(l, ", ")
}

// matchAny reports whether name matches one of the patterns: an exact
// name or a /regex/.
func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if len(p) >= 2 && strings.HasPrefix(p, "/") && strings.HasSuffix(p, "/") {
			if re, err := regexp.Compile(p[1 : len(p)-1]); err == nil && re.MatchString(name) {
				return true
			}
			continue
		}
		if p == name {
			return true
		}
	}
	return false
}

// targetSecrets adds the deployment target's secret to a job of a
// pipeline promoted to it: its variables override system variables and
// secrets and are overridden by YAML variables (docs/semaphore.md §3.3); its values
// are masked. Pull requests from forks never receive it.
func (e *Engine) targetSecrets(ctx context.Context, rj *jobspec.Job, p *ci.Pipeline, wf *ci.Workflow, pj *plan.Job) error {
	if wf.PRFork {
		rj.Notices = append(rj.Notices, jobspec.TargetWithheldNotice(p.DeploymentTarget))
		return nil
	}
	src, ok := e.cfg.Secrets.(TargetSecretSource)
	if !ok {
		return fmt.Errorf("deployment target %q: this server holds no deployment target secrets", p.DeploymentTarget)
	}
	env, files, err := src.TargetSecrets(ctx, p.ProjectID, p.DeploymentTarget)
	if err != nil {
		return err
	}
	jobenv.AddSecrets(rj, pj, jobenv.Secrets{Env: env, Files: files})
	sort.Strings(rj.Secrets)
	rj.Secrets = slices.Compact(rj.Secrets)
	return nil
}

// CheckRedeploy checks that login, with project role, may deploy a
// pipeline promoted to a deployment target again (a partial rerun): see
// CheckTarget.
func (e *Engine) CheckRedeploy(ctx context.Context, p *ci.Pipeline, login, role string) error {
	return e.CheckTarget(ctx, p, login, role, TargetRerun)
}

// What CheckTarget is asked for.
const (
	// TargetRerun deploys a pipeline again (a partial rerun).
	TargetRerun = "rerun"
	// TargetAttach opens a shell in a running job of the pipeline.
	TargetAttach = "attach"
	// TargetDebug makes a debug job of a job of the pipeline, which
	// receives the target's secrets.
	TargetDebug = "debug"
)

// CheckTarget checks that login, with project role, may act on pipeline
// p, which deploys to a deployment target (its jobs hold the target's
// secrets): deploy it again (TargetRerun), open a shell in one of its
// jobs (TargetAttach) or make a debug job of one (TargetDebug). Each
// needs what deploying to the target needs: the target's users or roles,
// and a workflow whose ref its branch and tag rules allow (see
// TargetRefusal). It returns nil (also for a pipeline that deploys
// nowhere), a *RefusedError (audited), or ErrBadPromotion when the target
// no longer exists.
func (e *Engine) CheckTarget(ctx context.Context, p *ci.Pipeline, login, role, action string) error {
	if p.DeploymentTarget == "" {
		return nil
	}
	wf, err := e.db.GetWorkflow(ctx, p.WorkflowID)
	if err != nil {
		return fmt.Errorf("check deployment target: %w", err)
	}
	t, err := e.db.GetTarget(ctx, p.ProjectID, p.DeploymentTarget)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: deployment target %q no longer exists", ErrBadPromotion, p.DeploymentTarget)
	}
	if err != nil {
		return fmt.Errorf("check deployment target: %w", err)
	}
	reason := TargetRefusal(t, wf, login, role, false)
	if reason == "" {
		return nil
	}
	what := "rerun of pipeline " + p.ID
	switch action {
	case TargetAttach:
		what = "shell in a job of pipeline " + p.ID
		reason = fmt.Sprintf("this job deploys to %s and holds its secrets: a shell in it needs the target's rules: %s", t.Name, reason)
	case TargetDebug:
		what = "debug job of a job of pipeline " + p.ID
		reason = fmt.Sprintf("this job deploys to %s and holds its secrets: a debug job of it needs the target's rules: %s", t.Name, reason)
	}
	err = e.db.Tx(ctx, func(tx *store.Tx) error {
		return audit.Record(ctx, tx, audit.Event{Action: audit.PromotionRefused, Target: p.Promotion,
			ProjectID: p.ProjectID, Detail: fmt.Sprintf("%s to %s by %s: %s", what, t.Name, login, reason)})
	})
	if err != nil {
		e.log.Error("audit a refused action on a deployment", "pipeline", p.ID, "action", action, "err", err)
	}
	return &RefusedError{Promotion: p.Promotion, Target: t.Name, Reason: reason}
}
