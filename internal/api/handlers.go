package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/audit"
	"github.com/batonci/baton/internal/auth"
	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/repourl"
	"github.com/batonci/baton/internal/store"
)

func (a *API) me(w http.ResponseWriter, r *http.Request, c *caller) error {
	v := apiv1.MeView{User: userView(c.user)}
	if c.session != nil {
		v.CSRFToken = c.session.CSRFToken
	}
	return writeJSON(w, http.StatusOK, v)
}

func (a *API) listProjects(w http.ResponseWriter, r *http.Request, c *caller) error {
	all, err := a.cfg.Store.ListProjects(r.Context())
	if err != nil {
		return err
	}
	out := []*apiv1.Project{}
	for _, p := range all {
		if c.canRead(p) {
			out = append(out, projectView(p))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// checkRepoURL applies repourl's rule to a repository URL c gives a
// project: local paths and file:// URLs for organisation admins only.
func checkRepoURL(url string, c *caller) error {
	err := repourl.Check(url, c.user != nil && c.user.Admin)
	switch {
	case errors.Is(err, repourl.ErrLocal):
		return fmt.Errorf("%w: %w", errForbidden, err)
	case err != nil:
		return fmt.Errorf("%w: repo_url: %w", errBadRequest, err)
	}
	return nil
}

// applyProject applies a create or update request to p.
func applyProject(req *apiv1.ProjectRequest, p *ci.Project) error {
	if req.Name != nil {
		p.Name = strings.TrimSpace(*req.Name)
	}
	if req.RepoURL != nil {
		p.RepoURL = strings.TrimSpace(*req.RepoURL)
	}
	if req.DefaultBranch != nil {
		p.DefaultBranch = *req.DefaultBranch
	}
	if req.PipelineFile != nil {
		p.PipelineFile = *req.PipelineFile
	}
	if req.Public != nil {
		p.Public = *req.Public
	}
	if req.DeploymentDetails != nil {
		switch *req.DeploymentDetails {
		case "public":
			p.DeploymentDetailsPublic = true
		case "private":
			p.DeploymentDetailsPublic = false
		default:
			return fmt.Errorf("%w: deployment_details %q: want public or private", errBadRequest, *req.DeploymentDetails)
		}
	}
	if req.PollInterval != nil {
		d, err := time.ParseDuration(*req.PollInterval)
		if err != nil || d < 0 {
			return fmt.Errorf("%w: poll_interval %q is not a duration like 30s", errBadRequest, *req.PollInterval)
		}
		if d > 0 && d < time.Second {
			return fmt.Errorf("%w: poll_interval must be at least 1s", errBadRequest)
		}
		p.PollInterval = d
	}
	switch {
	case p.Name == "":
		return fmt.Errorf("%w: name is required", errBadRequest)
	case strings.ContainsAny(p.Name, "/ \t\n?#%"):
		return fmt.Errorf("%w: name %q may not contain spaces, '/', '?', '#' or '%%'", errBadRequest, p.Name)
	case p.RepoURL == "":
		return fmt.Errorf("%w: repo_url is required", errBadRequest)
	}
	if p.DefaultBranch == "" {
		p.DefaultBranch = "main"
	}
	if p.PipelineFile == "" {
		p.PipelineFile = ".semaphore/semaphore.yml"
	}
	return nil
}

func (a *API) createProject(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req apiv1.ProjectRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	p := &ci.Project{}
	if err := applyProject(&req, p); err != nil {
		return err
	}
	if err := checkRepoURL(p.RepoURL, c); err != nil {
		return err
	}
	if err := a.applyForge(p, &req); err != nil {
		return err
	}
	ctx := r.Context()
	if (req.DefaultBranch == nil || *req.DefaultBranch == "") && a.cfg.Engine != nil {
		// The default branch is the one the repository's HEAD names; a
		// repository that cannot be read now (not pushed yet, needs
		// credentials the server has not got) keeps "main".
		if b, err := a.cfg.Engine.HeadBranch(ctx, p.RepoURL); err == nil {
			p.DefaultBranch = b
		} else {
			a.cfg.Logger.Info("new project: the repository's default branch is unknown; using main", "project", p.Name, "err", err)
		}
	}
	// The creator administers the project.
	err := a.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateProject(p); err != nil {
			return err
		}
		if err := tx.SetMember(&store.Member{ProjectID: p.ID, UserID: c.user.ID, Role: auth.Admin.String(), CreatedAt: a.cfg.Now()}); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Action: audit.ProjectCreated, Target: p.Name, ProjectID: p.ID, Detail: fmt.Sprintf("public=%t deployment_details_public=%t", p.Public, p.DeploymentDetailsPublic), At: a.cfg.Now()})
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			err = fmt.Errorf("%w: a project named %q already exists", errConflict, p.Name)
		}
		return err
	}
	a.cfg.Wake()
	return writeJSON(w, http.StatusCreated, projectView(p))
}

