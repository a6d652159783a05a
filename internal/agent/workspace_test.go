package agent_test

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/batonci/baton/internal/agent"
	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/gitrepo/gittest"
)

// TestJobThatNeverChecksOutRunsNoGit: the working copy of a job whose
// commands do not check out is not made: nothing appears in its home, and
// the agent never even fetches the repository.
func TestJobThatNeverChecksOutRunsNoGit(t *testing.T) {
	t.Parallel()
	// Long enough for a copy started with the job to show up.
	const list = `for i in $(seq 60); do [ -n "$(ls -A "$HOME")" ] && break; sleep 0.05; done; ls -A "$HOME"`
	cfg, _, fin, out := runCheckoutJob(t, list)
	if fin.Result != ci.ResultPassed || out[list] != "" {
		t.Errorf("result %s; the job's home holds %q, want nothing", fin.Result, out[list])
	}
	var touched []string
	filepath.WalkDir(filepath.Join(cfg.DataDir, "repos"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && (strings.HasSuffix(p, ".git") || strings.HasSuffix(p, ".lock") || strings.HasSuffix(p, ".tmp")) {
			touched = append(touched, p)
		}
		return nil
	})
	if len(touched) > 0 {
		t.Errorf("the agent fetched the repository of a job that never checks out: %v", touched)
	}
}

// TestCheckoutFromAScriptGetsItsWorkingCopy: a job whose commands do not
// name checkout, but run it all the same (here through a variable, as a
// script would), gets its working copy: checkout asks the job's service
// for it and waits.
func TestCheckoutFromAScriptGetsItsWorkingCopy(t *testing.T) {
	t.Parallel()
	const run = `c=check; "${c}out" && cat file.txt && git rev-parse HEAD && basename "$PWD"`
	_, first, fin, out := runCheckoutJob(t, run, `c=check; "${c}out" >/dev/null 2>&1 && echo again`)
	if fin.Result != ci.ResultPassed {
		t.Fatalf("result %s; output %q", fin.Result, out)
	}
	if got := out[run]; !strings.HasSuffix(got, "one\n"+first+"\nmyrepo\n") {
		t.Errorf("output of checkout from a script = %q, want the working copy's file, commit and directory", got)
	}
	if out[`c=check; "${c}out" >/dev/null 2>&1 && echo again`] != "again\n" {
		t.Errorf("a second checkout failed: %q", out)
	}
}

// runCheckoutJob runs a job of commands with a checkout of a new
// repository's first commit on an agent of its own, and returns the
// agent's config, the commit, the job's finish and its commands' output.
func runCheckoutJob(t *testing.T, commands ...string) (agent.Config, string, agentapi.FinishRequest, map[string]string) {
	t.Helper()
	repo := gittest.Init(t)
	first := gittest.Commit(t, repo, "first", map[string]string{"file.txt": "one\n"})
	srv := newFakeServer(t)
	cfg := baseConfig(t, serve(t, srv))
	start(t, cfg)
	as := assignment("co", commands...)
	as.Checkout = &agentapi.Checkout{URL: "file://" + repo, SHA: first, Ref: "refs/heads/main", RepoName: "myrepo"}
	fin, events := srv.result(t, srv.enqueue(as), wait)
	_, out := outputs(events)
	return cfg, first, fin, out
}
