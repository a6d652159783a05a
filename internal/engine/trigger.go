package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/containerjob"
	"github.com/batonci/baton/internal/gitrepo"
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/jobenv"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/pipeline"
	"github.com/batonci/baton/internal/pipelinestate"
	"github.com/batonci/baton/internal/plan"
	"github.com/batonci/baton/internal/repocache"
	"github.com/batonci/baton/internal/repourl"
	"github.com/batonci/baton/internal/store"
)

// DefaultPipelineFile is the initial pipeline of a project that names none.
const DefaultPipelineFile = ".semaphore/semaphore.yml"

// TriggerRequest asks for a new workflow.
type TriggerRequest struct {
	Project *ci.Project
	Trigger ci.Trigger
	// RefType is "branch", "tag" or "pull-request"; Branch, Tag, PR and
	// PRBranch are as in ci.Workflow (Branch is a pull request's base).
	RefType, Branch, Tag, PR, PRBranch string
	// SHA is the commit to build; when empty it is resolved from the ref.
	// For a pull request it is the merge commit, PRSHA the head, PRName
	// the title and PRSlug the head repository (owner/name).
	SHA, PRSHA, PRName, PRSlug string
	// PRAuthor is who opened the pull request. A pull request's workflow
	// is titled with its title and author, not its merge commit's
	// ("Merge <sha> into <sha>" by Baton).
	PRAuthor string
	// PRHeadURL is where a fork's head is fetched from ("" when the head
	// is in the project's repository); agents make the merge commit too.
	PRHeadURL string
	// CommitRange is the pushed range "<first>...<last>", if known.
	CommitRange string
	// TriggeredBy is the login of whoever asked.
	TriggeredBy string
	// PipelineFile is the initial pipeline; "" means the project's.
	PipelineFile string
	// Params are parameter values exported in every job and substituted
	// into ${{parameters.NAME}}; the workflow records them.
	Params map[string]string
	// Schedule names the schedule that asks (trigger "schedule").
	Schedule string
	// ScheduleID and ScheduleTick, when set, are the claimed tick of a
	// schedule this workflow runs: its creation takes the tick's pending
	// run in its transaction (store.Tx.TakeScheduleRun), so that a tick
	// creates one workflow even when two servers try (an error wrapping
	// store.ErrScheduleRunTaken, and no workflow, for the late one).
	ScheduleID   string
	ScheduleTick time.Time
	// RerunOf is the workflow this one rebuilds.
	RerunOf string
	// PRFromFork says the pull request's head is in another repository (a
	// fork): its jobs get only the secrets that allow forks (the others
	// are withheld, which their logs say) and cannot write to the cache.
	PRFromFork bool
	// KeepOnFailure keeps the jobs that fail alive this long, so that a
	// user can attach (debug.go); 0 means not at all.
	KeepOnFailure time.Duration
	// Reuse, when set, shares the commit's reads and the pipeline's
	// compile with the other requests given the same Reuse.
	Reuse *Reuse
}

// RefMismatchError refuses a manual run that names a branch or tag and a
// commit that is not its head: the label would vouch for a commit the
// ref does not hold (deployment targets' branch rules check it).
type RefMismatchError struct {
	Ref, SHA, Head string
}

func (e *RefMismatchError) Error() string {
	kind, name := "branch", strings.TrimPrefix(e.Ref, "refs/heads/")
	if tag, ok := strings.CutPrefix(e.Ref, "refs/tags/"); ok {
		kind, name = "tag", tag
	}
	return fmt.Sprintf("commit %s is not the head of %s %s (its head is %s): a run that names a commit must name the %s's head, or name no commit",
		e.SHA, kind, name, e.Head, kind)
}