func (a *API) getProject(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, projectView(p))
}

func (a *API) updateProject(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return err
	}
	var req apiv1.ProjectRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	oldURL := p.RepoURL
	if req.CacheSize != nil && *req.CacheSize < 0 {
		return fmt.Errorf("%w: cache_size must be 0 (the default) or a size in bytes", errBadRequest)
	}
	if err := applyProject(&req, p); err != nil {
		return err
	}
	if p.RepoURL != oldURL {
		if err := checkRepoURL(p.RepoURL, c); err != nil {
			return err
		}
	}
	if err := a.applyForge(p, &req); err != nil {
		return err
	}
	ctx := r.Context()
	err = a.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.UpdateProject(p); err != nil {
			return err
		}
		if req.CacheSize != nil {
			if err := tx.SetCacheBudget(p.ID, *req.CacheSize); err != nil {
				return err
			}
		}
		return audit.Record(ctx, tx, audit.Event{Action: audit.ProjectChanged, Target: p.Name, ProjectID: p.ID, Detail: fmt.Sprintf("public=%t", p.Public), At: a.cfg.Now()})
	})
	if err != nil {
		return err
	}
	a.cfg.Wake()
	return writeJSON(w, http.StatusOK, projectView(p))
}

// deleteProject deletes a project that runs nothing: in one transaction
// its row and, by the database's cascades, its workflows, pipelines,
// blocks, jobs, members, secrets, deployment targets, promotions, poll
// state, deliveries, retention rules and cache keys (the audit log keeps
// its events); then its jobs' logs, this server's mirrors of its
// repository and its artifact and cache objects. A failure there is
// logged, not undone: the project is gone, and the hourly cache sweep
// deletes cache objects no key names.
func (a *API) deleteProject(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return err
	}
	ctx := r.Context()
	var jobIDs []string
	err = a.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		n, err := tx.UnfinishedPipelines(p.ID)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: project %q has %d pipeline(s) not done; stop its workflows first ('baton workflow stop ID')", errConflict, p.Name, n)
		}
		if jobIDs, err = tx.ProjectJobIDs(p.ID); err != nil {
			return err
		}
		if err := tx.DeleteProject(p.ID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Action: audit.ProjectDeleted, Target: p.Name, ProjectID: p.ID,
			Detail: fmt.Sprintf("jobs=%d", len(jobIDs)), At: a.cfg.Now()})
	})
	if err != nil {
		return err
	}
	a.cfg.Wake()
	ctx = context.WithoutCancel(ctx)
	if a.cfg.Engine != nil {
		if err := a.cfg.Engine.ForgetProject(p.ID, jobIDs); err != nil {
			a.cfg.Logger.Error("delete a deleted project's logs and mirrors", "project", p.Name, "err", err)
		}
	} else if a.cfg.Logs != nil {
		for _, id := range jobIDs {
			if err := a.cfg.Logs.Delete(id); err != nil {
				a.cfg.Logger.Error("delete a deleted project's log", "project", p.Name, "job", id, "err", err)
			}
		}
	}
	objects := 0
	if a.cfg.Blobs != nil {
		for _, prefix := range []string{"artifacts/" + p.ID + "/", "cache/" + p.ID + "/", "test-results/" + p.ID + "/", "coverage/" + p.ID + "/"} {
			n, err := deleteObjects(ctx, a.cfg.Blobs, prefix)
			objects += n
			if err != nil {
				a.cfg.Logger.Error("delete a deleted project's objects", "project", p.Name, "prefix", prefix, "err", err)
			}
		}
	}
	return writeJSON(w, http.StatusOK, apiv1.ProjectDeletedView{ID: p.ID, Name: p.Name, Jobs: len(jobIDs), Objects: objects})
}

// deleteObjects deletes every object under prefix and returns how many.
func deleteObjects(ctx context.Context, blobs blob.Store, prefix string) (int, error) {
	var keys []string
	for info, err := range blobs.List(ctx, prefix) {
		if err != nil {
			return 0, err
		}
		keys = append(keys, info.Key)
	}
	n := 0
	for _, k := range keys {
		if err := blobs.Delete(ctx, k); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (a *API) listWorkflows(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return err
	}
	f := store.WorkflowFilter{Branch: r.URL.Query().Get("branch"), Limit: 50}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			return fmt.Errorf("%w: limit must be 1..500", errBadRequest)
		}
		f.Limit = n
	}
	wfs, err := a.cfg.Store.ListWorkflows(r.Context(), p.ID, f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, each(wfs, workflowView))
}

