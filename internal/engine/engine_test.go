package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/engine/enginetest"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testenv/probe"
)

const sequentialYAML = `version: v1.0
name: Demo
agent:
  machine:
    type: s1-test
blocks:
  - name: A
    task:
      env_vars:
        - name: GREETING
          value: hello
      jobs:
        - name: a1
          commands: [echo a1]
        - name: a2
          commands: [echo a2]
  - name: B
    task:
      jobs:
        - name: b1
          commands: [echo b1]
after_pipeline:
  task:
    jobs:
      - name: report
        commands: [echo report]
`

func TestTriggerCreatesPipeline(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, sequentialYAML)
		wf := e.push("main")
		if wf.Number != 1 || wf.SHA == "" || wf.Message != "initial commit" || wf.Author != "Ada Tester" {
			t.Errorf("workflow = %+v", wf)
		}
		p := e.pipeline(wf)
		e.wantStates(p, `
			pipeline: running
				A: running
					a1: queued
					a2: queued
				B: pending
					b1: pending
				After pipeline: pending
					report: pending
		`)
		if p.Name != "Demo" || p.Queue != "main-.semaphore/semaphore.yml" || p.QueueScope != "project" || p.Parallel {
			t.Errorf("pipeline = %+v", p)
		}
		if p.TimeLimit != time.Hour {
			t.Errorf("pipeline time limit = %v, want 1h", p.TimeLimit)
		}
		a1 := e.job(p, "a1")
		if a1.MachineType != "s1-test" || a1.Priority != 60 || a1.TimeLimit != time.Hour {
			t.Errorf("a1 = %+v", a1)
		}
		if got, want := a1.WaitReason, "waiting for an agent of type s1-test"; got != want {
			t.Errorf("a1 wait reason = %q, want %q", got, want)
		}
		if got, want := e.job(p, "b1").WaitReason, "waiting for block A"; got != want {
			t.Errorf("b1 wait reason = %q, want %q", got, want)
		}
		rj := spec(t, a1)
		if len(rj.Commands) != 1 || rj.Commands[0] != "echo a1" {
			t.Errorf("commands = %q", rj.Commands)
		}
		for name, want := range map[string]string{
			"SEMAPHORE_WORKFLOW_ID":                wf.ID,
			"SEMAPHORE_WORKFLOW_NUMBER":            "1",
			"SEMAPHORE_WORKFLOW_RERUN":             "false",
			"SEMAPHORE_WORKFLOW_TRIGGERED_BY_HOOK": "true",
			"SEMAPHORE_WORKFLOW_TRIGGERED_BY":      "ada",
			"SEMAPHORE_PIPELINE_ID":                p.ID,
			"SEMAPHORE_PIPELINE_NAME":              "Demo",
			"SEMAPHORE_BLOCK_NAME":                 "A",
			"SEMAPHORE_JOB_ID":                     a1.ID,
			"SEMAPHORE_JOB_NAME":                   "a1",
			"SEMAPHORE_PROJECT_NAME":               "demo",
			"SEMAPHORE_PROJECT_ID":                 e.proj.ID,
			"SEMAPHORE_ORGANIZATION_URL":           "https://ci.example.com",
			"SEMAPHORE_GIT_SHA":                    wf.SHA,
			"SEMAPHORE_GIT_BRANCH":                 "main",
			"SEMAPHORE_GIT_REF":                    "refs/heads/main",
			"SEMAPHORE_GIT_COMMIT_AUTHOR":          "Ada Tester",
			"SEMAPHORE_GIT_COMMITTER":              "Cy Committer",
			"SEMAPHORE_AGENT_MACHINE_TYPE":         "s1-test",
			"GREETING":                             "hello",
		} {
			if got, ok := envOf(rj, name); !ok || got != want {
				t.Errorf("%s = %q (set %v), want %q", name, got, ok, want)
			}
		}
		if _, ok := envOf(rj, "SEMAPHORE_PIPELINE_RESULT"); ok {
			t.Errorf("a regular job has SEMAPHORE_PIPELINE_RESULT")
		}
	})
}

func TestSequentialBlocksAndAfterPipeline(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, sequentialYAML)
		p := e.pipeline(e.push("main"))
		a1 := e.start(p, "a1", "agent-1")
		a2 := e.start(p, "a2", "agent-2")
		e.clock.Advance(time.Minute)
		e.finish(a1, ci.ResultPassed)
		e.wantStates(p, `
			pipeline: running
				A: running
					a1: done passed
					a2: running
				B: pending
					b1: pending
				After pipeline: pending
					report: pending
		`)
		e.finish(a2, ci.ResultPassed)
		e.wantStates(p, `
			pipeline: running
				A: done passed
					a1: done passed
					a2: done passed
				B: running
					b1: queued
				After pipeline: pending
					report: pending
		`)
		b1 := e.start(p, "b1", "agent-1")
		e.clock.Advance(time.Minute)
		e.finish(b1, ci.ResultPassed)
		e.wantStates(p, `
			pipeline: running
				A: done passed
					a1: done passed
					a2: done passed
				B: done passed
					b1: done passed
				After pipeline: running
					report: queued
		`)
		report := e.start(p, "report", "agent-1")
		rj := spec(t, report)
		created := e.tree(p.ID).CreatedAt
		for name, want := range map[string]string{
			"SEMAPHORE_PIPELINE_RESULT":            "passed",
			"SEMAPHORE_PIPELINE_RESULT_REASON":     "",
			"SEMAPHORE_PIPELINE_CREATED_AT":        fmt.Sprint(created.Unix()),
			"SEMAPHORE_PIPELINE_DONE_AT":           fmt.Sprint(created.Add(2 * time.Minute).Unix()),
			"SEMAPHORE_PIPELINE_TOTAL_DURATION":    "120",
			"SEMAPHORE_PIPELINE_RUNNING_DURATION":  "120",
			"SEMAPHORE_PIPELINE_QUEUEING_DURATION": "0",
		} {
			if got, ok := envOf(rj, name); !ok || got != want {
				t.Errorf("after_pipeline %s = %q (set %v), want %q", name, got, ok, want)
			}
		}
		e.finish(report, ci.ResultFailed)
		e.wantStates(p, `
			pipeline: done passed
				A: done passed
					a1: done passed
					a2: done passed
				B: done passed
					b1: done passed
				After pipeline: done failed test
					report: done failed test
		`)
		// Reporting again changes nothing.
		e.finish(report, ci.ResultPassed)
		if got := e.job(p, "report").Result; got != ci.ResultFailed {
			t.Errorf("a second JobFinished changed the result to %s", got)
		}
		wf, err := e.db.GetWorkflow(t.Context(), p.WorkflowID)
		if err != nil || wf.State != ci.StateDone || wf.Result != ci.ResultPassed {
			t.Errorf("workflow = %+v, %v", wf, err)
		}
	})
}

