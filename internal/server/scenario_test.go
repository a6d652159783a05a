package server_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
)

const okPipeline = `version: v1.0
name: Scenario
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Build
    task:
      jobs:
        - name: Compile
          commands:
            - checkout
            - cat hello.txt
  - name: Test
    task:
      jobs:
        - name: Unit
          commands:
            - echo "unit on $SEMAPHORE_GIT_BRANCH"
        - name: Lint
          commands:
            - echo lint
`

func createProject(t *testing.T, e *testenv.Env, name string, repo *testenv.Repo, extra map[string]any) {
	t.Helper()
	body := map[string]any{"name": name, "repo_url": repo.URL(), "default_branch": "main"}
	for k, v := range extra {
		body[k] = v
	}
	e.Do("POST", "/api/v1/projects", body, nil, http.StatusCreated)
}

func run(t *testing.T, e *testenv.Env, project, branch string) string {
	t.Helper()
	var wf ci.Workflow
	e.Do("POST", "/api/v1/projects/"+project+"/workflows", map[string]any{"branch": branch}, &wf, http.StatusCreated)
	return wf.ID
}

func TestPushRunsAndPasses(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "a1", "e1-standard-2", 2)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": okPipeline, "hello.txt": "hello from the repo\n"})
	createProject(t, e, "app", repo, nil)
	wf := e.WaitWorkflow(run(t, e, "app", "main"), 30*time.Second)
	if wf.Result != ci.ResultPassed {
		t.Fatalf("workflow result = %s, want passed: %+v", wf.Result, wf.Pipelines[0])
	}
	jobs := wf.Jobs()
	if len(jobs) != 3 {
		t.Fatalf("jobs = %d, want 3", len(jobs))
	}
	if log := e.Log(jobs["Build/Compile"].ID); !strings.Contains(log, "hello from the repo") {
		t.Errorf("Compile log lacks the file content:\n%s", log)
	}
	if log := e.Log(jobs["Test/Unit"].ID); !strings.Contains(log, "unit on main") {
		t.Errorf("Unit log = %q", log)
	}
}

func TestFailingJobFailsWorkflowAndCancelsDependents(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "a1", "e1-standard-2", 2)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": strings.Replace(okPipeline, "cat hello.txt", "exit 7", 1)})
	createProject(t, e, "app", repo, nil)
	wf := e.WaitWorkflow(run(t, e, "app", "main"), 30*time.Second)
	if wf.Result != ci.ResultFailed {
		t.Fatalf("result = %s, want failed", wf.Result)
	}
	jobs := wf.Jobs()
	if j := jobs["Build/Compile"]; j.Result != ci.ResultFailed {
		t.Errorf("Compile = %s", j.Result)
	}
	if j := jobs["Test/Unit"]; j.Result != ci.ResultCanceled {
		t.Errorf("Unit = %s, want canceled", j.Result)
	}
}

func TestInvalidPipelineGivesPositionedDiagnostics(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": "version: v1.0\nagent:\n  machine: {type: e1-standard-2}\nblocks:\n  - task:\n      jobz: []\n"})
	createProject(t, e, "app", repo, nil)
	wf := e.WaitWorkflow(run(t, e, "app", "main"), 20*time.Second)
	if wf.Result != ci.ResultFailed || len(wf.Pipelines) != 1 {
		t.Fatalf("result = %s", wf.Result)
	}
	p := wf.Pipelines[0]
	if p.Reason != ci.ReasonMalformed || !strings.Contains(p.Diagnostics, ".semaphore/semaphore.yml:6:7:") {
		t.Errorf("pipeline = %s/%s, diagnostics %q", p.Result, p.Reason, p.Diagnostics)
	}
}

func TestSkipCICreatesNoWorkflowButAManualRunBuilds(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": okPipeline})
	createProject(t, e, "app", repo, map[string]any{"webhook_secret": "k3y-for-hooks"})
	sha := repo.Commit("docs only [skip ci]", map[string]string{"README": "x"})
	body := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":%q}`, sha))
	req, _ := http.NewRequest("POST", e.URL+"/hooks/app", strings.NewReader(string(body)))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", sign("k3y-for-hooks", body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("push of a [skip ci] commit: status %d, want 200", resp.StatusCode)
	}
	var wfs []ci.Workflow
	e.Do("GET", "/api/v1/projects/app/workflows", nil, &wfs)
	if len(wfs) != 0 {
		t.Fatalf("workflows = %d, want 0 for a [skip ci] push", len(wfs))
	}
	// Asking for a run by hand is explicit: it builds.
	run(t, e, "app", "main")
	e.Do("GET", "/api/v1/projects/app/workflows", nil, &wfs)
	if len(wfs) != 1 {
		t.Errorf("workflows = %d after a manual run, want 1", len(wfs))
	}
}