func (a *API) runWorkflow(w http.ResponseWriter, r *http.Request, c *caller) error {
	p, err := a.project(r, c, r.PathValue("project"))
	if err != nil {
		return err
	}
	var req apiv1.RunRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	tr := engine.TriggerRequest{
		Project: p, Trigger: ci.TriggerManual, SHA: req.SHA,
		PipelineFile: req.PipelineFile, Params: req.Params, TriggeredBy: c.user.Login,
	}
	if tr.KeepOnFailure, err = keepOnFailure(req.KeepOnFailure); err != nil {
		return err
	}
	switch {
	case req.Tag != "" && req.Branch != "":
		return fmt.Errorf("%w: give branch or tag, not both", errBadRequest)
	case req.Tag != "":
		tr.RefType, tr.Tag = "tag", req.Tag
	default:
		tr.RefType, tr.Branch = "branch", req.Branch
		if tr.Branch == "" {
			tr.Branch = p.DefaultBranch
		}
	}
	wf, err := a.cfg.Engine.Trigger(r.Context(), tr)
	if err != nil {
		return triggerError(err)
	}
	return writeJSON(w, http.StatusCreated, workflowView(wf))
}

// triggerError turns a failure to reach the repository or resolve the ref
// into a client error: it is the request that names something wrong.
func triggerError(err error) error {
	var rm *engine.RefMismatchError
	if errors.As(err, &rm) {
		return fmt.Errorf("%w: %v", errConflict, rm)
	}
	if strings.Contains(err.Error(), "resolve") || strings.Contains(err.Error(), "fetch") {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return err
}

// readable loads what a path ID points at and checks the caller may read
// its project.
func (a *API) readableProject(r *http.Request, c *caller, projectID string) (*ci.Project, error) {
	p, err := a.cfg.Store.GetProject(r.Context(), projectID)
	if err != nil || !c.canRead(p) {
		return nil, errNotFound
	}
	return p, nil
}

func (a *API) workflow(r *http.Request, c *caller) (*ci.Workflow, *ci.Project, error) {
	wf, err := a.cfg.Store.GetWorkflow(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: workflow %q", errNotFound, r.PathValue("id"))
	}
	p, err := a.readableProject(r, c, wf.ProjectID)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: workflow %q", errNotFound, r.PathValue("id"))
	}
	return wf, p, nil
}

func (a *API) getWorkflow(w http.ResponseWriter, r *http.Request, c *caller) error {
	wf, p, err := a.workflow(r, c)
	if err != nil {
		return err
	}
	pls, err := a.cfg.Store.ListPipelines(r.Context(), wf.ID)
	if err != nil {
		return err
	}
	trees := []*ci.Pipeline{}
	for _, pl := range pls {
		tree, err := a.cfg.Store.GetPipelineTree(r.Context(), pl.ID)
		if err != nil {
			return err
		}
		trees = append(trees, deploymentSummary(c, p, tree))
	}
	hideTargets(c, p, trees...)
	view := apiv1.WorkflowView{Workflow: workflowView(wf), Project: p.Name, Pipelines: each(trees, pipelineView),
		Libraries: a.workflowLibraries(r, wf)}
	return writeJSON(w, http.StatusOK, view)
}

func (a *API) stopWorkflow(w http.ResponseWriter, r *http.Request, c *caller) error {
	wf, _, err := a.workflow(r, c)
	if err != nil {
		return err
	}
	if err := a.cfg.Engine.StopWorkflow(r.Context(), wf.ID); err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, apiv1.MessageView{Message: "stopping"})
}

func (a *API) rebuildWorkflow(w http.ResponseWriter, r *http.Request, c *caller) error {
	wf, _, err := a.workflow(r, c)
	if err != nil {
		return err
	}
	var req apiv1.RebuildRequest // the body is optional
	if r.Body != nil {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	keep, err := keepOnFailure(req.KeepOnFailure)
	if err != nil {
		return err
	}
	nw, err := a.cfg.Engine.RebuildKeeping(r.Context(), wf.ID, c.user.Login, keep)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, workflowView(nw))
}

func (a *API) pipeline(r *http.Request, c *caller) (*ci.Pipeline, error) {
	pl, err := a.cfg.Store.GetPipelineTree(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, fmt.Errorf("%w: pipeline %q", errNotFound, r.PathValue("id"))
	}
	if _, err := a.readableProject(r, c, pl.ProjectID); err != nil {
		return nil, fmt.Errorf("%w: pipeline %q", errNotFound, r.PathValue("id"))
	}
	return pl, nil
}

func (a *API) getPipeline(w http.ResponseWriter, r *http.Request, c *caller) error {
	pl, err := a.pipeline(r, c)
	if err != nil {
		return err
	}
	proj, err := a.cfg.Store.GetProject(r.Context(), pl.ProjectID)
	if err != nil {
		return err
	}
	pl = deploymentSummary(c, proj, pl)
	hideTargets(c, proj, pl)
	return writeJSON(w, http.StatusOK, pipelineView(pl))
}

