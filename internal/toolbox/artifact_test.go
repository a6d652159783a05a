package toolbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/gitrepo/gittest"
	"github.com/google/go-cmp/cmp"
)

func artifactEnv(t *testing.T) (dir, store string, env []string) {
	t.Helper()
	dir, root := t.TempDir(), t.TempDir()
	env = append([]string{"SEMAPHORE_JOB_ID=job-1", "SEMAPHORE_WORKFLOW_ID=wf-1", "SEMAPHORE_PROJECT_ID=proj-1"}, serve(t, testScope, "", root)...)
	return dir, filepath.Join(root, "proj-1"), env
}

func TestArtifactPushPullYank(t *testing.T) {
	t.Parallel()
	dir, store, env := artifactEnv(t)
	gittest.Write(t, dir, map[string]string{
		"build/app":          "binary",
		"logs/test.log":      "log",
		"report/index.html":  "<html>",
		"report/css/app.css": "body{}",
	})
	a := func(args ...string) result { t.Helper(); return tool(t, dir, env, "artifact", args...) }

	tests := []struct {
		args   []string
		code   int
		stderr string
		stored string // path under the store that must then exist
	}{
		{[]string{"push", "job", "logs/test.log"}, 0, "File 'logs/test.log' pushed to 'test.log' for current job.", "jobs/job-1/test.log"},
		{[]string{"push", "job", "logs/test.log"}, 1, "'test.log' already exists in the job's artifacts; use --force", ""},
		{[]string{"push", "job", "logs/test.log", "--force"}, 0, "pushed", "jobs/job-1/test.log"},
		{[]string{"push", "workflow", "build/app", "-d", "releases/app-v1"}, 0, "pushed to 'releases/app-v1' for current workflow", "workflows/wf-1/releases/app-v1"},
		{[]string{"push", "project", "report", "--expire-in", "2w"}, 0, "for current project", "projects/proj-1/report/css/app.css"},
		{[]string{"push", "job", "missing.txt"}, 1, "cannot push missing.txt", ""},
		{[]string{"push", "job", "/../escape", "-d", "../../../x"}, 1, "cannot push", ""},
		{[]string{"push", "team", "x"}, 1, `unknown scope "team"`, ""},
		{[]string{"publish", "job", "x"}, 1, `unknown operation "publish"`, ""},
		{[]string{"push", "job"}, 1, "want an operation, a scope and a path", ""},
	}
	for _, tt := range tests {
		a(tt.args...).check(t, tt.code, tt.stderr)
		if tt.stored != "" {
			if _, err := os.Stat(filepath.Join(store, tt.stored)); err != nil {
				t.Errorf("%q: %v", tt.args, err)
			}
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(store, ".tmp")); len(entries) != 0 {
		t.Errorf("pushes left %d staging entries", len(entries))
	}
	if _, err := os.Stat(filepath.Join(store, "x")); err == nil {
		t.Error("a destination with .. escaped the scope")
	}

	// Pull, in another job of the workflow.
	job2 := t.TempDir()
	scope2 := testScope
	scope2.Job = "job-2"
	env2 := append([]string{"SEMAPHORE_JOB_ID=job-2"}, serve(t, scope2, "", filepath.Dir(store))...)
	p := func(args ...string) result { t.Helper(); return tool(t, job2, env2, "artifact", args...) }
	p("pull", "workflow", "releases/app-v1").check(t, 0, "pulled to 'app-v1'")
	p("pull", "workflow", "releases/app-v1").check(t, 1, "'app-v1' already exists here; use --force")
	p("pull", "workflow", "releases/app-v1", "-f").check(t, 0)
	p("pull", "project", "report", "-d", "out/report").check(t, 0)
	p("pull", "job", "test.log").check(t, 1, "Artifact not found") // job-2 has none
	p("pull", "job", "test.log", "--job-id", "job-1").check(t, 0)
	want := map[string]string{
		"app-v1":                 "binary",
		"out/report/index.html":  "<html>",
		"out/report/css/app.css": "body{}",
		"test.log":               "log",
	}
	if diff := cmp.Diff(want, files(t, job2)); diff != "" {
		t.Errorf("pulled files (-want +got):\n%s", diff)
	}

	// Yank.
	a("yank", "workflow", "releases/app-v1").check(t, 0, "deleted")
	a("yank", "workflow", "releases/app-v1").check(t, 1, "Artifact not found")
	p("pull", "workflow", "releases/app-v1", "-d", "again").check(t, 1, "Artifact not found")
}

func TestArtifactUnavailable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tool(t, dir, []string{"BATON_JOBSVC="}, "artifact", "push", "job", "x").check(t, 1, "artifact: artifacts are not available here: BATON_JOBSVC is not set")
	env := serve(t, testScope, "", t.TempDir())
	tool(t, dir, env, "artifact", "pull", "job", "x", "--job-id", "../x").check(t, 1, "invalid job ID")
	r := tool(t, dir, nil, "artifact", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "artifact push") {
		t.Errorf("artifact --help: %+v", r)
	}
}
