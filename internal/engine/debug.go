package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/plan"
	"github.com/batonci/baton/internal/store"
)

// Debug jobs (baton debug, docs/semaphore.md §8).
const (
	// DefaultDebugDuration is how long a debug job waits for its user
	// when the request says nothing.
	DefaultDebugDuration = 60 * time.Minute
	// MaxDebugDuration is the longest debug job a user may ask for.
	MaxDebugDuration = 4 * time.Hour
)

// DebugRequest asks for a debug job of a job.
type DebugRequest struct {
	JobID string
	// UserID, Login and Role (in the job's project: "admin" or "write")
	// are who asks; a deployment target's rules check Login and Role.
	UserID, Login, Role string
	// Duration bounds the session (DefaultDebugDuration if 0).
	Duration time.Duration
}

// DebugLimitError refuses a debug job longer than MaxDebugDuration.
type DebugLimitError struct{ Asked, Max time.Duration }

func (e *DebugLimitError) Error() string {
	return fmt.Sprintf("a debug job may last at most %v, not %v", e.Max, e.Asked)
}

// Debug creates a debug job of a job: a new pipeline of one block and
// one job in the same workflow (so the original pipeline's result does
// not change, and no promotion follows it), with the same definition as
// the original (agent, containers, variables, secrets under the same rules,
// fork rules included, checkout), whose commands are not run but written
// to ~/commands.sh (jobspec.Job.Debug) and which waits at most d for its
// debug session. Its jobs see SEMAPHORE_JOB_TYPE=debug_job.
//
// A debug job of a job that deploys to a deployment target receives the
// target's secrets, like the original: it is made only for a user the
// target's rules allow to deploy (CheckTarget; otherwise a
// *RefusedError), and its pipeline stays out of the target's queue.
func (e *Engine) Debug(ctx context.Context, req DebugRequest) (*ci.Job, error) {
	jobID, userID, d := req.JobID, req.UserID, req.Duration
	if d <= 0 {
		d = DefaultDebugDuration
	}
	if d > MaxDebugDuration {
		return nil, &DebugLimitError{Asked: d, Max: MaxDebugDuration}
	}
	d = d.Truncate(time.Second)
	orig, err := e.db.GetJob(ctx, jobID)
	if err != nil {
		return nil, fmt.Errorf("debug: %w", err)
	}
	p, err := e.db.GetPipeline(ctx, orig.PipelineID)
	if err != nil {
		return nil, fmt.Errorf("debug: %w", err)
	}
	if err := e.CheckTarget(ctx, p, req.Login, req.Role, TargetDebug); err != nil {
		return nil, err
	}
	if len(p.Graph) == 0 {
		return nil, fmt.Errorf("debug: %w: the pipeline definition is invalid", store.ErrConflict)
	}
	g, err := decodeGraph(p.Graph)
	if err != nil {
		return nil, fmt.Errorf("debug: %w", err)
	}
	blocks, err := e.db.ListBlocks(ctx, p.ID)
	if err != nil {
		return nil, fmt.Errorf("debug: %w", err)
	}
	var pj *plan.Job
	for _, b := range blocks {
		if b.ID == orig.BlockID {
			pj = planJob(g, b.Index, orig.Index, b.AfterPipeline)
		}
	}
	if pj == nil {
		return nil, fmt.Errorf("debug: %w: job %s is not in its pipeline's definition", store.ErrConflict, jobID)
	}
	wf, err := e.db.GetWorkflow(ctx, p.WorkflowID)
	if err != nil {
		return nil, fmt.Errorf("debug: %w", err)
	}
	proj, err := e.db.GetProject(ctx, p.ProjectID)
	if err != nil {
		return nil, fmt.Errorf("debug: %w", err)
	}
	dj := *pj
	dj.TimeLimit = plan.Duration(d)
	name := "Debug: " + orig.Name
	dg := &plan.Graph{
		Name:      name,
		File:      g.File,
		Blocks:    []*plan.Block{{Name: name, Dependencies: []string{}, Jobs: []*plan.Job{&dj}}},
		TimeLimit: plan.Duration(d + time.Minute),
		Queue:     plan.Queue{Name: "debug-" + jobID, Scope: "project", Processing: "parallel"},
		Params:    g.Params,
	}
	committer := wf.Author
	if info, err := e.cfg.Repos.Project(proj.ID).Commit(ctx, proj.RepoURL, wf.SHA); err == nil {
		committer = info.CommitterName
	}
	b := &builder{project: proj, wf: wf, committer: committer, trigger: jobenvTrigger(wf.Trigger), baseURL: e.cfg.BaseURL, now: e.now(),
		debugTarget: p.DeploymentTarget}
	var np *ci.Pipeline
	var job *ci.Job
	err = e.db.Tx(ctx, func(tx *store.Tx) error {
		var err error
		np, err = e.create(tx, b, &compiled{file: p.File, name: name, graph: dg}, p.PromotedBy, nil)
		if err != nil {
			return err
		}
		jobs, err := tx.ListJobs(np.ID)
		if err != nil {
			return err
		}
		if len(jobs) != 1 {
			return fmt.Errorf("debug pipeline has %d jobs", len(jobs))
		}
		job = jobs[0]
		var rj jobspec.Job
		if err := json.Unmarshal(job.Spec, &rj); err != nil {
			return err
		}
		rj.Debug = true
		rj.TimeLimit = d
		for i, v := range rj.Env {
			if v.Name == "SEMAPHORE_JOB_TYPE" {
				rj.Env[i].Value = "debug_job"
			}
		}
		if job.Spec, err = json.Marshal(rj); err != nil {
			return err
		}
		job.TimeLimit = d
		if err := tx.UpdateJob(job); err != nil {
			return err
		}
		return tx.RecordDebugJob(job.ID, orig.ID, userID, e.now())
	})
	if err != nil {
		return nil, fmt.Errorf("debug: %w", err)
	}
	e.log.Info("debug job created", "job", job.ID, "of", orig.ID, "pipeline", np.ID, "duration", d)
	e.afterCreate(context.WithoutCancel(ctx), np, false)
	if got, err := e.db.GetJob(ctx, job.ID); err == nil {
		job = got
	}
	return job, nil
}