func TestPollingBuildsNewCommits(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "a1", "e1-standard-2", 2)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": okPipeline, "hello.txt": "v1\n"})
	createProject(t, e, "app", repo, map[string]any{"poll_interval": "1s"})
	// The first poll records what is there.
	proj, err := e.Server.Store.GetProject(t.Context(), "app")
	if err != nil {
		t.Fatal(err)
	}
	e.Eventually(15*time.Second, func() bool {
		refs, err := e.Server.Store.GetRefs(t.Context(), proj.ID)
		return err == nil && len(refs) > 0
	}, "the first poll of the repository")
	sha := repo.Commit("second", map[string]string{"hello.txt": "v2\n"})
	var wfs []ci.Workflow
	e.Eventually(15*time.Second, func() bool {
		e.Do("GET", "/api/v1/projects/app/workflows", nil, &wfs)
		return len(wfs) == 1
	}, "a workflow for the pushed commit")
	if wfs[0].SHA != sha || wfs[0].Branch != "main" || wfs[0].Trigger != ci.TriggerPush {
		t.Errorf("workflow = %+v, want push of %s on main", wfs[0], sha)
	}
	wf := e.WaitWorkflow(wfs[0].ID, 30*time.Second)
	if wf.Result != ci.ResultPassed {
		t.Errorf("result = %s", wf.Result)
	}
}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestWebhookSignatureAndPush(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": okPipeline})
	createProject(t, e, "app", repo, map[string]any{"webhook_secret": "s3cret-hook"})
	sha := repo.Git("rev-parse", "HEAD")
	body := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":%q,"pusher":{"name":"ada"}}`, sha))
	post := func(sig string, b []byte) int {
		req, _ := http.NewRequest("POST", e.URL+"/hooks/app", strings.NewReader(string(b)))
		req.Header.Set("X-GitHub-Event", "push")
		if sig != "" {
			req.Header.Set("X-Hub-Signature-256", sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// The project is private: a bad signature gets the 404 of a project
	// that does not exist.
	if code := post("", body); code != http.StatusNotFound {
		t.Errorf("unsigned: %d, want 404", code)
	}
	if code := post(sign("wrong", body), body); code != http.StatusNotFound {
		t.Errorf("bad signature: %d, want 404", code)
	}
	if code := post(sign("s3cret-hook", []byte("{not json")), []byte("{not json")); code != http.StatusBadRequest {
		t.Errorf("malformed: %d, want 400", code)
	}
	var wfs []ci.Workflow
	e.Do("GET", "/api/v1/projects/app/workflows", nil, &wfs)
	if len(wfs) != 0 {
		t.Fatalf("rejected deliveries created %d workflows", len(wfs))
	}
	if code := post(sign("s3cret-hook", body), body); code != http.StatusCreated {
		t.Fatalf("signed push: %d, want 201", code)
	}
	if code := post(sign("s3cret-hook", body), body); code != http.StatusOK {
		t.Errorf("same push again: %d, want 200 (already built)", code)
	}
	e.Do("GET", "/api/v1/projects/app/workflows", nil, &wfs)
	if len(wfs) != 1 || wfs[0].SHA != sha {
		t.Errorf("workflows = %+v, want one for %s", wfs, sha)
	}
}

func TestStopWorkflowKillsTheJob(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "a1", "e1-standard-2", 1)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": strings.Replace(okPipeline, "cat hello.txt", "sleep 300", 1)})
	createProject(t, e, "app", repo, nil)
	id := run(t, e, "app", "main")
	e.Eventually(20*time.Second, func() bool {
		var w testenv.Workflow
		e.Do("GET", "/api/v1/workflows/"+id, nil, &w)
		j := w.Jobs()["Build/Compile"]
		return j != nil && j.State == ci.StateRunning
	}, "job running")
	start := time.Now()
	e.Do("POST", "/api/v1/workflows/"+id+"/stop", struct{}{}, nil, http.StatusAccepted)
	wf := e.WaitWorkflow(id, 20*time.Second)
	if wf.Result != ci.ResultStopped {
		t.Errorf("result = %s, want stopped", wf.Result)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("stop took %s", d)
	}
}

func TestAnonymousSeesPublicProjectsOnly(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": okPipeline})
	createProject(t, e, "open", repo, map[string]any{"public": true})
	createProject(t, e, "closed", repo, nil)
	var ps []ci.Project
	e.DoAs("", "GET", "/api/v1/projects", nil, &ps)
	if len(ps) != 1 || ps[0].Name != "open" {
		t.Errorf("anonymous projects = %+v", ps)
	}
	e.DoAs("", "GET", "/api/v1/projects/closed", nil, nil, http.StatusNotFound)
	e.DoAs("", "GET", "/api/v1/projects/open/workflows", nil, nil, http.StatusOK)
	e.DoAs("", "POST", "/api/v1/projects/open/workflows", map[string]any{}, nil, http.StatusUnauthorized)
	e.DoAs("bat_invalid", "GET", "/api/v1/projects", nil, nil, http.StatusUnauthorized)
	e.DoAs("", "GET", "/api/v1/agents", nil, nil, http.StatusUnauthorized)
}

func TestJobWaitsWithAReasonWhenNoAgentOfItsType(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": strings.ReplaceAll(okPipeline, "e1-standard-2", "s1-gpu")})
	createProject(t, e, "app", repo, nil)
	id := run(t, e, "app", "main")
	var jobID string
	e.Eventually(10*time.Second, func() bool {
		var w testenv.Workflow
		e.Do("GET", "/api/v1/workflows/"+id, nil, &w)
		if j := w.Jobs()["Build/Compile"]; j != nil && j.State == ci.StateQueued {
			jobID = j.ID
			return true
		}
		return false
	}, "job queued")
	var j map[string]any
	e.Do("GET", "/api/v1/jobs/"+jobID, nil, &j)
	if r, _ := j["wait_reason"].(string); !strings.Contains(r, "s1-gpu") {
		t.Errorf("wait_reason = %q, want it to name the missing agent type", r)
	}
}

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m))
}

func TestMetricsCountJobsAgentsAndLogBytes(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "a1", "e1-standard-2", 2)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": okPipeline, "hello.txt": "x\n"})
	createProject(t, e, "app", repo, nil)
	e.WaitWorkflow(run(t, e, "app", "main"), 30*time.Second)
	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	text := string(b)
	checkMetricFamilies(t, parseMetrics(t, text))
	for _, want := range []string{
		`baton_jobs_finished_total{result="passed"} 3`,
		"baton_agents_connected 1",
		"baton_queue_length 0",
		"baton_dispatch_latency_seconds_count 3",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "baton_log_bytes_total 0\n") {
		t.Errorf("no log bytes counted:\n%s", text)
	}
}
