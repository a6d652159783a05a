package store

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
)

// testHandout: GetHandout reads in one statement what GetJobStart,
// GetPipeline, GetWorkflow, GetProject, ListBlocks and ListGlobalTools
// read of a job, each row the job's own: of two projects, each with its
// workflow, pipeline and two blocks, a job is never given the other
// project's rows nor its pipeline's other block.
func testHandout(t *testing.T, e *testEnv) {
	db := e.open(t)
	ctx := t.Context()
	a := newSeed(t, db, "a")
	// The second project's rows have every column set, and set otherwise
	// than the first's, so that a column read from the wrong table, the
	// wrong row or the wrong place shows.
	bp := &ci.Project{Name: "b", RepoURL: "https://example.com/b.git", DefaultBranch: "trunk",
		PipelineFile: ".semaphore/b.yml", Public: true, PollInterval: 90 * time.Second,
		WebhookSecret: "s3cret", Forge: "gitea", ForgeURL: "https://gitea.example.com",
		ForgeRepo: "ada/b", ForgeToken: "sealed-token", CreatedAt: at(8, 0, 0), DeploymentDetailsPublic: true}
	bw := &ci.Workflow{Trigger: ci.TriggerPR, RefType: "pull-request", Branch: "main", Tag: "v1",
		PR: "42", PRBranch: "feature", PRFork: true, PRSHA: "89abcdef", PRName: "Add a thing",
		PRSlug: "forker/b", PRHeadURL: "https://git.example.com/forker/b.git", SHA: "01234567",
		CommitRange: "aaa...bbb", Message: "Add a thing", Author: "Ada <ada@example.com>",
		TriggeredBy: "ada", RerunOf: "an-earlier-one", Schedule: "nightly",
		Parameters: map[string]string{"ENV": "staging"}, CreatedAt: at(9, 0, 0), RefVerified: "refs/heads/main"}
	bpl := &ci.Pipeline{Name: "Deploy", File: ".semaphore/deploy.yml", State: ci.StateRunning,
		Queue: "production", QueueScope: "organization", Parallel: true, AutoCancel: "stop",
		FailFast: "cancel", TimeLimit: 2 * time.Hour, Graph: json.RawMessage(`{"blocks": [1]}`),
		Diagnostics: "deploy.yml:3:5: unknown key", Problems: []ci.Diagnostic{{File: "deploy.yml", Line: 3, Column: 5, Message: "unknown key", Severity: ci.SeverityWarning}},
		PromotionOf: a.pipeline.ID, PromotedBy: "ada", PartialRerun: a.pipeline.ID, Promotion: "Production",
		DeploymentTarget: "production", CreatedAt: at(10, 0, 0), StartedAt: at(10, 0, 1)}
	var bFirst, bSecond, aSecond *ci.Block
	var aJob, bJob *ci.Job
	write(t, db, func(tx *Tx) error {
		if err := tx.CreateProject(bp); err != nil {
			return err
		}
		bw.ProjectID = bp.ID
		if err := tx.CreateWorkflow(bw); err != nil {
			return err
		}
		bpl.WorkflowID, bpl.ProjectID = bw.ID, bp.ID
		if err := tx.CreatePipeline(bpl); err != nil {
			return err
		}
		bFirst = &ci.Block{PipelineID: bpl.ID, Index: 0, Name: "Build", State: ci.StateRunning}
		bSecond = &ci.Block{PipelineID: bpl.ID, Index: 1, Name: "After", Dependencies: []string{"Build"},
			State: ci.StateRunning, TimeLimit: time.Minute, FailFast: "stop", StartedAt: at(10, 1, 0), AfterPipeline: true}
		aSecond = &ci.Block{PipelineID: a.pipeline.ID, Index: 1, Name: "Test", State: ci.StatePending}
		if err := tx.CreateBlocks([]*ci.Block{bFirst, bSecond, aSecond}); err != nil {
			return err
		}
		aJob = a.job("a", "linux", 0, at(9, 0, 0))
		aJob.BlockID = aSecond.ID
		bJob = &ci.Job{PipelineID: bpl.ID, BlockID: bSecond.ID, ProjectID: bp.ID, Index: 0, Name: "b",
			State: ci.StateRunning, MachineType: "linux", QueuedAt: at(10, 1, 0), StartedAt: at(10, 1, 1)}
		for _, j := range []*ci.Job{aJob, bJob, a.job("other", "linux", 0, at(9, 0, 0))} {
			if err := tx.CreateJob(j); err != nil {
				return err
			}
		}
		return nil
	})
	allSet(t, bp)
	allSet(t, bw, "State", "Result")
	allSet(t, bpl, "Blocks", "DetailsHidden", "Result", "Reason", "DoneAt")

	check := func(t *testing.T, job *ci.Job, block *ci.Block, tools []ci.GlobalTool) {
		t.Helper()
		start, err := db.GetJobStart(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		p, err := db.GetPipeline(ctx, job.PipelineID)
		if err != nil {
			t.Fatal(err)
		}
		w, err := db.GetWorkflow(ctx, p.WorkflowID)
		if err != nil {
			t.Fatal(err)
		}
		w.State, w.Result = "", "" // derived: not read
		proj, err := db.GetProject(ctx, job.ProjectID)
		if err != nil {
			t.Fatal(err)
		}
		for _, withGraph := range []bool{false, true} {
			h, err := db.GetHandout(ctx, job.ID, withGraph)
			if err != nil {
				t.Fatal(err)
			}
			want := &Handout{Start: *start, Pipeline: p, Workflow: w, Project: proj, Block: block, Tools: tools}
			if !withGraph {
				np := *p
				np.Graph = nil
				want.Pipeline = &np
			}
			diff(t, "GetHandout of "+job.Name, h, want)
		}
	}
	noTools := []ci.GlobalTool{}
	t.Run("first project", func(t *testing.T) { check(t, aJob, aSecond, noTools) })
	t.Run("second project", func(t *testing.T) { check(t, bJob, bSecond, noTools) })

	tools := []ci.GlobalTool{{Kind: "npm", Name: "yarn", Version: "1"}, {Kind: "go", Name: "golang.org/x/tools/cmd/stringer", Version: "latest"}, {Kind: "npm", Name: "@scope/pkg", Version: `"quoted" \ 3`}}
	write(t, db, func(tx *Tx) error { return tx.SetGlobalTools(tools) })
	t.Run("global tools", func(t *testing.T) { check(t, bJob, bSecond, tools) })

	_, err := db.GetHandout(ctx, "nope", false)
	wantErr(t, "GetHandout of no job", err, ErrNotFound)

	// GetHandouts reads the jobs of both projects at once, each as
	// GetHandout does (without the graph); a job that does not exist is
	// left out.
	t.Run("several at once", func(t *testing.T) {
		hs, err := db.GetHandouts(ctx, []string{aJob.ID, "nope", bJob.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) != 2 {
			t.Fatalf("GetHandouts = %d handouts, want 2 (the jobs that exist)", len(hs))
		}
		for _, job := range []*ci.Job{aJob, bJob} {
			want, err := db.GetHandout(ctx, job.ID, false)
			if err != nil {
				t.Fatal(err)
			}
			diff(t, "GetHandouts of "+job.Name, hs[job.ID], want)
		}
		if hs, err := db.GetHandouts(ctx, nil); err != nil || len(hs) != 0 {
			t.Fatalf("GetHandouts of no job = %v, %v", hs, err)
		}
	})
}
