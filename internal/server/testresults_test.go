package server_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
	"github.com/batonci/baton/internal/testreport"
)

const testsPipeline = `version: v1.0
name: Tests
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
            - test-results publish first.xml
            - test-results publish retry.xml
        - name: E2E
          commands:
            - checkout
            - test-results publish e2e.xml --name E2E
            - test-results publish missing.xml
`

const firstRun = `<testsuites name="unit"><testsuite name="pkg/a">
<testcase classname="pkg/a" name="TestStable" time="0.5"/>
<testcase classname="pkg/a" name="TestFlaky" time="1.5"><failure message="timeout">flaky.go:12: timed out</failure></testcase>
</testsuite></testsuites>`

const retryRun = `<testsuites name="unit"><testsuite name="pkg/a">
<testcase classname="pkg/a" name="TestFlaky" time="0.2"/>
</testsuite></testsuites>`

const e2eRun = `<testsuite name="browser"><testcase name="signs in" time="3"/><testcase name="checks out" time="4"><skipped/></testcase></testsuite>`

func anonGet(t *testing.T, e *testenv.Env, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(e.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestTestReportsFromJobsToPipelineAndFlaky runs jobs that publish JUnit
// reports on a real agent and reads them back: the job's report, the
// pipeline's merged one, the flaky test (it failed and passed in one job
// on one commit), its history, and who may read them.
func TestTestReportsFromJobsToPipelineAndFlaky(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	e.StartAgent(t, "a1", "e1-standard-2", 2)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": testsPipeline,
		"first.xml": firstRun, "retry.xml": retryRun, "e2e.xml": e2eRun})
	createProject(t, e, "app", repo, nil)
	wf := e.WaitWorkflow(run(t, e, "app", "main"), 60*time.Second)
	if wf.Result != ci.ResultPassed {
		for n, j := range wf.Jobs() {
			t.Logf("%s: %s\n%s", n, j.Result, e.Log(j.ID))
		}
		t.Fatalf("workflow result = %s: a failing test in a report does not fail the job by itself", wf.Result)
	}
	jobs := wf.Jobs()
	unit, e2e := jobs["Test/Unit"], jobs["Test/E2E"]
	if log := e.Log(unit.ID); !strings.Contains(log, "unit: 2 tests: 1 passed, 1 failed in 2s (1 file, generic)") || !strings.Contains(log, "FAILED pkg/a / TestFlaky") {
		t.Errorf("Unit's log lacks the summary:\n%s", log)
	}
	if log := e.Log(e2e.ID); !strings.Contains(log, "missing.xml: no such file or directory") {
		t.Errorf("E2E's log lacks the one-line problem:\n%s", log)
	}

	// The job's report: both publishes, merged; the failure is kept.
	var rep testreport.Result
	e.Do("GET", "/api/v1/jobs/"+unit.ID+"/tests", nil, &rep)
	if s := rep.Summary(); s.Total != 2 || s.Failed != 1 || s.Passed != 1 {
		t.Errorf("Unit's report summary = %+v", s)
	}
	if f := rep.Failed(); len(f) != 1 || f[0].Test.Failure == nil || f[0].Test.Failure.Message != "timeout" {
		t.Errorf("Unit's failures = %+v", f)
	}
	// The pipeline's report, merged when it ended.
	pid := wf.Pipelines[0].ID
	e.Eventually(30*time.Second, func() bool {
		_, err := e.Server.Store.PipelineTestReport(t.Context(), pid)
		return err == nil
	}, "the pipeline's report")
	e.Do("GET", "/api/v1/pipelines/"+pid+"/tests", nil, &rep)
	if s := rep.Summary(); s.Total != 4 || s.Failed != 1 || s.Skipped != 1 || len(rep.TestResults) != 2 {
		t.Errorf("pipeline report summary = %+v, %d reports", s, len(rep.TestResults))
	}
	e.Do("GET", "/api/v1/jobs/no-such-job/tests", nil, nil, http.StatusNotFound)
	e.Do("GET", "/api/v1/jobs/"+e2e.ID+"/tests", nil, nil, http.StatusOK)

	// Flaky: TestFlaky failed and passed on this commit.
	var flaky []map[string]any
	e.Do("GET", "/api/v1/projects/app/flaky", nil, &flaky)
	if len(flaky) != 1 || flaky[0]["name"] != "TestFlaky" || flaky[0]["failed"] != 1.0 || flaky[0]["passed"] != 1.0 {
		t.Fatalf("flaky = %v", flaky)
	}
	id := flaky[0]["id"].(string)
	if page := getPage(t, e, "/projects/app/flaky"); !strings.Contains(page, "<td>TestFlaky</td>") || !strings.Contains(page, `action="/projects/app/flaky/`+id+`/resolve"`) {
		t.Errorf("flaky page:\n%s", page)
	}
	var hist []map[string]any
	e.Do("GET", "/api/v1/projects/app/tests/"+id+"/history", nil, &hist)
	if len(hist) != 2 || hist[0]["state"] != "passed" || hist[1]["state"] != "failed" {
		t.Errorf("history = %v", hist)
	}

	// The Tests page: failures first with their message and a link to
	// the job's log, the slowest tests, the suites, a search.
	page := getPage(t, e, "/workflows/"+wf.ID+"/tests")
	fail, slow := strings.Index(page, `id="fail-h"`), strings.Index(page, `id="slow-tests-h"`)
	if fail < 0 || slow < fail || !strings.Contains(page[fail:slow], "TestFlaky") || !strings.Contains(page[fail:slow], "timeout") ||
		!strings.Contains(page[fail:slow], `href="/jobs/`+unit.ID+`"`) || !strings.Contains(page, "<strong>4</strong> tests: 2 passed") {
		t.Errorf("tests page:\n%s", page)
	}
	if page := getPage(t, e, "/workflows/"+wf.ID+"/tests?q=signs"); !strings.Contains(page, "Tests matching") || !strings.Contains(page, "<td>signs in</td>") {
		t.Errorf("search for signs:\n%s", page)
	}
	// The same through the API: the counts, the failure with its
	// message and output, its history on the default branch (the retry
	// passed after the failure), the slowest test, the suites, a search.
	var tests apiv1.WorkflowTests
	e.Do("GET", "/api/v1/workflows/"+wf.ID+"/tests?q=SIGNS", nil, &tests)
	if tests.Reports != 2 || tests.Summary.Total != 4 || tests.Summary.Failed != 1 || tests.Summary.Skipped != 1 || tests.HistoryBranch != "main" {
		t.Errorf("workflow tests summary: %+v", tests)
	}
	if len(tests.Failures) != 1 || tests.Failures[0].Name != "TestFlaky" || tests.Failures[0].Message != "timeout" ||
		tests.Failures[0].Body != "flaky.go:12: timed out" || tests.Failures[0].JobID != unit.ID || tests.Failures[0].Job != "Test / Unit" {
		t.Errorf("workflow tests failures: %+v", tests.Failures)
	} else if h := tests.Failures[0].History; len(h) != 2 || h[0].State != "passed" || h[1].State != "failed" || h[1].Duration != 1500*time.Millisecond || h[1].Workflow != wf.ID {
		t.Errorf("TestFlaky's history on its row: %+v", h)
	}
	if len(tests.Slowest) != 4 || tests.Slowest[0].Name != "checks out" || tests.Slowest[0].Duration != 4*time.Second {
		t.Errorf("slowest: %+v", tests.Slowest)
	}
	if len(tests.Suites) != 2 || tests.Suites[0].Name != "pkg/a" || tests.Suites[0].Summary.Failed != 1 {
		t.Errorf("suites: %+v", tests.Suites)
	}
	if len(tests.Matches) != 1 || tests.Matches[0].Name != "signs in" || tests.Matches[0].Job != "Test / E2E" || tests.MoreMatches {
		t.Errorf("matches of SIGNS: %+v", tests.Matches)
	}
	if !strings.Contains(page, `class="history"`) {
		t.Error("the Tests tab draws no history")
	}
	if !strings.Contains(getPage(t, e, "/workflows/"+wf.ID), `href="/workflows/`+wf.ID+`/tests"`) {
		t.Error("the workflow page does not link its Tests tab")
	}

	// A private project's reports are not found by outsiders.
	for _, p := range []string{"/workflows/" + wf.ID + "/tests", "/api/v1/workflows/" + wf.ID + "/tests", "/api/v1/workflows/" + wf.ID + "/tests?q=Flaky", "/projects/app/flaky", "/api/v1/jobs/" + unit.ID + "/tests", "/api/v1/pipelines/" + pid + "/tests", "/api/v1/projects/app/flaky", "/api/v1/projects/app/tests/" + id + "/history"} {
		if code, body := anonGet(t, e, p); code != http.StatusNotFound || strings.Contains(body, "TestFlaky") {
			t.Errorf("anonymous GET %s on a private project: %d %s", p, code, body)
		}
	}
	resp, err := http.Post(e.URL+"/api/v1/projects/app/flaky/"+id+"/resolve", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("anonymous resolve on a private project: %d, want 404", resp.StatusCode)
	}
	// Public: anyone reads them, like the logs, but cannot resolve.
	e.Do("PATCH", "/api/v1/projects/app", map[string]any{"public": true}, nil)
	for _, p := range []string{"/api/v1/pipelines/" + pid + "/tests", "/workflows/" + wf.ID + "/tests", "/api/v1/workflows/" + wf.ID + "/tests"} {
		if code, body := anonGet(t, e, p); code != http.StatusOK || !strings.Contains(body, "TestFlaky") {
			t.Errorf("anonymous GET %s of a public project: %d", p, code)
		}
	}
	resp, err = http.Post(e.URL+"/api/v1/projects/app/flaky/"+id+"/resolve", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous resolve on a public project: %d, want 401", resp.StatusCode)
	}
	e.Do("POST", "/api/v1/projects/app/flaky/"+id+"/resolve", nil, nil)
	e.Do("GET", "/api/v1/projects/app/flaky", nil, &flaky)
	if len(flaky) != 0 {
		t.Errorf("resolved test still listed: %v", flaky)
	}
	e.Do("POST", "/api/v1/projects/app/flaky/nope/resolve", nil, nil, http.StatusNotFound)

	// A deleted project's reports go with it.
	count := func() int {
		n := 0
		for _, err := range e.Server.Blobs.List(t.Context(), "test-results/") {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}
	if n := count(); n != 3 {
		t.Errorf("%d report objects, want 3 (two jobs, one pipeline)", n)
	}
	e.Do("DELETE", "/api/v1/projects/app", nil, nil)
	if n := count(); n != 0 {
		t.Errorf("%d report objects left after the project was deleted", n)
	}
}

// TestAgentTestReportEndpointsCheckTheJob drives the agent protocol's
// report endpoints as agents would, honest and not: only the agent of a
// running job writes its report, a report that is not one is refused, and
// nothing names another job's report.
func TestAgentTestReportEndpointsCheckTheJob(t *testing.T) {
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
	good := `{"testResults":[{"name":"unit","suites":[{"name":"s","tests":[{"name":"t","state":"failed"}]}]}]}`
	put := func(c *agentapi.Client, job, body string) error {
		_, err := c.PutTestReport(t.Context(), job, strings.NewReader(body))
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
		{"not JSON", put(honest, as.JobID, "<testsuite/>"), http.StatusBadRequest},
		{"an unknown state", put(honest, as.JobID, strings.Replace(good, "failed", "exploded", 1)), http.StatusBadRequest},
		{"an unknown field", put(honest, as.JobID, `{"testResults":[],"owner":"x"}`), http.StatusBadRequest},
		{"gzipped, not JSON", put(honest, as.JobID, gzipString(t, "<testsuite/>")), http.StatusBadRequest},
		{"gzipped, cut short", put(honest, as.JobID, gzipString(t, good)[:20]), http.StatusBadRequest},
		{"gzipped, with an unknown field", put(honest, as.JobID, gzipString(t, `{"testResults":[],"owner":"x"}`)), http.StatusBadRequest},
		{"gzipped, a field twice", put(honest, as.JobID, gzipString(t, `{"testResults":[],"testResults":[]}`)), http.StatusBadRequest},
		{"pipeline merge by another agent", func() error { _, err := rogue.MergePipelineTestReport(t.Context(), as.JobID); return err }(), http.StatusForbidden},
		{"pipeline merge before any report", func() error { _, err := honest.MergePipelineTestReport(t.Context(), as.JobID); return err }(), http.StatusNotFound},
	} {
		if got := status(tc.err); got != tc.want {
			t.Errorf("%s: status %d (%v), want %d", tc.name, got, tc.err, tc.want)
		}
	}
	// The counts are the server's, not what the agent claims, gzipped
	// or not.
	lying := strings.Replace(good, `"suites"`, `"summary":{"total":99,"passed":99},"suites"`, 1)
	sum, err := honest.PutTestReport(t.Context(), as.JobID, strings.NewReader(lying))
	if err != nil || sum.Total != 1 || sum.Failed != 1 {
		t.Fatalf("put = %+v, %v", sum, err)
	}
	sum, err = honest.PutTestReport(t.Context(), as.JobID, strings.NewReader(gzipString(t, strings.Replace(lying, `"name":"t"`, `"name":"u"`, 1))))
	if err != nil || sum.Total != 2 || sum.Failed != 2 {
		t.Fatalf("gzipped put = %+v, %v", sum, err)
	}
	if sum, err := honest.MergePipelineTestReport(t.Context(), as.JobID); err != nil || sum.Total != 2 {
		t.Fatalf("pipeline merge = %+v, %v", sum, err)
	}
	// Once the job is done, its report cannot change.
	if err := honest.Finish(t.Context(), as.JobID, agentapi.FinishRequest{Result: ci.ResultPassed}); err != nil {
		t.Fatal(err)
	}
	if got := status(put(honest, as.JobID, good)); got != http.StatusConflict {
		t.Errorf("put after the job finished: %d, want 409", got)
	}
}

func gzipString(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