func (a *API) stopPipeline(w http.ResponseWriter, r *http.Request, c *caller) error {
	pl, err := a.pipeline(r, c)
	if err != nil {
		return err
	}
	if err := a.cfg.Engine.StopPipeline(r.Context(), pl.ID); err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, apiv1.MessageView{Message: "stopping"})
}

func (a *API) rerunFailed(w http.ResponseWriter, r *http.Request, c *caller) error {
	pl, err := a.pipeline(r, c)
	if err != nil {
		return err
	}
	if err := a.checkRedeploy(r, c, pl); err != nil {
		return err
	}
	np, err := a.cfg.Engine.RerunFailed(r.Context(), pl.ID, c.user.Login)
	var refused *engine.RerunError
	if errors.As(err, &refused) {
		return fmt.Errorf("%w: %s", errConflict, refused.Why)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, pipelineView(np))
}

func (a *API) job(r *http.Request, c *caller) (*ci.Job, error) {
	j, err := a.cfg.Store.GetJob(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, fmt.Errorf("%w: job %q", errNotFound, r.PathValue("id"))
	}
	if _, err := a.readableProject(r, c, j.ProjectID); err != nil {
		return nil, fmt.Errorf("%w: job %q", errNotFound, r.PathValue("id"))
	}
	return j, nil
}

func (a *API) getJob(w http.ResponseWriter, r *http.Request, c *caller) error {
	j, err := a.job(r, c)
	if err != nil {
		return err
	}
	view := apiv1.JobView{Job: jobView(j)}
	// Agents' names, like the agents list, are for organisation admins:
	// they name the build infrastructure (docs/security.md).
	if j.AgentID != "" && c.user != nil && c.user.Admin {
		if ag, err := a.cfg.Store.GetAgent(r.Context(), j.AgentID); err == nil {
			view.AgentName = ag.Name
		}
	}
	pl, err := a.cfg.Store.GetPipeline(r.Context(), j.PipelineID)
	if err == nil {
		view.Workflow = pl.WorkflowID
	}
	if blocks, err := a.cfg.Store.ListBlocks(r.Context(), j.PipelineID); err == nil {
		for _, b := range blocks {
			if b.ID == j.BlockID {
				view.Block = b.Name
			}
		}
	}
	if j.State != ci.StateDone && j.State != ci.StateRunning {
		agents, _ := a.cfg.Store.ListAgents(r.Context())
		view.WaitReason = a.cfg.Engine.WhyPending(r.Context(), j, agents)
		if pl != nil && pl.DeploymentTarget != "" {
			// The reason may name the target's queue: not for readers.
			if proj, err := a.cfg.Store.GetProject(r.Context(), j.ProjectID); err != nil || !c.role(proj).Allows(auth.Write) {
				view.WaitReason = hideQueue(view.WaitReason, pl.Queue)
			}
		}
	}
	return writeJSON(w, http.StatusOK, view)
}

func (a *API) stopJob(w http.ResponseWriter, r *http.Request, c *caller) error {
	j, err := a.job(r, c)
	if err != nil {
		return err
	}
	if err := a.cfg.Engine.StopJob(r.Context(), j.ID); err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, apiv1.MessageView{Message: "stopping"})
}

func (a *API) queue(w http.ResponseWriter, r *http.Request, c *caller) error {
	jobs, err := a.cfg.Store.QueuedJobs(r.Context(), 500)
	if err != nil {
		return err
	}
	agents, _ := a.cfg.Store.ListAgents(r.Context())
	projects, err := a.cfg.Store.ListProjects(r.Context())
	if err != nil {
		return err
	}
	readable := map[string]bool{}
	for _, p := range projects {
		readable[p.ID] = c.canRead(p)
	}
	out := []apiv1.QueuedJob{}
	now := a.cfg.Now()
	for _, j := range jobs {
		if !readable[j.ProjectID] {
			continue
		}
		j.WaitReason = a.cfg.Engine.WhyPending(r.Context(), j, agents)
		out = append(out, apiv1.QueuedJob{Job: jobView(j), WaitingFor: now.Sub(j.QueuedAt)})
	}
	return writeJSON(w, http.StatusOK, out)
}

// createAgentToken makes a token agents register with. The token is
// returned once and stored hashed.
func (a *API) createAgentToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req apiv1.AgentTokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Name == "" {
		req.Name = "agent token"
	}
	t := &store.Token{UserID: c.user.ID, Name: req.Name, Kind: store.TokenAgent, AgentType: req.Type}
	tok, err := a.issueToken(r.Context(), t, "bag_", audit.Event{Action: audit.AgentTokenCreated, Detail: "type=" + req.Type})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, apiv1.AgentTokenCreated{ID: t.ID, Token: tok, Type: req.Type})
}
