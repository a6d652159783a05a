package server_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/forge/forgetest"
	"github.com/batonci/baton/internal/testenv"
	"github.com/batonci/baton/internal/testenv/probe"
)

// The cache and the artifacts are the job service's (internal/jobsvc):
// these tests run Baton as deployed (`baton up` as root, jobs as job
// users) and jobs that try to get around it.

// seedPipeline stores a cache key and pushes a project artifact.
const seedPipeline = `version: v1.0
name: Seed
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Seed
    task:
      jobs:
        - name: Store
          commands:
            - mkdir -p deps && echo v1 > deps/v
            - cache store deps deps
            - echo r1 > release.txt
            - artifact push project release.txt
            - artifact push job release.txt -d job.txt
            - echo w1 > wf.txt
            - artifact push workflow wf.txt
`

// curlService is a command that calls the job's service with its token,
// as a job could without the toolbox.
const curlService = `curl -sf --unix-socket "$BATON_JOBSVC" -H "Authorization: Bearer $BATON_JOBSVC_TOKEN"`

// storeAttempts are ways around the job service to the stores of project
// id on the machine whose agent keeps its data in agentData.
func storeAttempts(agentData, id string) []attempt {
	return []attempt{
		{"list the caches directly", "ls " + agentData + "/cache"},
		{"write the cache directly", "touch " + agentData + "/cache/" + id + "/entries/direct"},
		{"read the agent's copies of restored caches", "ls " + agentData + "/cache-copies"},
		{"list the artifacts directly", "ls " + agentData + "/artifacts"},
		{"write a project artifact directly", "touch " + agentData + "/artifacts/" + id + "/projects/" + id + "/direct"},
		{"find a store's path in the environment", `sh -c 'env | grep -E "^BATON_(CACHE|ARTIFACT)_DIR="'`},
	}
}

func TestForkPullRequestCannotWriteCacheOrArtifacts(t *testing.T) {
	probe.Require(t, probe.Root)
	t.Parallel()
	bin := testenv.BatonBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	_, e := startBatonUp(t, bin, data)
	statuses := forgetest.NewStatusServer(t)
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": seedPipeline})
	createProject(t, e, "app", repo, map[string]any{"webhook_secret": "hook-s3cret",
		"forge": "github", "forge_url": statuses.URL(), "forge_repo": "acme/app", "forge_token": "ghp-token-123"})
	id := projectID(t, e, "app")
	if wf := e.WaitWorkflow(run(t, e, "app", "main"), 120*time.Second); wf.Result != ci.ResultPassed {
		t.Fatalf("seed workflow = %s:\n%s", wf.Result, e.Log(wf.Jobs()["Seed/Store"].ID))
	}
	agentData := filepath.Join(data, "agent")

	// The fork's pull request changes the pipeline: its author decides
	// what its job runs.
	before := []string{
		"mkdir -p poison && echo poison > poison/v && echo poison > poison.txt",
		"cache store deps-poison poison",
		"cache delete deps",
		"cache clear",
		"artifact push project poison.txt || true",
		"artifact push project poison.txt -d release.txt --force || true",
		"artifact yank project release.txt || true",
		// What it may do: read the project's cache and artifacts, and
		// write its own job's.
		"rm -rf deps && cache restore deps && echo \"restored=$(cat deps/v)\"",
		"artifact pull project release.txt -d pulled.txt && echo \"pulled=$(cat pulled.txt)\"",
		"artifact push job poison.txt && echo own-job-artifact-pushed",
	}
	attempts := append(storeAttempts(agentData, id),
		attempt{"store in the cache without the toolbox", curlService + " -X PUT --data-binary @poison.txt http://jobsvc/v1/cache/deps-curl"},
		attempt{"store in the cache with a fork variable unset", `sh -c "env -u BATON_CACHE_READONLY cache store deps-unset poison 2>&1 | grep -q Stored"`},
		attempt{"push to another workflow", curlService + " -X PUT --data-binary @poison.txt 'http://jobsvc/v1/artifacts/workflow/x?id=other'"},
	)
	base := repo.Git("rev-parse", "HEAD")
	fork := testenv.NewRepo(t, nil)
	fork.Git("fetch", "-q", repo.URL(), "main")
	fork.Git("checkout", "-q", "-b", "evil", "FETCH_HEAD")
	head := fork.Commit("poison the cache", map[string]string{".semaphore/semaphore.yml": hostilePipeline("e1-standard-2", "", before, attempts, nil)})
	body := githubPR("opened", 9, "Harmless", base, "evil", head, "mallory/app", fork.HTTPURL())
	code, msg := hook(t, e, "app", githubHeaders("pull_request", "hook-s3cret", body), body)
	if code != http.StatusCreated {
		t.Fatalf("fork pull_request: %d %s", code, msg)
	}
	wfID := workflowOf(t, msg)
	checkRefused(t, e, wfID, attempts, true)
	wf := e.WaitWorkflow(wfID, time.Second)
	if !wf.PRFork {
		t.Fatalf("the pull request's workflow is not a fork's: %+v", wf.Workflow)
	}
	log := e.Log(wf.Jobs()["Attack/Probe"].ID)
	for _, want := range []string{
		"cache: refused: cache store is not allowed for pull requests from forks",
		"cache: refused: cache delete is not allowed for pull requests from forks",
		"cache: refused: cache clear is not allowed for pull requests from forks",
		"artifact: cannot push poison.txt: refused: artifact push to the project is not allowed for pull requests from forks",
		"artifact: cannot yank release.txt: refused: artifact yank from the project is not allowed for pull requests from forks",
		"\nrestored=v1\n",
		"\npulled=r1\n",
		"\nown-job-artifact-pushed\n",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the fork's job log lacks %q:\n%s", want, log)
		}
	}

	// Nothing changed in the stores (the cache is the server's: one
	// object per key, under cache/<project>/<key>/).
	des, err := os.ReadDir(filepath.Join(data, "blobs", "objects", "cache", id))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, d := range des {
		keys = append(keys, d.Name())
	}
	if strings.Join(keys, ",") != "deps" {
		t.Errorf("cache keys after the fork's job: %v, want [deps]", keys)
	}
	// Artifacts are the server's, in its object storage.
	if b, err := os.ReadFile(filepath.Join(data, "blobs", "objects", "artifacts", id, "project", id, "release.txt")); err != nil || string(b) != "r1\n" {
		t.Errorf("project artifact after the fork's job: %q %v, want r1", b, err)
	}
}