const dagYAML = `version: v1.0
name: DAG
agent:
  machine:
    type: s1-test
blocks:
  - name: A
    dependencies: []
    task:
      jobs:
        - name: a
          commands: [echo a]
  - name: B
    dependencies: []
    task:
      jobs:
        - name: b
          commands: [echo b]
  - name: C
    dependencies: [A, B]
    task:
      jobs:
        - name: c
          commands: [echo c]
  - name: D
    dependencies: [C]
    task:
      jobs:
        - name: d
          commands: [echo d]
  - name: E
    dependencies: [A]
    task:
      jobs:
        - name: e
          commands: [echo e]
`

func TestDAG(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, dagYAML)
		p := e.pipeline(e.push("main"))
		if got, want := e.job(p, "c").WaitReason, "waiting for block A"; got != want {
			t.Errorf("c wait reason = %q, want %q", got, want)
		}
		e.finish(e.start(p, "a", "agent-1"), ci.ResultPassed)
		e.wantStates(p, `
			pipeline: running
				A: done passed
					a: done passed
				B: running
					b: queued
				C: pending
					c: pending
				D: pending
					d: pending
				E: running
					e: queued
		`)
		if got, want := e.job(p, "c").WaitReason, "waiting for block B"; got != want {
			t.Errorf("c wait reason = %q, want %q", got, want)
		}
		e.run(p)
		e.wantStates(p, `
			pipeline: done passed
				A: done passed
					a: done passed
				B: done passed
					b: done passed
				C: done passed
					c: done passed
				D: done passed
					d: done passed
				E: done passed
					e: done passed
		`)
	})
}

func TestFailureCancelsDependents(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, dagYAML)
		p := e.pipeline(e.push("main"))
		e.run(p, "b")
		e.wantStates(p, `
			pipeline: done failed test
				A: done passed
					a: done passed
				B: done failed test
					b: done failed test
				C: done canceled dependency
					c: done canceled dependency
				D: done canceled dependency
					d: done canceled dependency
				E: done passed
					e: done passed
		`)
	})
}

const failFastYAML = `version: v1.0
name: FF
agent:
  machine:
    type: s1-test
fail_fast:
  %s:
    when: "true"
blocks:
  - name: A
    dependencies: []
    task:
      jobs:
        - name: a1
          commands: [echo]
        - name: a2
          commands: [echo]
        - name: a3
          commands: [echo]
  - name: B
    dependencies: [A]
    task:
      jobs:
        - name: b
          commands: [echo]
  - name: Z
    dependencies: []
    task:
      jobs:
        - name: z
          commands: [echo]
`

func TestFailFast(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Run("stop", func(t *testing.T) {
			e := newEnv(t, dialect, fmt.Sprintf(failFastYAML, "stop"))
			p := e.pipeline(e.push("main"))
			cancels := listen(t, e.db, engine.ChannelCancel)
			a1 := e.start(p, "a1", "agent-1")
			a2 := e.start(p, "a2", "agent-2")
			e.finish(a1, ci.ResultFailed)
			e.wantStates(p, `
				pipeline: running
					A: running
						a1: done failed test
						a2: stopping
						a3: done canceled fast_failing
					B: done canceled fast_failing
						b: done canceled fast_failing
					Z: done canceled fast_failing
						z: done canceled fast_failing
			`)
			if got := e.job(p, "a2"); !got.StopRequested || got.StopReason != ci.ReasonFastFailing {
				t.Errorf("a2 = %+v, want a stop request (fast_failing)", got)
			}
			waitFor(t, cancels, "agent-2")
			if err := e.eng.JobFinished(t.Context(), a2.ID, ci.ResultStopped, ci.ReasonNone); err != nil {
				t.Fatal(err)
			}
			e.wantStates(p, `
				pipeline: done failed test
					A: done failed test
						a1: done failed test
						a2: done stopped fast_failing
						a3: done canceled fast_failing
					B: done canceled fast_failing
						b: done canceled fast_failing
					Z: done canceled fast_failing
						z: done canceled fast_failing
			`)
		})
		t.Run("cancel", func(t *testing.T) {
			e := newEnv(t, dialect, fmt.Sprintf(failFastYAML, "cancel"))
			p := e.pipeline(e.push("main"))
			a1 := e.start(p, "a1", "agent-1")
			a2 := e.start(p, "a2", "agent-2")
			e.finish(a1, ci.ResultFailed)
			e.wantStates(p, `
				pipeline: running
					A: running
						a1: done failed test
						a2: running
						a3: done canceled fast_failing
					B: done canceled fast_failing
						b: done canceled fast_failing
					Z: done canceled fast_failing
						z: done canceled fast_failing
			`)
			e.finish(a2, ci.ResultPassed)
			e.wantStates(p, `
				pipeline: done failed test
					A: done failed test
						a1: done failed test
						a2: done passed
						a3: done canceled fast_failing
					B: done canceled fast_failing
						b: done canceled fast_failing
					Z: done canceled fast_failing
						z: done canceled fast_failing
			`)
		})
	})
}

