package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testreport"
	"github.com/batonci/baton/internal/testresults"
)

// TestPipelineTestsHidesDeployments calls the handler of a pipeline's
// test report itself, without the route's guard: the report of a
// deployment of a public project is refused to outsiders unless the
// project shows its deployments' details, and shown to its members.
func TestPipelineTestsHidesDeployments(t *testing.T) {
	db, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := blob.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := &ci.Project{Name: "p", RepoURL: "https://example.com/p.git", DefaultBranch: "main", Public: true}
	wf := &ci.Workflow{Trigger: ci.TriggerPush, RefType: "branch", Branch: "main", SHA: "abc"}
	pl := &ci.Pipeline{Name: "deploy", State: ci.StateRunning, DeploymentTarget: "production"}
	b := &ci.Block{Name: "b", State: ci.StateRunning}
	j := &ci.Job{Name: "j", State: ci.StateRunning, MachineType: "m"}
	if err := db.Tx(t.Context(), func(tx *store.Tx) error {
		if err := tx.CreateProject(p); err != nil {
			return err
		}
		wf.ProjectID = p.ID
		if err := tx.CreateWorkflow(wf); err != nil {
			return err
		}
		pl.WorkflowID, pl.ProjectID = wf.ID, p.ID
		if err := tx.CreatePipeline(pl); err != nil {
			return err
		}
		b.PipelineID = pl.ID
		if err := tx.CreateBlock(b); err != nil {
			return err
		}
		j.PipelineID, j.BlockID, j.ProjectID = pl.ID, b.ID, p.ID
		return tx.CreateJob(j)
	}); err != nil {
		t.Fatal(err)
	}
	tests := testresults.New(testresults.Config{Store: db, Blobs: blobs})
	rep, err := testreport.Parse("r.xml", []byte(`<testsuite name="s"><testcase name="DeploysTo"/></testsuite>`), testreport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tests.PutJob(t.Context(), j, testreport.Received{Result: rep}); err != nil {
		t.Fatal(err)
	}
	a := New(Config{Store: db, Tests: tests})
	get := func(c *caller) (int, error) {
		w := httptest.NewRecorder()
		r := httptest.NewRequestWithContext(t.Context(), "GET", "/api/v1/pipelines/"+pl.ID+"/tests", nil)
		r.SetPathValue("id", pl.ID)
		err := a.pipelineTests(w, r, c)
		return w.Code, err
	}
	if _, err := get(&caller{}); !errors.Is(err, errUnauthorized) {
		t.Errorf("an anonymous visitor: %v, want the deployment's details refused", err)
	}
	if _, err := get(&caller{user: &ci.User{Login: "outsider"}}); !errors.Is(err, errForbidden) {
		t.Errorf("a signed-in outsider: %v, want the deployment's details refused", err)
	}
	if code, err := get(&caller{user: &ci.User{Login: "admin", Admin: true}}); err != nil || code != http.StatusOK {
		t.Errorf("an organisation admin: %d, %v", code, err)
	}
	p.DeploymentDetailsPublic = true
	if err := db.Tx(t.Context(), func(tx *store.Tx) error { return tx.UpdateProject(p) }); err != nil {
		t.Fatal(err)
	}
	if code, err := get(&caller{}); err != nil || code != http.StatusOK {
		t.Errorf("an anonymous visitor, deployment details public: %d, %v", code, err)
	}
}