// verifyRef sets the request's SHA when it has none (the ref's head) and
// returns the ref that vouches for it (Workflow.RefVerified):
//   - no SHA: the ref, resolved in the repository now;
//   - a manual run naming a commit: the commit must be the ref's head now
//     (a full SHA or a prefix of at least 7 characters), else a
//     *RefMismatchError;
//   - a rebuild: what vouched for the original workflow;
//   - a push (a signed webhook, or polling): the pushed ref;
//   - a pull request: nothing (targets check AllowPRs, not branches).
func (e *Engine) verifyRef(ctx context.Context, req *TriggerRequest) (string, error) {
	proj := req.Project
	named := req.RefType == "branch" || req.RefType == "tag"
	switch {
	case req.SHA == "":
		sha, err := e.cfg.Repos.Project(proj.ID).Resolve(ctx, proj.RepoURL, req.ref())
		if err != nil {
			return "", fmt.Errorf("trigger: resolve %s: %w", req.ref(), err)
		}
		req.SHA = sha
	case req.RerunOf != "":
		orig, err := e.db.GetWorkflow(ctx, req.RerunOf)
		if err != nil {
			return "", fmt.Errorf("trigger: %w", err)
		}
		return orig.RefVerified, nil
	case req.Trigger == ci.TriggerManual && named:
		head, err := e.cfg.Repos.Project(proj.ID).Resolve(ctx, proj.RepoURL, req.ref())
		if err != nil {
			return "", fmt.Errorf("trigger: resolve %s: %w", req.ref(), err)
		}
		if head != req.SHA && (len(req.SHA) < 7 || !strings.HasPrefix(head, strings.ToLower(req.SHA))) {
			return "", &RefMismatchError{Ref: req.ref(), SHA: req.SHA, Head: head}
		}
		req.SHA = head
	}
	if !named {
		return "", nil
	}
	return req.ref(), nil
}

// ref is the git ref a request names.
func (r *TriggerRequest) ref() string {
	switch r.RefType {
	case "tag":
		return "refs/tags/" + r.Tag
	case "pull-request":
		return "refs/pull/" + r.PR + "/head"
	}
	return "refs/heads/" + r.Branch
}

