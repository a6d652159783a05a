package server_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
)

const coveragePipeline = `version: v1.0
name: Coverage
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Test
    task:
      jobs:
        - name: Unit
          commands:
            - checkout
            - coverage publish cover.out
        - name: Integration
          commands:
            - checkout
            - coverage publish --format go cover2.out
        - name: JS
          commands:
            - checkout
            - coverage publish lcov.info
            - coverage publish broken.info
            - coverage publish missing.info
`

// Unit and Integration measure the same Go files: a.go's second block
// is covered by Integration only.
const (
	unitProfile        = "mode: set\nexample.com/app/a.go:3.10,5.2 2 1\nexample.com/app/a.go:7.10,9.2 2 0\nexample.com/app/b.go:1.1,2.2 1 0\n"
	integrationProfile = "mode: count\nexample.com/app/a.go:7.10,9.2 2 4\nexample.com/app/b.go:1.1,2.2 1 0\n"
	jsLCOV             = "TN:\nSF:web/x.js\nDA:1,1\nDA:2,0\nDA:3,0\nend_of_record\n"
)

// TestCoverageFromJobsToPipelineTrendAndBadge runs jobs that publish
// coverage on a real agent and reads it back: each job's, the pipeline's
// (files measured by two jobs counted once), its change from the default
// branch's previous pipeline, the branch's trend, the pages and the
// badge, and who may see them.
func TestCoverageFromJobsToPipelineTrendAndBadge(t *testing.T) {
	t.Parallel()
	// A loaded machine runs three jobs at once: the agent is not lost.
	e := testenv.Start(t, testenv.Options{LostAfter: time.Minute})
	e.StartAgent(t, "a1", "e1-standard-2", 3)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": coveragePipeline,
		"cover.out": unitProfile, "cover2.out": integrationProfile, "lcov.info": jsLCOV, "broken.info": "SF:web/y.js\nDA:1\n"})
	createProject(t, e, "app", repo, nil)
	wf := e.WaitWorkflow(run(t, e, "app", "main"), 90*time.Second)
	jobs := wf.Jobs()
	if wf.Result != ci.ResultPassed {
		for n, j := range jobs {
			t.Logf("%s: %s\n%s", n, j.Result, e.Log(j.ID))
		}
		t.Fatalf("workflow result = %s: a bad coverage file does not fail the job by itself", wf.Result)
	}
	if log := e.Log(jobs["Test/Unit"].ID); !strings.Contains(log, "coverage: cover.out: 40.0% (2 of 5 lines), 2 files (go)") {
		t.Errorf("Unit's log lacks the summary:\n%s", log)
	}
	js := e.Log(jobs["Test/JS"].ID)
	for _, want := range []string{"coverage: broken.info:2: malformed DA: \"DA:1\"", "coverage: missing.info: no such file or directory"} {
		if strings.Count(js, want) != 1 {
			t.Errorf("JS's log lacks the one-line problem %q:\n%s", want, js)
		}
	}

	pid := wf.Pipelines[0].ID
	e.Eventually(30*time.Second, func() bool {
		_, err := e.Server.Store.PipelineCoverage(t.Context(), pid)
		return err == nil
	}, "the pipeline's coverage")
	var v apiv1.CoverageView
	e.Do("GET", "/api/v1/pipelines/"+pid+"/coverage", nil, &v)
	// a.go: 4 statements, all covered by one job or the other; b.go: 1,
	// not covered; x.js: 3 lines, 1 covered.
	if v.Lines != 8 || v.Covered != 5 || v.Percent != 62.5 || v.Files != 3 || v.Format != "mixed" || !v.Final || v.Base != nil || v.Change != nil {
		t.Errorf("pipeline coverage = %+v", v)
	}
	byName := map[string]apiv1.JobCoverageView{}
	for _, j := range v.Jobs {
		byName[j.Name] = j
	}
	if u, i, j := byName["Unit"], byName["Integration"], byName["JS"]; len(v.Jobs) != 3 || u.Lines != 5 || u.Covered != 2 || u.Percent != 40 ||
		i.Lines != 3 || i.Covered != 2 || j.Format != "lcov" || j.Covered != 1 {
		t.Errorf("jobs' coverage = %+v", v.Jobs)
	}

	// A second pipeline on main covers one more line: +12.5 points.
	repo.Commit("cover more", map[string]string{"lcov.info": strings.Replace(jsLCOV, "DA:2,0", "DA:2,7", 1)})
	wf2 := e.WaitWorkflow(run(t, e, "app", "main"), 90*time.Second)
	pid2 := wf2.Pipelines[0].ID
	e.Eventually(30*time.Second, func() bool {
		_, err := e.Server.Store.PipelineCoverage(t.Context(), pid2)
		return err == nil
	}, "the second pipeline's coverage")
	e.Do("GET", "/api/v1/pipelines/"+pid2+"/coverage", nil, &v)
	if v.Percent != 75 || v.Base == nil || v.Base.PipelineID != pid || v.Change == nil || *v.Change != 12.5 {
		t.Errorf("second pipeline's coverage = %+v (change %v)", v, v.Change)
	}
	var trend apiv1.CoverageTrendView
	e.Do("GET", "/api/v1/projects/app/coverage", nil, &trend)
	if trend.Branch != "main" || len(trend.Pipelines) != 2 || trend.Pipelines[0].PipelineID != pid2 || trend.Pipelines[0].Percent != 75 || trend.Pipelines[1].Percent != 62.5 {
		t.Errorf("trend = %+v", trend)
	}
	e.Do("GET", "/api/v1/projects/app/coverage?limit=1", nil, &trend)
	if len(trend.Pipelines) != 1 {
		t.Errorf("trend with limit 1 = %+v", trend)
	}
	e.Do("GET", "/api/v1/projects/app/coverage?branch=dev", nil, &trend)
	if trend.Branch != "dev" || len(trend.Pipelines) != 0 {
		t.Errorf("trend of a branch without pipelines = %+v", trend)
	}
	e.Do("GET", "/api/v1/projects/app/coverage?limit=1000", nil, nil, http.StatusBadRequest)
	e.Do("GET", "/api/v1/pipelines/no-such/coverage", nil, nil, http.StatusNotFound)

	// The pages: the workflow shows the percentage and the change, the
	// project the trend.
	if page := getPage(t, e, "/workflows/"+wf2.ID); !strings.Contains(page, `class="coverage"`) || !strings.Contains(page, "75.0%") || !strings.Contains(page, "&#43;12.5</span>") {
		t.Errorf("workflow page lacks the coverage:\n%s", page)
	}
	if page := getPage(t, e, "/projects/app"); !strings.Contains(page, `id="coverage-trend"`) || !strings.Contains(page, "62.5%") {
		t.Errorf("project page lacks the trend:\n%s", page)
	}

	// Private: outsiders find none of it, the badge included.
	for _, p := range []string{"/api/v1/pipelines/" + pid + "/coverage", "/api/v1/projects/app/coverage", "/badges/app/coverage.svg", "/badges/app/coverage.svg?branch=main"} {
		if code, body := anonGet(t, e, p); code != http.StatusNotFound || strings.Contains(body, "percent") || strings.Contains(body, "75%") {
			t.Errorf("anonymous GET %s on a private project: %d %s", p, code, body)
		}
	}
	if code, _ := anonGet(t, e, "/badges/nope/coverage.svg"); code != http.StatusNotFound {
		t.Errorf("badge of no project: %d", code)
	}
	// Public: anyone reads them.
	e.Do("PATCH", "/api/v1/projects/app", map[string]any{"public": true}, nil)
	if code, body := anonGet(t, e, "/api/v1/pipelines/"+pid2+"/coverage"); code != http.StatusOK || !strings.Contains(body, `"percent": 75`) {
		t.Errorf("anonymous pipeline coverage of a public project: %d %s", code, body)
	}
	code, badge := anonGet(t, e, "/badges/app/coverage.svg")
	if code != http.StatusOK || !strings.Contains(badge, "<svg") || !strings.Contains(badge, ">coverage<") || !strings.Contains(badge, ">75%<") || !strings.Contains(badge, "#a4a61d") {
		t.Errorf("coverage badge: %d %s", code, badge)
	}
	if _, badge := anonGet(t, e, "/badges/app/coverage.svg?branch=dev"); !strings.Contains(badge, ">unknown<") {
		t.Errorf("coverage badge of a branch without coverage: %s", badge)
	}

	// A deleted project's coverage objects go with it.
	count := func() int {
		n := 0
		for _, err := range e.Server.Blobs.List(t.Context(), "coverage/") {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}
	if n := count(); n != 6 {
		t.Errorf("%d coverage objects, want 6 (three jobs, twice)", n)
	}
	e.Do("DELETE", "/api/v1/projects/app", nil, nil)
	if n := count(); n != 0 {
		t.Errorf("%d coverage objects left after the project was deleted", n)
	}
}

