package runner_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/executor/shell"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/runner"
)

// events collects a job's output.
type events struct {
	mu  sync.Mutex
	out strings.Builder
	dir []string
}

func (e *events) emit(ev ci.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.out.WriteString(ev.Output)
	if ev.Kind == ci.EventCmdStarted {
		e.dir = append(e.dir, ev.Directive)
	}
}

func TestDebugJobWritesCommandsAndHolds(t *testing.T) {
	home := t.TempDir()
	var held []runner.Hold
	r := &runner.Runner{Executor: shell.New(shell.Options{}), Hold: func(ctx context.Context, h runner.Hold) {
		held = append(held, h)
		// While held, the session is set up: the commands are written.
		if b, err := os.ReadFile(filepath.Join(home, "commands.sh")); err != nil || !strings.Contains(string(b), "echo one\nexit 3\n# epilogue (always):\necho bye\n") {
			t.Errorf("~/commands.sh = %q, %v", b, err)
		}
	}}
	var ev events
	job := jobspec.Job{
		Name: "debug", Debug: true, TimeLimit: time.Minute, Dir: home,
		BaseEnv:        []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")},
		Commands:       []string{"echo one", "exit 3"},
		EpilogueAlways: []string{"echo bye"},
		Env:            []jobspec.Var{{Name: "SEMAPHORE_JOB_ID", Value: "j1"}},
	}
	result, reason := r.Run(t.Context(), job, ev.emit)
	if result != ci.ResultPassed || reason != ci.ReasonNone {
		t.Errorf("debug job = %s/%s, want passed", result, reason)
	}
	if len(held) != 1 || held[0].Kind != runner.HoldDebug || time.Until(held[0].Until) > time.Minute {
		t.Errorf("holds = %+v", held)
	}
	if strings.Contains(ev.out.String(), "one") || strings.Contains(ev.out.String(), "bye") {
		t.Errorf("a debug job ran its commands:\n%s", ev.out.String())
	}
	if !strings.Contains(ev.out.String(), "baton attach j1") {
		t.Errorf("the log does not say how to connect:\n%s", ev.out.String())
	}

	// Without a Hold the debug job waits for its time limit: stopped.
	r.Hold = nil
	job.TimeLimit = 500 * time.Millisecond
	result, reason = r.Run(t.Context(), job, (&events{}).emit)
	if result != ci.ResultStopped || reason != ci.ReasonTimeout {
		t.Errorf("debug job at its limit = %s/%s, want stopped/timeout", result, reason)
	}
}

func TestKeepOnFailure(t *testing.T) {
	var kinds []runner.HoldKind
	r := &runner.Runner{Executor: shell.New(shell.Options{}), Hold: func(ctx context.Context, h runner.Hold) {
		kinds = append(kinds, h.Kind)
	}}
	base := jobspec.Job{Name: "j", Dir: t.TempDir(), KeepOnFailure: time.Minute, EpilogueAlways: []string{"echo epilogue"}}
	for _, tc := range []struct {
		name     string
		commands []string
		want     ci.Result
		holds    int
	}{
		{"passed", []string{"true"}, ci.ResultPassed, 0},
		{"failed", []string{"false"}, ci.ResultFailed, 1},
		{"shell exited", []string{"exit 4"}, ci.ResultFailed, 1},
	} {
		kinds = nil
		job := base
		job.Commands = tc.commands
		var ev events
		if result, _ := r.Run(t.Context(), job, ev.emit); result != tc.want || len(kinds) != tc.holds {
			t.Errorf("%s: result %s, holds %v; want %s, %d", tc.name, result, kinds, tc.want, tc.holds)
		}
		if tc.holds > 0 && (kinds[0] != runner.HoldFailure || ev.dir[len(ev.dir)-1] != runner.DirectiveKeep) {
			t.Errorf("%s: holds %v, commands %v", tc.name, kinds, ev.dir)
		}
	}
	// A stop during the hold ends it; the result stays failed.
	ctx, cancel := context.WithCancel(t.Context())
	r.Hold = func(ctx context.Context, h runner.Hold) {
		cancel()
		<-ctx.Done()
	}
	job := base
	job.Commands = []string{"false"}
	if result, _ := r.Run(ctx, job, (&events{}).emit); result != ci.ResultFailed {
		t.Errorf("stopped while kept: %s, want failed", result)
	}
}
