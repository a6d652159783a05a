package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/auth"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testenv"
)

const libPipeline = `version: v1.0
name: Lib
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Build
    task:
      jobs:
        - name: Build
          commands_file: "@ops/ci/build"
`

// TestLibraryPages: a signed-in user sees the libraries, a library's files
// at the head and the pipelines that used them (of the projects the user
// may read), a file's content and history; the workflow page shows the
// commit the workflow fixed; an anonymous visitor sees none of it.
func TestLibraryPages(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "worker-1", "e1-standard-2", 2)
	lib := testenv.NewRepo(t, map[string]string{"ci/build": "echo building\n"})
	lib.Commit("Build with more care", map[string]string{"ci/build": "echo building carefully\n"})
	e.Do("POST", "/api/v1/libraries", map[string]any{"name": "ops", "repo_url": lib.URL()}, nil, http.StatusCreated)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": libPipeline})
	wfs := map[string]string{}
	for name, public := range map[string]bool{"pub": true, "hidden": false} {
		e.Do("POST", "/api/v1/projects", map[string]any{"name": name, "repo_url": repo.URL(), "default_branch": "main", "public": public}, nil, http.StatusCreated)
		var wf ci.Workflow
		e.Do("POST", "/api/v1/projects/"+name+"/workflows", map[string]any{"branch": "main"}, &wf, http.StatusCreated)
		wfs[name] = wf.ID
	}
	for _, id := range wfs {
		if w := e.WaitWorkflow(id, 60*time.Second); w.Result != ci.ResultPassed {
			t.Fatalf("workflow %s: %s", id, w.Result)
		}
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Server.Store.Tx(t.Context(), func(tx *store.Tx) error { return tx.CreateUser(&ci.User{Login: "dev"}, hash) }); err != nil {
		t.Fatal(err)
	}
	s := &site{e: e, sessions: map[string]*visitor{}}
	s.sessions["dev"] = s.signIn(t, "dev")
	head := lib.Git("rev-parse", "HEAD")

	p := s.get(t, "dev", "/libraries")
	if p.status != http.StatusOK || !strings.Contains(p.body, `href="/libraries/ops"`) {
		t.Fatalf("libraries page: %d\n%s", p.status, p.body)
	}
	p = s.get(t, "dev", "/libraries/ops")
	for _, want := range []string{`href="/libraries/ops/files/ci/build"`, `commands_file: "@ops/ci/build"`, head[:7], "Build with more care",
		`href="/workflows/` + wfs["pub"] + `"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("library page lacks %q:\n%s", want, p.body)
		}
	}
	if strings.Contains(p.body, wfs["hidden"]) || strings.Contains(p.body, `href="/projects/hidden"`) {
		t.Errorf("library page shows a private project's pipeline to a user without a role in it:\n%s", p.body)
	}
	p = s.get(t, "dev", "/libraries/ops/files/ci/build")
	for _, want := range []string{"echo building carefully", "Build with more care", "initial commit"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("file page lacks %q:\n%s", want, p.body)
		}
	}
	if p := s.get(t, "dev", "/libraries/ops/files/ci/nope"); p.status != http.StatusNotFound {
		t.Errorf("a missing file: %d", p.status)
	}
	p = s.get(t, "dev", "/workflows/"+wfs["pub"])
	if !strings.Contains(p.body, `<a href="/libraries/ops">ops</a> <code>`+head[:7]) {
		t.Errorf("workflow page lacks the library's commit:\n%s", p.body)
	}
	for _, path := range []string{"/libraries", "/libraries/ops", "/libraries/ops/files/ci/build"} {
		if p := s.get(t, "anonymous", path); p.status == http.StatusOK || strings.Contains(p.body, "echo building") || strings.Contains(p.body, "Build with more care") {
			t.Errorf("anonymous %s: %d\n%s", path, p.status, p.body)
		}
	}
}
