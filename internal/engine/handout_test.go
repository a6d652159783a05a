package engine_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/engine/enginetest"
	"github.com/batonci/baton/internal/store"
)

// TestHandOut: HandOut records a claimed job's start as JobStarted does
// (the first job of a pipeline starts its block and the pipeline; a job
// of a pipeline stopped after the claim is asked to stop) and returns the
// assignment Assignment returns, each job with its own project, workflow,
// block's secrets and the global tools, for jobs of two projects handed
// out one after the other.
func TestHandOut(t *testing.T) {
	const first = `version: v1.0
name: First
agent:
  machine:
    type: s1-test
blocks:
  - name: A
    dependencies: []
    task:
      secrets:
        - name: aws
      jobs:
        - name: first-job
          commands: [echo first]
`
	// The second project's job is in its pipeline's second block, the
	// only one that names a secret.
	const second = `version: v1.0
name: Second
agent:
  machine:
    type: s1-test
blocks:
  - name: A
    dependencies: []
    task:
      jobs:
        - name: other
          commands: [echo other]
  - name: B
    dependencies: []
    task:
      secrets:
        - name: deploy
      jobs:
        - name: second-job
          parallelism: 2
          commands: [echo second]
`
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		src := secrets{
			"aws":    {{Name: "AWS_KEY", Value: "aws-value"}},
			"deploy": {{Name: "DEPLOY_KEY", Value: "deploy-value"}},
		}
		e := newEnvWith(t, dialect, map[string]string{pipelineFile: first}, src)
		repo2 := enginetest.NewRepo(t, map[string]string{pipelineFile: second})
		proj2 := enginetest.CreateProject(t, e.db, "second", repo2.Dir)
		tools := []ci.GlobalTool{{Kind: "npm", Name: "yarn", Version: "1"}, {Kind: "go", Name: "golang.org/x/tools/cmd/stringer", Version: "latest"}}
		if err := e.db.Tx(t.Context(), func(tx *store.Tx) error { return tx.SetGlobalTools(tools) }); err != nil {
			t.Fatal(err)
		}
		wf1 := e.push("main")
		wf2, err := e.eng.Trigger(t.Context(), engine.TriggerRequest{
			Project: proj2, Trigger: ci.TriggerPush, RefType: "branch", Branch: "main", TriggeredBy: "ada",
		})
		if err != nil {
			t.Fatal(err)
		}
		p1, p2 := e.pipeline(wf1), e.pipeline(wf2)

		var taken []*ci.Job
		for _, tc := range []struct {
			p        *ci.Pipeline
			job      string
			proj     *ci.Project
			wf       *ci.Workflow
			env      string
			notEnv   string
			wantMask string
		}{
			{p1, "first-job", e.proj, wf1, "AWS_KEY", "DEPLOY_KEY", "aws-value"},
			{p2, "second-job - 1/2", proj2, wf2, "DEPLOY_KEY", "AWS_KEY", "deploy-value"},
			{p2, "second-job - 2/2", proj2, wf2, "DEPLOY_KEY", "AWS_KEY", "deploy-value"},
		} {
			j := e.take(tc.p, tc.job, "agent-1")
			taken = append(taken, j)
			a, err := e.eng.HandOut(t.Context(), j)
			if err != nil {
				t.Fatalf("HandOut(%s): %v", tc.job, err)
			}
			if a.JobID != j.ID || a.Project != tc.proj.ID || a.Workflow != tc.wf.ID || a.Fork {
				t.Errorf("%s: job %q project %q workflow %q fork %v; want %q %q %q false", tc.job, a.JobID, a.Project, a.Workflow, a.Fork, j.ID, tc.proj.ID, tc.wf.ID)
			}
			if a.Checkout == nil || a.Checkout.Project != tc.proj.ID || a.Checkout.URL != tc.proj.RepoURL || a.Checkout.SHA != tc.wf.SHA || a.Checkout.Ref != "refs/heads/main" {
				t.Errorf("%s: checkout %+v, want %s at %s", tc.job, a.Checkout, tc.proj.RepoURL, tc.wf.SHA)
			}
			if _, ok := envOf(a.Job, tc.env); !ok || !contains(a.Job.Secrets, tc.wantMask) {
				t.Errorf("%s: no %s, or %q not masked (%q)", tc.job, tc.env, tc.wantMask, a.Job.Secrets)
			}
			if _, ok := envOf(a.Job, tc.notEnv); ok {
				t.Errorf("%s: got the other project's %s", tc.job, tc.notEnv)
			}
			if d := cmp.Diff(tools, a.Tools); d != "" {
				t.Errorf("%s: tools (-want +got):\n%s", tc.job, d)
			}
			// It started its block and pipeline, as JobStarted would.
			tree := e.tree(tc.p.ID)
			if tree.State != ci.StateRunning || tree.StartedAt.IsZero() {
				t.Errorf("%s: pipeline %s started %v; want running", tc.job, tree.State, tree.StartedAt)
			}
			for _, b := range tree.Blocks {
				for _, bj := range b.Jobs {
					if bj.ID == j.ID && (b.State != ci.StateRunning || b.StartedAt.IsZero()) {
						t.Errorf("%s: block %s %s started %v; want running", tc.job, b.Name, b.State, b.StartedAt)
					}
				}
			}
			// The same as Assignment returns for it.
			again, err := e.eng.Assignment(t.Context(), j)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(again, a); d != "" {
				t.Errorf("%s: HandOut and Assignment differ (-Assignment +HandOut):\n%s", tc.job, d)
			}
		}

		// Read ahead for all of them at once (as the claimer does for
		// one claim's jobs), each is handed out as alone.
		hs, err := e.eng.ReadHandouts(t.Context(), append(taken, &ci.Job{ID: "nope"}))
		if err != nil || len(hs) != len(taken) {
			t.Fatalf("ReadHandouts = %d handouts, %v; want %d", len(hs), err, len(taken))
		}
		for _, j := range taken {
			a, err := e.eng.HandOutRead(t.Context(), j, hs[j.ID])
			if err != nil {
				t.Fatal(err)
			}
			alone, err := e.eng.Assignment(t.Context(), j)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(alone, a); d != "" {
				t.Errorf("%s: read ahead and alone differ (-alone +ahead):\n%s", j.Name, d)
			}
		}

		// A job claimed before its pipeline stops, handed out after.
		j := e.take(p2, "other", "agent-2")
		if err := e.eng.StopPipeline(t.Context(), p2.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.eng.HandOut(t.Context(), j); err != nil {
			t.Fatal(err)
		}
		if got := e.job(p2, "other"); !got.StopRequested || got.State != ci.StateStopping {
			t.Errorf("job of a stopped pipeline = %s, stop requested %v; want stopping", got.State, got.StopRequested)
		}

		if _, err := e.eng.HandOut(t.Context(), &ci.Job{ID: "nope", PipelineID: p1.ID}); err == nil {
			t.Error("HandOut of no job succeeded")
		}
	})
}
