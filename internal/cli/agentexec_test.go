package cli

import (
	"testing"

	"github.com/batonci/baton/internal/agent"
)

func TestMirrorHost(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{"", "", false},
		{"http://127.0.0.1:5000", "127.0.0.1:5000", false},
		{"https://mirror.example.com/", "mirror.example.com", false},
		{"mirror.local:5000", "mirror.local:5000", false},
		{"http://mirror/path", "", true},
		{"http://", "", true},
	} {
		got, err := mirrorHost(tc.in)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("mirrorHost(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestAgentExecutorFlags(t *testing.T) {
	if _, err := agentExecutor(t.Context(), "docker", "ten gigs", "", agent.ExecutorOptions{DataDir: t.TempDir()}); err == nil {
		t.Errorf("a bad --image-budget was accepted")
	}
	ex, err := agentExecutor(t.Context(), "shell", "", "", agent.ExecutorOptions{})
	if err != nil || ex.Images != nil || len(ex.Executors) != 1 {
		t.Errorf("--executor shell = %+v, %v; want the shell only", ex, err)
	}
}