func TestJobCannotReachAnotherProjectsCacheOrArtifacts(t *testing.T) {
	probe.Require(t, probe.Root)
	t.Parallel()
	bin := testenv.BatonBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	_, e := startBatonUp(t, bin, data)
	victim := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": seedPipeline})
	createProject(t, e, "victim", victim, nil)
	victimID := projectID(t, e, "victim")
	victimWF := run(t, e, "victim", "main")
	if wf := e.WaitWorkflow(victimWF, 120*time.Second); wf.Result != ci.ResultPassed {
		t.Fatalf("victim workflow = %s:\n%s", wf.Result, e.Log(wf.Jobs()["Seed/Store"].ID))
	}
	victimJob := e.WaitWorkflow(victimWF, time.Second).Jobs()["Seed/Store"].ID
	agentData := filepath.Join(data, "agent")

	attempts := append(storeAttempts(agentData, victimID),
		attempt{"see another project's cache key", "cache has_key deps"},
		attempt{"list another project's cache", `sh -c "cache list | grep -q deps"`},
		attempt{"pull another project's artifact", "artifact pull project release.txt"},
		attempt{"pull another project's workflow artifact by its ID", "artifact pull workflow wf.txt --workflow-id " + victimWF},
		attempt{"pull another project's job artifact by its ID", "artifact pull job job.txt --job-id " + victimJob},
		attempt{"pull another project's artifact by its project ID", curlService + " -o x 'http://jobsvc/v1/artifacts/project/release.txt?id=" + victimID + "'"},
		attempt{"reach another project's cache by a path in the key", curlService + " -o x 'http://jobsvc/v1/cache/..%2F..%2F" + victimID + "%2Fentries%2Fdeps'"},
		attempt{"reach another project's artifacts by a path", curlService + " -o x 'http://jobsvc/v1/artifacts/project/..%2F..%2F..%2F" + victimID + "%2Fprojects%2F" + victimID + "%2Frelease.txt'"},
		attempt{"read another project's cache directly", "ls " + agentData + "/cache/" + victimID},
	)
	// Its own cache and artifacts work.
	after := []string{
		"mkdir -p own && echo own > own/v && cache store own own && cache has_key own && echo own-cache-works",
		"artifact push project own/v -d own.txt && artifact pull project own.txt -d back.txt && echo \"own-artifact=$(cat back.txt)\"",
	}
	hostile := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": hostilePipeline("e1-standard-2", "", nil, attempts, after)})
	createProject(t, e, "hostile", hostile, nil)
	wfID := run(t, e, "hostile", "main")
	checkRefused(t, e, wfID, attempts, true)
	log := e.Log(e.WaitWorkflow(wfID, time.Second).Jobs()["Attack/Probe"].ID)
	for _, want := range []string{"\nown-cache-works\n", "\nown-artifact=own\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("the job's own stores do not work: log lacks %q:\n%s", want, log)
		}
	}
}

