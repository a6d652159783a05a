package localrun_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/localrun"
	"github.com/batonci/baton/internal/plan"
)

// scriptRunner is a fake job runner: a job's first command says what it
// does: "pass", "fail", "failslow" (fail after 30 ms), "wait" (until
// stopped), or "sleep" (150 ms then pass). It records the order jobs started in.
type scriptRunner struct {
	mu      sync.Mutex
	started []string
	running int
	peak    int
}

func (s *scriptRunner) Run(ctx context.Context, job jobspec.Job, emit func(ci.Event)) (ci.Result, ci.Reason) {
	s.mu.Lock()
	s.started = append(s.started, job.Name)
	s.running++
	s.peak = max(s.peak, s.running)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running--
		s.mu.Unlock()
	}()
	emit(ci.Event{Kind: ci.EventJobStarted})
	switch job.Commands[0] {
	case "failslow":
		time.Sleep(30 * time.Millisecond)
		return ci.ResultFailed, ci.ReasonTest
	case "fail":
		return ci.ResultFailed, ci.ReasonTest
	case "wait":
		<-ctx.Done()
		var sc ci.StopCause
		reason := ci.ReasonUser
		if c, ok := context.Cause(ctx).(ci.StopCause); ok {
			sc = c
			reason = sc.Reason
		}
		return ci.ResultStopped, reason
	case "sleep":
		select {
		case <-time.After(150 * time.Millisecond):
		case <-ctx.Done():
			return ci.ResultStopped, ci.ReasonUser
		}
	}
	return ci.ResultPassed, ci.ReasonNone
}

func (s *scriptRunner) order() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.started)
}

func block(name string, deps []string, cmds ...string) *plan.Block {
	b := &plan.Block{Name: name, Dependencies: deps}
	for i, c := range cmds {
		b.Jobs = append(b.Jobs, &plan.Job{Name: name + "/" + string(rune('a'+i)), Block: name, Commands: []string{c}})
	}
	return b
}

// run runs g in a synctest bubble: the runner's sleeps and the time
// limits take no time.
func run(t *testing.T, g *plan.Graph, r *scriptRunner, parallel int) (rep *localrun.Report, events []ci.Event) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) { rep, events = runInBubble(t, g, r, parallel) })
	return rep, events
}

// runInBubble runs g; the caller's test is a synctest bubble already.
func runInBubble(t *testing.T, g *plan.Graph, r *scriptRunner, parallel int) (*localrun.Report, []ci.Event) {
	t.Helper()
	var events []ci.Event
	if g.TimeLimit == 0 {
		g.TimeLimit = plan.Duration(time.Minute)
	}
	rep := localrun.Run(t.Context(), g, localrun.Options{
		Runner:   r,
		Parallel: parallel,
		Prepare: func(ctx context.Context, s localrun.Spec) (jobspec.Job, func(), error) {
			return jobspec.Job{Name: s.Job.Name, Commands: s.Job.Commands}, nil, nil
		},
		Emit: func(ev ci.Event) { events = append(events, ev) },
	})
	return rep, events
}

func results(rep *localrun.Report) map[string]string {
	out := map[string]string{}
	for _, b := range rep.Blocks {
		out[b.Name] = string(b.Result) + "/" + string(b.Reason)
	}
	return out
}

func TestDependentsOfAFailedBlockAreCanceledOthersContinue(t *testing.T) {
	g := &plan.Graph{Blocks: []*plan.Block{
		block("A", nil, "fail"),
		block("B", nil, "sleep"),
		block("C", []string{"A"}, "pass"),
		block("D", []string{"B"}, "pass"),
	}}
	r := &scriptRunner{}
	rep, _ := run(t, g, r, 4)
	want := map[string]string{"A": "failed/test", "B": "passed/", "C": "canceled/dependency", "D": "passed/"}
	if got := results(rep); !equalMaps(got, want) {
		t.Errorf("block results = %v, want %v", got, want)
	}
	if rep.Result != ci.ResultFailed {
		t.Errorf("pipeline result = %s, want failed", rep.Result)
	}
	if slices.Contains(r.order(), "C/a") {
		t.Error("job of a canceled block ran")
	}
}

