package server_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/auth"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testenv"
)

// TestProjectDefaultBranchAndDelete: a project created without a branch
// takes its repository's HEAD branch (master here), and a run without a
// branch builds it. Deleting the project is for its admins, is refused
// while it runs something, and takes its workflows, logs, mirrors,
// artifacts and cache objects with it, not another project's.
func TestProjectDefaultBranchAndDelete(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": okPipeline, "hello.txt": "hello\n"})
	repo.Git("branch", "-m", "main", "master")
	e.Do("POST", "/api/v1/projects", map[string]any{"name": "legacy", "repo_url": repo.URL()}, nil, http.StatusCreated)
	e.Do("POST", "/api/v1/projects", map[string]any{"name": "keep", "repo_url": repo.URL(), "default_branch": "master"}, nil, http.StatusCreated)
	var p, keep ci.Project
	e.Do("GET", "/api/v1/projects/legacy", nil, &p)
	e.Do("GET", "/api/v1/projects/keep", nil, &keep)
	if p.DefaultBranch != "master" {
		t.Fatalf("default branch of a master-only repository = %q, want master", p.DefaultBranch)
	}
	// A repository the server cannot read keeps main.
	var unread ci.Project
	e.Do("POST", "/api/v1/projects", map[string]any{"name": "unread", "repo_url": "file://" + t.TempDir() + "/none"}, &unread, http.StatusCreated)
	if unread.DefaultBranch != "main" {
		t.Errorf("default branch of an unreadable repository = %q, want main", unread.DefaultBranch)
	}

	// Users: a writer and an admin of the project, an admin of another.
	tokens := map[string]string{}
	err := e.Server.Store.Tx(t.Context(), func(tx *store.Tx) error {
		for who, role := range map[string]string{"writer": "write", "owner": "admin", "other": "admin"} {
			u := &ci.User{ID: ids.New(), Login: who}
			if err := tx.CreateUser(u, ""); err != nil {
				return err
			}
			tok, hash := auth.NewToken("bat_")
			if err := tx.CreateToken(&store.Token{UserID: u.ID, Name: "t", Hash: hash, Kind: store.TokenAPI}); err != nil {
				return err
			}
			tokens[who] = tok
			project := p.ID
			if who == "other" {
				project = keep.ID
			}
			if err := tx.SetMember(&store.Member{ProjectID: project, UserID: u.ID, Role: role}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// No agent yet: the workflow waits, and the project cannot go.
	var wf ci.Workflow
	e.Do("POST", "/api/v1/projects/legacy/workflows", map[string]any{}, &wf, http.StatusCreated)
	if wf.Branch != "master" {
		t.Fatalf("workflow run without a branch built %q, want the default branch master", wf.Branch)
	}
	var conflict map[string]string
	if got := e.DoAs(tokens["owner"], "DELETE", "/api/v1/projects/legacy", nil, &conflict, http.StatusConflict); got != http.StatusConflict {
		t.Fatalf("delete of a project with a waiting workflow: %d", got)
	}
	e.StartAgent(t, "a1", "e1-standard-2", 1)
	done := e.WaitWorkflow(wf.ID, 60*time.Second)
	if done.Result != ci.ResultPassed {
		t.Fatalf("workflow: %s", done.Result)
	}
	e.WaitWorkflow(run(t, e, "keep", "master"), 60*time.Second)
	jobID := done.Pipelines[0].Blocks[0].Jobs[0].ID
	if !strings.Contains(e.Log(jobID), "hello") {
		t.Fatalf("no log before the delete: %q", e.Log(jobID))
	}
	// Objects of both projects in the object storage.
	blobs := e.Server.Blobs
	put := func(key string) {
		if _, err := blobs.Put(t.Context(), key, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{p.ID, keep.ID} {
		put("artifacts/" + id + "/project/" + id + "/a.txt")
		put("cache/" + id + "/k/obj")
	}
	mirrors := filepath.Join(e.DataDir, "repos", "projects")
	if _, err := os.Stat(filepath.Join(mirrors, p.ID)); err != nil {
		t.Fatalf("no mirror before the delete: %v", err)
	}

	// Refusals: anonymous (404: private), a writer (403), another
	// project's admin (404).
	e.DoAs("", "DELETE", "/api/v1/projects/legacy", nil, nil, http.StatusNotFound)
	e.DoAs(tokens["writer"], "DELETE", "/api/v1/projects/legacy", nil, nil, http.StatusForbidden)
	e.DoAs(tokens["other"], "DELETE", "/api/v1/projects/legacy", nil, nil, http.StatusNotFound)

	var gone struct {
		Name    string `json:"name"`
		Jobs    int    `json:"jobs"`
		Objects int    `json:"objects"`
	}
	e.DoAs(tokens["owner"], "DELETE", "/api/v1/projects/legacy", nil, &gone, http.StatusOK)
	if gone.Name != "legacy" || gone.Jobs != len(done.Jobs()) || gone.Objects != 2 {
		t.Errorf("delete answered %+v, want legacy with %d jobs and 2 objects", gone, len(done.Jobs()))
	}
	e.Do("GET", "/api/v1/projects/legacy", nil, nil, http.StatusNotFound)
	e.Do("GET", "/api/v1/workflows/"+wf.ID, nil, nil, http.StatusNotFound)
	e.Do("GET", "/api/v1/jobs/"+jobID+"/log", nil, nil, http.StatusNotFound)
	if _, err := e.Server.Logs.Info(jobID); err == nil {
		t.Errorf("the deleted project's job log is still stored")
	}
	var left []string
	for info, err := range blobs.List(t.Context(), "") {
		if err != nil {
			t.Fatal(err)
		}
		left = append(left, info.Key)
	}
	for _, k := range left {
		if strings.Contains(k, p.ID) {
			t.Errorf("object %s of the deleted project is still stored", k)
		}
	}
	for _, k := range []string{"artifacts/" + keep.ID + "/project/" + keep.ID + "/a.txt", "cache/" + keep.ID + "/k/obj"} {
		if _, err := blobs.Stat(t.Context(), k); err != nil {
			t.Errorf("another project's object %s: %v", k, err)
		}
	}
	if _, err := os.Stat(filepath.Join(mirrors, p.ID)); !os.IsNotExist(err) {
		t.Errorf("the deleted project's mirrors are still on the server: %v", err)
	}
	if _, err := os.Stat(filepath.Join(mirrors, keep.ID)); err != nil {
		t.Errorf("another project's mirrors: %v", err)
	}
	var events []map[string]any
	e.Do("GET", "/api/v1/audit", nil, &events)
	found := false
	for _, ev := range events {
		found = found || (ev["action"] == "project.deleted" && ev["target"] == "legacy" && ev["actor"] == "owner")
	}
	if !found {
		t.Errorf("no project.deleted event by owner in the audit log: %v", events)
	}
	// The name is free again.
	e.Do("POST", "/api/v1/projects", map[string]any{"name": "legacy", "repo_url": repo.URL()}, nil, http.StatusCreated)
}