func TestSkippedBlocks(t *testing.T) {
	const yaml = `version: v1.0
name: Skip
agent:
  machine:
    type: s1-test
blocks:
  - name: Build
    task:
      jobs:
        - name: build
          commands: [make]
  - name: Deploy
    skip:
      when: "branch = 'main'"
    task:
      jobs:
        - name: deploy
          commands: [deploy]
  - name: Notify
    task:
      jobs:
        - name: notify
          commands: [notify]
`
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, yaml)
		p := e.pipeline(e.push("main"))
		e.run(p)
		e.wantStates(p, `
			pipeline: done passed
				Build: done passed
					build: done passed
				Deploy: done passed skipped
					deploy: done passed skipped
				Notify: done passed
					notify: done passed
		`)
	})
}

func TestMalformedPipeline(t *testing.T) {
	const yaml = `version: v1.0
name: Broken
agent:
  machine:
    type: s1-test
blocks:
  - name: A
    dependencies: [Nope]
    task:
      jobs:
        - name: a
          commands: [echo]
`
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, yaml)
		wf := e.push("main")
		p := e.pipeline(wf)
		e.wantStates(p, `
			pipeline: done failed malformed
		`)
		if !strings.HasPrefix(p.Diagnostics, ".semaphore/semaphore.yml:8:") || !strings.Contains(p.Diagnostics, "Nope") {
			t.Errorf("diagnostics = %q, want a positioned error about the unknown block", p.Diagnostics)
		}
		if len(p.Graph) != 0 {
			t.Errorf("a malformed pipeline has a graph")
		}
		// The same errors are stored positioned.
		if len(p.Problems) != 1 || p.Problems[0].File != ".semaphore/semaphore.yml" || p.Problems[0].Line != 8 ||
			p.Problems[0].Column == 0 || p.Problems[0].Severity != ci.SeverityError || !strings.Contains(p.Problems[0].Message, "Nope") {
			t.Errorf("problems = %+v, want one positioned error at line 8 about the unknown block", p.Problems)
		}
		if wf.State != ci.StateDone || wf.Result != ci.ResultFailed {
			t.Errorf("workflow %s/%s, want done/failed", wf.State, wf.Result)
		}

		t.Run("missing file", func(t *testing.T) {
			wf, err := e.eng.Trigger(t.Context(), engine.TriggerRequest{
				Project: e.proj, Trigger: ci.TriggerManual, Branch: "main", PipelineFile: ".semaphore/nope.yml",
			})
			if err != nil {
				t.Fatal(err)
			}
			p := e.pipeline(wf)
			if p.State != ci.StateDone || p.Reason != ci.ReasonMalformed || !strings.HasPrefix(p.Diagnostics, ".semaphore/nope.yml:1:1: ") {
				t.Errorf("pipeline %s/%s/%s %q", p.State, p.Result, p.Reason, p.Diagnostics)
			}
		})
		t.Run("invalid YAML", func(t *testing.T) {
			e.repo.Commit("break it", map[string]string{pipelineFile: "version: v1.0\nblocks: [\n"})
			p := e.pipeline(e.push("main"))
			if p.State != ci.StateDone || p.Reason != ci.ReasonMalformed || !strings.HasPrefix(p.Diagnostics, ".semaphore/semaphore.yml:") {
				t.Errorf("pipeline %s/%s/%s %q", p.State, p.Result, p.Reason, p.Diagnostics)
			}
		})
	})
}

// A valid pipeline file with what Baton tolerates (a duplicate key, read
// as Semaphore reads it) runs, and its warnings are stored positioned.
func TestPipelineWarningsAreStored(t *testing.T) {
	const yaml = `version: v1.0
name: Lenient
name: Ignored
agent:
  machine:
    type: s1-test
blocks:
  - name: A
    task:
      jobs:
        - name: a
          commands: [echo]
`
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, yaml)
		p := e.pipeline(e.push("main"))
		if p.Name != "Lenient" || p.Reason == ci.ReasonMalformed || p.Diagnostics != "" {
			t.Errorf("pipeline %q %s/%s/%s %q, want Lenient and runnable", p.Name, p.State, p.Result, p.Reason, p.Diagnostics)
		}
		if len(p.Problems) != 1 {
			t.Fatalf("problems = %+v, want one warning", p.Problems)
		}
		w := p.Problems[0]
		if w.Severity != ci.SeverityWarning || w.File != ".semaphore/semaphore.yml" || w.Line != 3 || w.Column != 1 ||
			!strings.Contains(w.Message, `duplicate key "name"`) {
			t.Errorf("warning = %+v, want a positioned warning at 3:1 about the duplicate name", w)
		}
	})
}

func TestSkipCI(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, sequentialYAML)
		e.repo.Commit("docs only [skip ci]", map[string]string{"README": "x"})
		_, err := e.eng.Trigger(t.Context(), engine.TriggerRequest{Project: e.proj, Trigger: ci.TriggerPush, RefType: "branch", Branch: "main"})
		if !errors.Is(err, engine.ErrSkipCI) {
			t.Fatalf("Trigger = %v, want ErrSkipCI", err)
		}
		wfs, err := e.db.ListWorkflows(t.Context(), e.proj.ID, store.WorkflowFilter{})
		if err != nil || len(wfs) != 0 {
			t.Fatalf("workflows = %d, %v; want none", len(wfs), err)
		}
		// Not for tags, nor for manual runs.
		e.repo.Git("tag", "v1")
		if _, err := e.eng.Trigger(t.Context(), engine.TriggerRequest{Project: e.proj, Trigger: ci.TriggerPush, RefType: "tag", Tag: "v1"}); err != nil {
			t.Errorf("tag push: %v", err)
		}
		if _, err := e.eng.Trigger(t.Context(), engine.TriggerRequest{Project: e.proj, Trigger: ci.TriggerManual, Branch: "main"}); err != nil {
			t.Errorf("manual run: %v", err)
		}
	})
}

