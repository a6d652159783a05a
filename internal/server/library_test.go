package server_test

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/engine/enginetest"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/testenv"
)

const libraryPipeline = `version: v1.0
name: Lib
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Build
    task:
      env_vars:
        - name: FLAVOUR
          value: release
      jobs:
        - name: Build
          commands_file: "@ops/ci/build"
        - name: Checkout
          commands:
            - lib checkout ops
            - sh ops/bin/greet
            - cat ops/ci/build
            - lib checkout ops elsewhere && test -f elsewhere/ci/build
            - if lib checkout nope; then false; fi
`

const missingLibraryFile = `version: v1.0
name: Missing
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Build
    task:
      jobs:
        - name: Build
          commands_file: "@ops/ci/nope"
  - name: Other
    task:
      jobs:
        - name: Other
          commands_file: "@tools/x"
`

// rawCall calls the API with token ("" for none) and returns the status
// and body.
func rawCall(t *testing.T, e *testenv.Env, token, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// directives are the commands a job ran, in order, and each one's
// duration, without the steps that export its variables.
func directives(t *testing.T, e *testenv.Env, jobID string) ([]string, []time.Duration) {
	t.Helper()
	var cmds []apiv1.Command
	e.Do("GET", "/api/v1/jobs/"+jobID+"/commands", nil, &cmds, http.StatusOK)
	var ds []string
	var durs []time.Duration
	for _, c := range cmds {
		if c.Directive == "Exporting environment variables" {
			continue // Baton's own steps
		}
		ds = append(ds, c.Directive)
		if c.StartedAt != nil && c.FinishedAt != nil {
			durs = append(durs, time.Time(*c.FinishedAt).Sub(time.Time(*c.StartedAt)))
		} else {
			durs = append(durs, -1)
		}
	}
	return ds, durs
}

// TestLibraryCommandsFile: a private library (token over HTTP) gives a
// pipeline its commands, each line its own command with its own duration;
// the workflow fixes the library's commit, which a rebuild keeps after the
// library moved; a missing file or library is a positioned error; the
// token is never shown.
// It runs on SQLite and PostgreSQL.
func TestLibraryCommandsFile(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{store.SQLite, store.Postgres} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			testLibraryCommandsFile(t, dialect)
		})
	}
}

