package server_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
)

// artifactsAcrossAgents pushes artifacts in a job on agents of one type
// and pulls them in a job on agents of another: the two jobs never share
// an agent, nor a data directory.
const artifactsAcrossAgents = `version: v1.0
name: Artifacts
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Push
    dependencies: []
    task:
      jobs:
        - name: Push
          commands:
            - mkdir -p out/sub && echo one > out/one.txt && echo two > out/sub/two.txt
            - artifact push workflow out
            - echo single > single.txt && artifact push workflow single.txt -d dir/renamed.txt
            - echo p1 > p.txt && artifact push project p.txt
            - 'if artifact push project p.txt; then echo PUSHED-TWICE; else echo refused-existing; fi'
            - echo p2 > p.txt && artifact push project p.txt --force
            - echo gone > gone.txt && artifact push workflow gone.txt && artifact yank workflow gone.txt
  - name: Pull
    dependencies: [Push]
    task:
      agent:
        machine:
          type: e1-standard-4
      jobs:
        - name: Pull
          commands:
            - artifact pull workflow out
            - 'echo "one=$(cat out/one.txt) two=$(cat out/sub/two.txt)"'
            - artifact pull workflow dir/renamed.txt -d got.txt && echo "renamed=$(cat got.txt)"
            - artifact pull project p.txt && echo "project=$(cat p.txt)"
            - 'if artifact pull workflow gone.txt; then echo YANK-FAILED; else echo yanked; fi'
`

func TestArtifactsPushedOnOneAgentArePulledOnAnother(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	wf := checkArtifactsAcrossAgents(t, e, e)

	// Read through the API.
	var list []apiv1.Artifact
	e.Do("GET", "/api/v1/workflows/"+wf+"/artifacts", nil, &list)
	var paths []string
	for _, a := range list {
		paths = append(paths, a.Path+":"+a.Scope)
	}
	if got, want := strings.Join(paths, " "), "dir/renamed.txt:workflow out/one.txt:workflow out/sub/two.txt:workflow"; got != want {
		t.Errorf("workflow artifacts = %s, want %s", got, want)
	}
	resp, err := http.Get(e.URL + "/api/v1/projects/app/artifacts/p.txt")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("anonymous download from a private project: %d, want 404", resp.StatusCode)
	}

	// The pages list them with download links.
	for page, link := range map[string]string{
		"/workflows/" + wf: "/api/v1/workflows/" + wf + "/artifacts/out/sub/two.txt",
		"/projects/app":    "/api/v1/projects/app/artifacts/p.txt",
	} {
		body := getPage(t, e, page)
		if !strings.Contains(body, `<h2 id="artifacts-h">Artifacts</h2>`) || !strings.Contains(body, `href="`+link+`"`) {
			t.Errorf("page %s: no artifacts section linking %s:\n%s", page, link, body)
		}
	}
	if got := getPage(t, e, "/api/v1/workflows/"+wf+"/artifacts/out/sub/two.txt"); got != "two\n" {
		t.Errorf("download through the page's link: %q, want two", got)
	}

	// Retention: project artifacts go after an hour, workflow files under
	// out/ after a day; the rest is kept.
	var view apiv1.RetentionView
	e.Do("PUT", "/api/v1/projects/app/artifact-retention", map[string]any{"rules": []map[string]string{
		{"scope": "project", "glob": "**", "age": "1h"},
		{"scope": "workflow", "glob": "out/**", "age": "1d"},
	}}, &view)
	if len(view.Rules) != 2 || view.Rules[1].AgeSeconds != 86400 {
		t.Fatalf("retention = %+v", view)
	}
	e.Do("PUT", "/api/v1/projects/app/artifact-retention", map[string]any{"rules": []map[string]string{{"scope": "pipeline", "glob": "**", "age": "1h"}}}, nil, http.StatusBadRequest)
	var events []map[string]any
	e.Do("GET", "/api/v1/audit?limit=20", nil, &events)
	audited := false
	for _, ev := range events {
		if d, _ := ev["detail"].(string); d == "artifact retention: project:**:1h0m0s workflow:out/**:24h0m0s" {
			audited = true
		}
	}
	if !audited {
		t.Errorf("no audit event for the retention change: %v", events)
	}
	for _, tc := range []struct {
		after time.Duration
		want  int
	}{{30 * time.Minute, 0}, {2 * time.Hour, 1}, {25 * time.Hour, 2}} {
		n, err := e.Server.SweepArtifacts(t.Context(), time.Now().Add(tc.after))
		if err != nil || n != tc.want {
			t.Fatalf("sweep %s on: %d deleted, %v; want %d", tc.after, n, err, tc.want)
		}
	}
	e.Do("GET", "/api/v1/workflows/"+wf+"/artifacts", nil, &list)
	if len(list) != 1 || list[0].Path != "dir/renamed.txt" {
		t.Errorf("workflow artifacts after the sweeps: %+v, want dir/renamed.txt only", list)
	}
	e.Do("GET", "/api/v1/projects/app/artifacts", nil, &list)
	if len(list) != 0 {
		t.Errorf("project artifacts after the sweeps: %+v, want none", list)
	}
}