func TestFailFastStopStopsRunningJobsAndCancelsTheRest(t *testing.T) {
	g := &plan.Graph{FailFast: "stop", Blocks: []*plan.Block{
		block("A", nil, "sleep"),
		block("B", nil, "wait"),
		block("C", []string{"A"}, "pass"),
	}}
	g.Blocks[0].Jobs[0].Commands = []string{"failslow"}
	r := &scriptRunner{}
	rep, _ := run(t, g, r, 4)
	got := results(rep)
	if got["B"] != "stopped/fast_failing" {
		t.Errorf("B = %s, want stopped/fast_failing", got["B"])
	}
	if got["C"] != "canceled/dependency" && got["C"] != "canceled/fast_failing" {
		t.Errorf("C = %s, want canceled", got["C"])
	}
	if rep.Result != ci.ResultFailed {
		t.Errorf("pipeline = %s, want failed", rep.Result)
	}
}

func TestFailFastCancelLetsRunningJobsFinish(t *testing.T) {
	g := &plan.Graph{FailFast: "cancel", Blocks: []*plan.Block{
		block("A", nil, "failslow"),
		block("B", nil, "sleep"),
		block("C", []string{"B"}, "pass"),
	}}
	r := &scriptRunner{}
	rep, _ := run(t, g, r, 4)
	got := results(rep)
	if got["B"] != "passed/" {
		t.Errorf("B = %s, want passed (running jobs finish)", got["B"])
	}
	if !strings.HasPrefix(got["C"], "canceled") {
		t.Errorf("C = %s, want canceled (not started after the failure)", got["C"])
	}
}

func TestParallelLimitIsRespected(t *testing.T) {
	g := &plan.Graph{Blocks: []*plan.Block{block("A", nil, "sleep", "sleep", "sleep", "sleep", "sleep", "sleep")}}
	r := &scriptRunner{}
	rep, _ := run(t, g, r, 2)
	if rep.Result != ci.ResultPassed {
		t.Fatalf("result = %s", rep.Result)
	}
	if r.peak != 2 {
		t.Errorf("peak concurrency = %d, want 2", r.peak)
	}
}

func TestSkippedBlockCountsAsPassed(t *testing.T) {
	a := block("A", nil, "fail")
	a.Skipped = true
	g := &plan.Graph{Blocks: []*plan.Block{a, block("B", []string{"A"}, "pass")}}
	r := &scriptRunner{}
	rep, _ := run(t, g, r, 2)
	if got := results(rep); got["A"] != "passed/skipped" || got["B"] != "passed/" {
		t.Errorf("results = %v", got)
	}
	if slices.Contains(r.order(), "A/a") {
		t.Error("skipped block ran")
	}
}

func TestPipelineTimeLimitStopsWithReasonTimeout(t *testing.T) {
	g := &plan.Graph{TimeLimit: plan.Duration(50 * time.Millisecond), Blocks: []*plan.Block{block("A", nil, "wait"), block("B", []string{"A"}, "pass")}}
	r := &scriptRunner{}
	rep, _ := run(t, g, r, 2)
	if rep.Result != ci.ResultStopped || rep.Reason != ci.ReasonTimeout {
		t.Errorf("pipeline = %s/%s, want stopped/timeout", rep.Result, rep.Reason)
	}
}

func TestBlockTimeLimit(t *testing.T) {
	a := block("A", nil, "wait")
	a.TimeLimit = plan.Duration(30 * time.Millisecond)
	g := &plan.Graph{Blocks: []*plan.Block{a}}
	rep, _ := run(t, g, &scriptRunner{}, 2)
	if got := results(rep)["A"]; got != "stopped/timeout" {
		t.Errorf("A = %s, want stopped/timeout", got)
	}
}