func TestQueueSerialisation(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, dagYAML)
		first := e.pipeline(e.push("main"))
		e.clock.Advance(time.Second)
		e.repo.Commit("second", map[string]string{"x": "2"})
		wf2 := e.push("main")
		second := e.pipeline(wf2)
		e.wantStates(second, `
			pipeline: queued
				A: pending
					a: pending
				B: pending
					b: pending
				C: pending
					c: pending
				D: pending
					d: pending
				E: pending
					e: pending
		`)
		want := "queued behind pipeline #1 in queue main-.semaphore/semaphore.yml"
		if got := e.job(second, "a").WaitReason; got != want {
			t.Errorf("wait reason = %q, want %q", got, want)
		}
		if got := e.eng.WhyPending(t.Context(), e.job(second, "a"), nil); got != want {
			t.Errorf("WhyPending = %q, want %q", got, want)
		}
		// A third waits for the nearest older one, not the oldest.
		e.clock.Advance(time.Second)
		e.repo.Commit("third", map[string]string{"x": "3"})
		third := e.pipeline(e.push("main"))
		want3 := "queued behind pipeline #2 in queue main-.semaphore/semaphore.yml"
		if got := e.job(third, "a").WaitReason; got != want3 {
			t.Errorf("third's wait reason = %q, want %q", got, want3)
		}
		// Another branch has its own queue.
		e.repo.Git("checkout", "-q", "-b", "feature")
		other := e.pipeline(e.push("feature"))
		if other.State != ci.StateRunning {
			t.Errorf("pipeline of another branch is %s, want running", other.State)
		}
		e.repo.Git("checkout", "-q", "main")
		// Run the first; the second starts as soon as it is done.
		e.run(first)
		if got := e.tree(second.ID).State; got != ci.StateRunning {
			t.Fatalf("second pipeline is %s after the first finished, want running", got)
		}
		if got := e.tree(third.ID).State; got != ci.StateQueued {
			t.Errorf("third pipeline is %s while the second runs, want queued", got)
		}
		e.run(second)
		if got := e.tree(second.ID); got.State != ci.StateDone || got.Result != ci.ResultPassed {
			t.Errorf("second pipeline %s/%s", got.State, got.Result)
		}
		if got := e.tree(third.ID).State; got != ci.StateRunning {
			t.Errorf("third pipeline is %s after the second finished, want running", got)
		}
	})
}

const autoCancelYAML = `version: v1.0
name: AC
agent:
  machine:
    type: s1-test
auto_cancel:
  %s:
    when: "true"
blocks:
  - name: A
    task:
      jobs:
        - name: a1
          commands: [echo]
        - name: a2
          commands: [echo]
`

func TestAutoCancel(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Run("running", func(t *testing.T) {
			e := newEnv(t, dialect, fmt.Sprintf(autoCancelYAML, "running"))
			first := e.pipeline(e.push("main"))
			a1 := e.start(first, "a1", "agent-1")
			e.clock.Advance(time.Second)
			e.repo.Commit("second", map[string]string{"x": "2"})
			second := e.pipeline(e.push("main"))
			e.wantStates(first, `
				pipeline: stopping strategy
					A: running
						a1: stopping
						a2: done canceled strategy
			`)
			if second.State != ci.StateQueued {
				t.Errorf("second pipeline is %s, want queued until the first is stopped", second.State)
			}
			e.finish(a1, ci.ResultStopped)
			e.wantStates(first, `
				pipeline: done stopped strategy
					A: done stopped strategy
						a1: done stopped strategy
						a2: done canceled strategy
			`)
			if got := e.tree(second.ID).State; got != ci.StateRunning {
				t.Errorf("second pipeline is %s, want running", got)
			}
		})
		t.Run("queued", func(t *testing.T) {
			e := newEnv(t, dialect, fmt.Sprintf(autoCancelYAML, "queued"))
			first := e.pipeline(e.push("main"))
			e.clock.Advance(time.Second)
			e.repo.Commit("second", map[string]string{"x": "2"})
			second := e.pipeline(e.push("main"))
			e.clock.Advance(time.Second)
			e.repo.Commit("third", map[string]string{"x": "3"})
			third := e.pipeline(e.push("main"))
			if got := e.tree(first.ID).State; got != ci.StateRunning {
				t.Errorf("first pipeline is %s, want running (cancel spares running pipelines)", got)
			}
			e.wantStates(second, `
				pipeline: done canceled strategy
					A: done canceled strategy
						a1: done canceled strategy
						a2: done canceled strategy
			`)
			if got := e.tree(third.ID).State; got != ci.StateQueued {
				t.Errorf("third pipeline is %s, want queued", got)
			}
			e.run(first)
			e.run(third)
			if got := e.tree(third.ID); got.State != ci.StateDone || got.Result != ci.ResultPassed {
				t.Errorf("third pipeline %s/%s, want done/passed", got.State, got.Result)
			}
		})
	})
}