func TestArtifactsAcrossAgentsOnS3(t *testing.T) {
	t.Parallel()
	s3 := testenv.StartS3(t)
	e := testenv.Start(t, testenv.Options{Storage: blob.Config{URL: s3.URL("baton"), AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}})
	checkArtifactsAcrossAgents(t, e, e)
}

// TestArtifactsAcrossTwoServers runs the pushing job's agent on one
// server and the pulling job's on another, with their own data
// directories, one PostgreSQL database and one bucket.
func TestArtifactsAcrossTwoServers(t *testing.T) {
	t.Parallel()
	dsn := postgresDSN(t)
	s3 := testenv.StartS3(t)
	storage := blob.Config{URL: s3.URL("baton"), AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}
	e1 := testenv.Start(t, testenv.Options{DB: dsn, Storage: storage})
	dir2 := t.TempDir()
	tok, err := os.ReadFile(filepath.Join(e1.DataDir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir2, "admin-token"), tok, 0o600); err != nil {
		t.Fatal(err)
	}
	e2 := testenv.Start(t, testenv.Options{DB: dsn, Storage: storage, DataDir: dir2})
	e2.AgentToken = e1.AgentToken
	wf := checkArtifactsAcrossAgents(t, e1, e2)
	var list []apiv1.Artifact
	e2.Do("GET", "/api/v1/workflows/"+wf+"/artifacts", nil, &list)
	if len(list) != 3 {
		t.Errorf("workflow artifacts through the other server: %+v, want 3", list)
	}
}

// checkArtifactsAcrossAgents runs the workflow and returns its ID.
// The pushing job's agent connects to e, the pulling job's to e2.
func checkArtifactsAcrossAgents(t *testing.T, e, e2 *testenv.Env) string {
	t.Helper()
	a1 := e.StartAgent(t, "pusher", "e1-standard-2", 1)
	a2 := e2.StartAgent(t, "puller", "e1-standard-4", 1)
	if a1.DataDir == a2.DataDir {
		t.Fatal("the agents share a data directory")
	}
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": artifactsAcrossAgents})
	createProject(t, e, "app", repo, nil)
	wf := e.WaitWorkflow(run(t, e, "app", "main"), 120*time.Second)
	push, pull := wf.Jobs()["Push/Push"], wf.Jobs()["Pull/Pull"]
	if push == nil || pull == nil {
		t.Fatalf("workflow = %s/%s, jobs %v", wf.Result, wf.State, wf.Jobs())
	}
	if push.AgentID == pull.AgentID {
		t.Fatalf("both jobs ran on agent %s", push.AgentID)
	}
	for _, j := range []*ci.Job{push, pull} {
		if j.Result != ci.ResultPassed {
			t.Fatalf("job %s = %s:\n%s", j.Name, j.Result, e.Log(j.ID))
		}
	}
	pushLog, pullLog := e.Log(push.ID), e.Log(pull.ID)
	if !strings.Contains(pushLog, "\nrefused-existing\n") {
		t.Errorf("a second push without --force was not refused:\n%s", pushLog)
	}
	for _, want := range []string{"one=one two=two\n", "renamed=single\n", "project=p2\n", "\nyanked\n"} {
		if !strings.Contains(pullLog, want) {
			t.Errorf("no %q in the pulling job's log:\n%s", want, pullLog)
		}
	}
	return wf.ID
}

// getPage GETs path as the admin and returns the body of a 200.
func getPage(t *testing.T, e *testenv.Env, path string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", e.URL+path, nil)
	req.Header.Set("Authorization", "Token "+e.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}
