package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
)

const detailsCI = `version: v1.0
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
            - echo ci-log-line
promotions:
  - name: Release
    pipeline_file: release.yml
    deployment_target: target-prod-x
    parameters:
      env_vars:
        - name: VERSION_PARAM
          required: false
`

const detailsRelease = `version: v1.0
name: Release pipeline
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Ship
    task:
      jobs:
        - name: Ship
          commands:
            - echo deploy-log-line-x
            - mkdir -p out && echo report > out/r.txt && artifact push job out/r.txt
            - echo '<testsuite name="deploy"><testcase classname="deploy" name="TestDeploySecretX" time="0.1"/></testsuite>' > junit.xml
            - test-results publish junit.xml
            - 'printf "mode: set\ndeploy.go:1.1,2.2 7 1\n" > c.out && coverage publish c.out'
`

// TestDeploymentDetailsOnEveryRoute: in a public project, a pipeline
// promoted to a deployment target shows only its name, when it ran and
// its result to anonymous visitors and outsiders: every route of the
// authorisation table that reaches one of its jobs (the job, its log and
// live stream, commands, artifacts, the job page) or its promotions
// refuses them, and the workflow and pipeline views leave out its jobs,
// target and parameters. A reader member sees all of it; the CI pipeline
// stays public; `deployment_details: public` opens it to everyone.
func TestDeploymentDetailsOnEveryRoute(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "a1", "e1-standard-2", 2)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": detailsCI, ".semaphore/release.yml": detailsRelease})
	createProject(t, e, "app", repo, map[string]any{"public": true})
	e.Do("POST", "/api/v1/projects/app/targets", map[string]any{"name": "target-prod-x"}, nil, http.StatusCreated)
	tokens := map[string]string{anonymous: "", reader: addUser(t, e, "app", "member", "read")}
	tokens[noRole] = addUser(t, e, "app", "outsider", "read")
	e.Do("DELETE", "/api/v1/projects/app/members/outsider", nil, nil)

	wf := e.WaitWorkflow(run(t, e, "app", "main"), time.Minute)
	var deploy ci.Pipeline
	e.Do("POST", "/api/v1/pipelines/"+wf.Pipelines[0].ID+"/promote", map[string]any{"name": "Release", "parameters": map[string]string{"VERSION_PARAM": "param-value-x"}}, &deploy, http.StatusCreated)
	e.Eventually(time.Minute, func() bool {
		wf = e.WaitWorkflow(wf.ID, time.Minute)
		return len(wf.Pipelines) == 2 && wf.Pipelines[1].State == ci.StateDone
	}, "the release pipeline done")
	ship, compile := wf.Jobs()["Ship/Ship"], wf.Jobs()["Build/Compile"]
	if ship == nil || ship.Result != ci.ResultPassed || !strings.Contains(e.Log(ship.ID), "deploy-log-line-x") {
		t.Fatalf("deployment job %+v; log:\n%s", ship, e.Log(ship.ID))
	}

	get := func(who, path string, header ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", e.URL+path, nil)
		if tok := tokens[who]; tok != "" {
			req.Header.Set("Authorization", "Token "+tok)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		return doRead(t, req)
	}
	secrets := []string{"deploy-log-line-x", "target-prod-x", "param-value-x", "r.txt", ship.ID}

	// Every route of the table on a job or a pipeline's sub-resources.
	var checked int
	for _, r := range e.Server.Rules() {
		method, pattern, _ := strings.Cut(r.Pattern, " ")
		if !strings.Contains(pattern, "/jobs/{id}") && !strings.Contains(pattern, "/pipelines/{id}/") {
			continue
		}
		id := ship.ID
		if strings.Contains(pattern, "/pipelines/{id}") {
			id = deploy.ID
		}
		path := strings.NewReplacer("{id}", id, "{path...}", "r.txt").Replace(pattern)
		checked++
		for _, who := range []string{anonymous, noRole, reader} {
			req, _ := http.NewRequestWithContext(t.Context(), method, e.URL+path, strings.NewReader("{}"))
			if tok := tokens[who]; tok != "" {
				req.Header.Set("Authorization", "Token "+tok)
			}
			code, body := doRead(t, req)
			switch {
			case who == anonymous && code != http.StatusUnauthorized && !(r.API == false && code == http.StatusSeeOther):
				t.Errorf("%s as %s: status %d, want 401: %s", r.Pattern, who, code, body)
			case who == noRole && code != http.StatusForbidden:
				t.Errorf("%s as %s: status %d, want 403: %s", r.Pattern, who, code, body)
			case who == reader && r.Access == "project-read" && (code == http.StatusUnauthorized || code == http.StatusForbidden):
				t.Errorf("%s as a reader member: status %d, want it shown: %s", r.Pattern, code, body)
			}
			if who != reader {
				for _, s := range secrets[:1] {
					if strings.Contains(body, s) {
						t.Errorf("%s as %s shows %q: %s", r.Pattern, who, s, body)
					}
				}
				if r.Access == "project-read" && r.API && who == noRole && !strings.Contains(body, "deployments are shown to its members only") {
					t.Errorf("%s as %s: the refusal does not say why: %s", r.Pattern, who, body)
				}
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d routes of jobs and pipelines in the table: the test proves little", checked)
	}

	// The live log stream.
	for who, want := range map[string]int{anonymous: http.StatusUnauthorized, noRole: http.StatusForbidden, reader: http.StatusOK} {
		if code, body := get(who, "/api/v1/jobs/"+ship.ID+"/log?follow=1", "Accept", "text/event-stream"); code != want {
			t.Errorf("SSE log as %s: status %d, want %d: %s", who, code, want, body)
		}
	}

	// The views that show the deployment: summarised for outsiders.
	for _, who := range []string{anonymous, noRole} {
		for _, path := range []string{"/api/v1/workflows/" + wf.ID, "/api/v1/pipelines/" + deploy.ID, "/workflows/" + wf.ID, "/workflows/" + wf.ID + "/timing",
			"/api/v1/workflows/" + wf.ID + "/tests?q=TestDeploy", "/workflows/" + wf.ID + "/tests?q=TestDeploy",
			"/api/v1/pipelines/" + wf.Pipelines[0].ID + "/promotions", "/projects/app", "/badges/app.svg"} {
			code, body := get(who, path)
			if code != http.StatusOK {
				t.Errorf("GET %s as %s: status %d, want 200: %s", path, who, code, body)
			}
			for _, s := range secrets {
				if strings.Contains(body, s) {
					t.Errorf("GET %s as %s shows %q", path, who, s)
				}
			}
		}
		_, body := get(who, "/api/v1/pipelines/"+deploy.ID)
		var pl ci.Pipeline
		json.Unmarshal([]byte(body), &pl)
		if !pl.DetailsHidden || pl.Name != "Release" || pl.Result != ci.ResultPassed || pl.DoneAt.IsZero() || len(pl.Blocks) != 0 {
			t.Errorf("the deployment as %s: %+v, want its name, result and time only", who, pl)
		}
		if code, body := get(who, "/api/v1/jobs/"+compile.ID+"/log"); code != http.StatusOK || !strings.Contains(body, "ci-log-line") {
			t.Errorf("the CI job's log as %s: status %d: %s", who, code, body)
		}
	}
	for _, path := range []string{"/api/v1/workflows/" + wf.ID, "/api/v1/jobs/" + ship.ID + "/log"} {
		if code, body := get(reader, path); code != http.StatusOK || !strings.Contains(body, map[bool]string{true: "Ship", false: "deploy-log-line-x"}[strings.Contains(path, "workflows")]) {
			t.Errorf("GET %s as a member: status %d: %s", path, code, body)
		}
	}

	// A deployment's test outcomes are not in a test's history for them.
	var report any
	e.DoAs(tokens[reader], "GET", "/api/v1/jobs/"+ship.ID+"/tests", nil, &report)
	testID := findTestID(report, "TestDeploySecretX")
	if testID == "" {
		t.Fatalf("no TestDeploySecretX in the deployment's report: %v", report)
	}
	history := "/api/v1/projects/app/tests/" + testID + "/history"
	for who, want := range map[string]int{anonymous: 0, noRole: 0, reader: 1} {
		var outcomes []any
		e.DoAs(tokens[who], "GET", history, nil, &outcomes)
		if len(outcomes) != want {
			t.Errorf("the history of a deployment's test as %s: %v, want %d outcomes", who, outcomes, want)
		}
	}

	// The deployment's one job's report is the pipeline's, copied when
	// the pipeline ended.
	e.Eventually(time.Minute, func() bool {
		_, err := e.Server.Store.PipelineTestReport(t.Context(), deploy.ID)
		return err == nil
	}, "the deployment's pipeline report")
	var merged any
	e.DoAs(tokens[reader], "GET", "/api/v1/pipelines/"+deploy.ID+"/tests", nil, &merged)
	if findTestID(merged, "TestDeploySecretX") != testID {
		t.Errorf("the deployment's pipeline report: %v", merged)
	}

	// The workflow's Tests tab counts the deployment's tests for members
	// only, and finds them for members only.
	for who, want := range map[string]int{anonymous: 0, noRole: 0, reader: 1} {
		var tests struct {
			Reports int `json:"reports"`
			Summary struct {
				Total int `json:"total"`
			} `json:"summary"`
			Matches []struct {
				Name string `json:"name"`
			} `json:"matches"`
		}
		e.DoAs(tokens[who], "GET", "/api/v1/workflows/"+wf.ID+"/tests?q=TestDeploySecret", nil, &tests)
		if tests.Reports != want || tests.Summary.Total != want || len(tests.Matches) != want {
			t.Errorf("the workflow's tests as %s: %+v, want %d report, test and match", who, tests, want)
		}
	}

	// A deployment's coverage is not in the branch's trend, nor on the
	// coverage badge, for them.
	e.Eventually(30*time.Second, func() bool {
		_, err := e.Server.Store.PipelineCoverage(t.Context(), deploy.ID)
		return err == nil
	}, "the deployment's coverage")
	for who, want := range map[string]int{anonymous: 0, noRole: 0, reader: 1} {
		var trend apiv1.CoverageTrendView
		e.DoAs(tokens[who], "GET", "/api/v1/projects/app/coverage", nil, &trend)
		if len(trend.Pipelines) != want || want == 1 && (trend.Pipelines[0].PipelineID != deploy.ID || trend.Pipelines[0].Percent != 100) {
			t.Errorf("the branch's coverage trend as %s: %+v, want %d pipelines", who, trend, want)
		}
		badge := map[int]string{0: ">unknown<", 1: ">100%<"}[want]
		if code, body := get(who, "/badges/app/coverage.svg"); code != http.StatusOK || !strings.Contains(body, badge) {
			t.Errorf("the coverage badge as %s: status %d, want %s: %s", who, code, badge, body)
		}
	}

	// Opting out shows everything to everyone.
	e.Do("PATCH", "/api/v1/projects/app", map[string]any{"deployment_details": "public"}, nil)
	if code, body := get(anonymous, "/api/v1/jobs/"+ship.ID+"/log"); code != http.StatusOK || !strings.Contains(body, "deploy-log-line-x") {
		t.Errorf("with public deployment details, the log as anonymous: status %d: %s", code, body)
	}
	if code, body := get(anonymous, "/api/v1/pipelines/"+deploy.ID); code != http.StatusOK || strings.Contains(body, "details_hidden") {
		t.Errorf("with public deployment details, the pipeline as anonymous: status %d: %s", code, body)
	}
	e.DoAs("", "PATCH", "/api/v1/projects/app", map[string]any{"deployment_details": "private"}, nil, http.StatusUnauthorized)
	e.Do("PATCH", "/api/v1/projects/app", map[string]any{"deployment_details": "everyone"}, nil, http.StatusBadRequest)
}

// findTestID returns the id of the test named name in a decoded report.
func findTestID(v any, name string) string {
	switch v := v.(type) {
	case map[string]any:
		if v["name"] == name {
			if id, ok := v["id"].(string); ok {
				return id
			}
		}
		for _, x := range v {
			if id := findTestID(x, name); id != "" {
				return id
			}
		}
	case []any:
		for _, x := range v {
			if id := findTestID(x, name); id != "" {
				return id
			}
		}
	}
	return ""
}
