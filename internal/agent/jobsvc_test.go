package agent_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/ci"
)

// TestJobServiceIsScopedByTheAssignment checks that a job's cache is
// reached through the server for the assigned job (not the project its
// variables name), that
// its service's socket lives in the agent's own directory, which the
// agent clears of an earlier run's leftovers, and that it goes with the
// job.
func TestJobServiceIsScopedByTheAssignment(t *testing.T) {
	t.Parallel()
	fs := newFakeServer(t)
	cfg := baseConfig(t, serve(t, fs))
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(abs))
	parent := os.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		parent = "/dev/shm" // in memory, when there is one
	}
	svcDir := filepath.Join(parent, "baton-jobsvc-"+hex.EncodeToString(sum[:8]))
	stale := filepath.Join(svcDir, "baton-jobsvc-stale")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	start(t, cfg)

	cmds := []string{
		`echo "socket=$BATON_JOBSVC"`,
		"mkdir -p d && echo v > d/f && cache store k d",
		"cache list",
	}
	as := assignment("job-1", cmds...)
	as.Project, as.Workflow = "proj-real", "wf-1"
	fin, events := fs.result(t, fs.enqueue(as), wait)
	_, out := outputs(events)
	if fin.Result != ci.ResultPassed {
		t.Fatalf("result %s: %q", fin.Result, out)
	}
	socket := strings.TrimSpace(strings.TrimPrefix(out[cmds[0]], "socket="))
	if filepath.Dir(filepath.Dir(socket)) != svcDir {
		t.Errorf("socket %s is not in the agent's directory %s", socket, svcDir)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("an earlier run's socket directory was left: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(socket)); !os.IsNotExist(err) {
		t.Errorf("the job's socket directory outlived it: %v", err)
	}
	// The cache is the server's: the store names the job, and the
	// server finds its project; nothing the job's variables say
	// (SEMAPHORE_PROJECT_ID) reaches the request, and nothing is kept
	// on the agent.
	fs.mu.Lock()
	stores := fs.cacheStores
	fs.mu.Unlock()
	if strings.Join(stores, ",") != "job-1/k" {
		t.Errorf("cache stores the server received: %v, want [job-1/k]", stores)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "cache")); !os.IsNotExist(err) {
		t.Errorf("the agent kept a cache of its own: %v", err)
	}
}