func TestStop(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		t.Run("workflow", func(t *testing.T) {
			e := newEnv(t, dialect, sequentialYAML)
			wf := e.push("main")
			p := e.pipeline(wf)
			a1 := e.start(p, "a1", "agent-1")
			if err := e.eng.StopWorkflow(t.Context(), wf.ID); err != nil {
				t.Fatal(err)
			}
			e.wantStates(p, `
				pipeline: stopping user
					A: running
						a1: stopping
						a2: done canceled user
					B: done canceled user
						b1: done canceled user
					After pipeline: pending
						report: pending
			`)
			if got := e.eng.WhyPending(t.Context(), e.job(p, "a1"), nil); got != "stop requested" {
				t.Errorf("WhyPending = %q", got)
			}
			e.finish(a1, ci.ResultStopped)
			// after_pipeline still runs, and sees the result.
			report := e.start(p, "report", "agent-1")
			if v, _ := envOf(spec(t, report), "SEMAPHORE_PIPELINE_RESULT"); v != "stopped" {
				t.Errorf("SEMAPHORE_PIPELINE_RESULT = %q, want stopped", v)
			}
			if v, _ := envOf(spec(t, report), "SEMAPHORE_PIPELINE_RESULT_REASON"); v != "user" {
				t.Errorf("SEMAPHORE_PIPELINE_RESULT_REASON = %q, want user", v)
			}
			// Stopping again stops the after_pipeline job.
			if err := e.eng.StopPipeline(t.Context(), p.ID); err != nil {
				t.Fatal(err)
			}
			if got := e.job(p, "report"); !got.StopRequested {
				t.Errorf("report not asked to stop: %+v", got)
			}
			e.finish(report, ci.ResultStopped)
			e.wantStates(p, `
				pipeline: done stopped user
					A: done stopped user
						a1: done stopped user
						a2: done canceled user
					B: done canceled user
						b1: done canceled user
					After pipeline: done stopped user
						report: done stopped user
			`)
			if err := e.eng.StopPipeline(t.Context(), p.ID); err != nil {
				t.Errorf("stopping a finished pipeline: %v", err)
			}
		})
		t.Run("queued pipeline", func(t *testing.T) {
			e := newEnv(t, dialect, sequentialYAML)
			e.push("main")
			e.clock.Advance(time.Second)
			e.repo.Commit("second", map[string]string{"x": "2"})
			p := e.pipeline(e.push("main"))
			if err := e.eng.StopPipeline(t.Context(), p.ID); err != nil {
				t.Fatal(err)
			}
			e.wantStates(p, `
				pipeline: done canceled user
					A: done canceled user
						a1: done canceled user
						a2: done canceled user
					B: done canceled user
						b1: done canceled user
					After pipeline: done canceled user
						report: done canceled user
			`)
		})
		t.Run("job", func(t *testing.T) {
			e := newEnv(t, dialect, sequentialYAML)
			p := e.pipeline(e.push("main"))
			a1 := e.start(p, "a1", "agent-1")
			if err := e.eng.StopJob(t.Context(), e.job(p, "a2").ID); err != nil {
				t.Fatal(err)
			}
			if err := e.eng.StopJob(t.Context(), a1.ID); err != nil {
				t.Fatal(err)
			}
			e.finish(a1, ci.ResultStopped)
			e.run(p)
			e.wantStates(p, `
				pipeline: done stopped user
					A: done stopped user
						a1: done stopped user
						a2: done canceled user
					B: done canceled dependency
						b1: done canceled dependency
					After pipeline: done passed
						report: done passed
			`)
		})
	})
}

func TestRebuild(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, sequentialYAML)
		wf := e.push("main")
		e.run(e.pipeline(wf))
		e.repo.Commit("later", map[string]string{"x": "2"})
		nw, err := e.eng.Rebuild(t.Context(), wf.ID, "bob")
		if err != nil {
			t.Fatal(err)
		}
		if nw.ID == wf.ID || nw.SHA != wf.SHA || nw.RerunOf != wf.ID || nw.Trigger != ci.TriggerRebuild || nw.TriggeredBy != "bob" || nw.Number != 2 {
			t.Errorf("rebuild = %+v", nw)
		}
		p := e.pipeline(nw)
		rj := spec(t, e.job(p, "a1"))
		for name, want := range map[string]string{
			"SEMAPHORE_WORKFLOW_RERUN":             "true",
			"SEMAPHORE_WORKFLOW_TRIGGERED_BY_HOOK": "true",
			"SEMAPHORE_WORKFLOW_TRIGGERED_BY":      "bob",
			"SEMAPHORE_GIT_SHA":                    wf.SHA,
		} {
			if got, _ := envOf(rj, name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
	})
}

func TestRerunFailed(t *testing.T) {
	const yaml = `version: v1.0
name: Rerun
agent:
  machine:
    type: s1-test
blocks:
  - name: A
    dependencies: []
    task:
      jobs:
        - name: a-ok
          commands: [echo]
        - name: a-bad
          commands: [echo]
  - name: B
    dependencies: [A]
    task:
      jobs:
        - name: b
          commands: [echo]
  - name: C
    dependencies: []
    task:
      jobs:
        - name: c
          commands: [echo]
  - name: D
    dependencies: []
    partial_rerun: block
    task:
      jobs:
        - name: d-ok
          commands: [echo]
        - name: d-bad
          commands: [echo]
`
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, yaml)
		wf := e.push("main")
		orig := e.pipeline(wf)
		if _, err := e.eng.RerunFailed(t.Context(), orig.ID, "bob"); !errors.Is(err, store.ErrConflict) {
			t.Errorf("rerun of a running pipeline = %v, want ErrConflict", err)
		}
		e.run(orig, "a-bad", "d-bad")
		np, err := e.eng.RerunFailed(t.Context(), orig.ID, "bob")
		if err != nil {
			t.Fatal(err)
		}
		if np.WorkflowID != wf.ID || np.PartialRerun != orig.ID {
			t.Errorf("rerun pipeline = %+v", np)
		}
		e.wantStates(np, `
			pipeline: running
				A: running
					a-ok: done passed reused
					a-bad: queued
				B: pending
					b: pending
				C: done passed
					c: done passed reused
				D: running
					d-ok: queued
					d-bad: queued
		`)
		origBad := e.job(orig, "a-bad")
		rj := spec(t, e.job(np, "a-bad"))
		for name, want := range map[string]string{
			"SEMAPHORE_JOB_RERUN":       "true",
			"SEMAPHORE_JOB_ORIGINAL_ID": origBad.ID,
			"SEMAPHORE_PIPELINE_RERUN":  "true",
			"SEMAPHORE_PIPELINE_ID":     np.ID,
		} {
			if got, _ := envOf(rj, name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
		e.run(np)
		e.wantStates(np, `
			pipeline: done passed
				A: done passed
					a-ok: done passed reused
					a-bad: done passed
				B: done passed
					b: done passed
				C: done passed
					c: done passed reused
				D: done passed
					d-ok: done passed
					d-bad: done passed
		`)
		if _, err := e.eng.RerunFailed(t.Context(), np.ID, "bob"); !errors.Is(err, store.ErrConflict) {
			t.Errorf("rerun of a passed pipeline = %v, want ErrConflict", err)
		}
	})
}

