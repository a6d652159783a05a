package toolbox

import (
	"testing"

	"github.com/batonci/baton/internal/jobsvc"
)

// testScope is the scope of the jobs of the tests.
var testScope = jobsvc.Scope{Project: "proj-1", Workflow: "wf-1", Job: "job-1"}

// serve starts a job service for scope over the caches in cacheDir and
// the artifacts in artifactDir ("": none), with a sem-context store of
// its own, and returns the variables that reach it.
func serve(t *testing.T, scope jobsvc.Scope, cacheDir, artifactDir string) []string {
	t.Helper()
	cfg := jobsvc.Config{Scope: scope, Context: jobsvc.LocalContext{Dir: t.TempDir()}}
	if cacheDir != "" {
		cfg.Cache = jobsvc.LocalCache{Dir: cacheDir}
	}
	if artifactDir != "" {
		cfg.Artifacts = jobsvc.LocalArtifacts{Dir: artifactDir}
	}
	s, err := jobsvc.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Env()
}
