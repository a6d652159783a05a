package jobsvc

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestWorkspaceStartsTheJobsCopy: POST /v1/workspace starts the job's
// working copy for its token only, and answers 503 for a job with none.
func TestWorkspaceStartsTheJobsCopy(t *testing.T) {
	t.Parallel()
	var started atomic.Int32
	s, err := Start(Config{Scope: Scope{Project: "p", Workflow: "w", Job: "j"}, Workspace: func() { started.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, token := range []string{"", "wrong", s.token + "x"} {
		if code, body := raw(t, s, token, "POST", "/v1/workspace", nil); code != http.StatusUnauthorized {
			t.Errorf("POST /v1/workspace with token %q: %d %s, want 401", token, code, body)
		}
	}
	if n := started.Load(); n != 0 {
		t.Fatalf("refused requests started the working copy %d times", n)
	}
	c, err := NewClient(envOf(s.Env()))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StartWorkspace(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := started.Load(); n != 1 {
		t.Errorf("started %d times, want 1", n)
	}

	_, none := start(t, newStores(t), Scope{Project: "p", Workflow: "w", Job: "j"})
	if err := none.StartWorkspace(t.Context()); !IsStatus(err, http.StatusServiceUnavailable) || !strings.Contains(err.Error(), "no working copy") {
		t.Errorf("StartWorkspace without a copy to make = %v, want 503", err)
	}
}
