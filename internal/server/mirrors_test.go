package server_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
)

// TestProjectsBuildFromTheirOwnMirrors: two projects of the same
// repository URL have a mirror each, on the server and on the agent; a
// project never reads another project's mirror.
func TestProjectsBuildFromTheirOwnMirrors(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	agent := e.StartAgent(t, "mirrors", "e1-standard-2", 2)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": okPipeline, "hello.txt": "hello\n"})
	projects := map[string]*ci.Project{}
	for _, name := range []string{"first", "second"} {
		createProject(t, e, name, repo, nil)
		p := &ci.Project{}
		e.Do("GET", "/api/v1/projects/"+name, nil, p, http.StatusOK)
		projects[name] = p
		wf := e.WaitWorkflow(run(t, e, name, "main"), 60*time.Second)
		if wf.Result != ci.ResultPassed {
			t.Fatalf("workflow of %s: %s", name, wf.Result)
		}
	}
	for _, root := range []string{filepath.Join(e.DataDir, "repos"), filepath.Join(agent.DataDir, "repos")} {
		if top, _ := filepath.Glob(filepath.Join(root, "*.git")); len(top) != 0 {
			t.Errorf("mirrors shared by every project in %s: %v", root, top)
		}
		for name, p := range projects {
			mirrors, _ := filepath.Glob(filepath.Join(root, "projects", p.ID, "*.git"))
			if len(mirrors) != 1 {
				t.Errorf("mirrors of project %s in %s = %v, want one", name, root, mirrors)
			}
		}
		entries, _ := os.ReadDir(filepath.Join(root, "projects"))
		if len(entries) != len(projects) {
			t.Errorf("%s/projects holds %d entries, want %d", root, len(entries), len(projects))
		}
	}
}
