package runner_test

import (
	"context"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/runner"
)

// fakeExec is an executor whose sessions run "sleep" until ctx is done and
// everything else at once; it lets the time limit be tested on a fake clock.
type fakeExec struct{}

func (fakeExec) Start(ctx context.Context, cfg executor.SessionConfig) (executor.Session, error) {
	return fakeSession{}, nil
}

type fakeSession struct{}

func (fakeSession) Run(ctx context.Context, command string, out io.Writer) (int, error) {
	if command == "sleep forever" {
		<-ctx.Done()
		return 143, ctx.Err()
	}
	return 0, nil
}

func (fakeSession) Close() error { return nil }

func TestTimeLimitFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		startAt := time.Now()
		job := jobspec.Job{
			TimeLimit:      2 * time.Hour,
			Commands:       []string{"make", "sleep forever", "never"},
			EpilogueAlways: []string{"never"},
		}
		l := &log{t: t}
		res, reason := (&runner.Runner{Executor: fakeExec{}}).Run(t.Context(), job, l.emit)
		l.check()
		if res != ci.ResultStopped || reason != ci.ReasonTimeout {
			t.Errorf("Run = %s/%s, want stopped/timeout", res, reason)
		}
		if d := time.Since(startAt); d != 2*time.Hour {
			t.Errorf("job ran %v on the fake clock, want exactly the 2h limit", d)
		}
		var last ci.Event
		for _, e := range l.events {
			if e.Kind == ci.EventCmdFinished {
				last = e
			}
		}
		if last.Directive != "sleep forever" || *last.ExitCode != 143 || last.FinishedAt.Time().Sub(last.StartedAt.Time()) != 2*time.Hour {
			t.Errorf("last command: %+v", last)
		}
	})
}