func TestTimeLimits(t *testing.T) {
	const yaml = `version: v1.0
name: Limits
agent:
  machine:
    type: s1-test
execution_time_limit:
  minutes: 30
blocks:
  - name: A
    dependencies: []
    task:
      jobs:
        - name: quick
          execution_time_limit:
            minutes: 2
          commands: [sleep 1000]
        - name: slow
          commands: [sleep 1000]
  - name: B
    dependencies: []
    execution_time_limit:
      minutes: 10
    task:
      jobs:
        - name: b1
          commands: [sleep 1000]
        - name: b2
          commands: [sleep 1000]
`
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, yaml)
		p := e.pipeline(e.push("main"))
		quick := e.start(p, "quick", "agent-1")
		slow := e.start(p, "slow", "agent-1")
		b1 := e.start(p, "b1", "agent-1")
		check := func() time.Time {
			t.Helper()
			next, err := e.eng.CheckTimeLimits(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return next
		}
		start := e.clock.Now()
		if got, want := check(), start.Add(2*time.Minute); !got.Equal(want) {
			t.Errorf("next deadline %v, want %v", got, want)
		}
		e.clock.Advance(2 * time.Minute)
		check()
		if got := e.job(p, "quick"); !got.StopRequested || got.StopReason != ci.ReasonTimeout {
			t.Errorf("quick = %+v, want a timeout stop request", got)
		}
		if got := e.job(p, "slow"); got.StopRequested {
			t.Errorf("slow asked to stop early")
		}
		e.finish(quick, ci.ResultStopped)
		e.clock.Advance(8 * time.Minute) // block B's limit
		check()
		e.wantStates(p, `
			pipeline: running
				A: running
					quick: done stopped timeout
					slow: running
				B: stopping timeout
					b1: stopping
					b2: done canceled timeout
		`)
		e.finish(b1, ci.ResultStopped)
		e.clock.Advance(20 * time.Minute) // the pipeline's limit
		if got := check(); !got.IsZero() {
			t.Errorf("next deadline %v after everything expired", got)
		}
		e.finish(slow, ci.ResultStopped)
		e.wantStates(p, `
			pipeline: done stopped timeout
				A: done stopped timeout
					quick: done stopped timeout
					slow: done stopped timeout
				B: done stopped timeout
					b1: done stopped timeout
					b2: done canceled timeout
		`)
	})
}

func TestWhyPending(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, sequentialYAML)
		p := e.pipeline(e.push("main"))
		a1 := e.job(p, "a1")
		agent := func(id, typ string, slots int, running ...string) *ci.Agent {
			return &ci.Agent{ID: id, Type: typ, Slots: slots, State: ci.AgentConnected, Running: running}
		}
		for _, tc := range []struct {
			name   string
			job    *ci.Job
			agents []*ci.Agent
			want   string
		}{
			{"no agent", a1, nil, "no agent of type s1-test is connected"},
			{"other types", a1, []*ci.Agent{agent("x", "s1-gpu", 1)}, "no agent of type s1-test is connected"},
			{"lost", a1, []*ci.Agent{{ID: "x", Type: "s1-test", Slots: 1, State: ci.AgentLost}}, "no agent of type s1-test is connected"},
			{"busy", a1, []*ci.Agent{agent("x", "s1-test", 1, "j1"), agent("y", "s1-test", 2, "j2", "j3")}, "all 2 agents of type s1-test are busy"},
			{"one busy", a1, []*ci.Agent{agent("x", "s1-test", 1, "j1")}, "the only agent of type s1-test is busy"},
			{"free", a1, []*ci.Agent{agent("x", "s1-test", 2, "j1")}, "waiting for an agent of type s1-test"},
			{"block", e.job(p, "b1"), nil, "waiting for block A"},
			{"after pipeline", e.job(p, "report"), nil, "waiting for the pipeline to finish"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got := e.eng.WhyPending(t.Context(), tc.job, tc.agents); got != tc.want {
					t.Errorf("WhyPending = %q, want %q", got, tc.want)
				}
			})
		}
		running := e.start(p, "a1", "agent-1")
		if got := e.eng.WhyPending(t.Context(), running, nil); got != "" {
			t.Errorf("WhyPending of a running job = %q", got)
		}
	})
}

// secrets is a SecretSource backed by a map.
type secrets map[string][]jobspec.Var

func (s secrets) Resolve(ctx context.Context, projectID string, names []string) ([]jobspec.Var, []jobspec.File, error) {
	var env []jobspec.Var
	var files []jobspec.File
	for _, n := range names {
		vs, ok := s[n]
		if !ok {
			return nil, nil, fmt.Errorf("secret %q not found", n)
		}
		env = append(env, vs...)
		files = append(files, jobspec.File{Path: "/tmp/" + n, Content: []byte("file of " + n)})
	}
	return env, files, nil
}

