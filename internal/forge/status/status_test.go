package status_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/forge"
	"github.com/batonci/baton/internal/forge/status"
)

// flaky is a forge whose status API fails the first failures calls.
type flaky struct {
	forge.Forge
	mu       sync.Mutex
	failures int
	err      error
	calls    []time.Time
	sent     []forge.Status
}

func (f *flaky) SetStatus(_ context.Context, repo, sha string, st forge.Status) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, time.Now())
	if len(f.calls) <= f.failures {
		return f.err
	}
	f.sent = append(f.sent, st)
	return nil
}

var (
	proj = &ci.Project{Name: "app", Forge: "github", ForgeRepo: "acme/app"}
	wf   = &ci.Workflow{ID: "wf1", SHA: "merge", PRSHA: "head", RefType: "pull-request"}
)

func TestStatusOf(t *testing.T) {
	for _, tc := range []struct {
		state  ci.State
		result ci.Result
		want   forge.State
	}{
		{ci.StateQueued, "", forge.Pending},
		{ci.StateRunning, "", forge.Running},
		{ci.StateDone, ci.ResultPassed, forge.Success},
		{ci.StateDone, ci.ResultFailed, forge.Failure},
		{ci.StateDone, ci.ResultStopped, forge.Error},
		{ci.StateDone, ci.ResultCanceled, forge.Error},
	} {
		sha, st := status.StatusOf(&ci.Pipeline{Name: "CI", State: tc.state, Result: tc.result}, wf, "http://baton")
		if sha != "head" || st.State != tc.want || st.Context != "baton/CI" || st.TargetURL != "http://baton/api/v1/workflows/wf1" {
			t.Errorf("%s/%s: %s %+v", tc.state, tc.result, sha, st)
		}
	}
}

func TestRetriesWithBackoffThenSucceeds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &flaky{failures: 2, err: &forge.StatusError{Code: 502}}
		r := status.New(status.Config{Open: func(context.Context, *ci.Project) (forge.Forge, error) { return f, nil }, Backoff: time.Second})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { r.Run(ctx); close(done) }()
		start := time.Now()
		r.PipelineChanged(ctx, &ci.Pipeline{State: ci.StateRunning}, wf, proj)
		r.PipelineChanged(ctx, &ci.Pipeline{State: ci.StateDone, Result: ci.ResultPassed}, wf, proj)
		time.Sleep(time.Minute)
		synctest.Wait()
		cancel()
		<-done
		if len(f.calls) != 4 {
			t.Fatalf("%d calls, want 4 (two failures, then running, then success)", len(f.calls))
		}
		if d1, d2 := f.calls[1].Sub(start), f.calls[2].Sub(f.calls[1]); d1 != time.Second || d2 != 2*time.Second {
			t.Errorf("waits %v, %v; want 1s then 2s", d1, d2)
		}
		if len(f.sent) != 2 || f.sent[0].State != forge.Running || f.sent[1].State != forge.Success {
			t.Errorf("sent %+v, want running then success", f.sent)
		}
		if len(r.Failures()) != 0 {
			t.Errorf("failures %+v", r.Failures())
		}
		if sent, failed := r.Counts(); sent != 2 || failed != 0 {
			t.Errorf("counts = %d sent, %d failed; want 2, 0", sent, failed)
		}
	})
}

func TestGivesUpVisibly(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		wantCalls int
	}{
		{"server errors: every attempt", &forge.StatusError{Code: 500, Body: "boom"}, 3},
		{"refused: at once", &forge.StatusError{Code: http.StatusUnauthorized, Body: "Bad credentials"}, 1},
		{"network", errors.New("connection refused"), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &flaky{failures: 100, err: tc.err}
				r := status.New(status.Config{Open: func(context.Context, *ci.Project) (forge.Forge, error) { return f, nil }, Attempts: 3})
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan struct{})
				go func() { r.Run(ctx); close(done) }()
				r.PipelineChanged(ctx, &ci.Pipeline{State: ci.StateDone, Result: ci.ResultFailed}, wf, proj)
				time.Sleep(time.Hour)
				synctest.Wait()
				cancel()
				<-done
				if len(f.calls) != tc.wantCalls {
					t.Errorf("%d calls, want %d", len(f.calls), tc.wantCalls)
				}
				fs := r.Failures()
				if len(fs) != 1 || fs[0].SHA != "head" || fs[0].State != forge.Failure || !strings.Contains(fs[0].Err, tc.err.Error()) {
					t.Errorf("failures = %+v", fs)
				}
			})
		})
	}
}

func TestPlainGitProjectsAreNotReported(t *testing.T) {
	r := status.New(status.Config{Open: func(context.Context, *ci.Project) (forge.Forge, error) {
		t.Fatal("opened a forge for a plain git project")
		return nil, nil
	}})
	r.PipelineChanged(t.Context(), &ci.Pipeline{State: ci.StateRunning}, wf, &ci.Project{Name: "plain"})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	r.Run(ctx)
}
