package status_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/forge"
	"github.com/batonci/baton/internal/forge/gitlab"
	"github.com/batonci/baton/internal/forge/status"
	"github.com/batonci/baton/internal/testenv/probe"
)

// fakeGitLab is GitLab's commit status API as documented
// (POST /api/v4/projects/:id/statuses/:sha with state, name, ref): each
// commit status moves through GitLab's states and a move it does not
// allow is refused as GitLab refuses it, a repeated pending included
// ("Cannot transition status via :enqueue from :pending"); a status on
// a commit that is on no branch needs a ref.
type fakeGitLab struct {
	t        *testing.T
	onBranch map[string]bool // commits on a branch of the project
	refs     map[string]bool // refs the project has

	mu       sync.Mutex
	state    map[string]string // sha/name → current state
	accepted []string          // "sha name state ref", in order
	refused  []string
}

func newFakeGitLab(t *testing.T) (*fakeGitLab, *httptest.Server) {
	f := &fakeGitLab{t: t, state: map[string]string{},
		onBranch: map[string]bool{"c0ffee": true},
		refs:     map[string]bool{"main": true, "refs/merge-requests/7/head": true}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv
}

// events are GitLab's status events by the state they lead to, and the
// states each may leave.
var events = map[string]struct {
	name string
	from []string
}{
	"pending": {"enqueue", []string{"", "created", "success", "failed", "canceled"}},
	"running": {"run", []string{"", "created", "pending", "success", "failed", "canceled"}},
	"success": {"succeed", []string{"", "created", "pending", "running"}},
	"failed":  {"drop", []string{"", "created", "pending", "running"}},
}

func (f *fakeGitLab) serve(w http.ResponseWriter, r *http.Request) {
	var sha string
	if _, err := fmt.Sscanf(r.URL.EscapedPath(), "/api/v4/projects/group%%2Fapp/statuses/%s", &sha); err != nil || r.Method != "POST" {
		http.Error(w, `{"message":"404 Not Found"}`, http.StatusNotFound)
		return
	}
	if r.Header.Get("PRIVATE-TOKEN") != "glpat-test" {
		http.Error(w, `{"message":"401 Unauthorized"}`, http.StatusUnauthorized)
		return
	}
	var body struct{ State, Name, Ref string }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, `{"message":"400 Bad request"}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	refuse := func(code int, msg string) {
		f.refused = append(f.refused, fmt.Sprintf("%s %s %s: %s", sha, body.Name, body.State, msg))
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"message": msg})
	}
	switch {
	case body.Ref == "" && !f.onBranch[sha]:
		refuse(http.StatusNotFound, "404 References for commit Not Found")
		return
	case body.Ref != "" && !f.refs[body.Ref]:
		refuse(http.StatusNotFound, "404 Reference Not Found")
		return
	}
	ev, ok := events[body.State]
	if !ok {
		refuse(http.StatusBadRequest, "state is invalid")
		return
	}
	key := sha + "/" + body.Name
	cur := f.state[key]
	if !slices.Contains(ev.from, cur) {
		refuse(http.StatusBadRequest, fmt.Sprintf("Cannot transition status via :%s from :%s (Reason(s): Status cannot transition via \"%s\")", ev.name, cur, ev.name))
		return
	}
	f.state[key] = body.State
	f.accepted = append(f.accepted, fmt.Sprintf("%s %s %s %s", sha, body.Name, body.State, body.Ref))
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{"status": body.State, "name": body.Name, "sha": sha})
}

func (f *fakeGitLab) log() (accepted, refused []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.accepted), slices.Clone(f.refused)
}

// waitFor waits until the fake accepted or refused n statuses.
func (f *fakeGitLab) waitFor(n int) (accepted, refused []string) {
	f.t.Helper()
	probe.Eventually(f.t, 10*time.Second, func() error {
		accepted, refused = f.log()
		if len(accepted)+len(refused) < n {
			return fmt.Errorf("%d statuses accepted, %d refused; want %d in all", len(accepted), len(refused), n)
		}
		return nil
	})
	return accepted, refused
}

func gitlabReporter(t *testing.T, url string) *status.Reporter {
	r := status.New(status.Config{Open: func(context.Context, *ci.Project) (forge.Forge, error) {
		return gitlab.New(url, "glpat-test", nil), nil
	}, BaseURL: "http://baton", Attempts: 2, Backoff: time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// TestGitLabStatuses: a pipeline that waits in its queue, starts and
// passes is reported pending, running, success, each once, though the
// engine tells of it more often; a fork's merge request head, on no
// branch of the project, is reported with the merge request's ref.
func TestGitLabStatuses(t *testing.T) {
	fake, srv := newFakeGitLab(t)
	r := gitlabReporter(t, srv.URL)
	proj := &ci.Project{ID: "p1", Name: "app", Forge: "gitlab", ForgeRepo: "group/app"}
	push := &ci.Workflow{ID: "wf1", SHA: "c0ffee", RefType: "branch", Branch: "main"}
	ctx := t.Context()
	for _, st := range []ci.State{ci.StateQueued, ci.StateQueued, ci.StateRunning, ci.StateRunning, ci.StateDone} {
		r.PipelineChanged(ctx, &ci.Pipeline{Name: "CI", State: st, Result: map[bool]ci.Result{true: ci.ResultPassed}[st == ci.StateDone]}, push, proj)
	}
	accepted, refused := fake.waitFor(3)
	want := []string{"c0ffee baton/CI pending main", "c0ffee baton/CI running main", "c0ffee baton/CI success main"}
	if !slices.Equal(accepted, want) || len(refused) != 0 {
		t.Fatalf("GitLab accepted %q and refused %q; want %q and no refusal", accepted, refused, want)
	}

	// A fork's merge request: its head is on no branch of the project.
	mr := &ci.Workflow{ID: "wf2", SHA: "merge", PRSHA: "f0f0f0", RefType: "pull-request", PR: "7", PRBranch: "feature"}
	r.PipelineChanged(ctx, &ci.Pipeline{Name: "CI", State: ci.StateQueued}, mr, proj)
	r.PipelineChanged(ctx, &ci.Pipeline{Name: "CI", State: ci.StateDone, Result: ci.ResultFailed}, mr, proj)
	accepted, refused = fake.waitFor(5)
	want = append(want, "f0f0f0 baton/CI pending refs/merge-requests/7/head", "f0f0f0 baton/CI failed refs/merge-requests/7/head")
	if !slices.Equal(accepted, want) || len(refused) != 0 {
		t.Fatalf("GitLab accepted %q and refused %q; want %q and no refusal", accepted, refused, want)
	}

	// A rebuild of the push reports again from pending.
	r.PipelineChanged(ctx, &ci.Pipeline{Name: "CI", State: ci.StateQueued}, push, proj)
	accepted, _ = fake.waitFor(6)
	if accepted[5] != "c0ffee baton/CI pending main" {
		t.Errorf("rebuild reported %q, want pending again", accepted[5])
	}
	probe.Eventually(t, 10*time.Second, func() error {
		if sent, failed := r.Counts(); sent != 6 || failed != 0 {
			return fmt.Errorf("counts = %d sent, %d failed; want 6, 0 (failures: %+v)", sent, failed, r.Failures())
		}
		return nil
	})

	// Another server that reports the same state (it does not know what
	// this one sent) gets GitLab's refusal, which means the status is
	// already as asked: no failure.
	other := gitlabReporter(t, srv.URL)
	other.PipelineChanged(ctx, &ci.Pipeline{Name: "CI", State: ci.StateQueued}, push, proj)
	other.PipelineChanged(ctx, &ci.Pipeline{Name: "CI", State: ci.StateRunning}, push, proj)
	accepted, refused = fake.waitFor(8)
	if len(refused) != 1 || accepted[len(accepted)-1] != "c0ffee baton/CI running main" {
		t.Errorf("accepted %q, refused %q; want the repeated pending refused, then running", accepted, refused)
	}
	probe.Eventually(t, 10*time.Second, func() error {
		if sent, failed := other.Counts(); sent != 2 || failed != 0 {
			return fmt.Errorf("the other server's counts = %d sent, %d failed; want 2, 0 (failures: %+v)", sent, failed, other.Failures())
		}
		return nil
	})
}