// TestAgentCoverageEndpointChecksTheJob drives the agent protocol's
// coverage endpoint as agents would, honest and not: only the agent of a
// running job writes its coverage, a report that is not one is refused,
// and the totals are the server's.
func TestAgentCoverageEndpointChecksTheJob(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{LostAfter: time.Minute})
	register := func(name string) *agentapi.Client {
		c := agentapi.NewClient(e.URL, e.AgentToken, nil)
		if _, err := c.Register(t.Context(), agentapi.RegisterRequest{Name: name, Type: "e1-standard-2", Slots: 1, Version: "test"}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	honest := register("honest")
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": okPipeline})
	createProject(t, e, "app", repo, nil)
	run(t, e, "app", "main")
	var as agentapi.Assignment
	e.Eventually(30*time.Second, func() bool {
		resp, err := honest.Poll(t.Context(), agentapi.PollRequest{FreeSlots: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Assign) > 0 {
			as = resp.Assign[0]
			return true
		}
		return false
	}, "an assignment")
	rogue := register("rogue")
	status := func(err error) int {
		var he *agentapi.HTTPError
		if errors.As(err, &he) {
			return he.Status
		}
		if err != nil {
			t.Fatalf("not an HTTP error: %v", err)
		}
		return http.StatusOK
	}
	good := `{"format":"lcov","files":[{"path":"a.js","blocks":[[1,0,1,0,1,3],[2,0,2,0,1,0]]}]}`
	put := func(c *agentapi.Client, job, body string) error {
		_, err := c.PutCoverage(t.Context(), job, strings.NewReader(body))
		return err
	}
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"by another agent", put(rogue, as.JobID, good), http.StatusForbidden},
		{"with the agent token", put(agentapi.NewClient(e.URL, e.AgentToken, nil), as.JobID, good), http.StatusUnauthorized},
		{"with a user's API token", put(agentapi.NewClient(e.URL, e.Token, nil), as.JobID, good), http.StatusUnauthorized},
		{"for an unknown job", put(honest, "no-such-job", good), http.StatusNotFound},
		{"not JSON", put(honest, as.JobID, "mode: set\n"), http.StatusBadRequest},
		{"an unknown format", put(honest, as.JobID, strings.Replace(good, "lcov", "jacoco", 1)), http.StatusBadRequest},
		{"a file without a path", put(honest, as.JobID, strings.Replace(good, `"a.js"`, `""`, 1)), http.StatusBadRequest},
		{"a malformed block", put(honest, as.JobID, strings.Replace(good, "[2,0,2,0,1,0]", "[2,0,2]", 1)), http.StatusBadRequest},
	} {
		if got := status(tc.err); got != tc.want {
			t.Errorf("%s: status %d (%v), want %d", tc.name, got, tc.err, tc.want)
		}
	}
	if _, err := e.Server.Store.JobCoverage(t.Context(), as.JobID); err == nil {
		t.Fatal("a refused report was stored")
	}
	// The totals are the server's: a block listed twice counts once.
	tot, err := honest.PutCoverage(t.Context(), as.JobID, strings.NewReader(strings.Replace(good, "[2,0,2,0,1,0]", "[2,0,2,0,1,0],[1,0,1,0,1,1]", 1)))
	if err != nil || tot.Lines != 2 || tot.Covered != 1 {
		t.Fatalf("put = %+v, %v", tot, err)
	}
	// Once the job is done, its coverage cannot change.
	if err := honest.Finish(t.Context(), as.JobID, agentapi.FinishRequest{Result: ci.ResultPassed}); err != nil {
		t.Fatal(err)
	}
	if got := status(put(honest, as.JobID, good)); got != http.StatusConflict {
		t.Errorf("put after the job finished: %d, want 409", got)
	}
}
