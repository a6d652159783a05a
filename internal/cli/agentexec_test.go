package cli

import "testing"

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
	if _, err := agentExecutor(t.Context(), agentExecOptions{mode: "docker", budget: "ten gigs", dataDir: t.TempDir()}); err == nil {
		t.Errorf("a bad --image-budget was accepted")
	}
	ex, err := agentExecutor(t.Context(), agentExecOptions{mode: "shell"})
	if err != nil || ex.images != nil || len(ex.executors) != 1 {
		t.Errorf("--executor shell = %+v, %v; want the shell only", ex, err)
	}
}
