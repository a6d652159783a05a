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

// TestJobServiceIsScopedByTheAssignment checks that a job's cache is the
// project the assignment names (not the one its variables name), that
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
	svcDir := filepath.Join(os.TempDir(), "baton-jobsvc-"+hex.EncodeToString(sum[:8]))
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
	// The key is in the project the assignment names; the job's
	// SEMAPHORE_PROJECT_ID (proj-1) has nothing.
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "cache", "proj-real", "entries", "k")); err != nil {
		t.Errorf("the key is not in the assignment's project: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "cache", "proj-1")); !os.IsNotExist(err) {
		t.Errorf("the job's variables chose the cache: %v", err)
	}
}