// Trigger creates a workflow and its initial pipeline for a git event or a
// manual run. It reads the pipeline file at the commit and compiles it; an
// invalid file gives a pipeline that is done and failed (malformed) with
// its diagnostics, and no jobs. A head commit whose message asks to skip CI
// gives ErrSkipCI and no workflow (not for tags, manual runs and
// rebuilds). Errors reaching the repository wrap "resolve" or "fetch".
func (e *Engine) Trigger(ctx context.Context, req TriggerRequest) (*ci.Workflow, error) {
	proj := req.Project
	if proj == nil {
		return nil, errors.New("trigger: no project")
	}
	if req.RefType == "" {
		req.RefType = "branch"
	}
	if req.RefType == "branch" && req.Branch == "" {
		req.Branch = proj.DefaultBranch
	}
	verified, err := e.verifyRef(ctx, &req)
	if err != nil {
		return nil, err
	}
	info, err := req.Reuse.commit(proj.ID, req.SHA, func() (repocache.CommitInfo, error) {
		return e.cfg.Repos.Project(proj.ID).Commit(ctx, proj.RepoURL, req.SHA)
	})
	if err != nil {
		return nil, fmt.Errorf("trigger: fetch commit %s: %w", req.SHA, err)
	}
	hook := req.Trigger == ci.TriggerPush || req.Trigger == ci.TriggerPR
	if hook && req.RefType != "tag" && skipCI(info.Message) {
		return nil, ErrSkipCI
	}
	file := req.PipelineFile
	if file == "" {
		file = proj.PipelineFile
	}
	if file == "" {
		file = DefaultPipelineFile
	}
	wf := &ci.Workflow{
		ID:          ids.New(),
		ProjectID:   proj.ID,
		Trigger:     req.Trigger,
		RefType:     req.RefType,
		Branch:      req.Branch,
		Tag:         req.Tag,
		PR:          req.PR,
		PRBranch:    req.PRBranch,
		PRSHA:       req.PRSHA,
		PRName:      req.PRName,
		PRSlug:      req.PRSlug,
		PRHeadURL:   req.PRHeadURL,
		SHA:         req.SHA,
		CommitRange: req.CommitRange,
		Message:     info.Message,
		Author:      info.AuthorName,
		TriggeredBy: req.TriggeredBy,
		RerunOf:     req.RerunOf,
		CreatedAt:   e.now(),
		PRFork:      req.PRFromFork && req.RefType == "pull-request",
		RefVerified: verified,
		Schedule:    req.Schedule,
		Parameters:  req.Params,
	}
	if wf.RefType == "pull-request" {
		wf.Message = cmp.Or(req.PRName, wf.Message)
		wf.Author = cmp.Or(req.PRAuthor, wf.Author)
	}
	envTrigger := jobenvTrigger(wf.Trigger)
	if req.RerunOf != "" {
		if orig, err := e.db.GetWorkflow(ctx, req.RerunOf); err == nil && orig.Trigger != ci.TriggerRebuild {
			envTrigger = jobenvTrigger(orig.Trigger)
		}
	}
	pins, err := e.newPins(ctx, &req)
	if err != nil {
		return nil, fmt.Errorf("trigger: %w", err)
	}
	c := req.Reuse.compile(compileKey(proj, wf, file, req.Params, pins), func() *compiled {
		return e.compile(ctx, proj, wf, file, req.Params, pins)
	})
	b := &builder{
		project:   proj,
		wf:        wf,
		committer: info.CommitterName,
		trigger:   envTrigger,
		baseURL:   e.cfg.BaseURL,
		now:       e.now(),
		keep:      req.KeepOnFailure,
	}
	// The number is taken before the transaction, which then holds no
	// lock on the project's counter (see ReserveWorkflowNumber).
	if wf.Number, err = e.db.ReserveWorkflowNumber(ctx, proj.ID); err != nil {
		return nil, fmt.Errorf("trigger: %w", err)
	}
	var p *ci.Pipeline
	err = e.db.Tx(ctx, func(tx *store.Tx) error {
		if req.ScheduleID != "" {
			if err := tx.TakeScheduleRun(req.ScheduleID, req.ScheduleTick); err != nil {
				return err
			}
		}
		w := *wf
		if err := tx.CreateWorkflow(&w); err != nil {
			return err
		}
		if err := tx.SetWorkflowLibraries(w.ID, pins); err != nil {
			return err
		}
		b.wf = &w
		b.now = e.now() // queue order follows creation order as closely as possible
		var err error
		p, err = e.create(tx, b, c, "", nil)
		if err != nil {
			return err
		}
		if err := tx.AddLibraryUses(libraryUses(c, p)); err != nil {
			return err
		}
		*wf = w
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("trigger: %w", err)
	}
	e.log.Info("workflow created", "workflow", wf.ID, "number", wf.Number, "project", proj.Name, "pipeline", p.ID, "state", p.State)
	e.afterCreate(context.WithoutCancel(ctx), p, true)
	if got, err := e.db.GetWorkflow(ctx, wf.ID); err == nil {
		wf = got
	}
	return wf, nil
}

// afterCreate applies a new pipeline's auto_cancel strategy to the older
// pipelines of its queue, then advances it.
func (e *Engine) afterCreate(ctx context.Context, p *ci.Pipeline, autoCancel bool) {
	if p.State == ci.StateDone {
		e.observe(ctx, p) // created done: a malformed pipeline file
		return
	}
	if autoCancel && p.AutoCancel != "" {
		e.autoCancel(ctx, p)
	}
	if err := e.mutate(ctx, p.ID, nil); err != nil {
		e.log.Error("advance new pipeline", "pipeline", p.ID, "err", err)
	}
}

// autoCancel ends the older unfinished pipelines of p's queue as p's
// strategy says (docs/semaphore.md §1.10): "stop" stops them even if they run;
// "cancel" cancels those that have not started.
func (e *Engine) autoCancel(ctx context.Context, p *ci.Pipeline) {
	ps, err := e.db.QueuePipelines(ctx, p.ProjectID, p.Queue, p.QueueScope)
	if err != nil {
		e.log.Error("read queue", "queue", p.Queue, "err", err)
		return
	}
	for _, o := range ps {
		if o.ID == p.ID {
			break
		}
		err := e.mutate(ctx, o.ID, func(*store.Tx, *ci.Pipeline) (pipelinestate.Event, error) {
			return pipelinestate.Event{Kind: pipelinestate.Supersede, Strategy: p.AutoCancel}, nil
		})
		if err != nil {
			e.log.Error("auto-cancel", "pipeline", o.ID, "by", p.ID, "err", err)
		}
	}
}

// skipCI reports whether a commit message asks not to build (docs/semaphore.md §10.1).
func skipCI(msg string) bool {
	return strings.Contains(msg, "[skip ci]") || strings.Contains(msg, "[ci skip]")
}

// jobenvTrigger maps a workflow's trigger to jobenv's vocabulary.
func jobenvTrigger(t ci.Trigger) string {
	switch t {
	case ci.TriggerManual:
		return "manual"
	case ci.TriggerSchedule:
		return "schedule"
	}
	return "hook"
}

// compiled is a pipeline file read and compiled for an event, or the
// diagnostics that make it malformed.
type compiled struct {
	file  string
	name  string
	graph *plan.Graph
	diags string
	// libraries are the library files the pipeline uses, read at pins.
	libraries []pipeline.LibraryFile
	pins      map[string]store.LibraryPin
	// problems are the file's errors, or the warnings of a valid file.
	problems []ci.Diagnostic
}

// compile reads and compiles a pipeline file at the workflow's commit,
// with the script libraries at the workflow's pins.
func (e *Engine) compile(ctx context.Context, proj *ci.Project, wf *ci.Workflow, file string, params map[string]string, pins []store.LibraryPin) *compiled {
	c := &compiled{file: file, name: file, pins: map[string]store.LibraryPin{}}
	for _, p := range pins {
		c.pins[p.Name] = p
	}
	fsys := commitFS(ctx, e.cfg.Repos.Project(proj.ID), proj.RepoURL, wf.SHA)
	pl, diags := pipeline.LoadWith(fsys, file, e.loadOptions(ctx, pins))
	if pl != nil {
		c.libraries = pl.LibraryFiles
	}
	if len(diags) > 0 {
		c.diags, c.problems = diags.Error(), problems(diags, ci.SeverityError)
		return c
	}
	c.name = pl.Name
	c.problems = problems(pl.Warnings, ci.SeverityWarning)
	g, err := plan.Compile(pl, plan.Input{
		Event:        planEvent(proj, wf),
		PipelineFile: file,
		Params:       params,
		ChangedFiles: func(rng string) ([]string, error) {
			return e.cfg.Repos.Project(proj.ID).ChangedFiles(ctx, proj.RepoURL, rng)
		},
	})
	if err != nil {
		c.diags = err.Error()
		var ds pipeline.Diagnostics
		if errors.As(err, &ds) {
			c.problems = problems(ds, ci.SeverityError)
		} else {
			c.problems = []ci.Diagnostic{{Message: err.Error(), Severity: ci.SeverityError}}
		}
		return c
	}
	c.graph = g
	c.name = g.Name
	return c
}

// problems turns a pipeline file's diagnostics into the pipeline's
// stored problems, each with severity sev.
func problems(ds pipeline.Diagnostics, sev ci.Severity) []ci.Diagnostic {
	var out []ci.Diagnostic
	for _, d := range ds {
		out = append(out, ci.Diagnostic{File: d.Pos.File, Line: d.Pos.Line, Column: d.Pos.Col, Message: d.Message, Severity: sev})
	}
	return out
}

// partialRerunModes collects the partial_rerun settings of a pipeline
// (docs/semaphore.md §1.14) by block name; "" holds the pipeline's own.
func partialRerunModes(pl *pipeline.Pipeline) map[string]string {
	m := map[string]string{"": pl.PartialRerun}
	for _, b := range pl.Blocks {
		m[b.Name] = b.PartialRerun
	}
	return m
}

// planEvent is the git event of a workflow, as plan needs it.
func planEvent(proj *ci.Project, wf *ci.Workflow) plan.Event {
	ev := plan.Event{
		RefType:       wf.RefType,
		Branch:        wf.Branch,
		Tag:           wf.Tag,
		SHA:           wf.SHA,
		CommitRange:   wf.CommitRange,
		DefaultBranch: proj.DefaultBranch,
	}
	if wf.RefType == "pull-request" {
		ev.PR = &plan.PullRequest{Number: wf.PR, Name: wf.PRName, HeadBranch: wf.PRBranch,
			HeadSHA: cmp.Or(wf.PRSHA, wf.SHA), HeadSlug: wf.PRSlug, FromFork: wf.PRFork}
	}
	return ev
}

// commitFS is the file tree of one commit, read through the repository
// cache, for pipeline.LoadWith. It lives for one compile call, which is
// why it holds a context.
func commitFS(ctx context.Context, repos *repocache.Cache, url, sha string) fs.FS {
	return repocache.FileFS(func(name string) ([]byte, error) { return repos.ReadFile(ctx, url, sha, name) })
}

// builder creates the rows of a pipeline from a compiled graph.
type builder struct {
	project   *ci.Project
	wf        *ci.Workflow
	committer string
	trigger   string // jobenv trigger
	baseURL   string
	now       time.Time
	// promo, when set, makes the pipeline a promoted one (promote.go).
	promo *promotedInfo
	// keep is the jobs' jobspec.Job.KeepOnFailure.
	keep time.Duration
	// debugTarget is the deployment target of the job a debug job
	// reproduces: the debug pipeline gets its secrets but not its queue.
	debugTarget string
}

// rerunPlan says, for a partial rerun, what to reuse of the original.
type rerunPlan struct {
	orig *ci.Pipeline
	// rerun holds the names of the blocks that run again.
	rerun map[string]bool
	// partialJobs is true when passed jobs of a rerun block are reused.
	partialJobs func(block string) bool
}

// create stores a pipeline of the workflow with its blocks and jobs. For a
// partial rerun, rp says which blocks and jobs are reused.
func (b *builder) create(tx *store.Tx, c *compiled, promotedBy string, rp *rerunPlan) (*ci.Pipeline, error) {
	p := &ci.Pipeline{
		ID:         ids.New(),
		WorkflowID: b.wf.ID,
		ProjectID:  b.project.ID,
		Name:       c.name,
		File:       c.file,
		State:      ci.StatePending,
		PromotedBy: promotedBy,
		CreatedAt:  b.now,
	}
	if rp != nil {
		p.PartialRerun = rp.orig.ID
		p.PromotionOf, p.PromotedBy = rp.orig.PromotionOf, rp.orig.PromotedBy
		p.Promotion, p.DeploymentTarget = rp.orig.Promotion, rp.orig.DeploymentTarget
	}
	b.promo.apply(p)
	if c.graph == nil {
		p.State, p.Result, p.Reason = ci.StateDone, ci.ResultFailed, ci.ReasonMalformed
		p.Diagnostics, p.Problems = c.diags, c.problems
		p.DoneAt = b.now
		if err := tx.CreatePipeline(p); err != nil {
			return nil, err
		}
		return p, nil
	}
	g := c.graph
	raw, err := encodeGraph(g)
	if err != nil {
		return nil, err
	}
	p.Graph, p.Problems = raw, c.problems
	p.Queue, p.QueueScope = g.Queue.Name, g.Queue.Scope
	p.Parallel = g.Queue.Processing == "parallel"
	targetQueue(p)
	if b.debugTarget != "" {
		p.DeploymentTarget = b.debugTarget
	}
	p.AutoCancel, p.FailFast = g.AutoCancel, g.FailFast
	p.TimeLimit = g.TimeLimit.D()
	if err := tx.CreatePipeline(p); err != nil {
		return nil, err
	}
	// The rows are inserted together at the end, blocks before jobs.
	var blocks []*ci.Block
	var jobs []*ci.Job
	origBlocks := map[string]*ci.Block{}
	if rp != nil {
		for _, ob := range rp.orig.Blocks {
			if !ob.AfterPipeline {
				origBlocks[ob.Name] = ob
			}
		}
	}
	for i, pb := range g.Blocks {
		blk := &ci.Block{
			ID:           ids.New(),
			PipelineID:   p.ID,
			Index:        i,
			Name:         pb.Name,
			Dependencies: pb.Dependencies,
			State:        ci.StatePending,
			Skipped:      pb.Skipped,
			TimeLimit:    pb.TimeLimit.D(),
			FailFast:     pb.FailFast,
		}
		ob := origBlocks[pb.Name]
		if rp != nil && ob != nil && !rp.rerun[pb.Name] {
			// Not rerun: the block keeps its original outcome.
			blk.State, blk.Result, blk.Reason = ci.StateDone, ob.Result, ob.Reason
			blk.StartedAt, blk.DoneAt = ob.StartedAt, ob.DoneAt
		}
		blocks = append(blocks, blk)
		for k, pj := range pb.Jobs {
			var oj *ci.Job
			if ob != nil && k < len(ob.Jobs) && ob.Jobs[k].Name == pj.Name {
				oj = ob.Jobs[k]
			}
			reuse := false
			if rp != nil && oj != nil && oj.Result == ci.ResultPassed {
				reuse = !rp.rerun[pb.Name] || rp.partialJobs(pb.Name)
			}
			j, err := b.job(p, g, blk, pb, pj, k, oj, reuse)
			if err != nil {
				return nil, err
			}
			jobs = append(jobs, j)
		}
	}
	if ap := g.AfterPipeline; ap != nil {
		blk := &ci.Block{
			ID:            ids.New(),
			PipelineID:    p.ID,
			Index:         len(g.Blocks),
			Name:          ap.Name,
			Dependencies:  []string{},
			State:         ci.StatePending,
			AfterPipeline: true,
		}
		blocks = append(blocks, blk)
		for k, pj := range ap.Jobs {
			j, err := b.job(p, g, blk, ap, pj, k, nil, false)
			if err != nil {
				return nil, err
			}
			jobs = append(jobs, j)
		}
	}
	if err := tx.CreateBlocks(blocks); err != nil {
		return nil, err
	}
	if err := tx.CreateJobs(jobs); err != nil {
		return nil, err
	}
	return p, nil
}

// job makes the row of one planned job. orig is the job it reruns, if
// any; reuse keeps orig's passed result instead of running it again.
func (b *builder) job(p *ci.Pipeline, g *plan.Graph, blk *ci.Block, pb *plan.Block, pj *plan.Job, index int, orig *ci.Job, reuse bool) (*ci.Job, error) {
	j := &ci.Job{
		ID:          ids.New(),
		PipelineID:  p.ID,
		BlockID:     blk.ID,
		ProjectID:   p.ProjectID,
		Index:       index,
		Name:        pj.Name,
		State:       ci.StatePending,
		MachineType: pj.Agent.MachineType,
		Priority:    pj.Priority,
		TimeLimit:   jobTimeLimit(g, pb, pj),
		CreatedAt:   b.now,
		NeedsDocker: containerjob.Needs(pj.Agent),
	}
	if reuse {
		j.State, j.Result, j.Reason = ci.StateDone, ci.ResultPassed, ReasonReused
		if orig.Reason == ci.ReasonSkipped {
			j.Reason = ci.ReasonSkipped
		}
		j.AgentID, j.StartedAt, j.DoneAt = orig.AgentID, orig.StartedAt, orig.DoneAt
		j.Spec = orig.Spec
		return j, nil
	}
	var extra []jobspec.Var
	if orig != nil {
		extra = []jobspec.Var{{Name: "SEMAPHORE_JOB_RERUN", Value: "true"}, {Name: "SEMAPHORE_JOB_ORIGINAL_ID", Value: orig.ID}}
	}
	spec, err := b.spec(p, blk, pj, j, extra)
	if err != nil {
		return nil, err
	}
	j.Spec = spec
	return j, nil
}

// jobTimeLimit is a job's effective limit: its own, else its block's,
// else the pipeline's (docs/semaphore.md §1.12).
func jobTimeLimit(g *plan.Graph, pb *plan.Block, pj *plan.Job) time.Duration {
	switch {
	case pj.TimeLimit > 0:
		return pj.TimeLimit.D()
	case pb.TimeLimit > 0:
		return pb.TimeLimit.D()
	}
	return g.TimeLimit.D()
}

// git describes the workflow's commit for jobenv.
func (b *builder) git() jobenv.Git {
	url := b.project.RepoURL
	slug := gitrepo.SlugFromURL(url)
	if slug == "" {
		slug = b.project.Name
	}
	g := jobenv.Git{
		Provider:     gitProvider(b.project.Forge),
		URL:          repourl.Redact(url),
		RepoName:     slug[strings.LastIndexByte(slug, '/')+1:],
		Slug:         slug,
		SHA:          b.wf.SHA,
		RefType:      b.wf.RefType,
		Branch:       b.wf.Branch,
		Tag:          b.wf.Tag,
		CommitRange:  b.wf.CommitRange,
		CommitAuthor: b.wf.Author,
		Committer:    b.committer,
	}
	if b.wf.RefType == "pull-request" {
		g.PRNumber, g.PRBranch, g.PRSHA, g.PRSlug = b.wf.PR, b.wf.PRBranch, cmp.Or(b.wf.PRSHA, b.wf.SHA), cmp.Or(b.wf.PRSlug, slug)
		g.PRName = cmp.Or(b.wf.PRName, "Pull request "+b.wf.PR)
	}
	return g
}

// spec builds the runnable job stored with a job row: commands,
// epilogues, the system variables and the YAML variables. Secret values
// are added only when the job is assigned (Engine.Assignment).
func (b *builder) spec(p *ci.Pipeline, blk *ci.Block, pj *plan.Job, j *ci.Job, extra []jobspec.Var) (json.RawMessage, error) {
	jc := jobenv.Context{
		ProjectName:     b.project.Name,
		ProjectID:       b.project.ID,
		OrganizationURL: b.baseURL,
		WorkflowID:      b.wf.ID,
		WorkflowNumber:  b.wf.Number,
		Trigger:         b.trigger,
		TriggeredBy:     b.wf.TriggeredBy,
		Rerun:           b.wf.RerunOf != "",
		PipelineID:      p.ID,
		PipelineName:    p.Name,
		PromotedBy:      p.PromotedBy,
		PipelineRerun:   p.PartialRerun != "",
		BlockName:       blk.Name,
		JobID:           j.ID,
		JobName:         j.Name,
		JobCreated:      j.CreatedAt,
		MachineType:     pj.Agent.MachineType,
		OSImage:         pj.Agent.OSImage,
		Container:       len(pj.Agent.Containers) > 0,
		Git:             b.git(),
	}
	// Secrets and the containers' secret values are added when the job
	// is assigned (Engine.Assignment).
	rj := jobenv.Build(pj, jc, jobenv.Input{System: extra})
	rj.TimeLimit, rj.KeepOnFailure = j.TimeLimit, b.keep
	raw, err := json.Marshal(rj)
	if err != nil {
		return nil, fmt.Errorf("encode job %s: %w", j.Name, err)
	}
	return raw, nil
}

// afterPipelineSpec adds the SEMAPHORE_PIPELINE_* variables of docs/semaphore.md §1.11
// to an after_pipeline job's stored spec, now that the pipeline's result
// is known. They are appended after the YAML variables, as localrun does.
func afterPipelineSpec(spec json.RawMessage, p *ci.Pipeline, result ci.Result, reason ci.Reason, doneAt time.Time) (json.RawMessage, error) {
	var rj jobspec.Job
	if err := json.Unmarshal(spec, &rj); err != nil {
		return nil, fmt.Errorf("decode job spec: %w", err)
	}
	started := p.StartedAt
	if started.IsZero() {
		started = doneAt
	}
	vars := jobenv.AfterPipeline(jobenv.PipelineOutcome{Result: string(result), Reason: string(reason),
		Created: p.CreatedAt, Started: started, Done: doneAt})
	rj.Env = jobenv.Merge(rj.Env, vars)
	raw, err := json.Marshal(rj)
	if err != nil {
		return nil, fmt.Errorf("encode job spec: %w", err)
	}
	return raw, nil
}

// BranchHead returns the head commit of a branch of the project's
// repository, fetched now; an error wrapping repocache.ErrUnknownRevision
// says there is no such branch.
func (e *Engine) BranchHead(ctx context.Context, proj *ci.Project, branch string) (string, error) {
	return e.cfg.Repos.Project(proj.ID).Resolve(ctx, proj.RepoURL, "refs/heads/"+branch)
}