// containerServicePipeline uses the cache and artifacts from a container.
const containerServicePipeline = `version: v1.0
name: Containers
agent:
  machine:
    type: e1-standard-2
  containers:
    - name: main
      image: baton-test/debian
blocks:
  - name: Build
    task:
      jobs:
        - name: Stores
          commands:
            - 'test -S "$BATON_JOBSVC" && echo socket-mounted'
            - 'env | grep -E "^BATON_(CACHE|ARTIFACT)_DIR=" || echo no-store-paths'
            - mkdir -p deps && echo v1 > deps/v
            - cache store deps deps
            - rm -rf deps && cache restore deps
            - 'echo "restored=$(cat deps/v)"'
            - echo r1 > a.txt && artifact push job a.txt && artifact pull job a.txt -d b.txt
            - 'echo "pulled=$(cat b.txt)"'
`

func TestContainerJobUsesTheJobService(t *testing.T) {
	probe.Require(t, probe.Docker)
	t.Parallel()
	e := testenv.Start(t, testenv.Options{})
	dockerAgent(t, e, "docker-1", fmt.Sprintf("jobsvc-test-%d", time.Now().UnixNano()))
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": containerServicePipeline})
	createProject(t, e, "app", repo, nil)
	wf := e.WaitWorkflow(run(t, e, "app", "main"), 2*time.Minute)
	log := e.Log(wf.Jobs()["Build/Stores"].ID)
	if wf.Result != ci.ResultPassed {
		t.Fatalf("workflow result = %s, want passed; log:\n%s", wf.Result, log)
	}
	for _, want := range []string{"\nsocket-mounted\n", "\nno-store-paths\n", "HIT: 'deps'", "\nrestored=v1\n", "\npulled=r1\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}

	// A container job of another project on the same agent reaches none
	// of it, by key or by ID.
	jobID := wf.Jobs()["Build/Stores"].ID
	other := strings.NewReplacer("name: Stores", "name: Probe").Replace(containerServicePipeline[:strings.Index(containerServicePipeline, "          commands:")]) +
		"          commands:\n" +
		"            - 'if cache has_key deps; then echo LEAK-cache; else echo no-cache-leak; fi'\n" +
		"            - 'if artifact pull job a.txt --job-id " + jobID + "; then echo LEAK-artifact; else echo no-artifact-leak; fi'\n" +
		"            - 'if artifact pull workflow a.txt --workflow-id " + wf.ID + "; then echo LEAK-workflow; else echo no-workflow-leak; fi'\n"
	repo2 := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": other})
	createProject(t, e, "other", repo2, nil)
	wf2 := e.WaitWorkflow(run(t, e, "other", "main"), 2*time.Minute)
	log2 := e.Log(wf2.Jobs()["Build/Probe"].ID)
	if wf2.Result != ci.ResultPassed || strings.Contains(log2, "\nLEAK") {
		t.Fatalf("another project's container job = %s:\n%s", wf2.Result, log2)
	}
	for _, want := range []string{"\nno-cache-leak\n", "\nno-artifact-leak\n", "\nno-workflow-leak\n"} {
		if !strings.Contains(log2, want) {
			t.Errorf("log lacks %q:\n%s", want, log2)
		}
	}
}
