package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/batonci/baton/internal/blob"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/testenv"
)

// cachePipeline does, by branch, what the cache tests need of a job.
const cachePipeline = `version: v1.0
name: Cache
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Cache
    task:
      jobs:
        - name: Job
          commands:
            - |
              case "$SEMAPHORE_GIT_BRANCH" in
              store)
                mkdir -p deps && echo v1 > deps/v && head -c 300000 /dev/urandom > deps/blob
                cache store deps-key deps
                echo "stored-sum=$(cksum < deps/blob)";;
              restore)
                cache has_key deps-key && echo has-key
                cache restore deps && echo "restored=$(cat deps/v)" && echo "restored-sum=$(cksum < deps/blob)"
                cache usage;;
              toobig|strict)
                head -c 100000 /dev/urandom > big;;
              esac
            - '[ "$SEMAPHORE_GIT_BRANCH" != strict ] || export CACHE_FAIL_ON_ERROR=true'
            - '[ "$SEMAPHORE_GIT_BRANCH" != toobig ] && [ "$SEMAPHORE_GIT_BRANCH" != strict ] || cache store big big'
            - echo after-store
`

// TestCacheSharedByAgents: a job on one agent stores a key, a job on
// another agent (its own data directory) restores it, through the
// server's object storage, on both backends; a second restore on the
// same agent comes from its copy; a cache problem fails no job unless
// CACHE_FAIL_ON_ERROR=true.
func TestCacheSharedByAgents(t *testing.T) {
	t.Parallel()
	t.Run("dir", func(t *testing.T) {
		t.Parallel()
		testCacheSharedByAgents(t, testenv.Start(t, testenv.Options{}))
	})
	t.Run("s3", func(t *testing.T) {
		t.Parallel()
		s3 := testenv.StartS3(t)
		storage := blob.Config{URL: s3.URL("baton"), AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}
		testCacheSharedByAgents(t, testenv.Start(t, testenv.Options{Storage: storage}))
	})
}

func testCacheSharedByAgents(t *testing.T, e *testenv.Env) {
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": cachePipeline})
	for _, b := range []string{"store", "restore", "toobig", "strict"} {
		repo.Git("branch", b)
	}
	createProject(t, e, "app", repo, nil)
	runJob := func(branch string, want ci.Result) (*ci.Job, string) {
		t.Helper()
		wf := e.WaitWorkflow(run(t, e, "app", branch), 60*time.Second)
		j := wf.Jobs()["Cache/Job"]
		log := e.Log(j.ID)
		if wf.Result != want {
			t.Fatalf("%s: workflow %s, want %s:\n%s", branch, wf.Result, want, log)
		}
		return j, log
	}
	lineOf := func(log, prefix string) string {
		for l := range strings.SplitSeq(log, "\n") {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		return ""
	}

	a := e.StartAgent(t, "a", "e1-standard-2", 1)
	stored, log := runJob("store", ci.ResultPassed)
	sum := lineOf(log, "stored-sum=")
	if sum == "" || !strings.Contains(log, "Stored 'deps' with cache key 'deps-key'") {
		t.Fatalf("store job log:\n%s", log)
	}
	a.Stop()

	b := e.StartAgent(t, "b", "e1-standard-2", 1)
	restored, log := runJob("restore", ci.ResultPassed)
	if restored.AgentID == stored.AgentID {
		t.Fatalf("both jobs ran on agent %s", stored.AgentID)
	}
	for _, want := range []string{"has-key", "HIT: 'deps', using key 'deps-key'", "restored=v1", "USED SPACE: 29"} {
		if !strings.Contains(log, want) {
			t.Fatalf("restore job log lacks %q:\n%s", want, log)
		}
	}
	if got := lineOf(log, "restored-sum="); got != strings.Replace(sum, "stored", "restored", 1) {
		t.Fatalf("restored %q, stored %q", got, sum)
	}

	// The archive leaves the object storage: agent b still restores the
	// key (the server knows it) from its own copy.
	n := 0
	for info, err := range e.Server.Blobs.List(t.Context(), "cache/") {
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Server.Blobs.Delete(t.Context(), info.Key); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("%d cache objects in the store, want 1", n)
	}
	if _, log := runJob("restore", ci.ResultPassed); !strings.Contains(log, "restored=v1") {
		t.Fatalf("second restore on agent b did not come from its copy:\n%s", log)
	}
	b.Stop()

	// A cache problem (an archive past the whole budget) fails no job
	// unless CACHE_FAIL_ON_ERROR=true.
	e.StartAgent(t, "c", "e1-standard-2", 1)
	e.Do("PATCH", "/api/v1/projects/app", map[string]any{"cache_size": 1000}, nil, http.StatusOK)
	if _, log := runJob("toobig", ci.ResultPassed); !strings.Contains(log, "after-store") || !strings.Contains(log, "larger than") {
		t.Fatalf("toobig job log:\n%s", log)
	}
	if _, log := runJob("strict", ci.ResultFailed); strings.Contains(log, "after-store") || !strings.Contains(log, "larger than") {
		t.Fatalf("strict job went on after the cache failed:\n%s", log)
	}
}