func testLibraryCommandsFile(t *testing.T, dialect string) {
	e := testenv.Start(t, testenv.Options{DB: enginetest.NewDSN(t, dialect)})
	e.StartAgent(t, "a1", "e1-standard-2", 2)
	const token = "lib-token-5ecret"
	lib := testenv.NewRepo(t, map[string]string{
		"ci/build":  "echo one\nsleep 0.4\necho \"flavour $FLAVOUR\"\n",
		"bin/greet": "#!/bin/sh\necho hello from the library\n",
	})
	libURL := lib.HTTPURLWithToken(token)

	// The branch is read before the library is stored: without the token,
	// or with a wrong one, it is refused.
	code, refusal := rawCall(t, e, e.Token, "POST", "/api/v1/libraries", `{"name": "ops", "repo_url": "`+libURL+`"}`)
	if code != http.StatusBadRequest || !strings.Contains(refusal, "library ops: branch main of "+libURL) {
		t.Errorf("refusal without a token = %d %s", code, refusal)
	}
	e.Do("POST", "/api/v1/libraries", map[string]any{"name": "ops", "repo_url": libURL, "token": "wrong"}, nil, http.StatusBadRequest)
	var added apiv1.Library
	e.Do("POST", "/api/v1/libraries", map[string]any{"name": "ops", "repo_url": libURL, "token": token}, &added, http.StatusCreated)
	if !added.Token || added.Branch != "main" {
		t.Errorf("added = %+v", added)
	}
	for _, path := range []string{"/api/v1/libraries", "/api/v1/libraries/ops", "/api/v1/audit"} {
		if _, body := rawCall(t, e, e.Token, "GET", path, ""); strings.Contains(body, token) || !strings.Contains(body, "ops") {
			t.Errorf("%s shows the token: %s", path, body)
		}
	}

	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": libraryPipeline, ".semaphore/missing.yml": missingLibraryFile})
	createProject(t, e, "app", repo, nil)
	first := e.WaitWorkflow(run(t, e, "app", "main"), 60*time.Second)
	if first.Result != ci.ResultPassed {
		t.Fatalf("workflow = %s: %s", first.Result, first.Pipelines[0].Diagnostics)
	}
	job, checkout := first.Pipelines[0].Blocks[0].Jobs[0], first.Pipelines[0].Blocks[0].Jobs[1]
	if job.Name != "Build" {
		job, checkout = checkout, job
	}
	log := e.Log(checkout.ID)
	for _, want := range []string{"hello from the library", "echo one", "checked out library ops at ",
		`lib: there is no library "nope"; this workflow's libraries are ops`} {
		if !strings.Contains(log, want) {
			t.Errorf("lib checkout's log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, token) {
		t.Errorf("the job's log shows the library's token:\n%s", log)
	}
	ds, durs := directives(t, e, job.ID)
	want := []string{"echo one", "sleep 0.4", `echo "flavour $FLAVOUR"`}
	if !slices.Equal(ds[len(ds)-3:], want) {
		t.Fatalf("commands = %q, want them to end with %q", ds, want)
	}
	if d := durs[len(durs)-2]; d < 400*time.Millisecond {
		t.Errorf("sleep 0.4 took %v by its own timing, want at least 400ms", d)
	}
	if d := durs[len(durs)-3]; d < 0 || d >= 400*time.Millisecond {
		t.Errorf("echo one took %v, want its own short duration", d)
	}
	if log := e.Log(job.ID); !strings.Contains(log, "flavour release") {
		t.Errorf("log lacks the library command's output:\n%s", log)
	}
	pinned := lib.Git("rev-parse", "HEAD")
	var wv apiv1.WorkflowView
	e.Do("GET", "/api/v1/workflows/"+first.ID, nil, &wv, http.StatusOK)
	if len(wv.Libraries) != 1 || wv.Libraries[0].Name != "ops" || wv.Libraries[0].SHA != pinned {
		t.Errorf("workflow libraries = %+v, want ops at %s", wv.Libraries, pinned)
	}

	// The library moves: a rebuild runs what the original ran; a new
	// workflow runs the new head.
	moved := lib.Commit("build differently", map[string]string{"ci/build": "echo moved\n"})
	var rebuilt apiv1.Workflow
	e.Do("POST", "/api/v1/workflows/"+first.ID+"/rebuild", nil, &rebuilt, http.StatusCreated)
	again := e.WaitWorkflow(rebuilt.ID, 60*time.Second)
	for _, j := range again.Pipelines[0].Blocks[0].Jobs {
		if j.Name == "Build" {
			if ds, _ := directives(t, e, j.ID); !slices.Equal(ds[len(ds)-3:], want) {
				t.Errorf("rebuild's commands = %q, want the pinned %q", ds, want)
			}
		} else if log := e.Log(j.ID); !strings.Contains(log, "echo one") || strings.Contains(log, "echo moved") {
			t.Errorf("rebuild's lib checkout did not check out the pinned commit:\n%s", log)
		}
	}
	e.Do("GET", "/api/v1/workflows/"+rebuilt.ID, nil, &wv, http.StatusOK)
	if len(wv.Libraries) != 1 || wv.Libraries[0].SHA != pinned {
		t.Errorf("rebuild's libraries = %+v, want ops at %s", wv.Libraries, pinned)
	}
	fresh := e.WaitWorkflow(run(t, e, "app", "main"), 60*time.Second)
	for _, j := range fresh.Pipelines[0].Blocks[0].Jobs {
		if ds, _ := directives(t, e, j.ID); j.Name == "Build" && ds[len(ds)-1] != "echo moved" {
			t.Errorf("new workflow's commands = %q, want the library's new head", ds)
		}
	}

	// The library's page: files at the head, a file's history, the uses.
	var detail apiv1.LibraryDetail
	e.Do("GET", "/api/v1/libraries/ops", nil, &detail, http.StatusOK)
	if detail.Head != moved || len(detail.Files) != 2 || detail.Files[0].Path != "bin/greet" || detail.Files[1].Path != "ci/build" {
		t.Errorf("library detail = %+v", detail)
	}
	if len(detail.Uses) != 3 || detail.Uses[0].SHA != moved || detail.Uses[0].Project != "app" || detail.Uses[2].SHA != pinned {
		t.Errorf("uses = %+v, want the three pipelines, newest first", detail.Uses)
	}
	var file apiv1.LibraryFileView
	e.Do("GET", "/api/v1/libraries/ops/files/ci/build", nil, &file, http.StatusOK)
	if file.Content != "echo moved\n" || len(file.History) != 2 || file.History[0].SHA != moved || file.History[0].Subject != "build differently" {
		t.Errorf("file view = %+v", file)
	}
	e.Do("GET", "/api/v1/libraries/ops/files/ci/nope", nil, nil, http.StatusNotFound)

	// A pull request from a fork gets no private library: its author's
	// pipeline could print the files into a public log.
	proj, err := e.Server.Store.GetProject(t.Context(), "app")
	if err != nil {
		t.Fatal(err)
	}
	forkWF, err := e.Server.Engine.Trigger(t.Context(), engine.TriggerRequest{Project: proj, Trigger: ci.TriggerPR, RefType: "pull-request",
		Branch: "main", PR: "7", PRBranch: "feature", SHA: repo.Git("rev-parse", "HEAD"), PRFromFork: true})
	if err != nil {
		t.Fatal(err)
	}
	forked := e.WaitWorkflow(forkWF.ID, 60*time.Second)
	if d := forked.Pipelines[0].Diagnostics; forked.Result != ci.ResultFailed ||
		!strings.Contains(d, `.semaphore/semaphore.yml:14:26: cannot read commands_file "@ops/ci/build" (ci/build in library ops): library ops is private, and a pull request from a fork gets only the libraries anyone can read`) {
		t.Errorf("fork's workflow: %s\n%s", forked.Result, d)
	}
	// An API token does not open the agent protocol's library endpoint.
	if code, _ := rawCall(t, e, e.Token, "GET", "/agent/v1/jobs/"+checkout.ID+"/libraries/ops", ""); code != http.StatusUnauthorized {
		t.Errorf("the library endpoint with a user's token: %d, want 401", code)
	}

	// A missing file and an unknown library are positioned errors.
	var bad apiv1.Workflow
	e.Do("POST", "/api/v1/projects/app/workflows", map[string]any{"branch": "main", "pipeline_file": ".semaphore/missing.yml"}, &bad, http.StatusCreated)
	failed := e.WaitWorkflow(bad.ID, 60*time.Second)
	diags := failed.Pipelines[0].Diagnostics
	for _, want := range []string{
		`.semaphore/missing.yml:11:26: cannot read commands_file "@ops/ci/nope" (ci/nope in library ops): file not found`,
		`.semaphore/missing.yml:16:26: commands_file "@tools/x": there is no library "tools"; the libraries are ops`,
	} {
		if !strings.Contains(diags, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, diags)
		}
	}
}