func TestAssignmentSecrets(t *testing.T) {
	const yaml = `version: v1.0
name: Secrets
agent:
  machine:
    type: s1-test
blocks:
  - name: A
    dependencies: []
    task:
      secrets:
        - name: aws
      env_vars:
        - name: REGION
          value: from-yaml
      jobs:
        - name: deploy
          commands: [deploy]
  - name: B
    dependencies: []
    task:
      secrets:
        - name: missing
      jobs:
        - name: needs-missing
          commands: [echo]
`
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		src := secrets{"aws": {
			{Name: "AWS_KEY", Value: "s3cr3t-value"},
			{Name: "REGION", Value: "from-secret"},
			{Name: "SEMAPHORE_GIT_BRANCH", Value: "from-secret"},
		}}
		e := newEnvWith(t, dialect, map[string]string{pipelineFile: yaml}, src)
		p := e.pipeline(e.push("main"))
		for _, name := range []string{"deploy", "needs-missing"} {
			j := e.job(p, name)
			claimed := e.start(p, name, "agent-1")
			a, err := e.eng.Assignment(t.Context(), claimed)
			switch name {
			case "deploy":
				if err != nil {
					t.Fatal(err)
				}
				for v, want := range map[string]string{
					"AWS_KEY":              "s3cr3t-value",
					"REGION":               "from-yaml",   // YAML beats secrets
					"SEMAPHORE_GIT_BRANCH": "from-secret", // secrets beat system variables
				} {
					if got, _ := envOf(a.Job, v); got != want {
						t.Errorf("%s = %q, want %q", v, got, want)
					}
				}
				if a.JobID != j.ID || a.Checkout == nil || a.Checkout.SHA == "" || a.Checkout.URL != e.proj.RepoURL || a.Checkout.Ref != "refs/heads/main" {
					t.Errorf("assignment = %+v", a)
				}
				if len(a.Job.Files) != 1 || a.Job.Files[0].Path != "/tmp/aws" {
					t.Errorf("files = %+v", a.Job.Files)
				}
				if !contains(a.Job.Secrets, "s3cr3t-value") || !contains(a.Job.Secrets, "file of aws") {
					t.Errorf("masks = %q", a.Job.Secrets)
				}
				// Values are never stored.
				if strings.Contains(string(e.job(p, "deploy").Spec), "s3cr3t") {
					t.Errorf("the stored spec holds a secret value")
				}
			case "needs-missing":
				var pe *engine.PrepareError
				if !errors.As(err, &pe) {
					t.Fatalf("Assignment = %v, want a PrepareError", err)
				}
				got := e.job(p, name)
				if got.State != ci.StateDone || got.Result != ci.ResultFailed || got.Reason != ci.ReasonMalformed {
					t.Errorf("job %s/%s/%s, want done/failed/malformed", got.State, got.Result, got.Reason)
				}
				lines, _, err := e.logs.Lines(t.Context(), got.ID, 0, 100)
				if err != nil {
					t.Fatal(err)
				}
				var text []string
				for _, l := range lines {
					text = append(text, l.Text)
				}
				if !strings.Contains(strings.Join(text, "\n"), `secret "missing" not found`) {
					t.Errorf("log = %q", text)
				}
			}
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestConcurrentFinish reports many jobs at once from several engines (as
// several servers would) and checks no update is lost.
func TestConcurrentFinish(t *testing.T) {
	const yaml = `version: v1.0
name: Wide
agent:
  machine:
    type: s1-test
blocks:
  - name: A
    dependencies: []
    task:
      jobs:
        - name: a
          parallelism: 30
          commands: [echo]
  - name: B
    dependencies: []
    task:
      jobs:
        - name: b
          parallelism: 30
          commands: [echo]
  - name: C
    dependencies: [A, B]
    task:
      jobs:
        - name: c
          commands: [echo]
`
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, yaml)
		p := e.pipeline(e.push("main"))
		jobs := e.claimAll("agent-1", "s1-test")
		if len(jobs) != 60 {
			t.Fatalf("claimed %d jobs, want 60", len(jobs))
		}
		engines := []*engine.Engine{e.eng}
		if dialect == store.Postgres {
			// A second server on the same database.
			db2 := enginetest.Open(t, e.dsn)
			engines = append(engines, engine.New(engine.Config{Store: db2, Now: e.clock.Now}))
		}
		var wg sync.WaitGroup
		for i, j := range jobs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := engines[i%len(engines)].JobFinished(context.Background(), j.ID, ci.ResultPassed, ci.ReasonNone); err != nil {
					t.Errorf("JobFinished: %v", err)
				}
			}()
		}
		wg.Wait()
		tree := e.tree(p.ID)
		if got := tree.Blocks[2].State; got != ci.StateRunning {
			t.Fatalf("block C is %s after A and B passed, want running", got)
		}
		c := e.claimAll("agent-1", "s1-test")
		if len(c) != 1 {
			t.Fatalf("claimed %d jobs of block C, want exactly 1", len(c))
		}
		e.finish(c[0], ci.ResultPassed)
		if got := e.tree(p.ID); got.State != ci.StateDone || got.Result != ci.ResultPassed {
			t.Errorf("pipeline %s/%s", got.State, got.Result)
		}
	})
}

// listen subscribes to a notification channel for the test.
func listen(t *testing.T, db *store.DB, channel string) <-chan string {
	t.Helper()
	ch, err := db.Listen(t.Context(), channel)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// waitFor waits for a payload on a notification channel.
func waitFor(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case got := <-ch:
			if got == want {
				return
			}
		case <-timeout:
			t.Fatalf("no notification %q", want)
		}
	}
}

// TestRun checks the background loop: the safety net starts a pipeline
// whose follow-up step was lost, and time limits fire on time without a
// fixed tick.
func TestRun(t *testing.T) {
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, sequentialYAML)
		first := e.pipeline(e.push("main"))
		e.clock.Advance(time.Second)
		e.repo.Commit("second", map[string]string{"x": "2"})
		second := e.pipeline(e.push("main"))
		if second.State != ci.StateQueued {
			t.Fatalf("second pipeline is %s, want queued", second.State)
		}
		// The first ends behind the engine's back, as if its server died
		// between committing and starting the next pipeline.
		first.State, first.Result = ci.StateDone, ci.ResultPassed
		if err := e.db.Tx(t.Context(), func(tx *store.Tx) error { return tx.UpdatePipeline(first) }); err != nil {
			t.Fatal(err)
		}

		eng := e.runEngine(100 * time.Millisecond)
		probe.Eventually(t, 10*time.Second, func() error {
			if st := e.tree(second.ID).State; st != ci.StateRunning {
				return fmt.Errorf("the safety net did not start the second pipeline: %s", st)
			}
			return nil
		})

		// A job with a 300ms limit (set directly: YAML limits are minutes).
		j := e.job(second, "a1")
		started := time.Now()
		j.State, j.AgentID, j.StartedAt, j.TimeLimit = ci.StateRunning, "agent-1", started, 300*time.Millisecond
		if err := e.db.Tx(t.Context(), func(tx *store.Tx) error { return tx.UpdateJobIf(j, ci.StateQueued) }); err != nil {
			t.Fatal(err)
		}
		if err := eng.JobStarted(t.Context(), j.ID); err != nil {
			t.Fatal(err)
		}
		probe.Eventually(t, 10*time.Second, func() error {
			if !e.job(second, "a1").StopRequested {
				return errors.New("the time limit did not stop the job")
			}
			return nil
		})
		if d := time.Since(started); d < 250*time.Millisecond {
			t.Errorf("stopped after %v, before its limit", d)
		}
		if got := e.job(second, "a1").StopReason; got != ci.ReasonTimeout {
			t.Errorf("stop reason %q, want timeout", got)
		}
	})
}

