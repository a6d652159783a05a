package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
)

// TestManualRunChecksTheCommit: a deployment target's branch rule checks
// the commit, not a label. A manual run naming branch main and a commit
// is refused (409, saying why) unless the commit is main's head at the
// time; without a commit it builds the head. The workflow records the
// ref that vouches for its commit, a rebuild keeps it, and promotions to a
// target that allows main check it.
func TestManualRunChecksTheCommit(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "a1", "e1-standard-2", 2)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": deployCI, ".semaphore/production.yml": strings.Replace(deployProduction, "sleep 600", "echo deployed", 1)})
	old := repo.Git("rev-parse", "HEAD")
	head := repo.Commit("second", map[string]string{"b.txt": "b\n"})
	repo.Git("checkout", "-q", "-b", "evil", old)
	evil := repo.Commit("not on main", map[string]string{"evil.txt": "evil\n"})
	repo.Git("checkout", "-q", "main")
	createProject(t, e, "app", repo, nil)
	e.Do("POST", "/api/v1/projects/app/targets", map[string]any{"name": "production", "branches": []string{"main"}}, nil, http.StatusCreated)
	writer := addUser(t, e, "app", "writer", "write")

	for _, tc := range []struct{ name, sha string }{
		{"a commit of another branch", evil},
		{"an older commit of main", old},
		{"a prefix of another branch's commit", evil[:12]},
	} {
		var refused struct {
			Message string `json:"message"`
		}
		e.DoAs(writer, "POST", "/api/v1/projects/app/workflows", map[string]any{"branch": "main", "sha": tc.sha}, &refused, http.StatusConflict)
		e.DoAs(writer, "POST", "/api/v1/projects/app/workflows", map[string]any{"branch": "main", "sha": tc.sha}, nil, http.StatusConflict)
		var ws []ci.Workflow
		e.Do("GET", "/api/v1/projects/app/workflows", nil, &ws)
		if len(ws) != 0 {
			t.Fatalf("%s: a refused run made %d workflows", tc.name, len(ws))
		}
	}
	code, body := postAs(t, e, writer, "/api/v1/projects/app/workflows", `{"branch":"main","sha":"`+evil+`"}`)
	if code != http.StatusConflict || !strings.Contains(body, "is not the head of branch main") || !strings.Contains(body, head) {
		t.Errorf("run of another branch's commit labelled main: %d %s", code, body)
	}

	var byHead, bySHA, byPrefix ci.Workflow
	e.DoAs(writer, "POST", "/api/v1/projects/app/workflows", map[string]any{"branch": "main"}, &byHead, http.StatusCreated)
	e.DoAs(writer, "POST", "/api/v1/projects/app/workflows", map[string]any{"branch": "main", "sha": head}, &bySHA, http.StatusCreated)
	e.DoAs(writer, "POST", "/api/v1/projects/app/workflows", map[string]any{"branch": "main", "sha": head[:7]}, &byPrefix, http.StatusCreated)
	for _, wf := range []ci.Workflow{byHead, bySHA, byPrefix} {
		if wf.SHA != head || wf.RefVerified != "refs/heads/main" {
			t.Errorf("workflow #%d: sha %s, verified %q; want %s, refs/heads/main", wf.Number, wf.SHA, wf.RefVerified, head)
		}
	}
	var onEvil ci.Workflow
	e.DoAs(writer, "POST", "/api/v1/projects/app/workflows", map[string]any{"branch": "evil", "sha": evil}, &onEvil, http.StatusCreated)
	if onEvil.RefVerified != "refs/heads/evil" {
		t.Errorf("run of evil's head: verified %q", onEvil.RefVerified)
	}

	// main moves on; a rebuild of the verified workflow keeps what
	// vouched for it, and may still deploy.
	repo.Commit("third", map[string]string{"c.txt": "c\n"})
	var rebuilt ci.Workflow
	e.Do("POST", "/api/v1/workflows/"+bySHA.ID+"/rebuild", nil, &rebuilt, http.StatusCreated)
	if rebuilt.SHA != head || rebuilt.RefVerified != "refs/heads/main" {
		t.Errorf("rebuild: sha %s, verified %q", rebuilt.SHA, rebuilt.RefVerified)
	}
	w := e.WaitWorkflow(rebuilt.ID, 60*time.Second)
	e.DoAs(writer, "POST", "/api/v1/pipelines/"+w.Pipelines[0].ID+"/promote", map[string]any{"name": "Production"}, nil, http.StatusCreated)
	w = e.WaitWorkflow(onEvil.ID, 60*time.Second)
	code, body = postAs(t, e, writer, "/api/v1/pipelines/"+w.Pipelines[0].ID+"/promote", `{"name":"Production"}`)
	if code != http.StatusForbidden || !strings.Contains(body, "branch evil may not deploy to production") {
		t.Errorf("promotion of evil to production: %d %s", code, body)
	}
}

// postAs posts a JSON body with a token and returns the status and body.
func postAs(t *testing.T, e *testenv.Env, token, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Token "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