func TestStopByUserBeforeAnythingRanCancels(t *testing.T) {
	ctx, cancel := context.WithCancelCause(t.Context())
	cancel(ci.StopCause{Reason: ci.ReasonUser})
	g := &plan.Graph{TimeLimit: plan.Duration(time.Minute), Blocks: []*plan.Block{block("A", nil, "pass")}}
	rep := localrun.Run(ctx, g, localrun.Options{
		Runner: &scriptRunner{},
		Prepare: func(ctx context.Context, s localrun.Spec) (jobspec.Job, func(), error) {
			return jobspec.Job{Name: s.Job.Name, Commands: s.Job.Commands}, nil, nil
		},
	})
	if rep.Result != ci.ResultCanceled || rep.Reason != ci.ReasonUser {
		t.Errorf("pipeline = %s/%s, want canceled/user", rep.Result, rep.Reason)
	}
}

func TestAfterPipelineRunsWithTheResult(t *testing.T) {
	var got []string
	g := &plan.Graph{
		TimeLimit:     plan.Duration(time.Minute),
		Blocks:        []*plan.Block{block("A", nil, "fail")},
		AfterPipeline: block("After pipeline", nil, "pass"),
	}
	rep := localrun.Run(t.Context(), g, localrun.Options{
		Runner: &scriptRunner{},
		Prepare: func(ctx context.Context, s localrun.Spec) (jobspec.Job, func(), error) {
			for _, v := range s.Extra {
				got = append(got, v.Name+"="+v.Value)
			}
			return jobspec.Job{Name: s.Job.Name, Commands: s.Job.Commands}, nil, nil
		},
	})
	if rep.AfterPipeline == nil || rep.AfterPipeline.Result != ci.ResultPassed {
		t.Fatalf("after_pipeline did not run: %+v", rep.AfterPipeline)
	}
	if !slices.Contains(got, "SEMAPHORE_PIPELINE_RESULT=failed") {
		t.Errorf("after_pipeline env = %v, want SEMAPHORE_PIPELINE_RESULT=failed", got)
	}
	if rep.Result != ci.ResultFailed {
		t.Errorf("after_pipeline changed the result to %s", rep.Result)
	}
}

func TestPrepareErrorFailsTheJobWithItsMessage(t *testing.T) {
	g := &plan.Graph{TimeLimit: plan.Duration(time.Minute), Blocks: []*plan.Block{block("A", nil, "pass")}}
	var out strings.Builder
	rep := localrun.Run(t.Context(), g, localrun.Options{
		Runner: &scriptRunner{},
		Prepare: func(ctx context.Context, s localrun.Spec) (jobspec.Job, func(), error) {
			return jobspec.Job{}, nil, errString("secret \"aws\" not found")
		},
		Emit: func(ev ci.Event) { out.WriteString(ev.Output) },
	})
	if rep.Result != ci.ResultFailed {
		t.Errorf("result = %s, want failed", rep.Result)
	}
	if !strings.Contains(out.String(), `secret "aws" not found`) {
		t.Errorf("log = %q, want the prepare error", out.String())
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestEventsCarryBlockAndJobAndEndWithPipelineFinished(t *testing.T) {
	g := &plan.Graph{Blocks: []*plan.Block{block("A", nil, "pass")}}
	_, events := run(t, g, &scriptRunner{}, 1)
	if len(events) == 0 {
		t.Fatal("no events")
	}
	first := events[0]
	if first.Block != "A" || first.Job != "A/a" {
		t.Errorf("first event block/job = %q/%q", first.Block, first.Job)
	}
	last := events[len(events)-1]
	if last.Kind != ci.EventPipelineFinished || last.Result != ci.ResultPassed {
		t.Errorf("last event = %+v, want pipeline_finished passed", last)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
