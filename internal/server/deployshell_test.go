package server_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/cli"
	"github.com/batonci/baton/internal/testenv"
)

const deployCI = `version: v1.0
name: CI
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Build
    task:
      jobs:
        - name: Compile
          commands:
            - echo built
promotions:
  - name: Production
    pipeline_file: production.yml
    deployment_target: production
`

const deployProduction = `version: v1.0
name: Deploy
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Ship
    task:
      jobs:
        - name: Ship
          commands:
            - echo started
            - sleep 600
`

// TestDeploymentJobShells: a job deploying to a deployment target holds
// the target's secret, so a shell in it (attach) and a debug job of it
// need what deploying to the target needs. A writer the target does not
// allow is refused both, with the rule that refused; a person the target
// lists gets both, and the debug job receives the target's secret.
func TestDeploymentJobShells(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "a1", "e1-standard-2", 3)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": deployCI, ".semaphore/production.yml": deployProduction})
	createProject(t, e, "app", repo, nil)
	d := &debugEnv{e: e, baton: testenv.BatonBinary(t), dir: t.TempDir()}
	alice := d.user(t, "alice", "write", true)
	bob := d.user(t, "bob", "write", true)
	e.Do("POST", "/api/v1/projects/app/targets", map[string]any{"name": "production", "users": []string{"alice"},
		"branches": []string{"main"}, "env_vars": []map[string]string{{"name": "DEPLOY_KEY", "value": "deploy-secret-value"}}}, nil, http.StatusCreated)

	wf := e.WaitWorkflow(run(t, e, "app", "main"), 60*time.Second)
	if wf.Result != ci.ResultPassed {
		t.Fatalf("CI = %s", wf.Result)
	}
	e.DoAs(bob.token, "POST", "/api/v1/pipelines/"+wf.Pipelines[0].ID+"/promote", map[string]any{"name": "Production"}, nil, http.StatusForbidden)
	e.DoAs(alice.token, "POST", "/api/v1/pipelines/"+wf.Pipelines[0].ID+"/promote", map[string]any{"name": "Production"}, nil, http.StatusCreated)
	var ship string
	e.Eventually(60*time.Second, func() bool {
		var w testenv.Workflow
		e.Do("GET", "/api/v1/workflows/"+wf.ID, nil, &w)
		for name, j := range w.Jobs() {
			if strings.HasSuffix(name, "Ship") && j.State == ci.StateRunning && strings.Contains(e.Log(j.ID), "started") {
				ship = j.ID
				return true
			}
		}
		return false
	}, "the deployment job to run")

	// bob may write to the project but not deploy to production.
	out, code := d.ssh(t, bob, "", ship, "echo key=$DEPLOY_KEY\nexit\n")
	if code == 0 || strings.Contains(out, "deploy-secret-value") {
		t.Errorf("bob attached to the deployment job (exit %d):\n%s", code, out)
	}
	if !strings.Contains(out, "deploys to production") || !strings.Contains(out, "may not deploy to production") {
		t.Errorf("bob's refusal does not say which rule refused it:\n%s", out)
	}
	var refused struct {
		Message string `json:"message"`
	}
	e.DoAs(bob.token, "POST", "/api/v1/jobs/"+ship+"/debug", map[string]any{}, &refused, http.StatusForbidden)
	var errb bytes.Buffer
	env := map[string]string{"BATON_SERVER": e.URL, "BATON_TOKEN": bob.token, "BATON_EXECUTABLE": d.baton, "HOME": t.TempDir()}
	code = cli.Main(t.Context(), []string{"baton", "debug", "-i", bob.key, ship},
		&cli.IO{In: strings.NewReader("echo key=$DEPLOY_KEY\nexit\n"), Out: &errb, Err: &errb, Getenv: func(k string) string { return env[k] }, Dir: t.TempDir()})
	if code == 0 || strings.Contains(errb.String(), "deploy-secret-value") || !strings.Contains(errb.String(), "user bob may not deploy to production") {
		t.Errorf("baton debug as bob = %d:\n%s", code, errb.String())
	}
	var w testenv.Workflow
	e.Do("GET", "/api/v1/workflows/"+wf.ID, nil, &w)
	if len(w.Pipelines) != 2 {
		t.Fatalf("bob's refused debug made a pipeline: %d pipelines", len(w.Pipelines))
	}

	// alice, whom the target lists, attaches and debugs.
	out, code = d.ssh(t, alice, "", ship, "echo key=$DEPLOY_KEY\nexit\n")
	if code != 0 || !strings.Contains(out, "key=deploy-secret-value") {
		t.Errorf("alice's shell in the deployment job (exit %d):\n%s", code, out)
	}
	var stdout, stderr bytes.Buffer
	env["BATON_TOKEN"] = alice.token
	code = cli.Main(t.Context(), []string{"baton", "debug", "-i", alice.key, "--duration", "10m", ship},
		&cli.IO{In: strings.NewReader("echo type=$SEMAPHORE_JOB_TYPE key=$DEPLOY_KEY\nexit\n"), Out: &stdout, Err: &stderr, Getenv: func(k string) string { return env[k] }, Dir: t.TempDir()})
	if code != 0 || !strings.Contains(stdout.String(), "type=debug_job key=deploy-secret-value") {
		t.Errorf("baton debug as alice = %d:\n%s\nstderr: %s", code, stdout.String(), stderr.String())
	}
}
