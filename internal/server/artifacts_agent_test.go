package server_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/jobsvc"
	"github.com/batonci/baton/internal/testenv"
)

// TestAgentArtifactEndpointsCheckTheJob drives the server's artifact
// endpoints of the agent protocol as agents would, honest and not: only
// the agent a running job is assigned to reaches its artifacts, with the
// job's own scope, and a broken push leaves nothing.
func TestAgentArtifactEndpointsCheckTheJob(t *testing.T) {
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

	tree := func(data string) *bytes.Buffer {
		var b bytes.Buffer
		if err := jobsvc.WriteTreeFile(&b, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return &b
	}
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
	own := agentapi.ArtifactRef{Scope: "workflow", Path: "x.txt"}
	if err := honest.PushArtifact(t.Context(), as.JobID, own, tree("v1"), false); err != nil {
		t.Fatalf("push by the job's agent: %v", err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"push over an existing artifact without --force", honest.PushArtifact(t.Context(), as.JobID, own, tree("v2"), false), http.StatusConflict},
		{"push to another workflow", honest.PushArtifact(t.Context(), as.JobID, agentapi.ArtifactRef{Scope: "workflow", ID: "other", Path: "x.txt"}, tree("v2"), false), http.StatusForbidden},
		{"push to another project by its ID", honest.PushArtifact(t.Context(), as.JobID, agentapi.ArtifactRef{Scope: "project", ID: "other", Path: "x.txt"}, tree("v2"), false), http.StatusForbidden},
		{"push by another agent", rogue.PushArtifact(t.Context(), as.JobID, own, tree("evil"), true), http.StatusForbidden},
		{"pull by another agent", rogue.PullArtifact(t.Context(), as.JobID, own, &bytes.Buffer{}), http.StatusForbidden},
		{"yank by another agent", rogue.YankArtifact(t.Context(), as.JobID, own), http.StatusForbidden},
		{"push with the agent token", agentapi.NewClient(e.URL, e.AgentToken, nil).PushArtifact(t.Context(), as.JobID, own, tree("evil"), true), http.StatusUnauthorized},
		{"push with a user's API token", agentapi.NewClient(e.URL, e.Token, nil).PushArtifact(t.Context(), as.JobID, own, tree("evil"), true), http.StatusUnauthorized},
		{"push for an unknown job", honest.PushArtifact(t.Context(), "no-such-job", own, tree("evil"), true), http.StatusNotFound},
		{"a scope that is not one", honest.PushArtifact(t.Context(), as.JobID, agentapi.ArtifactRef{Scope: "pipeline", Path: "x.txt"}, tree("evil"), true), http.StatusBadRequest},
	} {
		if got := status(tc.err); got != tc.want {
			t.Errorf("%s: status %d (%v), want %d", tc.name, got, tc.err, tc.want)
		}
	}
	if err := honest.PushArtifact(t.Context(), as.JobID, own, tree("v2"), true); err != nil {
		t.Fatalf("push --force: %v", err)
	}
	var got bytes.Buffer
	if err := honest.PullArtifact(t.Context(), as.JobID, own, &got); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "x")
	if err := jobsvc.ReadTree(t.Context(), &got, dst); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "v2" {
		t.Errorf("pulled %q, want v2 (the forced push)", b)
	}

	// A push cut off half-way through a directory leaves nothing: the
	// first file was whole, the second announced 1 MiB and got less.
	var broken bytes.Buffer
	tw := tar.NewWriter(&broken)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "a/", Mode: 0o755})
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "a/first", Mode: 0o644, Size: 5})
	tw.Write([]byte("whole"))
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "a/second", Mode: 0o644, Size: 1 << 20})
	tw.Write(bytes.Repeat([]byte("x"), 100<<10))
	tw.Flush()
	dir := agentapi.ArtifactRef{Scope: "workflow", Path: "dir"}
	if err := honest.PushArtifact(t.Context(), as.JobID, dir, &broken, false); err == nil {
		t.Fatal("a truncated push was accepted")
	}
	if ok, err := honest.ArtifactExists(t.Context(), as.JobID, dir); err != nil || ok {
		t.Errorf("after a broken push: exists=%v err=%v, want nothing", ok, err)
	}
	if ok, _ := honest.ArtifactExists(t.Context(), as.JobID, agentapi.ArtifactRef{Scope: "workflow", Path: "dir/first"}); ok {
		t.Error("the broken push's first file is visible")
	}

	// Once the job is finished, its agent reaches its artifacts no more.
	if err := honest.Finish(t.Context(), as.JobID, agentapi.FinishRequest{Result: ci.ResultPassed}); err != nil {
		t.Fatal(err)
	}
	if got := status(honest.PushArtifact(t.Context(), as.JobID, own, tree("late"), true)); got != http.StatusConflict {
		t.Errorf("push after the job finished: status %d, want 409", got)
	}
	if got := status(honest.YankArtifact(t.Context(), as.JobID, own)); got != http.StatusConflict {
		t.Errorf("yank after the job finished: status %d, want 409", got)
	}
}