// TestJobStartedInRunningBlock: the first job to start in a block starts
// the block and the pipeline; the next ones, their block already running,
// leave the pipeline as it is (JobStarted's shortcut) but still run; a
// job claimed before a stop that reports its start after the stop is
// asked to stop.
func TestJobStartedInRunningBlock(t *testing.T) {
	const yaml = `version: v1.0
name: P
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: A
    task:
      jobs:
        - name: a
          parallelism: 3
          commands: [echo]
`
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, yaml)
		wf := e.push("main")
		p := e.pipeline(wf)
		first := e.claim("agent-1", "e1-standard-2")
		tree := e.tree(p.ID)
		if tree.State != ci.StateRunning || tree.StartedAt.IsZero() || tree.Blocks[0].State != ci.StateRunning || tree.Blocks[0].StartedAt.IsZero() {
			t.Fatalf("after the first start: pipeline %s started %v, block %s started %v", tree.State, tree.StartedAt, tree.Blocks[0].State, tree.Blocks[0].StartedAt)
		}
		second := e.claim("agent-2", "e1-standard-2")
		if j := e.job(p, second.Name); j.State != ci.StateRunning || j.AgentID != "agent-2" || j.WaitReason != "" {
			t.Fatalf("second job = %s on %q, wait %q", j.State, j.AgentID, j.WaitReason)
		}
		// The third is claimed, then the pipeline stops before its start
		// is reported.
		var third *ci.Job
		if err := e.db.Tx(t.Context(), func(tx *store.Tx) (err error) {
			third, err = tx.ClaimJob("agent-3", "e1-standard-2", e.clock.Now())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := e.eng.StopPipeline(t.Context(), p.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.eng.JobStarted(t.Context(), third.ID); err != nil {
			t.Fatal(err)
		}
		for _, j := range []*ci.Job{first, second, third} {
			if got := e.job(p, j.Name); !got.StopRequested || got.State != ci.StateStopping {
				t.Errorf("job %s = %s, stop requested %v; want stopping", j.Name, got.State, got.StopRequested)
			}
		}
		for _, j := range []*ci.Job{first, second, third} {
			e.finish(j, ci.ResultStopped)
		}
		if got := e.tree(p.ID); got.State != ci.StateDone || got.Result != ci.ResultStopped {
			t.Fatalf("pipeline = %s %s, want done stopped", got.State, got.Result)
		}
	})
}

// TestFinishInARunningBlockTakesNoPipelineLock: a job that passes while
// its block goes on running is recorded without waiting for its
// pipeline's lock (which every other finish would queue on), and the
// last job's end still ends the block.
func TestFinishInARunningBlockTakesNoPipelineLock(t *testing.T) {
	const yaml = `version: v1.0
name: Wide
agent:
  machine:
    type: s1-test
blocks:
  - name: A
    task:
      jobs:
        - name: a
          parallelism: 3
          commands: [echo]
`
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		if dialect != store.Postgres {
			t.Skip("SQLite has one writer: there is no row lock to hold")
		}
		e := newEnv(t, dialect, yaml)
		p := e.pipeline(e.push("main"))
		jobs := e.claimAll("agent-1", "s1-test")
		if len(jobs) != 3 {
			t.Fatalf("claimed %d jobs, want 3", len(jobs))
		}
		locked, release := make(chan struct{}), make(chan struct{})
		holder := make(chan error, 1)
		go func() {
			holder <- e.db.Tx(context.Background(), func(tx *store.Tx) error {
				if _, err := tx.LockPipeline(p.ID); err != nil {
					return err
				}
				close(locked)
				<-release
				return nil
			})
		}()
		<-locked
		finished := make(chan error, 1)
		go func() {
			finished <- e.eng.JobFinished(context.Background(), jobs[0].ID, ci.ResultPassed, ci.ReasonNone)
		}()
		select {
		case err := <-finished:
			if err != nil {
				t.Fatalf("JobFinished: %v", err)
			}
		case <-time.After(60 * time.Second):
			close(release)
			t.Fatal("the finish of a job whose block goes on running waited for the pipeline's lock")
		}
		close(release)
		if err := <-holder; err != nil {
			t.Fatal(err)
		}
		if j := e.job(e.tree(p.ID), jobs[0].Name); j.State != ci.StateDone || j.Result != ci.ResultPassed {
			t.Fatalf("job %s/%s, want done/passed", j.State, j.Result)
		}
		e.finish(jobs[1], ci.ResultPassed)
		e.finish(jobs[2], ci.ResultPassed)
		if got := e.tree(p.ID); got.State != ci.StateDone || got.Result != ci.ResultPassed || got.Blocks[0].State != ci.StateDone {
			t.Errorf("pipeline %s/%s, block %s after every job passed", got.State, got.Result, got.Blocks[0].State)
		}
	})
}

// TestBlockEndedByRecheckAfterACrash: the last job of a block was ended
// (its row committed) by a server that died before it advanced the
// pipeline; the engine's recheck, here a new server's, ends the block
// and the pipeline.
func TestBlockEndedByRecheckAfterACrash(t *testing.T) {
	const yaml = `version: v1.0
name: Wide
agent:
  machine:
    type: s1-test
blocks:
  - name: A
    task:
      jobs:
        - name: a
          parallelism: 2
          commands: [echo]
`
	enginetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, yaml)
		p := e.pipeline(e.push("main"))
		jobs := e.claimAll("agent-1", "s1-test")
		if len(jobs) != 2 {
			t.Fatalf("claimed %d jobs, want 2", len(jobs))
		}
		// What FinishJob commits before it looks at the block.
		for _, j := range jobs {
			if ok, err := e.db.FinishRunningJob(t.Context(), j.ID, ci.ResultPassed, ci.ReasonNone, e.clock.Now()); err != nil || !ok {
				t.Fatalf("FinishRunningJob: %v %v", ok, err)
			}
		}
		if got := e.tree(p.ID); got.State != ci.StateRunning {
			t.Fatalf("pipeline %s before the recheck", got.State)
		}
		e.runEngine(100 * time.Millisecond)
		probe.Eventually(t, 30*time.Second, func() error {
			if got := e.tree(p.ID); got.State != ci.StateDone || got.Result != ci.ResultPassed {
				return fmt.Errorf("pipeline %s/%s", got.State, got.Result)
			}
			return nil
		})
	})
}
