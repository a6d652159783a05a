package server_test

import (
	"fmt"
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

// storeFaultPipeline logs ticks, waits for the test to stop the object
// store, logs more ticks while it is down, then pushes an artifact.
const storeFaultPipeline = `version: v1.0
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Fault
    task:
      jobs:
        - name: Work
          commands:
            - for i in $(seq 1 50); do echo tick $i; done
            - while [ ! -e %[1]s ]; do sleep 0.05; done
            - for i in $(seq 51 100); do echo tick $i; sleep 0.01; done
            - head -c 3000000 /dev/zero > big.bin && artifact push job big.bin
            - echo NOT-REACHED
`

// TestObjectStoreDownWhileJobRuns stops the S3 server while a job writes
// its log and pushes an artifact, then starts it again: the push fails
// the job with a clear message, no artifact is visible, and every log
// line accepted is there once, in order, in a sealed log.
func TestObjectStoreDownWhileJobRuns(t *testing.T) {
	t.Parallel()
	s3 := testenv.StartS3(t)
	e := testenv.Start(t, testenv.Options{Storage: blob.Config{URL: s3.URL("baton"), AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}})
	e.StartAgent(t, "a", "e1-standard-2", 1)
	goFile := filepath.Join(t.TempDir(), "go")
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": fmt.Sprintf(storeFaultPipeline, goFile)})
	createProject(t, e, "app", repo, nil)
	id := run(t, e, "app", "main")
	j := waitJobState(t, e, id, "Fault/Work", ci.StateRunning)
	e.Eventually(30*time.Second, func() bool { return strings.Contains(e.Log(j.ID), "tick 50\n") }, "tick 50 in the log")

	s3.Kill()
	if err := os.WriteFile(goFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(8 * time.Second) // the ticks and the push run against a dead store
	s3.Start(t)

	wf := e.WaitWorkflow(id, 120*time.Second)
	got := wf.Jobs()["Fault/Work"]
	log := e.Log(j.ID)
	if got.Result != ci.ResultFailed {
		t.Fatalf("job = %s/%s, want failed:\n%s", got.Result, got.Reason, log)
	}
	for i := 1; i <= 100; i++ {
		line := fmt.Sprintf("\ntick %d\n", i)
		if strings.Count(log, line) != 1 {
			t.Fatalf("tick %d missing or repeated:\n%s", i, log)
		}
		if i > 1 && strings.Index(log, line) < strings.Index(log, fmt.Sprintf("\ntick %d\n", i-1)) {
			t.Fatalf("tick %d out of order:\n%s", i, log)
		}
	}
	if strings.Contains(log, "NOT-REACHED") {
		t.Fatalf("the job went on after the failed push:\n%s", log)
	}
	if !strings.Contains(log, "artifact: cannot push big.bin:") || !strings.Contains(log, "nothing of it was stored") {
		t.Errorf("the log does not say the push failed and stored nothing:\n%s", log)
	}
	if !strings.Contains(log, "object storage unavailable") || strings.Contains(log, s3.Endpoint) || strings.Contains(log, strings.TrimPrefix(s3.Endpoint, "http://")) {
		t.Errorf("the log does not say the store is unavailable, or names its address %s:\n%s", s3.Endpoint, log)
	}
	var list []apiv1.Artifact
	e.Do("GET", "/api/v1/workflows/"+id+"/artifacts", nil, &list)
	if len(list) != 0 {
		t.Errorf("artifacts after a failed push: %+v", list)
	}
	// Nothing of the push is in the bucket; the log is one sealed object.
	objects := map[string]int{}
	for o := range s3.Client(t).ListObjects(t.Context(), s3.Bucket, minioListAll("baton/")) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		switch {
		case strings.Contains(o.Key, "big.bin"):
			objects["artifact"]++
		case strings.Contains(o.Key, "/chunks/"):
			objects["chunk"]++
		case strings.HasPrefix(o.Key, "baton/logs/"):
			objects["log"]++
		}
	}
	if objects["artifact"] != 0 || objects["chunk"] != 0 || objects["log"] != 1 {
		t.Errorf("objects = %v; want one sealed log, no chunks, no artifact", objects)
	}
}
