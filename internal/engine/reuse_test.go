package engine_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/engine/enginetest"
)

const deployYAML = `version: v1.0
name: Deploy ${{parameters.ENV}}
agent:
  machine:
    type: e1-standard-2
    os_image: ubuntu2004
global_job_config:
  env_vars:
    - name: TARGET
      value: deploy-${{parameters.ENV}}
blocks:
  - name: ship
    task:
      jobs:
        - name: ship
          commands:
            - echo to $TARGET
`

// TestReuseSharesOnlyWhatIsTheSame: workflows started at once with one
// engine.Reuse (as a schedule tick starts them) share the commit's
// reads and the compile of the same file, parameters and commit, but
// each gets its own rows and variables; other parameters, a new commit
// and a malformed file compile on their own, the last into failed
// workflows with positioned errors.
func TestReuseSharesOnlyWhatIsTheSame(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, deployYAML)
		reuse := &engine.Reuse{}
		trigger := func(branch, env string) *ci.Workflow {
			wf, err := e.eng.Trigger(t.Context(), engine.TriggerRequest{Project: e.proj, Trigger: ci.TriggerSchedule,
				Schedule: "nightly", Branch: branch, Params: map[string]string{"ENV": env}, Reuse: reuse})
			if err != nil {
				t.Fatalf("Trigger(%s, %s): %v", branch, env, err)
			}
			return wf
		}
		var mu sync.Mutex
		var wfs []*ci.Workflow
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Go(func() {
				wf := trigger("main", []string{"staging", "prod"}[i%2])
				mu.Lock()
				wfs = append(wfs, wf)
				mu.Unlock()
			})
		}
		wg.Wait()
		jobs := map[string]bool{}
		for _, wf := range wfs {
			p := e.pipeline(wf)
			env := wf.Parameters["ENV"]
			if p.Name != "Deploy "+env {
				t.Fatalf("workflow with ENV=%s: pipeline %q (%s, %+v), want %q", env, p.Name, p.Reason, p.Problems, "Deploy "+env)
			}
			j := e.job(p, "ship")
			jobs[j.ID] = true
			rj := spec(t, j)
			if id, _ := envOf(rj, "SEMAPHORE_WORKFLOW_ID"); id != wf.ID {
				t.Errorf("job of workflow %s has SEMAPHORE_WORKFLOW_ID %q", wf.ID, id)
			}
			if v, _ := envOf(rj, "SEMAPHORE_WORKFLOW_TRIGGERED_BY_SCHEDULE"); v != "true" {
				t.Errorf("job of workflow %s: SEMAPHORE_WORKFLOW_TRIGGERED_BY_SCHEDULE=%q", wf.ID, v)
			}
			if got, _ := envOf(rj, "TARGET"); got != "deploy-"+env {
				t.Errorf("job of workflow with ENV=%s has TARGET=%q", env, got)
			}
		}
		if len(jobs) != 6 {
			t.Errorf("%d distinct jobs for 6 workflows", len(jobs))
		}

		// A new commit on the branch, with the same Reuse: its own file.
		e.repo.Commit("renamed", map[string]string{pipelineFile: strings.Replace(deployYAML, "Deploy", "Release", 1)})
		if p := e.pipeline(trigger("main", "prod")); p.Name != "Release prod" {
			t.Errorf("pipeline of the new commit: %q, want %q", p.Name, "Release prod")
		}

		// A malformed file: each workflow fails with the positioned error.
		e.repo.Git("checkout", "-q", "-b", "broken")
		e.repo.Commit("broken", map[string]string{pipelineFile: "version: v1.0\nblocks:\n  - name: x\n    task: 3\n"})
		for range 2 {
			p := e.pipeline(trigger("broken", "prod"))
			if p.Result != ci.ResultFailed || p.Reason != ci.ReasonMalformed || len(p.Problems) == 0 || p.Problems[0].Line == 0 {
				t.Errorf("pipeline of a malformed file: %s %s, problems %+v", p.Result, p.Reason, p.Problems)
			}
		}
	})
}
